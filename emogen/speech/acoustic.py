"""Learned acoustic models on WORLD frames: the diffusion denoiser of emotional voice conversion.

`FrameDenoiser` predicts the noise (or v, or the clean frames: the scheduler's `prediction_type`)
in noisy target frames `(B, T, D)` (normalised `WorldFrameCoder` rows), given

    timestep             (B,)            diffusion step (DDPM, Ho et al. 2020)
    condition_frames     (B, T, C)       frame-aligned condition: for voice conversion the SOURCE
                                         (neutral) frames of the same utterance, resampled to the
                                         target length (`align_frames`)
    emotion_embedding    (B, E)          from `emotion_embedding` (below)

The body is DiffWave's (Kong et al. 2021, "DiffWave: a versatile diffusion model for audio
synthesis"): a stack of residual layers with dilated 1-D convolutions over time, a gated
tanh x sigmoid unit, the step embedding added per layer and the frame condition added before the
gate, and skip connections summed at the end. It works on frames (5 ms), not samples, so a few
hundred thousand parameters suffice.

Emotion enters as EmoReg's shifted embedding (Singh et al. 2024, "EmoReg: Directional latent
vector modeling for emotional intensity regularization in diffusion-based voice conversion"):
the embedding of emotion c at intensity s is

    e(c, s) = e(neutral) + s * (e(c, 1) - e(neutral))

with e(.) the shared `EmotionEncoder`'s pooled vector: a move from the neutral embedding along
the direction of the category, as `DirectionBank.apply` moves features (x + s * d_c), but with
the direction learned end to end with the denoiser. Intensity is thus continuous and linear in
the embedding: s = 0 is the neutral condition (identity conversion), and intensities between
the trained ones interpolate. In training the whole embedding is replaced by the null emotion
with a small probability, so that `sample` can apply classifier-free guidance
(Ho & Salimans 2022) with `emotion_guidance_scale`.

Example:
    >>> denoiser, encoder = FrameDenoiser(), EmotionEncoder(hidden_size=64)
    >>> scheduler = DDIMScheduler.from_config(DDPMScheduler().config)  # any scheduler
    >>> frames = sample(denoiser, encoder, scheduler, source, ["angry"], intensity=0.7,
    ...                 num_inference_steps=20, emotion_guidance_scale=2.0)   # (1, T, 64)
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.embeddings import TimestepEmbedding, Timesteps
from diffusers.models.modeling_utils import ModelMixin
from diffusers.schedulers.scheduling_utils import SchedulerMixin
from diffusers.utils import BaseOutput
from torch import nn
from tqdm.auto import tqdm

from ..emotion import EmotionCurve, EmotionLike, as_emotion
from ..emotion.curve import as_curve
from ..emotion.directions import DirectionBank
from ..emotion.encoder import EmotionEncoder, EmotionInputs
from ..errors import EmogenError

__all__ = [
    "CONTROL_RATE_HZ",
    "PITCH_FEATURES",
    "FrameDenoiser",
    "FrameDenoiserOutput",
    "align_frames",
    "bank_offsets",
    "convert_pitch",
    "emotion_embedding",
    "frame_emotion_embedding",
    "frame_tempo",
    "full_intensity_inputs",
    "pitch_statistics",
    "sample",
    "shifted_embedding",
    "stretch_frames",
    "training_target",
]

CONTROL_RATE_HZ = 20.0  # an emotion curve is read this often (then interpolated to frames)


@dataclass
class FrameDenoiserOutput(BaseOutput):
    """Output of `FrameDenoiser`.

    Args:
        sample (`torch.Tensor` of shape `(batch_size, num_frames, frame_dims)`):
            The prediction (noise, v or clean frames, as the scheduler was trained for).
    """

    sample: torch.Tensor


class ResidualLayer(nn.Module):
    """One DiffWave residual layer (Kong et al. 2021): dilated conv + step/emotion vector +
    frame condition -> gated unit -> (residual, skip). Shapes: `(B, channels, T)` in and out."""

    def __init__(self, channels: int, kernel_size: int, dilation: int, embedding_dims: int):
        super().__init__()
        self.embedding_projection = nn.Linear(embedding_dims, channels)
        self.dilated_conv = nn.Conv1d(
            channels,
            2 * channels,
            kernel_size,
            dilation=dilation,
            padding=dilation * (kernel_size - 1) // 2,
        )
        self.condition_projection = nn.Conv1d(channels, 2 * channels, 1)
        self.output_projection = nn.Conv1d(channels, 2 * channels, 1)

    def forward(
        self, hidden: torch.Tensor, embedding: torch.Tensor, condition: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        # embedding: (B, E') for one emotion per item, (B, T, E') for an emotion per frame.
        projected = self.embedding_projection(embedding)
        projected = projected[:, :, None] if projected.ndim == 2 else projected.transpose(1, 2)
        gate_input = self.dilated_conv(hidden + projected)
        gate_input = gate_input + self.condition_projection(condition)
        filter_part, gate_part = gate_input.chunk(2, dim=1)
        gated = torch.tanh(filter_part) * torch.sigmoid(gate_part)
        residual, skip = self.output_projection(gated).chunk(2, dim=1)
        # 1/sqrt(2) keeps the residual stream's variance from growing with depth (DiffWave).
        return (hidden + residual) / math.sqrt(2.0), skip


class FrameDenoiser(ModelMixin, ConfigMixin):
    """A DiffWave-style denoiser over WORLD frames, conditioned on aligned frames and an emotion.

    Args:
        frame_dims: D, columns of the frames it denoises (64: `WorldFrameCoder` at 22.05 kHz).
        condition_dims: C, columns of the frame-aligned condition (the source frames in voice
            conversion: D).
        emotion_dims: E, size of the emotion embedding (`EmotionEncoder.hidden_size`).
        channels: width of the residual stream.
        num_layers: residual layers.
        dilation_cycle: dilations run 1, 2, ..., 2^(cycle - 1), then repeat (DiffWave uses 10
            over samples; 4 with kernel 3 gives a receptive field of ~90 frames = 0.45 s at 8
            layers, a syllable or two).
        kernel_size: odd width of the dilated convolutions.

    Example:
        >>> model = FrameDenoiser(channels=32, num_layers=4)
        >>> out = model(noisy, torch.tensor([999]), source, emotion).sample  # (1, T, 64)
    """

    @register_to_config
    def __init__(
        self,
        frame_dims: int = 64,
        condition_dims: int = 64,
        emotion_dims: int = 64,
        channels: int = 64,
        num_layers: int = 8,
        dilation_cycle: int = 4,
        kernel_size: int = 3,
    ):
        super().__init__()
        for name, value in (
            ("frame_dims", frame_dims),
            ("condition_dims", condition_dims),
            ("emotion_dims", emotion_dims),
            ("channels", channels),
            ("num_layers", num_layers),
            ("dilation_cycle", dilation_cycle),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise EmogenError(f"{name} must be an integer >= 1, got {value!r}")
        if (
            isinstance(kernel_size, bool)
            or not isinstance(kernel_size, int)
            or kernel_size % 2 != 1
        ):
            raise EmogenError(f"kernel_size must be an odd integer, got {kernel_size!r}")

        self.input_projection = nn.Conv1d(frame_dims, channels, 1)
        # Two convolutions give the condition some context before every layer reads it.
        self.condition_encoder = nn.Sequential(
            nn.Conv1d(condition_dims, channels, 3, padding=1),
            nn.SiLU(),
            nn.Conv1d(channels, channels, 3, padding=1),
        )
        self.time_proj = Timesteps(channels, flip_sin_to_cos=True, downscale_freq_shift=0)
        embedding_dims = 2 * channels
        self.time_embedding = TimestepEmbedding(channels, embedding_dims)
        self.emotion_projection = nn.Sequential(
            nn.Linear(emotion_dims, embedding_dims),
            nn.SiLU(),
            nn.Linear(embedding_dims, embedding_dims),
        )
        self.layers = nn.ModuleList(
            ResidualLayer(channels, kernel_size, 2 ** (i % dilation_cycle), embedding_dims)
            for i in range(num_layers)
        )
        self.skip_projection = nn.Conv1d(channels, channels, 1)
        self.output_projection = nn.Conv1d(channels, frame_dims, 1)
        # Zero output at initialisation (DiffWave): the first predictions are 0, not noise.
        nn.init.zeros_(self.output_projection.weight)
        nn.init.zeros_(self.output_projection.bias)

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor | float | int,
        condition_frames: torch.Tensor,
        emotion_embedding: torch.Tensor,
        return_dict: bool = True,
    ) -> FrameDenoiserOutput | tuple[torch.Tensor]:
        """Predict the noise (or v) in `sample`.

        Args:
            sample: `(B, T, D)` noisy frames.
            timestep: `(B,)` or a scalar diffusion step (float steps are fine).
            condition_frames: `(B, T, C)`, aligned with `sample` frame by frame.
            emotion_embedding: `(B, E)`, from `emotion_embedding` (or the encoder's null output),
                or `(B, T, E)`, an embedding per frame (`frame_emotion_embedding`: an emotion
                curve).
            return_dict: return a `FrameDenoiserOutput` (default) or a 1-tuple.

        Returns:
            The prediction, `(B, T, D)`.
        """
        config = self.config
        if sample.ndim != 3 or sample.shape[-1] != config.frame_dims:
            raise EmogenError(
                f"sample must have shape (batch, frames, {config.frame_dims}), "
                f"got {tuple(sample.shape)}"
            )
        batch_size, num_frames = sample.shape[:2]
        per_frame = emotion_embedding.ndim == 3
        expected = {
            "condition_frames": (condition_frames, (batch_size, num_frames, config.condition_dims)),
            "emotion_embedding": (
                emotion_embedding,
                (batch_size, num_frames, config.emotion_dims)
                if per_frame
                else (batch_size, config.emotion_dims),
            ),
        }
        for name, (tensor, shape) in expected.items():
            if tuple(tensor.shape) != shape:
                raise EmogenError(f"{name} must have shape {shape}, got {tuple(tensor.shape)}")
        timestep = torch.as_tensor(timestep, device=sample.device)
        if timestep.ndim == 0:
            timestep = timestep.expand(batch_size)

        step = self.time_embedding(self.time_proj(timestep).to(sample.dtype))
        if per_frame:
            step = step[:, None, :]
        embedding = step + self.emotion_projection(emotion_embedding.to(sample.dtype))
        hidden = F.silu(self.input_projection(sample.transpose(1, 2)))
        condition = self.condition_encoder(condition_frames.to(sample.dtype).transpose(1, 2))
        skips = 0
        for layer in self.layers:
            hidden, skip = layer(hidden, embedding, condition)
            skips = skips + skip
        skips = skips / math.sqrt(len(self.layers))
        prediction = self.output_projection(F.silu(self.skip_projection(skips))).transpose(1, 2)
        if not return_dict:
            return (prediction,)
        return FrameDenoiserOutput(sample=prediction)


# ---------------------------------------------------------------------- conditioning


def full_intensity_inputs(
    encoder: EmotionEncoder,
    emotions: Sequence[EmotionLike] | EmotionLike,
    intensity: float | Sequence[float] | None = None,
) -> tuple[EmotionInputs, torch.Tensor]:
    """Split emotions into EmoReg's direction and step: the encoder inputs of each emotion at
    intensity 1 (its category and TARGET VAD), and the intensities s `(B,)`.

    Args:
        encoder: the shared emotion encoder.
        emotions: one or B emotions (Emotion, string form or dict).
        intensity: None (each emotion's own), one value in [0, 1] for all, or B values.
    """
    if isinstance(emotions, str) or not isinstance(emotions, Sequence):
        emotions = [emotions]
    parsed = [as_emotion(e) for e in emotions]
    if intensity is None:
        steps = [e.intensity for e in parsed]
    elif isinstance(intensity, int | float):
        steps = [float(intensity)] * len(parsed)
    else:
        steps = [float(s) for s in intensity]
    if len(steps) != len(parsed):
        raise EmogenError(f"got {len(parsed)} emotions but {len(steps)} intensities")
    for value in steps:
        if not (math.isfinite(value) and 0.0 <= value <= 1.0):
            raise EmogenError(f"intensity must be in [0, 1], got {value!r}")
    full = encoder.prepare([e.with_intensity(1.0) for e in parsed])
    return full, torch.tensor(steps, dtype=torch.float32)


def shifted_embedding(
    encoder: EmotionEncoder,
    full: EmotionInputs,
    intensity: torch.Tensor,
    drop_condition: torch.Tensor | None = None,
) -> torch.Tensor:
    """EmoReg's shifted embedding `e(neutral) + s * (e(c, 1) - e(neutral))`, `(B, E)`.

    Args:
        encoder: the shared emotion encoder (its own training dropout is applied to both passes
            independently; recipes set it to 0 and drop the whole condition here instead).
        full: `(B, ...)` encoder inputs at intensity 1, from `full_intensity_inputs`.
        intensity: `(B,)` step s along the direction.
        drop_condition: optional `(B,)` bool; True rows get the null emotion (for classifier-free
            guidance: both passes are null, so the shift is 0).
    """
    device = encoder.category_embedding.weight.device
    full = full.to(device=device)
    batch_size = len(full)
    neutral = encoder.prepare(["neutral"] * batch_size).to(device=device)
    direction_end = encoder(
        full.category_weights, full.vad, full.intensity, drop_condition=drop_condition
    ).pooled
    origin = encoder(
        neutral.category_weights, neutral.vad, neutral.intensity, drop_condition=drop_condition
    ).pooled
    step = intensity.to(device=device, dtype=origin.dtype)[:, None]
    return origin + step * (direction_end - origin)


def emotion_embedding(
    encoder: EmotionEncoder,
    emotions: Sequence[EmotionLike] | EmotionLike,
    intensity: float | Sequence[float] | None = None,
    drop_condition: torch.Tensor | None = None,
) -> torch.Tensor:
    """`full_intensity_inputs` then `shifted_embedding`: emotions -> `(B, E)` condition."""
    full, steps = full_intensity_inputs(encoder, emotions, intensity)
    return shifted_embedding(encoder, full, steps, drop_condition)


def frame_emotion_embedding(
    encoder: EmotionEncoder,
    emotion: EmotionLike | EmotionCurve,
    num_frames: int,
    frame_period_ms: float,
    intensity: float | None = None,
    time_offset_s: float = 0.0,
    control_rate_hz: float = CONTROL_RATE_HZ,
) -> torch.Tensor:
    """The condition of one utterance frame by frame: `(T, E)`.

    A curve over seconds is read at `control_rate_hz` (its emotions, each as EmoReg's shifted
    embedding), then the embeddings are interpolated linearly to the frame grid: the encoder runs
    a few dozen times a second of speech, not 200 times. A single emotion gives the same row for
    every frame.

    Args:
        encoder: the shared emotion encoder.
        emotion: an emotion (any form) or an `EmotionCurve` over seconds.
        num_frames: T, frames of the utterance.
        frame_period_ms: the frames' hop.
        intensity: replaces every emotion's intensity, in [0, 1].
        time_offset_s: the curve time of frame 0 (a sentence that starts later in a text).
        control_rate_hz: how often the curve is read.
    """
    if num_frames < 1 or not frame_period_ms > 0:
        raise EmogenError(
            f"need num_frames >= 1 and frame_period_ms > 0, got {num_frames} and {frame_period_ms}"
        )
    curve = as_curve(emotion)
    if curve.unit != "seconds":
        raise EmogenError(
            "frame-level conditioning reads curves over seconds ('happy@0 -> sad@2'); "
            "a sentence curve gives one emotion per sentence"
        )
    if len(curve) == 1:
        row = emotion_embedding(encoder, curve.keyframes[0].emotion, intensity)
        return row.expand(num_frames, -1)
    duration_s = num_frames * frame_period_ms / 1000.0
    count = max(2, math.ceil(duration_s * control_rate_hz) + 1)
    control_times = np.linspace(0.0, duration_s, count)
    emotions = [curve.at(time_offset_s + t) for t in control_times]
    rows = emotion_embedding(encoder, emotions, intensity)  # (K, E)
    positions = np.arange(num_frames) * frame_period_ms / 1000.0
    index = np.clip(np.searchsorted(control_times, positions, side="right") - 1, 0, count - 2)
    weight = (positions - control_times[index]) / (control_times[index + 1] - control_times[index])
    index_t = torch.from_numpy(index).to(rows.device)
    weight_t = torch.from_numpy(weight).to(device=rows.device, dtype=rows.dtype)[:, None]
    return rows[index_t] * (1 - weight_t) + rows[index_t + 1] * weight_t


def bank_offsets(
    bank: DirectionBank,
    emotion: EmotionLike | EmotionCurve,
    num_frames: int,
    frame_period_ms: float,
    control_rate_hz: float = CONTROL_RATE_HZ,
) -> np.ndarray:
    """`(T, F)` a bank's step for an emotion frame by frame (EmoReg's directional step, scaled by
    intensity; 0 for neutral and for an emotion the bank has no direction for). A curve over
    seconds is read at `control_rate_hz` and interpolated."""
    curve = as_curve(emotion)
    if curve.unit != "seconds":
        raise EmogenError("frame-level banks read curves over seconds ('happy@0 -> sad@2')")
    if len(curve) == 1:
        row = bank.offset(curve.keyframes[0].emotion, unfitted="ignore")
        return np.tile(np.asarray(row, dtype=np.float64), (num_frames, 1))
    duration_s = num_frames * frame_period_ms / 1000.0
    times = np.linspace(0.0, duration_s, max(2, math.ceil(duration_s * control_rate_hz) + 1))
    rows = np.stack([bank.offset(curve.at(t), unfitted="ignore") for t in times])
    positions = np.arange(num_frames) * frame_period_ms / 1000.0
    return np.stack([np.interp(positions, times, column) for column in rows.T], axis=1)


def frame_tempo(
    tempo: DirectionBank,
    emotion: EmotionLike | EmotionCurve,
    num_frames: int,
    frame_period_ms: float,
    control_rate_hz: float = CONTROL_RATE_HZ,
) -> np.ndarray:
    """`(T,)` how many frames each input frame lasts under an emotion (1: unchanged).

    `tempo` is a one-feature `DirectionBank` of log duration ratios (an emotional rendering's
    length over its neutral pair's): EmoReg's directional step along the emotion's direction,
    scaled by its intensity, gives the log ratio, so the change is linear in intensity in the log
    domain and 0 for neutral; an emotion the bank has no direction for (one that kept the rate
    in the corpus) adds nothing. A curve over seconds is read at `control_rate_hz` and
    interpolated.
    """
    if tempo.feature_dim != 1:
        raise EmogenError(f"a tempo bank has one feature (log duration ratio), got {tempo}")
    offsets = bank_offsets(tempo, emotion, num_frames, frame_period_ms, control_rate_hz)
    return np.exp(offsets[:, 0])


PITCH_FEATURES = ("log_f0_mean_shift", "log_f0_log_std_ratio")


def pitch_statistics(log_f0: np.ndarray) -> tuple[float, float] | None:
    """Mean and standard deviation of an utterance's voiced log F0 values, or None when fewer
    than two frames are voiced or the contour is flat (nothing to scale)."""
    log_f0 = np.asarray(log_f0, dtype=np.float64)
    if log_f0.size < 2 or not log_f0.std() > 1e-6:
        return None
    return float(log_f0.mean()), float(log_f0.std())


def convert_pitch(
    pitch: DirectionBank,
    emotion: EmotionLike | EmotionCurve,
    log_f0: np.ndarray,
    voiced: np.ndarray,
    source_log_f0: np.ndarray,
    frame_period_ms: float,
) -> np.ndarray:
    """`(T,)` a converted log F0 contour moved to the emotion's pitch level and range.

    The log-Gaussian normalised transform of voice conversion (Liu et al. 2007, "High quality
    voice conversion through phoneme-based linear mapping functions with STRAIGHT for Mandarin";
    the F0 path of most emotional VC systems): the contour is standardised by its own voiced
    statistics and given the source's mean plus the emotion's shift and the source's deviation
    times the emotion's ratio,

        f' = (mu_s + d_mu) + (f - mu_f) / sigma_f * sigma_s * exp(d_sigma),

    with (d_mu, d_sigma) the `pitch` bank's step for the emotion (a two-feature `DirectionBank`
    of `PITCH_FEATURES` fitted on the corpus pairs): linear in intensity, 0 for neutral, frame
    by frame for a curve. A denoiser trained with an L2-type loss regresses prosody towards its
    mean, so its contours keep their shape but under-shoot the level and range the corpus
    emotions have; this restores them. Unchanged when either contour has nothing to scale.

    Args:
        pitch: the bank.
        emotion: the target emotion or a curve over seconds.
        log_f0: `(T,)` the converted frames' log F0 (natural log of Hz, continuous).
        voiced: `(T,)` bool, the converted frames' voicing.
        source_log_f0: the source's voiced log F0 values (any length).
        frame_period_ms: the frames' hop.
    """
    if pitch.feature_dim != len(PITCH_FEATURES):
        raise EmogenError(f"a pitch bank has the features {PITCH_FEATURES}, got {pitch}")
    log_f0 = np.asarray(log_f0, dtype=np.float64)
    own = pitch_statistics(log_f0[np.asarray(voiced, dtype=bool)])
    source = pitch_statistics(source_log_f0)
    if own is None or source is None:
        return log_f0
    offsets = bank_offsets(pitch, emotion, log_f0.shape[0], frame_period_ms)
    scale = source[1] * np.exp(offsets[:, 1]) / own[1]
    return source[0] + offsets[:, 0] + (log_f0 - own[0]) * scale


def stretch_frames(frames: np.ndarray, stretch: np.ndarray) -> np.ndarray:
    """`(N, D)` frames -> `(M, D)`, input frame i lasting `stretch[i]` output frames.

    M = round(sum(stretch)). A constant stretch is `align_frames` to that length (how the voice
    conversion model saw its sources in training); a varying one (a curve) places each output
    frame by the cumulative durations and interpolates linearly.
    """
    frames = np.asarray(frames)
    stretch = np.asarray(stretch, dtype=np.float64)
    if frames.ndim != 2 or stretch.shape != (frames.shape[0],):
        raise EmogenError(
            f"need (N, D) frames and (N,) stretch, got {frames.shape} and {stretch.shape}"
        )
    if not np.all(np.isfinite(stretch)) or (stretch <= 0).any():
        raise EmogenError("stretch factors must be finite and > 0")
    count = max(1, round(float(stretch.sum())))
    if np.allclose(stretch, stretch[0]):
        return align_frames(frames, count)
    edges = np.concatenate([[0.0], np.cumsum(stretch)])
    centres = (edges[:-1] + edges[1:]) / 2
    positions = np.interp(np.arange(count) + 0.5, centres, np.arange(frames.shape[0]))
    low = np.floor(positions).astype(int)
    high = np.minimum(low + 1, frames.shape[0] - 1)
    weight = (positions - low)[:, None]
    return ((1 - weight) * frames[low] + weight * frames[high]).astype(np.float32)


# ---------------------------------------------------------------------- training and sampling


def align_frames(frames: np.ndarray | torch.Tensor, num_frames: int) -> np.ndarray | torch.Tensor:
    """Resample `(N, D)` frames to `num_frames` rows by linear interpolation along time.

    The parallel utterances of a corpus say the same words, but an emotion changes the speaking
    rate; stretching the source uniformly to the target's length aligns them to first order
    (no DTW: phone-level timing differences remain for the model to learn).
    """
    if num_frames < 1:
        raise EmogenError(f"num_frames must be >= 1, got {num_frames}")
    is_tensor = isinstance(frames, torch.Tensor)
    array = frames.detach().cpu().numpy() if is_tensor else np.asarray(frames)
    if array.ndim != 2 or array.shape[0] < 1:
        raise EmogenError(f"frames must be (N, D) with N >= 1, got shape {array.shape}")
    if array.shape[0] == num_frames:
        aligned = array.astype(np.float32)
    else:
        source_positions = np.linspace(0.0, 1.0, array.shape[0])
        target_positions = np.linspace(0.0, 1.0, num_frames)
        aligned = np.stack(
            [np.interp(target_positions, source_positions, column) for column in array.T], axis=1
        ).astype(np.float32)
    return torch.from_numpy(aligned).to(frames.device) if is_tensor else aligned


def training_target(
    scheduler: SchedulerMixin, clean: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor
) -> torch.Tensor:
    """What the denoiser learns to predict, by the scheduler's `prediction_type`: the noise
    ("epsilon", DDPM, Ho et al. 2020), v ("v_prediction", Salimans & Ho 2022) or the clean
    frames ("sample")."""
    prediction_type = scheduler.config.prediction_type
    if prediction_type == "epsilon":
        return noise
    if prediction_type == "v_prediction":
        return scheduler.get_velocity(clean, noise, timesteps)
    if prediction_type == "sample":
        return clean
    raise EmogenError(
        f"unknown prediction_type {prediction_type!r}; use epsilon, v_prediction or sample"
    )


@torch.no_grad()
def sample(
    denoiser: FrameDenoiser,
    encoder: EmotionEncoder,
    scheduler: SchedulerMixin,
    condition_frames: torch.Tensor,
    emotions: Sequence[EmotionLike] | EmotionLike | None = None,
    intensity: float | Sequence[float] | None = None,
    num_inference_steps: int = 50,
    emotion_guidance_scale: float = 1.0,
    generator: torch.Generator | None = None,
    progress: bool = False,
    emotion_embeds: torch.Tensor | None = None,
    strength: float = 1.0,
    init_frames: torch.Tensor | None = None,
    noise_scale: float = 1.0,
) -> torch.Tensor:
    """Run the reverse diffusion process with classifier-free guidance on the emotion.

    The guided prediction is `uncond + g * (cond - uncond)` (Ho & Salimans 2022), where uncond
    keeps the frame condition and replaces only the emotion by the null one: g = 1 is the plain
    conditional model, g = 0 ignores the emotion, g > 1 exaggerates it.

    Args:
        denoiser: the trained `FrameDenoiser`.
        encoder: the `EmotionEncoder` trained with it.
        scheduler: any diffusers scheduler with the training scheduler's config (DDPM, DDIM,
            DPMSolverMultistep, Euler...); `set_timesteps` is called on it.
        condition_frames: `(B, T, C)` normalised condition (source) frames.
        emotions: one emotion for all, or B (or None with `emotion_embeds`).
        intensity: None (the emotions' own), one value or B values in [0, 1].
        num_inference_steps: denoising steps.
        emotion_guidance_scale: g above, >= 0.
        generator: for the initial noise (and stochastic schedulers' steps).
        progress: show a tqdm bar.
        emotion_embeds: the condition already encoded instead of `emotions`: `(B, E)`, or
            `(B, T, E)` for an emotion per frame (`frame_emotion_embedding` of a curve).
        strength: in [0, 1], how much of the reverse process runs (as diffusers' img2img):
            1 starts from pure noise; below 1 starts from `init_frames` noised to the step a
            `strength` fraction of the way, and runs only the remaining steps: DiffSinger's
            shallow diffusion (Liu et al. 2022), which needs only the low-noise steps a small
            denoiser learns first; 0 returns `init_frames` unchanged.
        init_frames: `(B, T, D)` start of a shallow run (None: zeros, i.e. the condition's own
            mean when the model generates a residual from it, as in Grad-TTS).
        noise_scale: the starting noise times this, > 0: below 1 trades variety for smoother
            frames, as Grad-TTS's sampling temperature (Popov et al. 2021 sample from
            N(mu, I / 1.5), a scale of 0.82).

    Returns:
        `(B, T, D)` normalised frames (`FrameNormalizer.denormalize`, then
        `WorldFrameCoder.decode`, give WORLD features).
    """
    if condition_frames.ndim != 3:
        raise EmogenError(
            f"condition_frames must be (batch, frames, dims), got {tuple(condition_frames.shape)}"
        )
    if not (math.isfinite(emotion_guidance_scale) and emotion_guidance_scale >= 0):
        raise EmogenError(f"emotion_guidance_scale must be >= 0, got {emotion_guidance_scale!r}")
    if isinstance(num_inference_steps, bool) or not (
        isinstance(num_inference_steps, int) and num_inference_steps >= 1
    ):
        raise EmogenError(f"num_inference_steps must be an integer >= 1, got {num_inference_steps}")
    batch_size, num_frames = condition_frames.shape[:2]
    device, dtype = denoiser.device, denoiser.dtype
    if (emotions is None) == (emotion_embeds is None):
        raise EmogenError("give either emotions or emotion_embeds")

    # 1. Encode the condition: emotion (and the null one for guidance), frames.
    if emotion_embeds is None:
        if isinstance(emotions, str) or not isinstance(emotions, Sequence):
            emotions = [emotions] * batch_size
        if len(emotions) != batch_size:
            raise EmogenError(f"got {len(emotions)} emotions for a batch of {batch_size}")
        emotion_embeds = emotion_embedding(encoder, emotions, intensity)
    elif emotion_embeds.shape[0] != batch_size or emotion_embeds.ndim not in (2, 3):
        raise EmogenError(
            f"emotion_embeds must be (batch, E) or (batch, frames, E) for a batch of "
            f"{batch_size}, got {tuple(emotion_embeds.shape)}"
        )
    embedding = emotion_embeds.to(device=device, dtype=dtype)
    condition = condition_frames.to(device=device, dtype=dtype)
    guided = emotion_guidance_scale != 1.0
    if guided:
        null = encoder.null(batch_size).pooled.to(device=device, dtype=dtype)
        if embedding.ndim == 3:
            null = null[:, None, :].expand(-1, num_frames, -1)
        embedding = torch.cat([embedding, null])
        condition = torch.cat([condition, condition])

    # 2. Prepare the noise (a shallow run: the start frames noised to its first step).
    if not (math.isfinite(strength) and 0.0 <= strength <= 1.0):
        raise EmogenError(f"strength must be in [0, 1], got {strength!r}")
    if not (math.isfinite(noise_scale) and noise_scale > 0):
        raise EmogenError(f"noise_scale must be > 0, got {noise_scale!r}")
    shape = (batch_size, num_frames, denoiser.config.frame_dims)
    if init_frames is None:
        init_frames = torch.zeros(shape, device=device, dtype=dtype)
    elif tuple(init_frames.shape) != shape:
        raise EmogenError(f"init_frames must have shape {shape}, got {tuple(init_frames.shape)}")
    init_frames = init_frames.to(device=device, dtype=dtype)
    scheduler.set_timesteps(num_inference_steps, device=device)
    timesteps = scheduler.timesteps
    noise_device = generator.device if generator is not None else device
    noise = torch.randn(shape, generator=generator, device=noise_device, dtype=dtype).to(device)
    noise = noise * noise_scale
    if strength < 1.0:
        kept = round(num_inference_steps * strength)
        if kept == 0:
            return init_frames
        start = (num_inference_steps - kept) * scheduler.order
        timesteps = timesteps[start:]
        if hasattr(scheduler, "set_begin_index"):
            scheduler.set_begin_index(start)
        latents = scheduler.add_noise(init_frames, noise, timesteps[:1])
    else:
        latents = noise * scheduler.init_noise_sigma
    step_kwargs = {}
    if "generator" in inspect.signature(scheduler.step).parameters:
        step_kwargs["generator"] = generator

    # 3. Denoise.
    for t in tqdm(timesteps, disable=not progress, desc="denoising"):
        model_input = torch.cat([latents, latents]) if guided else latents
        model_input = scheduler.scale_model_input(model_input, t)
        prediction = denoiser(model_input, t, condition, embedding).sample
        if guided:
            conditional, unconditional = prediction.chunk(2)
            prediction = unconditional + emotion_guidance_scale * (conditional - unconditional)
        latents = scheduler.step(prediction, t, latents, **step_kwargs).prev_sample
    return latents
