"""The emotion renderer: an Emotion or EmotionCurve becomes prosody changes of a neutral utterance.

The renderer works in an interpretable control space (`PROSODY_CONTROLS`): pitch level, range,
slope (declination) and phrase-final contour, speaking rate and pause length, energy, spectral
tilt (vocal effort), breathiness, jitter and tremor. Each basic emotion family has a profile in
that space, cited in data/prosody_profiles.json (Murray & Arnott 1993; Juslin & Laukka 2003;
Banse & Scherer 1996; Scherer 2003; Gobl & Ni Chasaide 2003). The profiles form a `DirectionBank`
whose neutral point is 0 (no change), so

    controls(emotion) = intensity * sum_f w_f * profile_f

with w_f the emotion's weights over the families (a category's family comes from the taxonomy,
Parrott 2001; a raw VAD point reads its families from the VAD posterior). Intensity scales along
each direction and mixtures add up, with no table of special cases. An EmotionCurve gives one
control vector per analysis frame, so the emotion can change inside an utterance.

The controls act on WORLD features of the neutral speech (Morise et al. 2016): F0 in semitones
around the utterance mean, the spectral envelope (energy, tilt), the aperiodicity (breathiness),
and the frame timing (rate, pauses). Editing F0 with the envelope kept moves pitch without moving
formants, which keeps the speaker's voice.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np
from diffusers.configuration_utils import register_to_config

from ..components import EmogenComponent
from ..emotion import Emotion, EmotionCurve, as_emotion
from ..emotion.curve import as_curve
from ..emotion.directions import DirectionBank
from ..emotion.taxonomy import load_taxonomy
from ..errors import EmogenError
from .prosody import ENERGY_WINDOW_S, frame_levels_db
from .world import WorldFeatures, WorldVocoder

logger = logging.getLogger(__name__)

PROSODY_CONTROLS = (
    "pitch_shift_st",  # semitones added to every voiced frame
    "pitch_range_log2",  # log2 of the factor on F0 excursions around the utterance mean
    "pitch_slope_st_per_s",  # semitones per second added along the utterance (declination)
    "final_contour_st",  # semitones reached at the end of each phrase (terminal rise or fall)
    "rate_log2",  # log2 of the tempo factor (+0.12 = 8.7 % faster)
    "pause_log2",  # log2 of the extra factor on pause durations
    "energy_db",  # gain in dB
    "tilt_db_per_octave",  # dB per octave above 1 kHz (+ = more vocal effort)
    "breathiness",  # share of the periodic power turned aperiodic above 500 Hz, in [0, 1)
    "jitter_percent",  # random frame-to-frame F0 perturbation, % of the period
    "tremor_st",  # depth of a 5.5 Hz F0 modulation in semitones
)
_INDEX = {name: i for i, name in enumerate(PROSODY_CONTROLS)}
CONTROL_STEP_S = 0.02  # controls of a curve are evaluated every 20 ms and interpolated
MAX_LEVEL_CORRECTION_DB = 3.0  # bound on the level restored after synthesis (see render)


@lru_cache(maxsize=1)
def default_profiles() -> dict[str, dict[str, float]]:
    """The shipped family profiles: family -> {control: value at intensity 1}."""
    text = resources.files(__package__).joinpath("data/prosody_profiles.json").read_text("utf-8")
    return {name: dict(p["values"]) for name, p in json.loads(text)["profiles"].items()}


@dataclass
class RenderOutput:
    """What `EmotionRenderer.render` returns.

    Attributes:
        audio: `(T',)` float32 mono waveform.
        sample_rate: in Hz.
        controls: `(N, len(PROSODY_CONTROLS))` control vector of each input frame.
        time_map: `(N,)` output time in seconds of each input frame (rate and pause changes).
        frame_period_ms: the input frames' hop.
    """

    audio: np.ndarray
    sample_rate: int
    controls: np.ndarray
    time_map: np.ndarray
    frame_period_ms: float = 5.0

    def output_times(self, times: np.ndarray, input_duration_s: float) -> np.ndarray:
        """Where instants of the input (seconds, any shape) fall in the output: `time_map`
        interpolated, with the ends of the two audios anchoring the last frame."""
        frames = np.arange(len(self.time_map)) * (self.frame_period_ms / 1000.0)
        output_end = len(self.audio) / self.sample_rate
        source = np.append(frames, max(input_duration_s, frames[-1] + 1e-6))
        target = np.append(self.time_map, max(output_end, self.time_map[-1]))
        return np.clip(np.interp(np.asarray(times, dtype=float), source, target), 0.0, output_end)


class EmotionRenderer(EmogenComponent):
    """Renders emotion onto neutral speech by editing its WORLD features.

    Args:
        profiles: family -> {control name: value at intensity 1}; default the shipped profiles.
        final_contour_s: length of the phrase-final stretch the terminal contour ramps over.
        phrase_pause_s: a pause at least this long ends a phrase (and counts as a pause).
        pause_db: frames this far below the utterance's loud frames are silence.
        tremor_hz: tremor rate (physiological tremor of the voice is 4-7 Hz; Scherer 2003).
        max_semitones: bound on the total F0 change of any frame, a guard against unnatural
            settings, in semitones.

    Example:
        >>> renderer = EmotionRenderer()
        >>> renderer.controls("angry:0.5")["pitch_shift_st"]
        2.0
    """

    config_name = "renderer_config.json"

    @register_to_config
    def __init__(
        self,
        profiles: Mapping[str, Mapping[str, float]] | None = None,
        final_contour_s: float = 0.3,
        phrase_pause_s: float = 0.15,
        pause_db: float = 35.0,
        tremor_hz: float = 5.5,
        max_semitones: float = 12.0,
    ):
        profiles = {k: dict(v) for k, v in (profiles or default_profiles()).items()}
        taxonomy = load_taxonomy()
        for family, values in profiles.items():
            taxonomy.resolve(family)
            unknown = set(values) - set(PROSODY_CONTROLS)
            if unknown:
                raise EmogenError(
                    f"profile {family!r} has unknown controls {sorted(unknown)}; "
                    f"allowed: {', '.join(PROSODY_CONTROLS)}"
                )
        self.register_to_config(profiles=profiles)
        for name, value in (
            ("final_contour_s", final_contour_s),
            ("phrase_pause_s", phrase_pause_s),
            ("pause_db", pause_db),
            ("tremor_hz", tremor_hz),
            ("max_semitones", max_semitones),
        ):
            if not value > 0:
                raise EmogenError(f"{name} must be > 0, got {value}")
        vectors = np.array(
            [[profiles[f].get(c, 0.0) for c in PROSODY_CONTROLS] for f in profiles], dtype=float
        )
        magnitudes = np.linalg.norm(vectors, axis=1)
        if not (magnitudes > 0).all():
            raise EmogenError("every profile needs at least one non-zero control")
        self.bank = DirectionBank(
            list(profiles),
            vectors / magnitudes[:, None],
            magnitudes,
            np.zeros(len(PROSODY_CONTROLS)),
            feature_names=PROSODY_CONTROLS,
        )

    # ----- emotion -> controls ------------------------------------------------------------------
    def control_vector(self, emotion: Emotion | str) -> np.ndarray:
        """`(len(PROSODY_CONTROLS),)` prosody change for one emotion (0 = neutral)."""
        # A category counts through its families; raw VAD through the families' posterior.
        return self.bank.offset(as_emotion(emotion), unfitted="family")

    def controls(self, emotion: Emotion | str) -> dict[str, float]:
        """The control vector of one emotion, by name."""
        return dict(zip(PROSODY_CONTROLS, self.control_vector(emotion).tolist()))

    def control_track(
        self, emotion: Emotion | EmotionCurve | str, times: np.ndarray, source: Any = None
    ) -> np.ndarray:
        """`(N, C)` controls at each time (seconds); minus the source emotion's, if given."""
        curve = as_curve(emotion)
        if curve.unit != "seconds":
            raise EmogenError(
                "the renderer reads curves over seconds; a sentence curve is split by the "
                "pipeline into one emotion per sentence"
            )
        if len(curve) == 1:
            track = np.repeat(self.control_vector(curve.keyframes[0].emotion)[None], len(times), 0)
        else:
            grid = np.arange(float(times[0]), float(times[-1]) + CONTROL_STEP_S, CONTROL_STEP_S)
            values = np.stack([self.control_vector(curve.at(t)) for t in grid])
            track = np.stack(
                [np.interp(times, grid, values[:, c]) for c in range(values.shape[1])], 1
            )
        if source is not None:
            track = track - self.control_track(source, times)
        return track

    # ----- rendering ----------------------------------------------------------------------------
    def render(
        self,
        audio: np.ndarray,
        sample_rate: int,
        emotion: Emotion | EmotionCurve | str,
        *,
        source_emotion: Emotion | EmotionCurve | str | None = None,
        vocoder: WorldVocoder | None = None,
        features: WorldFeatures | None = None,
        preserve_duration: bool = False,
        time_offset: float = 0.0,
        seed: int | np.random.Generator | None = None,
    ) -> RenderOutput:
        """Render `emotion` onto neutral speech.

        Args:
            audio: `(T,)` float mono speech at `sample_rate`.
            emotion: an Emotion, its string form, or an EmotionCurve over seconds of this audio.
            source_emotion: the emotion the speech already carries; its prosody is taken out
                first (controls = target - source). Default: neutral.
            vocoder: the WORLD component (default settings if None).
            features: precomputed WORLD features of `audio` (saves the analysis).
            preserve_duration: keep the length (rate changes then only redistribute time
                between speech and pauses).
            time_offset: where this audio starts on the curve's time axis, in seconds (a
                pipeline rendering sentence by sentence passes each sentence's start).
            seed: seeds jitter and tremor phase.
        Returns:
            RenderOutput with the waveform and the per-frame controls.
        """
        vocoder = vocoder or WorldVocoder()
        features = features if features is not None else vocoder.analyze(audio, sample_rate)
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        times = features.times
        controls = self.control_track(emotion, times + time_offset, source=source_emotion)
        pauses, phrase_ends = self._pauses(features)
        f0 = self._edit_f0(features, controls, phrase_ends, rng)
        envelope = self._edit_envelope(features, controls)
        aperiodicity = self._edit_aperiodicity(features, controls)
        edited = features.replace(f0=f0, spectral_envelope=envelope, aperiodicity=aperiodicity)
        edited, time_map = self._retime(edited, controls, pauses, preserve_duration)
        out = vocoder.synthesize(edited)
        # The level the envelope edit intends, per input frame (energy and tilt gains).
        gains = envelope.sum(axis=1) / np.maximum(features.spectral_envelope.sum(axis=1), 1e-30)
        gain_db = _level_correction_db(audio, features, gains, out, edited)
        out = out.astype(np.float64) * 10.0 ** (gain_db / 20.0)
        peak = float(np.max(np.abs(out))) if out.size else 0.0
        if peak > 0.99:  # louder emotions can clip: scale the utterance, never clip samples
            logger.debug("scaling rendered audio by %.3f to avoid clipping", 0.99 / peak)
            out = out * (0.99 / peak)
        return RenderOutput(
            out.astype(np.float32),
            features.sample_rate,
            controls,
            time_map,
            features.frame_period_ms,
        )

    # ----- the edits ----------------------------------------------------------------------------
    def _pauses(self, features: WorldFeatures) -> tuple[np.ndarray, list[int]]:
        """Pause frames (silent runs >= phrase_pause_s) and the last voiced frame of each phrase."""
        level = 10 * np.log10(features.spectral_envelope.sum(axis=1) + 1e-20)
        loud = np.percentile(level, 95)
        silent = (level < loud - self.config.pause_db) & ~features.voiced
        frame_s = features.frame_period_ms / 1000.0
        min_run = max(1, round(self.config.phrase_pause_s / frame_s))
        pauses = np.zeros_like(silent)
        start = None
        for i, flag in enumerate([*silent.tolist(), False]):
            if flag and start is None:
                start = i
            elif not flag and start is not None:
                if i - start >= min_run:
                    pauses[start:i] = True
                start = None
        voiced = np.flatnonzero(features.voiced)
        phrase_ends = []
        for a, b in itertools.pairwise(voiced):
            if pauses[a:b].any():
                phrase_ends.append(int(a))
        if voiced.size:
            phrase_ends.append(int(voiced[-1]))
        return pauses, phrase_ends

    def _edit_f0(
        self,
        features: WorldFeatures,
        controls: np.ndarray,
        phrase_ends: Sequence[int],
        rng: np.random.Generator,
    ) -> np.ndarray:
        f0 = features.f0.copy()
        voiced = features.voiced
        if not voiced.any():
            return f0
        times = features.times
        semitones = 12.0 * np.log2(np.where(voiced, f0, 1.0) / 100.0)
        mean = semitones[voiced].mean()
        c = {name: controls[:, i] for name, i in _INDEX.items()}
        middle = 0.5 * (times[voiced][0] + times[voiced][-1])
        ramp = np.zeros_like(times)
        for end in phrase_ends:  # phrase-final terminal contour (Murray & Arnott 1993)
            weight = (
                times - (times[end] - self.config.final_contour_s)
            ) / self.config.final_contour_s
            window = (times <= times[end]) & (weight > 0)
            ramp[window] = np.maximum(ramp[window], np.clip(weight[window], 0.0, 1.0))
        # Jitter: frame-level perturbation of the period, a percentage of it (Baken & Orlikoff
        # 2000 define jitter as the mean absolute period difference in % of the period).
        jitter_st = 12.0 * np.log2(1.0 + c["jitter_percent"] / 100.0)
        phase = rng.uniform(0.0, 2.0 * np.pi)
        change = (
            c["pitch_shift_st"]
            + (2.0 ** c["pitch_range_log2"] - 1.0) * (semitones - mean)
            + c["pitch_slope_st_per_s"] * (times - middle)
            + c["final_contour_st"] * ramp
            + jitter_st * rng.standard_normal(times.shape)
            + c["tremor_st"] * np.sin(2.0 * np.pi * self.config.tremor_hz * times + phase)
        )
        change = np.clip(change, -self.config.max_semitones, self.config.max_semitones)
        f0[voiced] = 100.0 * 2.0 ** ((semitones[voiced] + change[voiced]) / 12.0)
        return f0

    def _edit_envelope(self, features: WorldFeatures, controls: np.ndarray) -> np.ndarray:
        octaves_above_1k = np.log2(np.maximum(features.frequencies, 1000.0) / 1000.0)
        gain_db = (
            controls[:, _INDEX["energy_db"], None]
            + controls[:, _INDEX["tilt_db_per_octave"], None] * octaves_above_1k[None, :]
        )
        return features.spectral_envelope * 10.0 ** (gain_db / 10.0)  # power envelope

    def _edit_aperiodicity(self, features: WorldFeatures, controls: np.ndarray) -> np.ndarray:
        # Breathy voice adds aspiration noise mainly above ~500 Hz (Klatt & Klatt 1990).
        share = np.clip(controls[:, _INDEX["breathiness"], None], 0.0, 0.95)
        weight = np.clip((features.frequencies - 500.0) / 2500.0, 0.0, 1.0)[None, :]
        aperiodicity = features.aperiodicity
        breathy = aperiodicity + share * weight * (1.0 - aperiodicity)
        return np.where(features.voiced[:, None], breathy, aperiodicity)

    def _retime(
        self,
        features: WorldFeatures,
        controls: np.ndarray,
        pauses: np.ndarray,
        preserve_duration: bool,
    ) -> tuple[WorldFeatures, np.ndarray]:
        """Time-warp the frames: each input frame lasts period / tempo (x pause factor)."""
        frame_s = features.frame_period_ms / 1000.0
        rate = controls[:, _INDEX["rate_log2"]]
        pause = controls[:, _INDEX["pause_log2"]]
        durations = frame_s * 2.0 ** (-rate + np.where(pauses, pause, 0.0))
        if preserve_duration:
            durations *= features.num_frames * frame_s / durations.sum()
        time_map = np.concatenate([[0.0], np.cumsum(durations)[:-1]])
        if np.allclose(durations, frame_s):
            return features, time_map
        count = max(3, round(durations.sum() / frame_s))
        position = np.interp(np.arange(count) * frame_s, time_map, np.arange(features.num_frames))
        low = np.floor(position).astype(int)
        high = np.minimum(low + 1, features.num_frames - 1)
        frac = (position - low)[:, None]
        f0 = features.f0
        both = (f0[low] > 0) & (f0[high] > 0)
        nearest = np.where(frac[:, 0] < 0.5, low, high)
        new_f0 = np.where(
            both,
            np.exp(
                (1 - frac[:, 0]) * np.log(np.maximum(f0[low], 1e-3))
                + frac[:, 0] * np.log(np.maximum(f0[high], 1e-3))
            ),
            f0[nearest],
        )
        log_envelope = np.log(features.spectral_envelope + 1e-30)
        envelope = np.exp((1 - frac) * log_envelope[low] + frac * log_envelope[high])
        aperiodicity = (1 - frac) * features.aperiodicity[low] + frac * features.aperiodicity[high]
        if preserve_duration and features.num_samples is not None:
            count_samples: int | None = features.num_samples
            target = features.num_frames
            if count != target:  # rounding: pad or trim one frame to keep the exact length
                new_f0, envelope, aperiodicity = (
                    _fit(new_f0, target),
                    _fit(envelope, target),
                    _fit(aperiodicity, target),
                )
        else:
            count_samples = None
        edited = features.replace(
            f0=new_f0,
            spectral_envelope=envelope,
            aperiodicity=aperiodicity,
            num_samples=count_samples,
        )
        return edited, time_map


