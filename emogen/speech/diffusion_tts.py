"""Diffusion TTS: phonemes + emotion -> normalised WORLD frames (DESIGN.md pipeline 1, learned (a)).

`PhonemeAcousticModel` is a FastSpeech 2 style acoustic model (Ren et al. 2021, "FastSpeech 2:
fast and high-quality end-to-end text to speech") whose output is the PRIOR of a diffusion
decoder, as in Grad-TTS (Popov et al. 2021, "Grad-TTS: a diffusion probabilistic model for
text-to-speech"):

    phoneme ids (B, P) -> embedding + sinusoidal positions -> feed-forward Transformer blocks
        -> duration predictor     log(1 + frames) per phoneme                  (FastSpeech 2)
        -> pitch predictor        mean normalised log F0 over the phoneme's frames, embedded
                                  by a convolution and added back               (FastPitch,
                                  Łańcucki 2021)
        -> energy predictor       the same for the frames' log energy (the envelope's c0)
        -> length regulator       each phoneme repeated for its frames (ground truth in
                                  training, predicted at inference, at most `max_frames`)
        -> frame decoder          dilated convolutions over frames -> mu (B, T, D), trained
                                  with an L2 loss to the frames (Grad-TTS's prior)

and `FrameDenoiser` (DiffWave-style, `emogen.speech.acoustic`) generates the rest: it learns the
residual x - mu given mu, so that sampling starts from mu + N(0, I), Grad-TTS's terminal
distribution, with any diffusers scheduler. The frames are `mu + residual`.

The emotion enters every part as EmoReg's shifted embedding (Singh et al. 2024) from the shared
`EmotionEncoder`: per phoneme in the encoder and the variance predictors (so an emotion curve
can change along a sentence), per frame in the frame decoder and the denoiser. In training the
whole emotion is replaced by the encoder's null output with a small probability, so that
`emotion_guidance_scale` applies classifier-free guidance (Ho & Salimans 2022) to everything:
prediction = null + g * (cond - null), for durations, pitch, energy, mu and the denoiser.

Tokens are the voice's phonemes (`PiperVoice.phonemize`), one per phoneme character, mapped with
the voice's phoneme id map (`phoneme_tokens`): the same sequence as the characters of a corpus
manifest's `alignment`, whose times give the duration targets (`phoneme_frame_durations`).

Example:
    >>> ids = phoneme_tokens(voice, voice.phonemize("Hello there."))
    >>> out = generate_frames(model, denoiser, encoder, scheduler, ids, "happy:0.7",
    ...                       frame_period_ms=5.0, num_inference_steps=10,
    ...                       emotion_guidance_scale=1.5, generator=torch.manual_seed(0))
    >>> out.frames.shape, out.durations.sum()   # (T, 64), T
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from diffusers.schedulers.scheduling_utils import SchedulerMixin
from diffusers.utils import BaseOutput
from torch import nn

from ..emotion import Emotion, EmotionCurve, EmotionLike
from ..emotion.curve import as_curve
from ..emotion.encoder import EmotionEncoder
from ..errors import EmogenError
from .acoustic import FrameDenoiser, emotion_embedding, frame_emotion_embedding, sample
from .voice import PiperVoice

__all__ = [
    "GeneratedFrames",
    "PhonemeAcousticModel",
    "PhonemeAcousticOutput",
    "VariancePredictions",
    "generate_frames",
    "phoneme_average",
    "phoneme_tokens",
    "regulate_length",
]

# Pitch and energy: columns of the normalised frames (`WorldFrameCoder` layout) averaged per
# phoneme. Column 2 is the first coded-envelope coefficient, the frame's log energy.
PITCH_COLUMN = 0
ENERGY_COLUMN = 2


def phoneme_tokens(voice: PiperVoice, phonemes: str) -> np.ndarray:
    """Token ids of a phoneme string, one per character (`(P,)` int64).

    One token per character keeps tokens and a manifest's `alignment` (one entry per character)
    in step. Characters the voice has no id for get its PAD id (the voice skips them too: they
    last zero seconds in an alignment).
    """
    if not phonemes:
        raise EmogenError("the phoneme string is empty")
    id_map = voice.phoneme_id_map
    pad = id_map["_"][0]
    return np.array([id_map[c][0] if c in id_map else pad for c in phonemes], dtype=np.int64)


# ---------------------------------------------------------------------- durations and frames


def _frame_owner(durations: torch.Tensor, num_frames: int) -> torch.Tensor:
    """`(B, T)` index of the phoneme each frame belongs to; P for frames after the last one."""
    ends = durations.cumsum(1)
    frames = torch.arange(num_frames, device=durations.device).expand(durations.shape[0], -1)
    # Frame f belongs to the first phoneme ending after it (zero-length phonemes own none).
    return torch.searchsorted(ends.contiguous(), frames.contiguous(), right=True)


def phoneme_average(values: torch.Tensor, durations: torch.Tensor) -> torch.Tensor:
    """Mean of frame values over each phoneme's frames (FastPitch's per-phoneme pitch).

    Args:
        values: `(B, T, C)` frame values.
        durations: `(B, P)` integer frames per phoneme (padding phonemes: 0).

    Returns:
        `(B, P, C)`; a phoneme without frames gets the value of the frame where it starts.
    """
    batch_size, num_frames, channels = values.shape
    num_phonemes = durations.shape[1]
    owner = _frame_owner(durations, num_frames)
    index = owner[..., None].expand(-1, -1, channels)
    sums = values.new_zeros(batch_size, num_phonemes + 1, channels).scatter_add_(1, index, values)
    counts = values.new_zeros(batch_size, num_phonemes + 1).scatter_add_(
        1, owner, torch.ones_like(owner, dtype=values.dtype)
    )
    means = sums[:, :num_phonemes] / counts[:, :num_phonemes, None].clamp(min=1.0)
    starts = (durations.cumsum(1) - durations).clamp(max=num_frames - 1)
    at_start = values.gather(1, starts[..., None].expand(-1, -1, channels))
    return torch.where(counts[:, :num_phonemes, None] > 0, means, at_start)


def regulate_length(
    hidden: torch.Tensor, durations: torch.Tensor, max_frames: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """FastSpeech's length regulator: each phoneme's vector repeated for its frames.

    Args:
        hidden: `(B, P, H)` phoneme vectors.
        durations: `(B, P)` integer frames per phoneme (>= 0).
        max_frames: the most frames an item may have.

    Returns:
        `(B, T, H)` frame vectors (T: the longest item), `(B, T)` bool mask of real frames, and
        `(B, T)` the position of each frame inside its phoneme, in [0, 1).

    Raises:
        EmogenError: an item longer than `max_frames`.
    """
    totals = durations.sum(1)
    num_frames = int(totals.max()) if totals.numel() else 0
    if num_frames > max_frames:
        raise EmogenError(
            f"the speech would be {num_frames} frames long, over the model's limit of "
            f"{max_frames} frames; give shorter sentences"
        )
    num_frames = max(num_frames, 1)
    num_phonemes = durations.shape[1]
    owner = _frame_owner(durations, num_frames)
    mask = owner < num_phonemes
    owner = owner.clamp(max=num_phonemes - 1)
    expanded = hidden.gather(1, owner[..., None].expand(-1, -1, hidden.shape[-1]))
    starts = (durations.cumsum(1) - durations).gather(1, owner)
    frames = torch.arange(num_frames, device=durations.device)[None]
    length = durations.gather(1, owner).clamp(min=1)
    position = ((frames - starts) / length).to(hidden.dtype) * mask
    return expanded * mask[..., None], mask, position


def _sinusoids(length: int, channels: int, device: torch.device) -> torch.Tensor:
    """`(length, channels)` sinusoidal positions (Vaswani et al. 2017)."""
    positions = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    half = channels // 2
    rates = torch.exp(-math.log(10000.0) * torch.arange(half, device=device) / max(half, 1))
    angles = positions * rates[None]
    table = torch.cat([angles.sin(), angles.cos()], dim=1)
    return F.pad(table, (0, channels - 2 * half))


# ---------------------------------------------------------------------- layers


class FeedForwardTransformerBlock(nn.Module):
    """FastSpeech's FFT block: self-attention, then a convolutional feed-forward net (Ren et al.
    2019), post-norm; the emotion is added to its input. Shapes: `(B, P, H)`."""

    def __init__(
        self, hidden_size: int, emotion_dims: int, num_heads: int, kernel_size: int, dropout: float
    ):
        super().__init__()
        self.emotion_projection = nn.Linear(emotion_dims, hidden_size)
        self.self_attention = nn.MultiheadAttention(
            hidden_size, num_heads, dropout=dropout, batch_first=True
        )
        self.attention_norm = nn.LayerNorm(hidden_size)
        self.feed_forward = nn.Sequential(
            nn.Conv1d(hidden_size, 2 * hidden_size, kernel_size, padding=kernel_size // 2),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Conv1d(2 * hidden_size, hidden_size, 1),
        )
        self.feed_forward_norm = nn.LayerNorm(hidden_size)
        self.dropout = nn.Dropout(dropout)

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor, emotion: torch.Tensor):
        hidden = hidden + self.emotion_projection(emotion)
        attended, _ = self.self_attention(
            hidden, hidden, hidden, key_padding_mask=~mask, need_weights=False
        )
        hidden = self.attention_norm(hidden + self.dropout(attended))
        forward = self.feed_forward((hidden * mask[..., None]).transpose(1, 2)).transpose(1, 2)
        hidden = self.feed_forward_norm(hidden + self.dropout(forward))
        return hidden * mask[..., None]


class VariancePredictor(nn.Module):
    """FastSpeech 2's variance predictor (two convolutions with ReLU, LayerNorm and dropout,
    then a linear map to one value per phoneme), with the emotion added to its input.
    Shapes: `(B, P, H)` -> `(B, P)`."""

    def __init__(self, hidden_size: int, emotion_dims: int, kernel_size: int, dropout: float):
        super().__init__()
        self.emotion_projection = nn.Linear(emotion_dims, hidden_size)
        self.convolutions = nn.ModuleList(
            nn.Conv1d(hidden_size, hidden_size, kernel_size, padding=kernel_size // 2)
            for _ in range(2)
        )
        self.norms = nn.ModuleList(nn.LayerNorm(hidden_size) for _ in range(2))
        self.dropout = nn.Dropout(dropout)
        self.output_projection = nn.Linear(hidden_size, 1)

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor, emotion: torch.Tensor):
        hidden = hidden + self.emotion_projection(emotion)
        for convolution, norm in zip(self.convolutions, self.norms):
            hidden = convolution((hidden * mask[..., None]).transpose(1, 2)).transpose(1, 2)
            hidden = self.dropout(norm(F.relu(hidden)))
        return self.output_projection(hidden).squeeze(-1) * mask


class FrameDecoderLayer(nn.Module):
    """A residual gated dilated convolution over frames (GLU, Dauphin et al. 2017), with the
    frame's emotion added to its input. Shapes: `(B, T, H)`."""

    def __init__(
        self, hidden_size: int, emotion_dims: int, kernel_size: int, dilation: int, dropout: float
    ):
        super().__init__()
        self.emotion_projection = nn.Linear(emotion_dims, hidden_size)
        self.norm = nn.LayerNorm(hidden_size)
        padding = dilation * (kernel_size - 1) // 2
        self.convolution = nn.Conv1d(
            hidden_size, 2 * hidden_size, kernel_size, dilation=dilation, padding=padding
        )
        self.output_projection = nn.Conv1d(hidden_size, hidden_size, 1)
        self.dropout = nn.Dropout(dropout)

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor, emotion: torch.Tensor):
        update = self.norm(hidden + self.emotion_projection(emotion)) * mask[..., None]
        update = F.glu(self.convolution(update.transpose(1, 2)), dim=1)
        update = self.output_projection(self.dropout(update)).transpose(1, 2)
        return (hidden + update) * mask[..., None]


