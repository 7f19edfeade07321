"""Audio codecs: a waveform <-> discrete tokens, the vocabulary of the codec language model.

Two codecs behind one interface (`AudioCodec`: `encode`, `decode`, `sample_rate`,
`frame_rate`, `num_codebooks`, `codebook_size`):

- `WorldFrameCodec`, the project's own, trained on the speech corpus (training/codec), so the
  offline default needs no downloaded weights. WORLD frames (`WorldFrameCoder`: log F0, voicing,
  a 60-coefficient coded envelope and band aperiodicity every 5 ms), normalised per column, go
  through a convolutional encoder that strides them down 4x to 50 token frames a second, then
  residual vector quantisation (SoundStream, Zeghidour et al. 2021; EnCodec, Défossez et al.
  2022): each of `num_codebooks` codebooks quantises what the ones before left, so the first
  carries the coarse frame and the others refine it. Codebooks learn by exponential moving
  averages (van den Oord et al. 2017, appendix; Razavi et al. 2019) and entries nobody picks are
  restarted on random encoder outputs (Dhariwal et al. 2020, Jukebox). A mirrored decoder
  restores the frames, and WORLD synthesises the waveform. With `pitch_codebook`, level 1 is
  the token frame's log F0 on an even grid and the encoder does not see F0, so the residual-VQ
  levels carry the envelope alone (FACodec's split of prosody from content; Ju et al. 2024).
  With `phonemes` the decoder is also told each token frame's phoneme (a codec language
  model's phoneme pointer knows it), meant to decode a code that strays from its phoneme nearer
  to it; on the shipped language model's speech it has not yet lowered the WER
  (training/codec/README.md).
- `EncodecCodec`: transformers' `EncodecModel` (the same network as the `encodec` package, which
  emogen never installs: it pulls torchaudio) for users who have its weights; loaded with
  `from_pretrained` from a local folder.

Example:
    >>> codec = WorldFrameCodec.from_pretrained("pipelines/tts-codec-lm/codec")
    >>> codes = codec.encode(audio, 22050)       # (Q, T) int64, T = 50 per second
    >>> audio_again = codec.decode(codes)        # (N,) float32 at codec.sample_rate
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from diffusers.utils import BaseOutput
from torch import nn

from ..components import EmogenComponent
from ..errors import EmogenError
from .audio import resample
from .frames import SAMPLE_CLIP, FrameNormalizer, WorldFrameCoder
from .world import WorldVocoder

__all__ = [
    "AudioCodec",
    "EncodecCodec",
    "ResidualVectorQuantizer",
    "WorldFrameCodec",
    "WorldFrameCodecOutput",
]


@runtime_checkable
class AudioCodec(Protocol):
    """What the codec language model needs of a codec."""

    sample_rate: int  # of the waveforms `decode` returns
    frame_rate: float  # token frames per second
    num_codebooks: int  # Q, tokens per frame
    codebook_size: int  # K, entries per codebook

    def encode(self, audio: np.ndarray, sample_rate: int) -> torch.Tensor:
        """`(N,)` mono waveform -> `(Q, T)` int64 codes."""
        ...

    def decode(self, codes: torch.Tensor) -> np.ndarray:
        """`(Q, T)` codes -> `(N,)` float32 waveform at `sample_rate`."""
        ...


class ResidualVectorQuantizer(nn.Module):
    """Residual vector quantisation with EMA codebooks and dead-code restarts.

    Args:
        dim: size of the vectors quantised.
        num_codebooks: Q, quantisers applied one after another to the residual.
        codebook_size: K, entries per codebook.
        decay: EMA decay of the codebook statistics (0.99 as in SoundStream/EnCodec).
        dead_threshold: an entry whose EMA usage count falls below this is restarted on a
            random vector of the batch.

    Attributes:
        frozen: when True the codebooks stay as they are in training mode too (adapting an
            encoder and decoder to a new voice while the tokens keep their meaning).
    """

    def __init__(
        self,
        dim: int,
        num_codebooks: int,
        codebook_size: int,
        decay: float = 0.99,
        dead_threshold: float = 1.0,
    ):
        super().__init__()
        self.num_codebooks, self.codebook_size = num_codebooks, codebook_size
        self.decay, self.dead_threshold = decay, dead_threshold
        self.register_buffer("codebooks", torch.randn(num_codebooks, codebook_size, dim))
        self.register_buffer("usage", torch.ones(num_codebooks, codebook_size))
        self.register_buffer("sums", self.codebooks.clone())
        self.register_buffer("initialised", torch.zeros((), dtype=torch.bool))
        self.frozen = False

    def nearest(self, vectors: torch.Tensor, level: int) -> torch.Tensor:
        """Index of the nearest entry of codebook `level` for each row of `(M, dim)` vectors."""
        codebook = self.codebooks[level]
        distances = (
            vectors.pow(2).sum(-1, keepdim=True)
            - 2 * vectors @ codebook.t()
            + codebook.pow(2).sum(-1)[None]
        )
        return distances.argmin(-1)

    def forward(
        self, latents: torch.Tensor, levels: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Quantise `(B, T, dim)` latents.

        Args:
            latents: the encoder's output.
            levels: quantise with the first `levels` codebooks only (None: all); training with
                fewer at random is SoundStream's quantizer dropout (Zeghidour et al. 2021).

        Returns:
            `(quantised, codes, commitment)`: the quantised latents with straight-through
            gradients `(B, T, dim)`, the codes `(B, levels, T)` int64, and the commitment loss (mean
            squared distance of each residual to its chosen entry, summed over levels).
        """
        batch, length, dim = latents.shape
        flat = latents.reshape(-1, dim)
        learning = self.training and not self.frozen
        if learning and not bool(self.initialised):
            self._initialise(flat.detach())
        residual = flat
        quantised = torch.zeros_like(flat)
        codes, commitment = [], latents.new_zeros(())
        for level in range(self.num_codebooks if levels is None else levels):
            index = self.nearest(residual.detach(), level)
            chosen = self.codebooks[level][index]
            if learning:
                self._update(level, residual.detach(), index)
                chosen = self.codebooks[level][index]
            commitment = commitment + F.mse_loss(residual, chosen.detach())
            quantised = quantised + chosen
            residual = residual - chosen.detach()
            codes.append(index.view(batch, length))
        # Straight-through estimator (van den Oord et al. 2017): the decoder's gradient reaches
        # the encoder as if quantisation were the identity.
        quantised = flat + (quantised - flat).detach()
        return quantised.view(batch, length, dim), torch.stack(codes, 1), commitment

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        """`(B, Q, T)` codes -> `(B, T, dim)` quantised latents (the sum of the chosen entries)."""
        if codes.shape[1] > self.num_codebooks:
            raise EmogenError(
                f"codes have {codes.shape[1]} levels; the codec has {self.num_codebooks}"
            )
        if codes.numel() and (codes.min() < 0 or codes.max() >= self.codebook_size):
            raise EmogenError(f"codes must be in [0, {self.codebook_size})")
        return sum(self.codebooks[level][codes[:, level]] for level in range(codes.shape[1]))

    @torch.no_grad()
    def _initialise(self, vectors: torch.Tensor) -> None:
        # Start each codebook on random batch vectors, residuals of the levels before
        # (k-means++-free version of SoundStream's k-means initialisation).
        residual = vectors
        for level in range(self.num_codebooks):
            picks = torch.randint(len(residual), (self.codebook_size,), device=residual.device)
            self.codebooks[level] = residual[picks]
            self.sums[level] = residual[picks]
            self.usage[level] = 1.0
            residual = residual - self.codebooks[level][self.nearest(residual, level)]
        self.initialised.fill_(True)

    @torch.no_grad()
    def _update(self, level: int, vectors: torch.Tensor, index: torch.Tensor) -> None:
        one_hot = F.one_hot(index, self.codebook_size).to(vectors.dtype)
        counts = one_hot.sum(0)
        sums = one_hot.t() @ vectors
        self.usage[level].mul_(self.decay).add_(counts, alpha=1 - self.decay)
        self.sums[level].mul_(self.decay).add_(sums, alpha=1 - self.decay)
        # Laplace smoothing of the counts keeps unused entries from dividing by zero.
        total = self.usage[level].sum()
        smoothed = (self.usage[level] + 1e-5) / (total + self.codebook_size * 1e-5) * total
        self.codebooks[level] = self.sums[level] / smoothed[:, None]
        dead = self.usage[level] < self.dead_threshold
        if dead.any():
            picks = torch.randint(len(vectors), (int(dead.sum()),), device=vectors.device)
            self.codebooks[level][dead] = vectors[picks]
            self.sums[level][dead] = vectors[picks] * self.dead_threshold
            self.usage[level][dead] = self.dead_threshold


