"""Emotion -> facial action units (FACS), the emotion side of the talking head's expression rig.

Each basic family has an EMFACS prototype: the action units (AUs) of its full expression, with
FACS intensities A-E read as 0.2, 0.4, 0.6, 0.8, 1.0 (trace to maximum). From EMFACS-7
(Friesen & Ekman 1983), as tabulated for the CK+ database (Lucey et al. 2010, "The Extended
Cohn-Kanade Dataset (CK+)", Table 2):

    happy       6 + 12 (+ 25C)              cheek raiser, lip corner puller (lips part)
    sad         1 + 4 + 15 (+ 54 + 64)      inner brow raiser, brow lowerer, lip corner depressor
                                            (head down, eyes down: EMFACS's "with 54+64")
    surprised   1 + 2 + 5B + 26             brows up, upper lid slightly raised, jaw drop
    afraid      1 + 2 + 4 + 5 + 7 + 20 + 26 brows up and together, lids raised and tight, lips
                                            stretched, jaw drop
    angry       4 + 5 + 7 + 23              brows lowered, lids raised and tightened, lips tight
    disgusted   9 + 15 + 16                 nose wrinkler, lip corner and lower lip depressors

Happiness is 6 + 12 in EMFACS; emogen adds 25C (lips part), the open smile that shows the
upper teeth in most posed smiles (CK+ codes 25 on many of its happy sequences). Calm has no
EMFACS prototype; emogen gives it a relaxed face (emogen's choice, not FACS
data): a trace smile (12A) and slightly lowered lids (43A).

The prototypes form a `DirectionBank` over the families (as the speech renderer's prosody
profiles do), so every emotion reaches them the same way: a category through its families
("lonely" as sad), a mixture as the weighted sum, raw VAD through the families' posterior, all
scaled by intensity (linear, 0 = neutral); `action_unit_track` follows an `EmotionCurve`.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..emotion import Emotion, EmotionCurve, EmotionLike, as_curve, as_emotion
from ..emotion.directions import DirectionBank
from ..errors import EmogenError

__all__ = ["ACTION_UNITS", "PROTOTYPES", "action_unit_track", "action_units"]

# The action units the rig moves: number -> FACS name.
ACTION_UNITS: dict[int, str] = {
    1: "inner brow raiser",
    2: "outer brow raiser",
    4: "brow lowerer",
    5: "upper lid raiser",
    6: "cheek raiser",
    7: "lid tightener",
    9: "nose wrinkler",
    12: "lip corner puller",
    15: "lip corner depressor",
    16: "lower lip depressor",
    20: "lip stretcher",
    23: "lip tightener",
    25: "lips part",
    26: "jaw drop",
    43: "eyes closed",
    54: "head down",
    64: "eyes down",
}
_A, _B, _C, _D, _E = 0.2, 0.4, 0.6, 0.8, 1.0  # FACS intensity letters
PROTOTYPES: dict[str, dict[int, float]] = {
    "happy": {6: _E, 12: _E, 25: _C},
    "sad": {1: _E, 4: _E, 15: _E, 54: _C, 64: _C},
    "surprised": {1: _E, 2: _E, 5: _B, 26: _E},
    "afraid": {1: _E, 2: _E, 4: _E, 5: _E, 7: _E, 20: _E, 26: _E},
    "angry": {4: _E, 5: _E, 7: _E, 23: _E},
    "disgusted": {9: _E, 15: _E, 16: _E},
    "calm": {12: _A, 43: _A},  # emogen's relaxed face, not an EMFACS prototype
}


@lru_cache(maxsize=1)
def _bank() -> DirectionBank:
    order = list(ACTION_UNITS)
    vectors = np.array([[PROTOTYPES[f].get(au, 0.0) for au in order] for f in PROTOTYPES])
    magnitudes = np.linalg.norm(vectors, axis=1)
    return DirectionBank(
        list(PROTOTYPES),
        vectors / magnitudes[:, None],
        magnitudes,
        np.zeros(len(order)),
        feature_names=[f"AU{au}" for au in order],
    )


def action_units(emotion: EmotionLike) -> dict[int, float]:
    """The AU intensities of one emotion, in [0, 1] (AU number -> intensity; 0 for neutral)."""
    vector = _vector(as_emotion(emotion))
    return {au: float(value) for au, value in zip(ACTION_UNITS, vector)}


def action_unit_track(emotion: EmotionLike | EmotionCurve, times: np.ndarray) -> np.ndarray:
    """`(T, len(ACTION_UNITS))` AU intensities at each time (seconds), columns in
    `ACTION_UNITS` order; a single emotion gives the same row throughout."""
    curve = as_curve(emotion)
    if curve.unit != "seconds":
        raise EmogenError("the face follows curves over seconds ('happy@0 -> sad@2.5')")
    times = np.asarray(times, dtype=np.float64)
    if times.ndim != 1:
        raise EmogenError(f"times must be a 1-D array of seconds, got shape {times.shape}")
    if len(curve) == 1:
        row = _vector(curve.keyframes[0].emotion)
        return np.repeat(row[None], len(times), axis=0)
    return (
        np.stack([_vector(curve.at(float(t))) for t in times])
        if len(times)
        else (np.zeros((0, len(ACTION_UNITS))))
    )


def _vector(emotion: Emotion) -> np.ndarray:
    # Blends may add up past a prototype's maximum (afraid + surprised both raise AU1): clip.
    return np.clip(_bank().offset(emotion, unfitted="family"), 0.0, 1.0)