def _level_correction_db(
    audio: np.ndarray,
    features: WorldFeatures,
    gains: np.ndarray,
    out: np.ndarray,
    edited: WorldFeatures,
) -> float:
    """dB that brings the voiced level of `out` to that of `audio` times the intended `gains`.

    WORLD's synthesis at an F0 other than the analysed one loses level: on the joe voice -0.7 to
    -1.6 dB at +4 semitones and -0.6 to -0.9 dB at -3 (voiced frames, the same voicing), which
    would turn fear's small rise in energy (Juslin & Laukka 2003) into a fall.
    """
    voiced, voiced_out = features.voiced, edited.f0 > 0
    if not voiced.any() or not voiced_out.any():
        return 0.0
    rate = features.sample_rate
    level_in = 10.0 ** (frame_levels_db(audio, rate, features.times, ENERGY_WINDOW_S) / 10.0)
    level_out = 10.0 ** (frame_levels_db(out, rate, edited.times, ENERGY_WINDOW_S) / 10.0)
    intended = float(np.mean(level_in[voiced] * gains[voiced]))
    actual = float(np.mean(level_out[voiced_out]))
    if not (intended > 0 and actual > 0):
        return 0.0
    return float(
        np.clip(
            10.0 * np.log10(intended / actual), -MAX_LEVEL_CORRECTION_DB, MAX_LEVEL_CORRECTION_DB
        )
    )


def _fit(array: np.ndarray, count: int) -> np.ndarray:
    """Trim or pad (repeating the last frame) to `count` frames."""
    if len(array) >= count:
        return array[:count]
    return np.concatenate([array, np.repeat(array[-1:], count - len(array), axis=0)])


__all__ = ["PROSODY_CONTROLS", "EmotionRenderer", "RenderOutput", "default_profiles"]
