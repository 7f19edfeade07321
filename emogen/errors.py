"""The one error family of emogen.

Every error a user can cause is an `EmogenError` (a `ValueError`), with a message that says what was
wrong and what is allowed. Nothing is clamped or guessed silently.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class EmogenError(ValueError):
    """Base class of every input error raised by emogen."""


class EmotionError(EmogenError):
    """An emotion could not be parsed or is out of range (unknown category, NaN, bad intensity)."""


class CurveError(EmogenError):
    """A malformed EmotionCurve: no keyframes, keyframes out of order, unknown unit."""


def close_matches(word: str, choices: Iterable[str], n: int = 3) -> list[str]:
    """The `n` closest spellings of `word` among `choices` (for "did you mean" hints)."""
    return difflib.get_close_matches(word, list(choices), n=n, cutoff=0.6)


def check_finite_range(
    name: str, value: float, low: float, high: float, error=EmogenError
) -> float:
    """Return `value` as float, or raise `error` if it is NaN, infinite or outside [low, high]."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise error(f"{name} must be a number in [{low}, {high}], got {value!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise error(f"{name} must be a finite number in [{low}, {high}], got {value}")
    if not low <= value <= high:
        raise error(f"{name} must be in [{low}, {high}], got {value}")
    return value