class _ResidualBlock(nn.Module):
    def __init__(self, channels: int, dilation: int):
        super().__init__()
        self.convolution = nn.Conv1d(channels, channels, 3, padding=dilation, dilation=dilation)
        self.projection = nn.Conv1d(channels, channels, 1)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return hidden + self.projection(F.gelu(self.convolution(F.gelu(hidden))))


@dataclass
class WorldFrameCodecOutput(BaseOutput):
    """What `WorldFrameCodec.forward` returns.

    Args:
        reconstruction: `(B, N, D)` normalised frames through the quantiser.
        codes: `(B, Q, N / stride)` int64.
        commitment: the quantiser's commitment loss (a scalar).
        coarse: `(B, N / stride, latent_dims)` the first level's quantised latents with
            straight-through gradients (what a recipe supervises to make that level phonetic).
    """

    reconstruction: torch.Tensor
    codes: torch.Tensor
    commitment: torch.Tensor
    coarse: torch.Tensor | None = None


class WorldFrameCodec(ModelMixin, ConfigMixin):
    """The project's own audio codec: WORLD frames <-> residual-VQ tokens (module docstring).

    Args:
        frame_dims: D, columns of a `WorldFrameCoder` row (64 at 22.05 kHz).
        channels: width of the encoder and decoder convolutions.
        latent_dims: size of the quantised vectors.
        num_codebooks: Q.
        codebook_size: K.
        stride: frames per token (two halvings per factor of 4); 4 at WORLD's 5 ms hop gives
            50 tokens a second, the rate of Llasa's and most speech codec LMs' tokens.
        blocks: residual blocks per resolution.
        sample_rate, frame_period_ms, f0_method, f0_floor, f0_ceil, window_f0_floor,
            aperiodicity_stride: the WORLD analysis (`WorldVocoder`) the codec was trained on.
        envelope_dims: the coded envelope's size (`WorldFrameCoder`).
        mean, std: the corpus's per-column frame statistics (`FrameNormalizer`), D each.
        pitch_codebook: code level 1 is the token frame's mean log F0, quantised into
            `pitch_bins` even steps between `f0_floor` and `f0_ceil`, and the encoder does not
            see log F0: the other levels (residual VQ) carry the envelope, aperiodicity and
            voicing only, so a phoneme's tokens do not change with its pitch. The decoder adds
            a learned embedding of the pitch code to the quantised latent. Pitch apart from
            content as in FACodec (Ju et al. 2024, NaturalSpeech 3).
        pitch_bins: steps of the pitch code, at most `codebook_size` (None: `codebook_size`, so
            every code a language model can draw at level 1 is a pitch).
        pitch_offset: pitch steps between the voice this codec speaks and the voice whose codes
            it reads: a codec adapted to a custom voice (training/codec, `source_voice`) decodes
            the corpus voice's codes, the only ones the codec language model knows, in the new
            voice, and `decode` raises their pitch codes by the difference of the two voices'
            mean log F0 (`encode` lowers them again). Shifting log F0 keeps each emotion's pitch
            change in semitones; the mean shift is the simplest of statistical voice
            conversion's log-F0 maps (Toda, Black & Tokuda 2007).
        phonemes: the phoneme characters the decoder can be told (a voice's phonemizer's, as in
            a manifest's `alignment`; None: none). The decoder then adds a learned embedding of
            each token frame's phoneme (row 0: none told, or a character not listed) to the
            quantised latent. A codec language model knows what each frame should say (its
            phoneme pointer) but draws codes that stray from it. Trained on codes with random
            substitutions (training/codec, `code_noise`), a tiny decoder's error on such codes
            fell when told the phoneme (tests/test_codec.py); the shipped language model's speech
            was no better understood told than not (training/codec/README.md). Training a
            decoder on the imperfect inputs it will be given is Tacotron 2's
            ground-truth-aligned vocoder training (Shen et al. 2018).
    """

    @register_to_config
    def __init__(
        self,
        frame_dims: int = 64,
        channels: int = 256,
        latent_dims: int = 64,
        num_codebooks: int = 4,
        codebook_size: int = 512,
        stride: int = 4,
        blocks: int = 2,
        sample_rate: int = 22050,
        frame_period_ms: float = 5.0,
        f0_method: str = "yin",
        f0_floor: float = 60.0,
        f0_ceil: float = 500.0,
        window_f0_floor: float | None = 65.0,
        aperiodicity_stride: int = 2,
        envelope_dims: int = 60,
        mean: list[float] | None = None,
        std: list[float] | None = None,
        pitch_codebook: bool = False,
        pitch_bins: int | None = None,
        pitch_offset: float = 0.0,
        phonemes: list[str] | None = None,
    ):
        super().__init__()
        if stride < 1 or stride & (stride - 1):
            raise EmogenError(f"stride must be a power of two, got {stride}")
        if pitch_bins is None:
            pitch_bins = codebook_size
            self.register_to_config(pitch_bins=pitch_bins)
        if pitch_codebook and (num_codebooks < 2 or not 2 <= pitch_bins <= codebook_size):
            raise EmogenError(
                "pitch_codebook needs num_codebooks >= 2 and pitch_bins in [2, codebook_size], "
                f"got {num_codebooks} and {pitch_bins}"
            )
        if pitch_offset and not pitch_codebook:
            raise EmogenError("pitch_offset needs pitch_codebook (a pitch level to shift)")
        halvings = stride.bit_length() - 1
        dilations = [1, 3, 9][:blocks] if blocks <= 3 else [3**i for i in range(blocks)]
        encoder: list[nn.Module] = [nn.Conv1d(frame_dims, channels, 5, padding=2)]
        for _ in range(halvings):
            encoder += [_ResidualBlock(channels, d) for d in dilations]
            encoder += [nn.GELU(), nn.Conv1d(channels, channels, 4, stride=2, padding=1)]
        encoder += [_ResidualBlock(channels, d) for d in dilations]
        encoder += [nn.GELU(), nn.Conv1d(channels, latent_dims, 3, padding=1)]
        self.encoder = nn.Sequential(*encoder)
        self.quantizer = ResidualVectorQuantizer(
            latent_dims, num_codebooks - int(pitch_codebook), codebook_size
        )
        if pitch_codebook:
            self.pitch_embedding = nn.Embedding(pitch_bins, latent_dims)
        self._phoneme_index = {p: i + 1 for i, p in enumerate(phonemes or ())}
        if phonemes:  # zero at first: a decoder trained without phonemes is unchanged
            self.phoneme_embedding = nn.Embedding(len(phonemes) + 1, latent_dims)
            nn.init.zeros_(self.phoneme_embedding.weight)
        decoder: list[nn.Module] = [nn.Conv1d(latent_dims, channels, 3, padding=1)]
        decoder += [_ResidualBlock(channels, d) for d in dilations]
        for _ in range(halvings):
            decoder += [nn.GELU(), nn.ConvTranspose1d(channels, channels, 4, stride=2, padding=1)]
            decoder += [_ResidualBlock(channels, d) for d in dilations]
        decoder += [nn.GELU(), nn.Conv1d(channels, frame_dims, 5, padding=2)]
        self.decoder = nn.Sequential(*decoder)
        mean = np.zeros(frame_dims) if mean is None else np.asarray(mean, dtype=np.float32)
        std = np.ones(frame_dims) if std is None else np.asarray(std, dtype=np.float32)
        if mean.shape != (frame_dims,) or std.shape != (frame_dims,):
            raise EmogenError(f"mean and std must have frame_dims = {frame_dims} values")
        self._normalizer = FrameNormalizer(mean=mean.tolist(), std=std.tolist())
        self._vocoder: WorldVocoder | None = None
        self._coder: WorldFrameCoder | None = None

    # the AudioCodec interface
    @property
    def frame_rate(self) -> float:
        return 1000.0 / (self.config.frame_period_ms * self.config.stride)

    @property
    def num_codebooks(self) -> int:
        return self.config.num_codebooks

    @property
    def codebook_size(self) -> int:
        return self.config.codebook_size

    @property
    def sample_rate(self) -> int:  # type: ignore[override]
        return int(self.config.sample_rate)

    @property
    def normalizer(self) -> FrameNormalizer:
        return self._normalizer

    def with_statistics(self, normalizer: FrameNormalizer) -> WorldFrameCodec:
        """Set the corpus's frame statistics (before training; saved in the config)."""
        self.register_to_config(mean=normalizer.mean.tolist(), std=normalizer.std.tolist())
        self._normalizer = normalizer
        return self

    @property
    def vocoder(self) -> WorldVocoder:
        if self._vocoder is None:
            config = self.config
            self._vocoder = WorldVocoder(
                frame_period_ms=config.frame_period_ms,
                f0_floor=config.f0_floor,
                f0_ceil=config.f0_ceil,
                f0_method=config.f0_method,
                window_f0_floor=config.window_f0_floor,
                aperiodicity_stride=config.aperiodicity_stride,
            )
        return self._vocoder

    @property
    def coder(self) -> WorldFrameCoder:
        if self._coder is None:
            self._coder = WorldFrameCoder(
                sample_rate=self.config.sample_rate,
                frame_period_ms=self.config.frame_period_ms,
                envelope_dims=self.config.envelope_dims,
            )
        return self._coder

    def forward(
        self, frames: torch.Tensor, levels: int | None = None, phonemes: torch.Tensor | None = None
    ) -> WorldFrameCodecOutput:
        """Reconstruct `(B, N, D)` normalised frames (N a multiple of `stride`) through the
        quantiser (training), with its first `levels` codebooks only when given (quantizer
        dropout; the pitch code is always used); `phonemes`: `(B, N / stride)` ids of each
        token frame's phoneme (`phoneme_ids`; None: none told)."""
        if frames.shape[1] % self.config.stride:
            raise EmogenError(f"frames must be a multiple of {self.config.stride} long")
        latents = self.encoder(self._encoder_input(frames).transpose(1, 2)).transpose(1, 2)
        quantised, codes, commitment = self.quantizer(latents, levels)
        first = self.quantizer.codebooks[0][codes[:, 0]]
        coarse = latents + (first - latents).detach()
        if self.config.pitch_codebook:
            pitch = self.pitch_codes(frames)
            quantised = quantised + self.pitch_embedding(pitch)
            codes = self._with_pitch(codes, pitch)
        quantised = self._told(quantised, phonemes)
        reconstruction = self.decoder(quantised.transpose(1, 2)).transpose(1, 2)
        return WorldFrameCodecOutput(reconstruction, codes, commitment, coarse)

    @property
    def reads_phonemes(self) -> bool:
        """Whether the decoder can be told each token frame's phoneme (`phonemes`)."""
        return bool(self._phoneme_index)

    def phoneme_ids(self, phonemes: str | Sequence[str]) -> torch.Tensor:
        """Phoneme characters, one per token frame -> `(T,)` int64 ids of the decoder's phoneme
        embedding (0 for a character the codec does not list)."""
        if not self.reads_phonemes:
            raise EmogenError("this codec's decoder reads no phonemes (it has no `phonemes`)")
        return torch.tensor([self._phoneme_index.get(p, 0) for p in phonemes], dtype=torch.long)

    def _told(self, latents: torch.Tensor, phonemes: torch.Tensor | None) -> torch.Tensor:
        """`(B, T, latent)` latents plus the embedding of each token frame's phoneme id (row 0
        for all when `phonemes` is None); unchanged for a codec without phonemes."""
        if not self.reads_phonemes:
            if phonemes is not None:
                raise EmogenError("this codec's decoder reads no phonemes (it has no `phonemes`)")
            return latents
        if phonemes is None:
            phonemes = torch.zeros(latents.shape[:2], dtype=torch.long, device=latents.device)
        if phonemes.shape != latents.shape[:2]:
            raise EmogenError(
                f"phonemes must be one per token frame, {tuple(latents.shape[:2])}, got "
                f"{tuple(phonemes.shape)}"
            )
        return latents + self.phoneme_embedding(phonemes.to(latents.device))

    def _encoder_input(self, frames: torch.Tensor) -> torch.Tensor:
        """`(B, N, D)` normalised frames the encoder reads: log F0 at its mean (0) when the
        pitch code carries it."""
        if not self.config.pitch_codebook:
            return frames
        return torch.cat([torch.zeros_like(frames[..., :1]), frames[..., 1:]], -1)

    @property
    def pitch_step(self) -> float:
        """Log F0 (natural log) between neighbouring pitch codes: `pitch_bins` even steps from
        `f0_floor` to `f0_ceil`."""
        config = self.config
        return float(np.log(config.f0_ceil / config.f0_floor) / (config.pitch_bins - 1))

    def pitch_codes(self, frames: torch.Tensor) -> torch.Tensor:
        """`(B, N, D)` normalised frames -> `(B, N / stride)` pitch codes: each token frame's
        mean log F0 (WORLD frames carry it through unvoiced stretches too) in `pitch_bins`
        even steps between `f0_floor` and `f0_ceil`."""
        config = self.config
        log_f0 = frames[..., 0].float() * float(self._normalizer.std[0]) + float(
            self._normalizer.mean[0]
        )
        mean = log_f0.reshape(len(frames), -1, config.stride).mean(-1)
        steps = (mean - np.log(config.f0_floor)) / self.pitch_step
        return steps.round().clamp(0, config.pitch_bins - 1).long()

    @staticmethod
    def _with_pitch(content: torch.Tensor, pitch: torch.Tensor) -> torch.Tensor:
        """`(B, L, T)` content codes and `(B, T)` pitch codes -> `(B, L + 1, T)`, pitch at
        level 1 (after the coarsest content level, before the residual ones)."""
        return torch.cat([content[:, :1], pitch[:, None], content[:, 1:]], 1)

    @torch.no_grad()
    def encode_frames(self, frames: np.ndarray) -> torch.Tensor:
        """`(N, D)` WORLD frame rows (not normalised) -> `(Q, ceil(N / stride))` codes."""
        normalised = torch.from_numpy(self._normalizer.normalize(frames))
        pad = (-len(normalised)) % self.config.stride
        if pad:  # repeat the last frame: the tail holds no new sound
            normalised = torch.cat([normalised, normalised[-1:].expand(pad, -1)])
        parameter = next(self.parameters())
        codes = self.codes_of(normalised[None].to(parameter))[0]
        if self.config.pitch_codebook:
            codes[1] = self._shift_pitch(codes[1], -1)
        return codes

    @torch.no_grad()
    def codes_of(self, frames: torch.Tensor) -> torch.Tensor:
        """`(B, N, D)` normalised frames (N a multiple of `stride`) -> `(B, Q, N / stride)`
        codes, the pitch codes as they are (no `pitch_offset`)."""
        latents = self.encoder(self._encoder_input(frames).transpose(1, 2))
        codes = self.quantizer(latents.transpose(1, 2))[1]
        if self.config.pitch_codebook:
            codes = self._with_pitch(codes, self.pitch_codes(frames))
        return codes

    def with_phonemes(self, phonemes: list[str]) -> WorldFrameCodec:
        """A copy of this codec whose decoder can be told `phonemes` (their embedding zero:
        it decodes as this one until trained)."""
        if self.reads_phonemes:
            raise EmogenError("this codec's decoder reads phonemes already")
        # private keys dropped: diffusers would reset those in `_use_default_values`
        config = {k: v for k, v in self.config.items() if not k.startswith("_")}
        codec = WorldFrameCodec.from_config({**config, "phonemes": list(phonemes)})
        missing, unexpected = codec.load_state_dict(self.state_dict(), strict=False)
        if unexpected or any(not key.startswith("phoneme_embedding.") for key in missing):
            raise EmogenError(f"state mismatch: missing {missing}, unexpected {unexpected}")
        return codec.to(self.device)

    def _shift_pitch(self, pitch: torch.Tensor, sign: int) -> torch.Tensor:
        """Pitch codes moved by `sign` x `pitch_offset` steps, kept in range."""
        offset = float(self.config.pitch_offset)
        if not offset:
            return pitch
        moved = torch.round(pitch.float() + sign * offset).long()
        return moved.clamp(0, self.config.pitch_bins - 1)

    def reconstruct(
        self, codes: torch.Tensor, levels: int | None = None, phonemes: torch.Tensor | None = None
    ) -> torch.Tensor:
        """`(B, Q, T)` codes -> `(B, T * stride, D)` normalised frames, differentiable in the
        decoder (training a decoder on given codes: training/codec's `source_voice`), the pitch
        codes as they are (no `pitch_offset`); `levels` as in `decode_frames`; `phonemes`:
        `(B, T)` phoneme ids (`phoneme_ids`; None: none told)."""
        if self.config.pitch_codebook:
            content = torch.cat([codes[:, :1], codes[:, 2:]], 1)[:, :levels]
            latents = self.quantizer.lookup(content) + self.pitch_embedding(codes[:, 1])
        else:
            latents = self.quantizer.lookup(codes[:, :levels])
        latents = self._told(latents, phonemes)
        return self.decoder(latents.transpose(1, 2)).transpose(1, 2)

    @torch.no_grad()
    def decode_frames(
        self,
        codes: torch.Tensor,
        levels: int | None = None,
        phonemes: str | Sequence[str] | None = None,
    ) -> np.ndarray:
        """`(Q, T)` codes -> `(T * stride, D)` WORLD frame rows, from the first `levels`
        residual-VQ levels only when given (the pitch level is always read); `phonemes`: the
        phoneme character of each token frame, T of them, for a codec that `reads_phonemes`
        (None: none told)."""
        codes = torch.as_tensor(codes, dtype=torch.long, device=self.device)
        if codes.ndim != 2:
            raise EmogenError(f"codes must be (Q, T), got shape {tuple(codes.shape)}")
        if self.config.pitch_codebook:
            if codes.shape[0] != self.config.num_codebooks:  # before reading level 1
                raise EmogenError(
                    f"codes must have the codec's {self.config.num_codebooks} levels, got "
                    f"{codes.shape[0]}"
                )
            pitch = codes[1]
            if pitch.numel() and (pitch.min() < 0 or pitch.max() >= self.config.pitch_bins):
                raise EmogenError(f"pitch codes (level 1) must be in [0, {self.config.pitch_bins})")
            codes = torch.cat([codes[:1], self._shift_pitch(pitch, 1)[None], codes[2:]])
        told = None if phonemes is None else self.phoneme_ids(phonemes)[None]  # checked by _told
        normalised = self.reconstruct(codes[None], levels, told)[0].float().cpu().numpy()
        return self._normalizer.denormalize(normalised, clip=SAMPLE_CLIP)

    def encode(self, audio: np.ndarray, sample_rate: int) -> torch.Tensor:
        """`(N,)` mono waveform at `sample_rate` -> `(Q, T)` int64 codes, 50 frames a second."""
        audio = np.asarray(audio, dtype=np.float32)
        if audio.ndim != 1 or len(audio) == 0:
            raise EmogenError(f"audio must be a non-empty 1-D waveform, got shape {audio.shape}")
        audio = resample(audio, int(sample_rate), self.sample_rate)
        return self.encode_frames(self.coder.encode(self.vocoder.analyze(audio, self.sample_rate)))

    def decode(
        self,
        codes: torch.Tensor,
        levels: int | None = None,
        phonemes: str | Sequence[str] | None = None,
    ) -> np.ndarray:
        """`(Q, T)` codes -> `(N,)` float32 waveform at `sample_rate` (`levels`, `phonemes`: as
        in `decode_frames`)."""
        frames = self.decode_frames(codes, levels, phonemes)
        return self.vocoder.synthesize(self.coder.decode(frames))


