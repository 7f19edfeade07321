"""Visemes: the mouth shapes of speech, timed from phonemes, for the talking head.

Phonemes are the IPA characters emogen's voices speak (espeak-ng's, with the start and end of
each from `PhonemeTiming`). Each maps to one of the visemes of the MPEG-4 facial animation
standard (ISO/IEC 14496-2; Pandzic & Forchheimer 2002, "MPEG-4 Facial Animation"): p b m, f v,
th, t d n l, s z, r, sh/ch, k g, and the vowel shapes a, e, i, o, u, plus rest. A viseme is a
target on five mouth parameters in [0, 1] (jaw opening, lip rounding, lip stretch, lip closure,
lower-lip tuck); the values are emogen's, set from the articulatory description of each class.

Neighbouring targets blend by coarticulation (Cohen & Massaro 1993, "Modeling coarticulation
in synthetic visual speech"): each segment i pulls with dominance
`D_i(t) = a_i exp(-|t - c_i| / tau)` around its centre c_i, and the mouth at t is the
dominance-weighted mean of the targets. Bilabials dominate strongly (the lips must meet for
p, b, m), and silences are rest targets, so the mouth closes in pauses.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import EmogenError
from ..speech.voice import PhonemeTiming

__all__ = ["MOUTH_PARAMETERS", "VISEMES", "mouth_track", "phoneme_viseme", "viseme_segments"]

MOUTH_PARAMETERS = ("jaw_open", "lip_round", "lip_stretch", "lip_closure", "lip_tuck")
REST = "rest"
# viseme -> (jaw_open, lip_round, lip_stretch, lip_closure, lip_tuck)
VISEMES: dict[str, tuple[float, float, float, float, float]] = {
    REST: (0.0, 0.0, 0.0, 1.0, 0.0),
    "PBM": (0.05, 0.1, 0.0, 1.0, 0.0),
    "FV": (0.1, 0.0, 0.1, 0.3, 1.0),
    "TH": (0.2, 0.0, 0.2, 0.0, 0.0),
    "TDNL": (0.25, 0.0, 0.2, 0.0, 0.0),
    "SZ": (0.1, 0.0, 0.4, 0.0, 0.0),
    "R": (0.2, 0.5, 0.0, 0.0, 0.0),
    "SH": (0.15, 0.6, 0.0, 0.0, 0.0),
    "KG": (0.3, 0.0, 0.1, 0.0, 0.0),
    "A": (0.9, 0.0, 0.2, 0.0, 0.0),
    "E": (0.5, 0.0, 0.5, 0.0, 0.0),
    "I": (0.25, 0.0, 0.8, 0.0, 0.0),
    "O": (0.6, 0.8, 0.0, 0.0, 0.0),
    "U": (0.25, 1.0, 0.0, 0.0, 0.0),
}
_CLASSES = {
    "PBM": "pbm",
    "FV": "fv",
    "TH": "θð",
    "TDNL": "tdnlɾɫ",
    "SZ": "sz",
    "R": "ɹrɻ",
    "SH": "ʃʒʧʤ",
    "KG": "kgŋxq",
    "A": "aɑæʌɐäɒ",
    "E": "eɛəɜɚᵻ",
    "I": "iɪyj",
    "O": "oɔ",
    "U": "uʊɯw",
}
_VISEME_OF = {char: viseme for viseme, chars in _CLASSES.items() for char in chars}
_EXTENDERS = set("ːˑ̩̃")  # length and diacritic marks: part of the phoneme before them
# Stress marks stand before the stressed syllable; in the voice's timing their span already
# sounds like the vowel that follows (83 % of their frames; benchmarks/talking_head), so they
# belong to the next sound.
_STRESS = set("ˈˌ")
_SILENCE = set(".,;:!?…—-")  # punctuation: a pause, the mouth at rest
# Dominance (Cohen & Massaro 1993): how strongly a segment pulls the mouth to its target.
# Bilabial and labiodental closures must be reached; vowels carry the jaw.
_DOMINANCE = {REST: 1.5, "PBM": 3.0, "FV": 2.0, **{vowel: 1.5 for vowel in "AEIOU"}}
DEFAULT_DOMINANCE = 1.0
TAU_S = 0.03  # dominance decay: 30 ms, about a quarter of a syllable


def phoneme_viseme(phoneme: str) -> str | None:
    """The viseme of one IPA character: a class of `VISEMES`, "rest" for punctuation, or None
    for characters with no mouth shape of their own (word spaces, h, stress and length marks)."""
    if phoneme in _SILENCE:
        return REST
    return _VISEME_OF.get(phoneme)


def viseme_segments(alignment: Sequence[PhonemeTiming]) -> list[tuple[str, float, float]]:
    """`(viseme, start, end)` segments of a phoneme alignment: length marks extend the phoneme
    before them, stress marks the sound after them, characters without a mouth shape are left
    out (their neighbours' coarticulation covers them), and a repeated viseme is merged into one
    segment."""
    segments: list[list] = []
    stress_start = None
    for timing in alignment:
        if timing.end < timing.start:
            raise EmogenError(f"phoneme {timing.phoneme!r} ends before it starts: {timing}")
        if timing.phoneme in _STRESS:
            stress_start = timing.start if stress_start is None else stress_start
            continue
        if timing.phoneme in _EXTENDERS and segments:
            segments[-1][2] = max(segments[-1][2], timing.end)
            continue
        viseme = phoneme_viseme(timing.phoneme)
        if viseme is None:
            continue
        start = timing.start if stress_start is None else stress_start
        stress_start = None
        if segments and segments[-1][0] == viseme and start - segments[-1][2] < 1e-6:
            segments[-1][2] = timing.end
        else:
            segments.append([viseme, start, timing.end])
    return [(v, float(s), float(e)) for v, s, e in segments]


def mouth_track(
    alignment: Sequence[PhonemeTiming], times: np.ndarray, tau_s: float = TAU_S
) -> np.ndarray:
    """`(T, len(MOUTH_PARAMETERS))` mouth parameters at each time (seconds).

    Before the first and after the last phoneme, and wherever nothing is spoken for long, the
    mouth is at rest (the rest target always pulls with `DEFAULT_DOMINANCE` x a small floor).
    """
    if not tau_s > 0:
        raise EmogenError(f"tau_s must be > 0, got {tau_s}")
    times = np.asarray(times, dtype=np.float64)
    if times.ndim != 1:
        raise EmogenError(f"times must be a 1-D array of seconds, got shape {times.shape}")
    rest = np.array(VISEMES[REST])
    segments = viseme_segments(alignment)
    if not segments:
        return np.repeat(rest[None], len(times), axis=0)
    targets = np.array([VISEMES[v] for v, _, _ in segments])  # (S, P)
    centres = np.array([(s + e) / 2 for _, s, e in segments])
    halves = np.array([(e - s) / 2 for _, s, e in segments])
    strength = np.array([_DOMINANCE.get(v, DEFAULT_DOMINANCE) for v, _, _ in segments])
    # Full dominance inside a segment, decaying outside it.
    distance = np.maximum(np.abs(times[:, None] - centres[None]) - halves[None], 0.0)
    dominance = strength[None] * np.exp(-distance / tau_s)  # (T, S)
    floor = 0.05 * DEFAULT_DOMINANCE  # rest, always there, wins far from any segment
    mouth = (dominance @ targets + floor * rest[None]) / (dominance.sum(1, keepdims=True) + floor)
    return np.clip(mouth, 0.0, 1.0)