# ---------------------------------------------------------------------- the model


@dataclass
class VariancePredictions(BaseOutput):
    """Per-phoneme predictions, `(B, P)` each: `log_durations` (log(1 + frames)), `pitch` and
    `energy` (mean normalised log F0 and log energy over the phoneme's frames)."""

    log_durations: torch.Tensor
    pitch: torch.Tensor
    energy: torch.Tensor


@dataclass
class PhonemeAcousticOutput(BaseOutput):
    """Output of `PhonemeAcousticModel.forward`.

    Args:
        mu: `(B, T, D)` the prior frames (normalised frame space).
        frame_mask: `(B, T)` bool, real frames.
        variances: the per-phoneme predictions (`VariancePredictions`).
    """

    mu: torch.Tensor
    frame_mask: torch.Tensor
    variances: VariancePredictions


class PhonemeAcousticModel(ModelMixin, ConfigMixin):
    """Phonemes + emotion -> durations, pitch, energy and prior frames mu (module docstring).

    Args:
        vocab_size: number of token ids (the voice's phoneme ids must be below it).
        frame_dims: D, columns of the frames (64: `WorldFrameCoder` at 22.05 kHz).
        emotion_dims: E, the `EmotionEncoder`'s hidden size.
        hidden_size: H, width of the encoder, the predictors and the frame decoder.
        num_heads: attention heads of the encoder.
        num_encoder_layers: FFT blocks over phonemes.
        encoder_kernel_size: kernel of the blocks' convolutional feed-forward nets (FastSpeech
            2 uses 9).
        variance_kernel_size: kernel of the variance predictors (FastSpeech 2: 3).
        num_decoder_layers: dilated convolutions over frames; dilations 1, 2, 4, ... by layer.
        decoder_kernel_size: their odd kernel size.
        dropout: dropout probability in training.
        max_frames: the most frames one item may have (6000 frames of 5 ms = 30 s).

    Example:
        >>> model = PhonemeAcousticModel(hidden_size=32, num_encoder_layers=1)
        >>> out = model(ids, mask, phoneme_emotion, durations, pitch, energy, frame_emotion)
        >>> out.mu.shape   # (B, durations.sum(1).max(), 64)
    """

    @register_to_config
    def __init__(
        self,
        vocab_size: int = 256,
        frame_dims: int = 64,
        emotion_dims: int = 64,
        hidden_size: int = 128,
        num_heads: int = 2,
        num_encoder_layers: int = 4,
        encoder_kernel_size: int = 9,
        variance_kernel_size: int = 3,
        num_decoder_layers: int = 4,
        decoder_kernel_size: int = 5,
        dropout: float = 0.1,
        max_frames: int = 6000,
    ):
        super().__init__()
        for name, value in (
            ("vocab_size", vocab_size),
            ("frame_dims", frame_dims),
            ("emotion_dims", emotion_dims),
            ("hidden_size", hidden_size),
            ("num_heads", num_heads),
            ("num_encoder_layers", num_encoder_layers),
            ("num_decoder_layers", num_decoder_layers),
            ("max_frames", max_frames),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise EmogenError(f"{name} must be an integer >= 1, got {value!r}")
        for name, value in (
            ("encoder_kernel_size", encoder_kernel_size),
            ("variance_kernel_size", variance_kernel_size),
            ("decoder_kernel_size", decoder_kernel_size),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value % 2 != 1:
                raise EmogenError(f"{name} must be an odd integer, got {value!r}")
        if hidden_size % num_heads:
            raise EmogenError(
                f"hidden_size ({hidden_size}) must be a multiple of num_heads ({num_heads})"
            )
        if not (isinstance(dropout, int | float) and 0.0 <= dropout < 1.0):
            raise EmogenError(f"dropout must be in [0, 1), got {dropout!r}")

        self.phoneme_embedding = nn.Embedding(vocab_size, hidden_size)
        self.encoder_layers = nn.ModuleList(
            FeedForwardTransformerBlock(
                hidden_size, emotion_dims, num_heads, encoder_kernel_size, dropout
            )
            for _ in range(num_encoder_layers)
        )
        self.duration_predictor = VariancePredictor(
            hidden_size, emotion_dims, variance_kernel_size, dropout
        )
        self.pitch_predictor = VariancePredictor(
            hidden_size, emotion_dims, variance_kernel_size, dropout
        )
        self.energy_predictor = VariancePredictor(
            hidden_size, emotion_dims, variance_kernel_size, dropout
        )
        # FastPitch embeds the per-phoneme pitch with a width-3 convolution and adds it back.
        self.pitch_embedding = nn.Conv1d(1, hidden_size, 3, padding=1)
        self.energy_embedding = nn.Conv1d(1, hidden_size, 3, padding=1)
        self.frame_position_projection = nn.Linear(1, hidden_size)
        self.decoder_layers = nn.ModuleList(
            FrameDecoderLayer(hidden_size, emotion_dims, decoder_kernel_size, 2**i, dropout)
            for i in range(num_decoder_layers)
        )
        self.mu_projection = nn.Linear(hidden_size, frame_dims)

    # ----- the parts, in order ------------------------------------------------------------------
    def encode(
        self, phoneme_ids: torch.Tensor, phoneme_mask: torch.Tensor, phoneme_emotion: torch.Tensor
    ) -> torch.Tensor:
        """`(B, P)` ids, `(B, P)` bool mask, `(B, P, E)` emotion -> `(B, P, H)` hidden."""
        if int(phoneme_ids.max()) >= self.config.vocab_size or int(phoneme_ids.min()) < 0:
            raise EmogenError(
                f"phoneme ids must be in [0, {self.config.vocab_size}), got "
                f"[{int(phoneme_ids.min())}, {int(phoneme_ids.max())}]: a voice with more "
                "phonemes than this model was trained for"
            )
        hidden = self.phoneme_embedding(phoneme_ids)
        hidden = hidden + _sinusoids(phoneme_ids.shape[1], hidden.shape[-1], hidden.device)
        emotion = phoneme_emotion.to(hidden.dtype)
        for layer in self.encoder_layers:
            hidden = layer(hidden, phoneme_mask, emotion)
        return hidden

    def predict_variances(
        self, hidden: torch.Tensor, phoneme_mask: torch.Tensor, phoneme_emotion: torch.Tensor
    ) -> VariancePredictions:
        """Durations (as log(1 + frames)), pitch and energy per phoneme, each `(B, P)`."""
        emotion = phoneme_emotion.to(hidden.dtype)
        return VariancePredictions(
            log_durations=self.duration_predictor(hidden, phoneme_mask, emotion),
            pitch=self.pitch_predictor(hidden, phoneme_mask, emotion),
            energy=self.energy_predictor(hidden, phoneme_mask, emotion),
        )

    def add_variances(
        self, hidden: torch.Tensor, pitch: torch.Tensor, energy: torch.Tensor
    ) -> torch.Tensor:
        """FastPitch: the (target or predicted) pitch and energy, embedded, added to hidden."""
        pitch_term = self.pitch_embedding(pitch[:, None].to(hidden.dtype)).transpose(1, 2)
        energy_term = self.energy_embedding(energy[:, None].to(hidden.dtype)).transpose(1, 2)
        return hidden + pitch_term + energy_term

    def decode(
        self, hidden: torch.Tensor, durations: torch.Tensor, frame_emotion: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Length regulator + frame decoder: `(B, P, H)` and `(B, P)` durations, `(B, T, E)`
        emotion per frame -> `(B, T, D)` mu and the `(B, T)` frame mask."""
        frames, frame_mask, position = regulate_length(hidden, durations, self.config.max_frames)
        if frame_emotion.shape[:2] != frames.shape[:2]:
            raise EmogenError(
                f"frame_emotion must have shape {tuple(frames.shape[:2])} + (E,) for these "
                f"durations, got {tuple(frame_emotion.shape)}"
            )
        frames = frames + self.frame_position_projection(position[..., None])
        emotion = frame_emotion.to(frames.dtype)
        for layer in self.decoder_layers:
            frames = layer(frames, frame_mask, emotion)
        return self.mu_projection(frames) * frame_mask[..., None], frame_mask

    def forward(
        self,
        phoneme_ids: torch.Tensor,
        phoneme_mask: torch.Tensor,
        phoneme_emotion: torch.Tensor,
        durations: torch.Tensor,
        pitch: torch.Tensor,
        energy: torch.Tensor,
        frame_emotion: torch.Tensor,
        return_dict: bool = True,
    ) -> PhonemeAcousticOutput | tuple:
        """Training pass with the ground-truth durations, pitch and energy (teacher forcing, as
        FastSpeech 2).

        Args:
            phoneme_ids: `(B, P)` token ids (`phoneme_tokens`), padded.
            phoneme_mask: `(B, P)` bool, real tokens.
            phoneme_emotion: `(B, P, E)` emotion embedding per phoneme.
            durations: `(B, P)` integer target frames (0 for padding).
            pitch, energy: `(B, P)` per-phoneme targets (`phoneme_average` of the normalised
                frames' columns 0 and 2).
            frame_emotion: `(B, T, E)` emotion per frame, T = `durations.sum(1).max()`.
            return_dict: return a `PhonemeAcousticOutput` or a tuple.

        Returns:
            mu `(B, T, D)`, the frame mask and the variance predictions.
        """
        hidden = self.encode(phoneme_ids, phoneme_mask, phoneme_emotion)
        variances = self.predict_variances(hidden, phoneme_mask, phoneme_emotion)
        hidden = self.add_variances(hidden, pitch, energy)
        mu, frame_mask = self.decode(hidden, durations, frame_emotion)
        if not return_dict:
            return mu, frame_mask, variances
        return PhonemeAcousticOutput(mu=mu, frame_mask=frame_mask, variances=variances)


# ---------------------------------------------------------------------- inference


@dataclass
class GeneratedFrames(BaseOutput):
    """What `generate_frames` returns.

    Args:
        frames: `(T, D)` normalised frames (`FrameNormalizer.denormalize`, then
            `WorldFrameCoder.decode`).
        mu: `(T, D)` the prior alone.
        durations: `(P,)` int64 frames per phoneme.
    """

    frames: torch.Tensor
    mu: torch.Tensor
    durations: np.ndarray


def _guided(prediction: torch.Tensor, scale: float) -> torch.Tensor:
    """Classifier-free guidance on a batch [conditional; null] (Ho & Salimans 2022)."""
    if prediction.shape[0] == 1:
        return prediction
    conditional, null = prediction.chunk(2)
    return null + scale * (conditional - null)


@torch.no_grad()
def generate_frames(
    model: PhonemeAcousticModel,
    denoiser: FrameDenoiser,
    encoder: EmotionEncoder,
    scheduler: SchedulerMixin,
    phoneme_ids: Sequence[int] | np.ndarray,
    emotion: EmotionLike | EmotionCurve,
    frame_period_ms: float,
    time_offset_s: float = 0.0,
    num_inference_steps: int = 20,
    emotion_guidance_scale: float = 1.0,
    generator: torch.Generator | None = None,
    progress: bool = False,
    strength: float = 1.0,
    noise_scale: float = 1.0,
) -> GeneratedFrames:
    """Frames of one sentence: variances, prior and diffusion, all guided on the emotion.

    A curve over seconds is read on the output's time line, which the predicted durations make:
    the durations are first predicted with the neutral emotion, the curve is read at those
    phoneme times, the durations are predicted again with that emotion and the curve is read
    once more at the new times (one fixed-point iteration).

    Args:
        model, denoiser, encoder: trained together (`training/tts_diffusion`).
        scheduler: any diffusers scheduler with the training scheduler's config.
        phoneme_ids: `(P,)` tokens of the sentence (`phoneme_tokens`).
        emotion: an emotion (any form) or an `EmotionCurve` over seconds.
        frame_period_ms: the frames' hop (the frame coder's).
        time_offset_s: curve time of the sentence's first frame.
        num_inference_steps: denoising steps.
        emotion_guidance_scale: g >= 0: 0 ignores the emotion, 1 is the plain conditional
            model, > 1 exaggerates it.
        generator: seeds the diffusion noise (same seed, same frames).
        progress: show the denoising bar.
        strength, noise_scale: of the diffusion decoder (`emogen.speech.acoustic.sample`): a
            shallow run from mu (DiffSinger) below 1, a lower sampling temperature below 1.

    Returns:
        `GeneratedFrames`.
    """
    if not (math.isfinite(emotion_guidance_scale) and emotion_guidance_scale >= 0):
        raise EmogenError(f"emotion_guidance_scale must be >= 0, got {emotion_guidance_scale!r}")
    curve = as_curve(emotion)
    if curve.unit != "seconds":
        raise EmogenError(
            "generate_frames reads curves over seconds; a sentence curve gives one emotion per "
            "sentence (the pipeline splits it)"
        )
    device = model.device
    ids = torch.as_tensor(np.asarray(phoneme_ids), dtype=torch.long, device=device)[None]
    if ids.ndim != 2 or ids.shape[1] < 1:
        raise EmogenError("phoneme_ids must be a non-empty sequence of token ids")
    num_phonemes = ids.shape[1]
    mask = torch.ones_like(ids, dtype=torch.bool)
    guided = emotion_guidance_scale != 1.0
    null = encoder.null(1).pooled.to(device)  # (1, E)

    def predict(phoneme_emotion: torch.Tensor) -> tuple[torch.Tensor, VariancePredictions]:
        """Variances for `(1, P, E)` emotions, guided: the durations and the predictions."""
        batch_ids, batch_mask, batch_emotion = ids, mask, phoneme_emotion
        if guided:
            null_rows = null[:, None].expand(1, num_phonemes, -1)
            batch_ids, batch_mask = ids.repeat(2, 1), mask.repeat(2, 1)
            batch_emotion = torch.cat([phoneme_emotion, null_rows])
        hidden = model.encode(batch_ids, batch_mask, batch_emotion)
        raw = model.predict_variances(hidden, batch_mask, batch_emotion)
        variances = VariancePredictions(
            *(_guided(value, emotion_guidance_scale) for value in raw.to_tuple())
        )
        durations = torch.round(torch.expm1(variances.log_durations)).clamp(min=0).long()
        if int(durations.sum()) == 0:
            durations[:, -1] = 1
        return durations, variances

    def frame_track(num_frames: int) -> torch.Tensor:
        return frame_emotion_embedding(
            encoder, curve, num_frames, frame_period_ms, time_offset_s=time_offset_s
        ).to(device)[None]

    # 1. The emotion per phoneme (a curve: on the time line the durations make).
    if len(curve) == 1:
        phoneme_emotion = emotion_embedding(encoder, curve.keyframes[0].emotion).to(device)
        phoneme_emotion = phoneme_emotion[:, None].expand(1, num_phonemes, -1)
    else:
        neutral = emotion_embedding(encoder, Emotion.neutral()).to(device)
        phoneme_emotion = neutral[:, None].expand(1, num_phonemes, -1)
        for _ in range(2):
            durations, _ = predict(phoneme_emotion)
            track = frame_track(int(durations.sum()))
            phoneme_emotion = phoneme_average(track, durations)

    # 2. Durations, pitch and energy; the emotion per frame on the final time line.
    durations, variances = predict(phoneme_emotion)
    num_frames = int(durations.sum())
    if num_frames > model.config.max_frames:
        raise EmogenError(
            f"the sentence would be {num_frames} frames long, over the model's limit of "
            f"{model.config.max_frames}; give shorter sentences"
        )
    if len(curve) == 1:
        track = phoneme_emotion[:, :1].expand(1, num_frames, -1)
    else:
        track = frame_track(num_frames)

    # 3. The prior mu, guided like the rest.
    batch_emotion, batch_track = phoneme_emotion, track
    batch_ids, batch_mask = ids, mask
    if guided:
        batch_ids, batch_mask = ids.repeat(2, 1), mask.repeat(2, 1)
        batch_emotion = torch.cat([phoneme_emotion, null[:, None].expand(1, num_phonemes, -1)])
        batch_track = torch.cat([track, null[:, None].expand(1, num_frames, -1)])
    hidden = model.encode(batch_ids, batch_mask, batch_emotion)
    repeat = batch_ids.shape[0]
    hidden = model.add_variances(
        hidden, variances.pitch.expand(repeat, -1), variances.energy.expand(repeat, -1)
    )
    mu, _ = model.decode(hidden, durations.expand(repeat, -1), batch_track)
    mu = _guided(mu, emotion_guidance_scale)

    # 4. The diffusion decoder: the residual from mu (Grad-TTS: x_T ~ N(mu, I)).
    residual = sample(
        denoiser,
        encoder,
        scheduler,
        mu,
        num_inference_steps=num_inference_steps,
        emotion_guidance_scale=emotion_guidance_scale,
        generator=generator,
        progress=progress,
        emotion_embeds=track,
        strength=strength,
        noise_scale=noise_scale,
    )
    return GeneratedFrames(
        frames=(mu + residual)[0], mu=mu[0], durations=durations[0].cpu().numpy()
    )
