"""WORLD frame features for learned acoustic models, and their way back to audio.

`WorldFrameCoder` packs the WORLD streams of an utterance (`WorldFeatures`) into one `(N, D)`
float32 matrix, a row per frame, that a model can predict; `decode` unpacks a matrix back into
`WorldFeatures`, so `WorldVocoder.synthesize` is the vocoder of every learned model. Columns:

    0                   log F0 (natural log of Hz), linearly interpolated through unvoiced frames
                        (a continuous contour is easier to model than one with holes; Yu & Young
                        2011, "Continuous F0 modeling for HMM based statistical parametric speech
                        synthesis")
    1                   voicing flag: 1 voiced, 0 unvoiced (decode: voiced where > 0.5)
    2 .. 2+E-1          coded spectral envelope: WORLD's `code_spectral_envelope`, E (default 60)
                        mel-cepstrum-like coefficients of the log power envelope (Morise et al.
                        2016); 60 is the usual size in WORLD-based acoustic models (the Merlin
                        toolkit, Wu, Watts & King 2016)
    2+E .. D-1          coded band aperiodicity: WORLD's `code_aperiodicity`, in dB, one value per
                        3 kHz band up to min(15 kHz, fs/2 - 3 kHz) (2 bands at 22.05 kHz)

so D = 2 + E + A (64 at 22.05 kHz with E = 60). `FrameNormalizer` holds per-column mean and
standard deviation fitted over a corpus, to feed models zero-mean unit-variance targets.
`phoneme_frame_durations` turns a manifest's phoneme alignment into frame counts on this grid.

Example:
    >>> vocoder, coder = WorldVocoder(window_f0_floor=65.0), WorldFrameCoder()
    >>> frames = coder.encode(vocoder.analyze(audio, 22050))       # (N, 64) float32
    >>> normalizer = FrameNormalizer.fit([frames])
    >>> restored = coder.decode(normalizer.denormalize(normalizer.normalize(frames)))
    >>> audio_out = vocoder.synthesize(restored)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyworld
from diffusers.configuration_utils import register_to_config

from ..components import EmogenComponent
from ..errors import EmogenError
from .world import UNVOICED_APERIODICITY, WorldFeatures

__all__ = [
    "SAMPLE_CLIP",
    "FrameLayout",
    "FrameNormalizer",
    "WorldFrameCoder",
    "phoneme_frame_durations",
    "sentence_segments",
]

# Standard deviations below this count as constant columns and are not scaled (a column of
# voicing flags in an all-voiced corpus, say).
MIN_STD = 1e-5
# A learned model's normalised frames are clipped to this many standard deviations before
# decoding (`FrameNormalizer.denormalize(clip=...)`); real frames stay well inside it.
SAMPLE_CLIP = 8.0


@dataclass(frozen=True)
class FrameLayout:
    """Where each stream lies in a frame row (`WorldFrameCoder.layout`)."""

    envelope_dims: int
    aperiodicity_dims: int

    @property
    def log_f0(self) -> int:
        return 0

    @property
    def voicing(self) -> int:
        return 1

    @property
    def envelope(self) -> slice:
        return slice(2, 2 + self.envelope_dims)

    @property
    def aperiodicity(self) -> slice:
        start = 2 + self.envelope_dims
        return slice(start, start + self.aperiodicity_dims)

    @property
    def dims(self) -> int:
        """D, the row length."""
        return 2 + self.envelope_dims + self.aperiodicity_dims

    @property
    def names(self) -> list[str]:
        """A name per column: log_f0, voicing, envelope_0..., aperiodicity_0..."""
        return [
            "log_f0",
            "voicing",
            *(f"envelope_{i}" for i in range(self.envelope_dims)),
            *(f"aperiodicity_{i}" for i in range(self.aperiodicity_dims)),
        ]


class WorldFrameCoder(EmogenComponent):
    """WORLD features <-> `(N, D)` float32 frame matrices (layout in the module docstring).

    Args:
        sample_rate: rate in Hz of the features it codes (the aperiodicity bands and the
            envelope's frequency warping depend on it).
        frame_period_ms: hop between frames; encoded features must have it.
        fft_size: FFT size `decode` restores the envelope and aperiodicity to (the coded form
            does not depend on it: features of any FFT size can be encoded). 1024 matches the
            default TTS pipeline's vocoder at 22.05 kHz.
        envelope_dims: E, coefficients of the coded spectral envelope.
        unvoiced_f0: F0 in Hz written as log F0 of an utterance with no voiced frame at all.

    Example:
        >>> coder = WorldFrameCoder()
        >>> coder.layout.dims, coder.layout.envelope
        (64, slice(2, 62, None))
    """

    config_name = "frame_coder_config.json"

    @register_to_config
    def __init__(
        self,
        sample_rate: int = 22050,
        frame_period_ms: float = 5.0,
        fft_size: int = 1024,
        envelope_dims: int = 60,
        unvoiced_f0: float = 100.0,
    ):
        if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate < 8000:
            raise EmogenError(f"sample_rate must be an integer >= 8000 Hz, got {sample_rate!r}")
        if not (isinstance(frame_period_ms, int | float) and 0 < frame_period_ms <= 100):
            raise EmogenError(f"frame_period_ms must be in (0, 100], got {frame_period_ms!r}")
        if (
            isinstance(fft_size, bool)
            or not isinstance(fft_size, int)
            or fft_size < 64
            or fft_size & (fft_size - 1)
        ):
            raise EmogenError(f"fft_size must be a power of two >= 64, got {fft_size!r}")
        if (
            isinstance(envelope_dims, bool)
            or not isinstance(envelope_dims, int)
            or not 8 <= envelope_dims <= fft_size // 2
        ):
            raise EmogenError(
                f"envelope_dims must be an integer in [8, fft_size / 2 = {fft_size // 2}], got "
                f"{envelope_dims!r}"
            )
        if not (isinstance(unvoiced_f0, int | float) and 20 <= unvoiced_f0 <= 1000):
            raise EmogenError(f"unvoiced_f0 must be in [20, 1000] Hz, got {unvoiced_f0!r}")
        self.layout = FrameLayout(envelope_dims, int(pyworld.get_num_aperiodicities(sample_rate)))

    def encode(self, features: WorldFeatures) -> np.ndarray:
        """Pack WORLD features into frames.

        Args:
            features: from `WorldVocoder.analyze` (or edited), at this coder's sample rate and
                frame period; any FFT size.

        Returns:
            `(N, D)` float32 frames, columns as in `layout`.
        """
        if not isinstance(features, WorldFeatures):
            raise EmogenError(f"encode needs WorldFeatures, got {type(features).__name__}")
        config = self.config
        if features.sample_rate != config.sample_rate:
            raise EmogenError(
                f"the features are at {features.sample_rate} Hz but this coder codes "
                f"{config.sample_rate} Hz; resample the audio before analysis or use a coder "
                f"with sample_rate={features.sample_rate}"
            )
        if not np.isclose(features.frame_period_ms, config.frame_period_ms):
            raise EmogenError(
                f"the features have a {features.frame_period_ms} ms frame period but this coder "
                f"expects {config.frame_period_ms} ms; analyse with "
                f"WorldVocoder(frame_period_ms={config.frame_period_ms})"
            )
        layout = self.layout
        voiced = features.f0 > 0
        frames = np.empty((features.num_frames, layout.dims), dtype=np.float64)
        frames[:, layout.log_f0] = _interpolated_log_f0(features.f0, config.unvoiced_f0)
        frames[:, layout.voicing] = voiced
        envelope = np.ascontiguousarray(features.spectral_envelope, dtype=np.float64)
        # CheapTrick never returns 0, but edited envelopes may; the coder takes a log.
        envelope = np.maximum(envelope, 1e-16)
        frames[:, layout.envelope] = pyworld.code_spectral_envelope(
            envelope, config.sample_rate, layout.envelope_dims
        )
        aperiodicity = np.clip(features.aperiodicity, 1e-6, 1.0).astype(np.float64)
        frames[:, layout.aperiodicity] = pyworld.code_aperiodicity(
            np.ascontiguousarray(aperiodicity), config.sample_rate
        )
        return frames.astype(np.float32)

    def decode(self, frames: np.ndarray, num_samples: int | None = None) -> WorldFeatures:
        """Unpack frames (for example a model's prediction) into WORLD features.

        Args:
            frames: `(N, D)` float frames, columns as in `layout`.
            num_samples: the audio length to synthesize, when known (it must give N frames);
                None: the length follows the frames.

        Returns:
            `WorldFeatures` at this coder's sample rate, frame period and FFT size: F0 is
            exp(log F0) where the voicing flag is > 0.5 and 0 elsewhere; unvoiced frames are
            fully aperiodic, as D4C makes them.
        """
        config, layout = self.config, self.layout
        frames = np.asarray(frames)
        if frames.ndim != 2 or frames.shape[1] != layout.dims or frames.shape[0] < 1:
            raise EmogenError(
                f"frames must be an array (N, {layout.dims}) with N >= 1, got shape {frames.shape}"
            )
        if not np.isfinite(frames).all():
            raise EmogenError("frames have NaN or infinite values")
        frames = frames.astype(np.float64)
        voiced = frames[:, layout.voicing] > 0.5
        # Clip to what the synthesizer takes: above 0 and below Nyquist.
        f0 = np.exp(np.clip(frames[:, layout.log_f0], np.log(20.0), np.log(config.sample_rate / 4)))
        f0 = np.where(voiced, f0, 0.0)
        envelope = pyworld.decode_spectral_envelope(
            np.ascontiguousarray(frames[:, layout.envelope]), config.sample_rate, config.fft_size
        )
        coded = np.minimum(frames[:, layout.aperiodicity], 0.0)  # in dB: 0 is all noise
        aperiodicity = pyworld.decode_aperiodicity(
            np.ascontiguousarray(coded), config.sample_rate, config.fft_size
        )
        aperiodicity = np.clip(aperiodicity, 0.0, UNVOICED_APERIODICITY)
        aperiodicity[~voiced] = UNVOICED_APERIODICITY
        return WorldFeatures(
            f0=f0,
            spectral_envelope=envelope,
            aperiodicity=aperiodicity,
            sample_rate=config.sample_rate,
            frame_period_ms=float(config.frame_period_ms),
            num_samples=num_samples,
        )


class FrameNormalizer(EmogenComponent):
    """Per-column mean and standard deviation of frames, fitted over a corpus.

    Saved with `save_pretrained` as a JSON config (D numbers each), so a learned pipeline saves
    it beside its model like any other component.

    Args:
        mean: `D` column means.
        std: `D` column standard deviations (constant columns get 1: left unscaled).
        num_frames: how many frames the statistics come from (for the record).

    Example:
        >>> normalizer = FrameNormalizer.fit(coder.encode(f) for f in corpus_features)
        >>> targets = normalizer.normalize(frames)   # zero mean, unit variance per column
        >>> frames_again = normalizer.denormalize(targets)
    """

    config_name = "frame_normalizer_config.json"

    @register_to_config
    def __init__(self, mean: list[float], std: list[float], num_frames: int = 0):
        mean_array = np.asarray(mean, dtype=np.float64)
        std_array = np.asarray(std, dtype=np.float64)
        if mean_array.ndim != 1 or mean_array.shape != std_array.shape or mean_array.size == 0:
            raise EmogenError(
                f"mean and std must be two lists of the same length D >= 1, got "
                f"{mean_array.shape} and {std_array.shape}"
            )
        if not (np.isfinite(mean_array).all() and np.isfinite(std_array).all()):
            raise EmogenError("mean and std must be finite")
        if (std_array <= 0).any():
            raise EmogenError("std must be > 0 in every column")
        self.mean = mean_array.astype(np.float32)
        self.std = std_array.astype(np.float32)

    @classmethod
    def fit(cls, frames: Iterable[np.ndarray]) -> FrameNormalizer:
        """Fit mean and std over all rows of all matrices (streamed: one matrix in memory at a
        time; sums in float64, Chan et al. 1979 pairwise updates keep them exact enough).

        Args:
            frames: `(N_i, D)` matrices, e.g. `coder.encode(features)` of every utterance.
        """
        count, mean, m2 = 0, None, None
        for matrix in frames:
            matrix = np.asarray(matrix, dtype=np.float64)
            if matrix.ndim != 2 or (mean is not None and matrix.shape[1] != mean.shape[0]):
                raise EmogenError(
                    f"every frame matrix must be (N, D) with the same D, got shape {matrix.shape}"
                )
            if matrix.shape[0] == 0:
                continue
            batch_mean = matrix.mean(axis=0)
            batch_m2 = ((matrix - batch_mean) ** 2).sum(axis=0)
            if mean is None:
                count, mean, m2 = matrix.shape[0], batch_mean, batch_m2
                continue
            total = count + matrix.shape[0]
            delta = batch_mean - mean
            mean = mean + delta * matrix.shape[0] / total
            m2 = m2 + batch_m2 + delta**2 * count * matrix.shape[0] / total
            count = total
        if mean is None or count < 2:
            raise EmogenError("FrameNormalizer.fit needs at least 2 frames in total")
        std = np.sqrt(m2 / count)
        std = np.where(std < MIN_STD, 1.0, std)
        return cls(mean=mean.tolist(), std=std.tolist(), num_frames=int(count))

    def normalize(self, frames: np.ndarray) -> np.ndarray:
        """`(N, D)` frames -> `(N, D)` float32 `(frames - mean) / std`."""
        return ((self._check(frames) - self.mean) / self.std).astype(np.float32)

    def denormalize(self, normalized: np.ndarray, clip: float | None = None) -> np.ndarray:
        """Inverse of `normalize`.

        Args:
            normalized: `(..., D)` normalised frames.
            clip: first clip them to [-clip, clip] standard deviations: a model's sample far
                outside the corpus (`SAMPLE_CLIP`, as DDPM clips images to [-1, 1]) is an
                artefact and would decode to an envelope WORLD cannot synthesize.
        """
        normalized = self._check(normalized)
        if clip is not None:
            normalized = np.clip(normalized, -clip, clip)
        return (normalized * self.std + self.mean).astype(np.float32)

    def _check(self, frames: np.ndarray) -> np.ndarray:
        frames = np.asarray(frames, dtype=np.float32)
        if frames.ndim < 1 or frames.shape[-1] != self.mean.shape[0]:
            raise EmogenError(
                f"frames must end in D = {self.mean.shape[0]} columns, got shape {frames.shape}"
            )
        return frames


def phoneme_frame_durations(
    alignment: Sequence[tuple[str, float, float]], num_frames: int, frame_period_ms: float
) -> np.ndarray:
    """Integer frame count of each phoneme on the WORLD frame grid: the duration targets of a
    duration predictor (FastSpeech 2, Ren et al. 2021), summing exactly to `num_frames`.

    Frame i (centred at i * frame_period_ms) belongs to the phoneme whose span holds its centre;
    a phoneme's span runs from its start to the next phoneme's start, so silence after a phoneme
    (a pause after punctuation, the sentence pause) counts to it, the silence before the first
    one to the first, and the frames after the last start to the last.

    Args:
        alignment: `(phoneme, start_s, end_s)` in order, as in a manifest's `alignment`.
        num_frames: frames of the utterance's features (`WorldFeatures.num_frames`).
        frame_period_ms: the grid's hop in milliseconds.

    Returns:
        `(P,)` int64 frame counts, one per phoneme (0 for phonemes shorter than the hop that hold
        no frame centre), summing to `num_frames`.
    """
    if not alignment:
        raise EmogenError("the alignment is empty; give at least one (phoneme, start, end)")
    if num_frames < 1 or not frame_period_ms > 0:
        raise EmogenError(
            f"need num_frames >= 1 and frame_period_ms > 0, got {num_frames} and {frame_period_ms}"
        )
    frame_s = frame_period_ms / 1000.0
    starts = np.array([start for _, start, _ in alignment], dtype=np.float64)
    ends = np.array([end for _, _, end in alignment], dtype=np.float64)
    if np.any(np.diff(starts) < 0) or np.any(ends < starts):
        raise EmogenError("the alignment is out of order: starts must not decrease, end >= start")
    if ends[-1] > (num_frames + 1) * frame_s:  # one hop of slack for the last frame's rounding
        raise EmogenError(
            f"the alignment (to {ends[-1]:.3f} s) does not fit {num_frames} frames of "
            f"{frame_period_ms:g} ms ({num_frames * frame_s:.3f} s): features of other audio?"
        )
    # The first frame whose centre is at or after each start (1e-9: a start on a centre).
    boundaries = np.ceil(starts[1:] / frame_s - 1e-9).astype(np.int64)
    boundaries = np.clip(boundaries, 0, num_frames)
    durations = np.diff(np.concatenate([[0], boundaries, [num_frames]]))
    return durations


def sentence_segments(
    utterance: Any, phonemes: list[str], num_frames: int, frame_period_ms: float
) -> list[tuple[int, int, np.ndarray]]:
    """Cut an utterance's frames into its sentences.

    Args:
        utterance: a manifest `Utterance` with an `alignment` (one entry per phoneme character
            of its sentences, in order).
        phonemes: the voice's phonemes of each sentence (`PiperVoice.phonemize`).
        num_frames: frames of the utterance.
        frame_period_ms: their hop.

    Returns:
        `(first_frame, end_frame, durations)` per sentence: each runs from its first phoneme's
        start to its last phoneme's end (the pause between sentences is the pipeline's, not
        the model's), durations from `phoneme_frame_durations` summing to its frames.

    Raises:
        EmogenError: the alignment's phonemes are not the sentences' phonemes.
    """
    alignment = utterance.alignment
    aligned = "".join(entry[0] for entry in alignment)
    if aligned != "".join(phonemes):
        raise EmogenError(
            f"the alignment's phonemes {aligned!r} are not those of the voice's phonemizer "
            f"{''.join(phonemes)!r}: a corpus made with another voice or phonemizer"
        )
    hop = frame_period_ms / 1000.0
    segments, first = [], 0
    for sentence in phonemes:
        entries = alignment[first : first + len(sentence)]
        first += len(sentence)
        # The first frame whose centre is at or after the start (1e-9: a time on a centre).
        start = min(math.ceil(entries[0][1] / hop - 1e-9), num_frames - 1)
        end = min(max(math.ceil(entries[-1][2] / hop - 1e-9), start + 1), num_frames)
        offset = start * hop
        shifted = [(p, max(s - offset, 0.0), max(e - offset, 0.0)) for p, s, e in entries]
        durations = phoneme_frame_durations(shifted, end - start, frame_period_ms)
        segments.append((start, end, durations))
    return segments


def token_phonemes(
    durations: np.ndarray, first: int, start: int, count: int, stride: int
) -> np.ndarray:
    """The phoneme under the middle of each of `count` token frames (`stride` WORLD frames
    each, from WORLD frame `start`) of a sentence whose phonemes begin at frame `first` and
    last `durations` frames (`sentence_segments`): `(count,)` indices into its phonemes, the
    pointer targets of a codec language model (VALL-E R, Han et al. 2024)."""
    middles = start + (np.arange(count) + 0.5) * stride - first
    owners = np.searchsorted(np.cumsum(durations), middles, side="right")
    return owners.clip(0, len(durations) - 1)


def _interpolated_log_f0(f0: np.ndarray, unvoiced_f0: float) -> np.ndarray:
    """`(N,)` log F0, linear in log through unvoiced stretches and held flat at the ends."""
    voiced = f0 > 0
    if not voiced.any():
        return np.full(f0.shape, np.log(unvoiced_f0))
    positions = np.arange(f0.shape[0])
    return np.interp(positions, positions[voiced], np.log(f0[voiced]))
