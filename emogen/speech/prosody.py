"""Interpretable prosody features: what the emotion renderer moves and the evaluation measures.

Each feature is one of the acoustic cues that studies of vocal emotion report as moving with
emotion. Juslin & Laukka 2003 (review of 104 studies) and Banse & Scherer 1996 find: anger and
joy raise mean F0, F0 range and variability, intensity and high-frequency energy, and speed
speech up; sadness lowers F0, narrows its range, lowers intensity and high-frequency energy and
slows speech with more pauses; fear raises F0 and rate with more F0 irregularity (jitter).
Eyben et al. 2016 (GeMAPS) define the compact parameter set these follow: F0 mean and range in
semitones, jitter, loudness, alpha ratio (spectral balance), HNR, rate of loudness peaks and
pause statistics.

All features are computed on WORLD's frame grid (see `emogen.speech.world`), over voiced frames
unless said otherwise, so that what the renderer edits in WORLD space and what is measured agree.

Example:
    >>> features = prosody_features(audio, 22050)
    >>> features.f0_mean_semitones, features.speech_rate
    >>> vector = features.as_array()  # (12,) in ProsodyFeatures.NAMES order
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from scipy.signal import find_peaks

from ..errors import EmogenError
from .audio import mask_runs
from .world import WorldFeatures, WorldVocoder, _check_mono, num_world_frames

__all__ = ["ProsodyFeatures", "prosody_features"]

# Semitones are relative to 100 Hz (GeMAPS uses 27.5 Hz; any fixed reference only shifts the mean).
F0_REFERENCE_HZ = 100.0
# Final window for the terminal rise or fall: roughly the last stressed syllable.
FINAL_WINDOW_S = 0.3
# Energy frames: 25 ms, the usual short-time analysis window for intensity.
ENERGY_WINDOW_S = 0.025
# Syllable nuclei (de Jong & Wempe 2009): peaks of a smoother intensity contour (their Praat
# script analyses intensity with a 50 Hz minimum pitch, a ~64 ms effective window), at least
# `MIN_DIP_DB` above the dips around them, above the silence threshold, and voiced.
SYLLABLE_WINDOW_S = 0.04
MIN_DIP_DB = 2.0
# Voicing of a nucleus as in their script, which asks Praat's pitch tracker: a normalized
# autocorrelation peak of at least 0.45 (Praat's default voicing threshold; Boersma 1993) for a
# period in PERIOD_RANGE_HZ, over 40 ms (3 periods of Praat's 75 Hz default floor). This is
# independent of WORLD's voicing decision, which misses voiced frames of some voices.
VOICING_THRESHOLD = 0.45
PERIOD_RANGE_HZ = (60.0, 500.0)
VOICING_WINDOW_S = 0.04
# Silence: more than 25 dB below the 99th percentile of intensity (de Jong & Wempe 2009).
SILENCE_BELOW_PEAK_DB = 25.0
# Pauses are silences longer than 100 ms; shorter gaps are stop closures and syllable dips.
MIN_PAUSE_S = 0.1
# Alpha ratio bands (Eyben et al. 2016): 50-1000 Hz against 1-5 kHz.
ALPHA_LOW_BAND_HZ = (50.0, 1000.0)
ALPHA_HIGH_BAND_HZ = (1000.0, 5000.0)
# Harmonics-to-noise ratio band: where voiced speech has its harmonic energy.
HNR_BAND_HZ = (0.0, 4000.0)
_FLOOR_DB = -120.0


@dataclass(frozen=True)
class ProsodyFeatures:
    """Prosody of one utterance, as interpretable scalars.

    Attributes:
        f0_mean_semitones: mean F0 of voiced frames, in semitones re 100 Hz (12 * log2(f0/100)).
        f0_range_semitones: 20th to 80th percentile span of F0, in semitones (eGeMAPS'
            "pctlrange0-2", Eyben et al. 2016): wider spans count the few frames a tracker gets
            an octave wrong, which on resynthesized speech moved a 5-95 span by 2 st from one
            rendering to the next.
        f0_slope_semitones_per_s: slope of a line fitted to F0 (semitones) against time over the
            voiced frames: declination when negative.
        f0_final_rise_semitones: mean F0 of the last 300 ms of voiced frames minus that of the
            voiced frames before them (positive: terminal rise, negative: terminal fall).
        jitter_percent: frame-level period perturbation, PPQ5 style (Praat's five-point period
            perturbation quotient applied to WORLD's 5 ms F0 track): mean |T_i - mean of T over
            frames i-2..i+2| / mean T, in percent, within voiced runs. A smooth intonation trend
            counts for nothing; it approximates cycle jitter from below, since WORLD smooths F0.
        energy_db: RMS level of the voiced frames (25 ms windows), in dB re full scale.
        energy_range_db: 5th to 95th percentile span of the voiced frames' levels, in dB.
        spectral_tilt_db: alpha ratio (Eyben et al. 2016, GeMAPS): energy in 1-5 kHz over energy
            in 50-1000 Hz, in dB, mean over voiced frames of the WORLD spectral envelope. Negative
            for speech; higher (less negative) with vocal effort, as in anger and joy, lower in
            sadness (Banse & Scherer 1996 "high-frequency energy"; Juslin & Laukka 2003).
        hnr_db: harmonics-to-noise ratio in 0-4 kHz from WORLD's decomposition (periodic power
            sp * (1 - ap^2) over aperiodic power sp * ap^2, as WORLD's synthesis mixes them),
            mean over voiced frames. Lower is breathier or rougher.
        speech_rate: syllables per second of speaking time (pauses and leading and trailing
            silence excluded: de Jong & Wempe 2009's "articulation rate"). Syllables are counted
            from the transcript when it is given (`syllables`), else as detected syllable nuclei
            (de Jong & Wempe 2009), which miss or add a few per sentence.
        pause_ratio: fraction of the time from the first to the last sound spent in pauses
            (silences over 100 ms).
        duration_s: length of the audio in seconds.
    """

    f0_mean_semitones: float
    f0_range_semitones: float
    f0_slope_semitones_per_s: float
    f0_final_rise_semitones: float
    jitter_percent: float
    energy_db: float
    energy_range_db: float
    spectral_tilt_db: float
    hnr_db: float
    speech_rate: float
    pause_ratio: float
    duration_s: float

    # The field names in order, set below the class from the fields themselves.
    NAMES: ClassVar[tuple[str, ...]]

    def as_array(self) -> np.ndarray:
        """`(F,)` float64 vector of the features in `NAMES` order."""
        return np.array([getattr(self, name) for name in self.NAMES], dtype=np.float64)

    def as_dict(self) -> dict[str, float]:
        """`{name: value}` in `NAMES` order."""
        return {name: float(getattr(self, name)) for name in self.NAMES}

    @classmethod
    def from_array(cls, values: np.ndarray) -> ProsodyFeatures:
        """Inverse of `as_array`: a `(F,)` vector in `NAMES` order."""
        values = np.asarray(values, dtype=np.float64)
        if values.shape != (len(cls.NAMES),):
            raise EmogenError(
                f"a prosody vector has shape ({len(cls.NAMES)},) in the order {list(cls.NAMES)}, "
                f"got shape {values.shape}"
            )
        return cls(**{name: float(value) for name, value in zip(cls.NAMES, values)})


ProsodyFeatures.NAMES = tuple(field.name for field in dataclasses.fields(ProsodyFeatures))


def prosody_features(
    audio: np.ndarray,
    sample_rate: int,
    features: WorldFeatures | None = None,
    syllables: int | None = None,
) -> ProsodyFeatures:
    """Measure the prosody of one utterance.

    Args:
        audio: `(T,)` float mono waveform.
        sample_rate: its rate in Hz.
        features: its WORLD analysis, if already computed (must be of this audio: same rate,
            frame count within one); None analyses it with a default `WorldVocoder`.
        syllables: the number of syllables spoken, from the transcript (see
            `emogen.speech.voice.count_syllables`); None detects syllable nuclei instead.

    Returns:
        `ProsodyFeatures`, every value finite.

    Raises:
        EmogenError: bad audio (see `WorldVocoder.analyze`), features of other audio, or no
            voiced frame at all ("no voiced speech").
    """
    audio = _check_mono(audio)
    if features is None:
        features = WorldVocoder().analyze(audio, sample_rate)
    elif not isinstance(features, WorldFeatures):
        raise EmogenError(f"features must be WorldFeatures or None, got {type(features).__name__}")
    else:
        # Within one frame: audio synthesized from edited features is int(N * hop) samples long,
        # which WORLD's grid maps to N or N + 1 frames.
        expected = num_world_frames(audio.shape[0], sample_rate, features.frame_period_ms)
        if features.sample_rate != sample_rate or abs(features.num_frames - expected) > 1:
            raise EmogenError(
                f"features ({features.num_frames} frames at {features.sample_rate} Hz) are not "
                f"of this audio ({expected} frames at {sample_rate} Hz)"
            )
    f0 = np.asarray(features.f0, dtype=np.float64)
    voiced = f0 > 0
    if not voiced.any():
        raise EmogenError(
            "no voiced speech: WORLD found no voiced frame (F0 between "
            "f0_floor and f0_ceil) in the audio"
        )
    times = features.times
    frame_s = features.frame_period_ms / 1000.0
    semitones = 12.0 * np.log2(f0[voiced] / F0_REFERENCE_HZ)
    voiced_times = times[voiced]

    energy = frame_levels_db(audio, sample_rate, times, ENERGY_WINDOW_S)
    voiced_energy = energy[voiced]
    silence_db = np.percentile(energy, 99) - SILENCE_BELOW_PEAK_DB
    speaking_s, pause_s = _speaking_and_pause_time(energy > silence_db, frame_s)
    if syllables is None:
        syllables = _syllable_nuclei(audio, sample_rate, times, silence_db)
    elif (
        isinstance(syllables, bool) or not isinstance(syllables, int | np.integer) or syllables < 0
    ):
        raise EmogenError(f"syllables must be None or an integer >= 0, got {syllables!r}")

    return ProsodyFeatures(
        f0_mean_semitones=float(semitones.mean()),
        f0_range_semitones=float(np.percentile(semitones, 80) - np.percentile(semitones, 20)),
        f0_slope_semitones_per_s=_slope(voiced_times, semitones),
        f0_final_rise_semitones=_final_rise(semitones, frame_s),
        jitter_percent=_jitter_ppq5(f0),
        energy_db=_power_db(np.mean(10.0 ** (voiced_energy / 10.0))),
        energy_range_db=float(np.percentile(voiced_energy, 95) - np.percentile(voiced_energy, 5)),
        spectral_tilt_db=_alpha_ratio_db(features, voiced),
        hnr_db=_hnr_db(features, voiced),
        speech_rate=float(syllables) / speaking_s if speaking_s > 0 else 0.0,
        pause_ratio=pause_s / (speaking_s + pause_s) if speaking_s + pause_s > 0 else 0.0,
        duration_s=audio.shape[0] / sample_rate,
    )


def _power_db(power: float) -> float:
    return max(_FLOOR_DB, 10.0 * math.log10(power)) if power > 0 else _FLOOR_DB


def frame_levels_db(
    audio: np.ndarray, sample_rate: int, times: np.ndarray, window_s: float
) -> np.ndarray:
    """`(N,)` level in dB of a rectangular window of `window_s` centred on each frame."""
    width = max(1, round(window_s * sample_rate))
    half = width // 2
    # A running sum of squares gives every window's power in O(T), whatever the hop.
    squares = np.pad(np.square(audio.astype(np.float64)), (half, width - half))
    cumulative = np.concatenate(([0.0], np.cumsum(squares)))
    starts = np.clip(np.round(times * sample_rate).astype(np.int64), 0, audio.shape[0])
    power = np.maximum(cumulative[starts + width] - cumulative[starts], 0.0) / width
    return np.maximum(_FLOOR_DB, 10.0 * np.log10(np.maximum(power, 1e-30)))


def _slope(times: np.ndarray, values: np.ndarray) -> float:
    if values.shape[0] < 2 or np.ptp(times) == 0:
        return 0.0
    centred = times - times.mean()
    return float(np.dot(centred, values - values.mean()) / np.dot(centred, centred))


def _final_rise(semitones: np.ndarray, frame_s: float) -> float:
    """Last 300 ms of voiced frames against the voiced frames before them."""
    count = semitones.shape[0]
    final = max(1, round(FINAL_WINDOW_S / frame_s))
    if count < 2 * final:
        # A short utterance: compare its second half with its first.
        final = count // 2
    if final == 0:
        return 0.0
    return float(semitones[-final:].mean() - semitones[:-final].mean())


def _jitter_ppq5(f0: np.ndarray) -> float:
    if f0.shape[0] < 5:
        return 0.0
    periods = np.where(f0 > 0, 1.0 / np.maximum(f0, 1e-9), 0.0)
    voiced = f0 > 0
    # Frames whose five-frame neighbourhood is all voiced (inside one voiced run).
    window = np.convolve(voiced.astype(np.int64), np.ones(5, dtype=np.int64), mode="same")
    inner = (window == 5) & voiced
    if not inner.any():
        return 0.0
    local_mean = np.convolve(periods, np.ones(5) / 5.0, mode="same")
    perturbation = np.abs(periods[inner] - local_mean[inner]).mean()
    return float(100.0 * perturbation / periods[voiced].mean())


def _band(features: WorldFeatures, band_hz: tuple[float, float]) -> slice:
    low, high = band_hz
    high = min(high, features.sample_rate / 2.0)
    step = features.sample_rate / features.fft_size
    return slice(math.ceil(low / step), math.floor(high / step) + 1)


def _alpha_ratio_db(features: WorldFeatures, voiced: np.ndarray) -> float:
    envelope = features.spectral_envelope[voiced]
    low = envelope[:, _band(features, ALPHA_LOW_BAND_HZ)].sum(axis=1)
    high = envelope[:, _band(features, ALPHA_HIGH_BAND_HZ)].sum(axis=1)
    ratio = np.maximum(high, 1e-30) / np.maximum(low, 1e-30)
    return float(np.mean(10.0 * np.log10(ratio)))


def _hnr_db(features: WorldFeatures, voiced: np.ndarray) -> float:
    band = _band(features, HNR_BAND_HZ)
    envelope = features.spectral_envelope[voiced, band]
    # WORLD's synthesis mixes periodic power sp * (1 - ap^2) and aperiodic power sp * ap^2, with
    # ap kept in [0.001, 1) (GetSafeAperiodicity).
    aperiodic_power = np.square(np.clip(features.aperiodicity[voiced, band], 0.001, 1.0 - 1e-12))
    harmonic = (envelope * (1.0 - aperiodic_power)).sum(axis=1)
    noise = (envelope * aperiodic_power).sum(axis=1)
    return float(np.mean(10.0 * np.log10(np.maximum(harmonic, 1e-30) / np.maximum(noise, 1e-30))))


def _speaking_and_pause_time(sounding: np.ndarray, frame_s: float) -> tuple[float, float]:
    """Seconds of speaking and of pauses between the first and the last sounding frame."""
    sounding_frames = np.flatnonzero(sounding)
    if sounding_frames.size == 0:
        return 0.0, 0.0
    first, last = sounding_frames[0], sounding_frames[-1]
    inside = sounding[first : last + 1]
    min_pause_frames = MIN_PAUSE_S / frame_s
    pause_frames = sum(
        stop - start for start, stop in mask_runs(~inside) if stop - start >= min_pause_frames
    )
    return (inside.shape[0] - pause_frames) * frame_s, pause_frames * frame_s


def _syllable_nuclei(
    audio: np.ndarray, sample_rate: int, times: np.ndarray, silence_db: float
) -> int:
    """Count syllable nuclei: voiced peaks of the intensity contour (de Jong & Wempe 2009)."""
    contour = frame_levels_db(audio, sample_rate, times, SYLLABLE_WINDOW_S)
    peaks, _ = find_peaks(contour, height=silence_db, prominence=MIN_DIP_DB)
    voiced = [_periodicity(audio, sample_rate, times[peak]) >= VOICING_THRESHOLD for peak in peaks]
    return int(sum(voiced))


def _periodicity(audio: np.ndarray, sample_rate: int, time_s: float) -> float:
    """Highest normalized autocorrelation, over periods in PERIOD_RANGE_HZ, of 40 ms at `time_s`."""
    width = round(VOICING_WINDOW_S * sample_rate)
    shortest = max(1, math.floor(sample_rate / PERIOD_RANGE_HZ[1]))
    longest = math.ceil(sample_rate / PERIOD_RANGE_HZ[0])
    start = max(0, round(time_s * sample_rate) - width // 2)
    segment = audio[start : start + width + longest].astype(np.float64)
    segment = np.pad(segment, (0, width + longest - segment.shape[0]))
    segment -= segment[:width].mean()
    reference = segment[:width]
    # Row k of `windows` is the segment shifted by k samples; one product gives every lag.
    windows = np.lib.stride_tricks.sliding_window_view(segment, width)[shortest : longest + 1]
    squares = np.concatenate(([0.0], np.cumsum(np.square(segment))))
    lags = np.arange(shortest, longest + 1)
    energies = squares[lags + width] - squares[lags]
    denominator = np.sqrt(np.maximum(energies, 0.0) * np.dot(reference, reference))
    correlation = windows @ reference
    valid = denominator > 1e-20
    return float(np.max(correlation[valid] / denominator[valid])) if valid.any() else 0.0
