"""Speech evaluation: acoustic correlates of emotion (later Whisper WER, speaker similarity).

The correlates are the prosody features the emotion renderer moves (`emogen.speech.prosody`), so
a benchmark can check that each rendered emotion moves them in the direction the vocal-emotion
literature reports (Juslin & Laukka 2003; Banse & Scherer 1996) and monotonically with intensity.
"""

from __future__ import annotations

import os

import numpy as np

from ..speech.audio import load_audio
from ..speech.prosody import prosody_features

__all__ = ["acoustic_correlates"]


def acoustic_correlates(
    audio: np.ndarray | str | os.PathLike, sample_rate: int | None = None
) -> dict[str, float]:
    """Prosody features of one utterance, as `{name: value}` in `ProsodyFeatures.NAMES` order.

    Args:
        audio: `(T,)` mono (or multichannel, downmixed) waveform at `sample_rate`, or a path to
            an audio file (then `sample_rate` may be None).
        sample_rate: rate of an array `audio` in Hz.

    Returns:
        f0_mean_semitones, f0_range_semitones, f0_slope_semitones_per_s, f0_final_rise_semitones,
        jitter_percent, energy_db, energy_range_db, spectral_tilt_db, hnr_db, speech_rate,
        pause_ratio, duration_s (see `ProsodyFeatures` for definitions and sources).

    Example:
        >>> acoustic_correlates(audio, 22050)["f0_mean_semitones"]
    """
    if isinstance(audio, np.ndarray):
        waveform, rate = load_audio(audio, source_sample_rate=sample_rate, max_seconds=None)
    else:
        waveform, rate = load_audio(audio, max_seconds=None)
    return prosody_features(waveform, rate).as_dict()