class EncodecCodec(EmogenComponent):
    """transformers' `EncodecModel` behind the `AudioCodec` interface.

    Args:
        model_path: a local folder with an `EncodecModel` (config.json + weights), e.g. a copy of
            facebook/encodec_24khz; loaded with `from_pretrained` when first used.
        bandwidth: target bandwidth in kbps (chooses the number of codebooks); None: the
            model's lowest.

    Example:
        >>> codec = EncodecCodec("/models/encodec_24khz", bandwidth=1.5)
        >>> codes = codec.encode(audio, 16000)   # (2, T) at 75 frames a second
    """

    config_name = "encodec_codec_config.json"

    @register_to_config
    def __init__(self, model_path: str, bandwidth: float | None = None):
        if not os.path.isdir(model_path):
            raise EmogenError(f"no EncodecModel folder at {model_path!r}")
        self._model: Any = None

    @property
    def model(self) -> Any:
        if self._model is None:
            from transformers import EncodecModel

            self._model = EncodecModel.from_pretrained(self.config.model_path).eval()
        return self._model

    @property
    def bandwidth(self) -> float:
        bandwidths = self.model.config.target_bandwidths
        chosen = self.config.bandwidth if self.config.bandwidth is not None else min(bandwidths)
        if chosen not in bandwidths:
            raise EmogenError(f"bandwidth must be one of {bandwidths}, got {chosen}")
        return float(chosen)

    @property
    def sample_rate(self) -> int:
        return int(self.model.config.sampling_rate)

    @property
    def frame_rate(self) -> float:
        return float(self.model.config.frame_rate)

    @property
    def num_codebooks(self) -> int:
        # As EnCodec chooses them: each codebook carries log2(K) bits per frame.
        bits = np.log2(self.codebook_size) * self.frame_rate
        return max(1, int(np.floor(self.bandwidth * 1000 / bits)))

    @property
    def codebook_size(self) -> int:
        return int(self.model.config.codebook_size)

    @torch.no_grad()
    def encode(self, audio: np.ndarray, sample_rate: int) -> torch.Tensor:
        audio = np.asarray(audio, dtype=np.float32)
        if audio.ndim != 1 or len(audio) == 0:
            raise EmogenError(f"audio must be a non-empty 1-D waveform, got shape {audio.shape}")
        audio = resample(audio, int(sample_rate), self.sample_rate)
        values = torch.from_numpy(audio)[None, None]
        encoded = self.model.encode(values, bandwidth=self.bandwidth)
        return encoded.audio_codes[0, 0]  # (chunks=1, batch=1, Q, T) -> (Q, T)

    @torch.no_grad()
    def decode(self, codes: torch.Tensor) -> np.ndarray:
        codes = torch.as_tensor(codes, dtype=torch.long)
        if codes.ndim != 2:
            raise EmogenError(f"codes must be (Q, T), got shape {tuple(codes.shape)}")
        audio = self.model.decode(codes[None, None], [None])[0]
        return audio[0, 0].float().numpy()
