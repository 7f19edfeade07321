"""`EmotionCurve`: emotion keyframes over time (seconds) or over text units (sentence index).

Between two keyframes at positions p0 < p1 with emotions e0, e1 and a blend s in [0, 1] (s = the
linear fraction of the way from p0 to p1, or its smoothstep 3s^2 - 2s^3 for "smooth", which is
C1-continuous at keyframes and never overshoots), the emotion at s is:

    intensity  = (1 - s) i0 + s i1
    target     = ((1 - s) i0 t0 + s i1 t1) / intensity
    mixture    = ((1 - s) i0 m0 + s i1 m1) / intensity      (category weights)

(with plain (1 - s, s) weights when both intensities are 0),
so the EFFECTIVE point intensity * target moves linearly from e0.vad to e1.vad, every value stays
inside the range of its two keyframes (convex combinations), and a fade from a category to neutral
keeps its label while its intensity falls. Before the first keyframe the curve holds the first
emotion, after the last one the last.

String form: keyframes `EMOTION@POSITION` joined by `->` (linear) or `~>` (smooth), e.g.
`happy@0 -> sad:0.6@2.5`. Positions are seconds; `#N` is sentence N: `happy@#0 -> angry@#2`.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from ..errors import CurveError, EmogenError
from .emotion import Emotion, EmotionLike, as_emotion

Unit = Literal["seconds", "sentences"]
Interpolation = Literal["linear", "smooth"]
UNITS = ("seconds", "sentences")
INTERPOLATIONS = ("linear", "smooth")
_ARROWS = {"->": "linear", "~>": "smooth"}
CURVE_HELP = (
    "Write keyframes as EMOTION@POSITION joined by '->' (linear) or '~>' (smooth), positions "
    "increasing: 'happy@0 -> sad:0.6@2.5' (seconds) or 'happy@#0 -> angry@#2' (sentence index)."
)


@dataclass(frozen=True)
class Keyframe:
    position: float
    emotion: Emotion


class EmotionCurve:
    """Emotion keyframes with interpolation; every pipeline accepts one wherever an Emotion goes.

    Args:
        keyframes: `(position, emotion)` pairs, positions strictly increasing and >= 0. Emotions
            may be `Emotion`, any string form `Emotion.parse` reads, or dicts.
        unit: "seconds" or "sentences" (positions are sentence indices 0, 1, ...).
        interpolation: "linear" or "smooth" (smoothstep between keyframes).

    Example:
        >>> curve = EmotionCurve.parse("happy@0 -> sad:0.6@2.5")
        >>> half_way = curve.at(1.25)  # weights by intensity: 1.0 happy vs 0.6 sad
        >>> [(name, round(weight, 3)) for name, weight in half_way.mixture], half_way.intensity
        ([('happy', 0.625), ('sad', 0.375)], 0.8)
        >>> len(curve.sample(fps=2, duration=3.0))
        6
    """

    def __init__(
        self,
        keyframes: Sequence[tuple[float, EmotionLike]],
        unit: Unit = "seconds",
        interpolation: Interpolation = "linear",
    ):
        if unit not in UNITS:
            raise CurveError(f"unit must be one of {UNITS}, got {unit!r}")
        if interpolation not in INTERPOLATIONS:
            raise CurveError(
                f"interpolation must be one of {INTERPOLATIONS}, got {interpolation!r}"
            )
        if not keyframes:
            raise CurveError("an EmotionCurve needs at least one keyframe. " + CURVE_HELP)
        frames = []
        for item in keyframes:
            if isinstance(item, Keyframe):
                position, emotion = item.position, item.emotion
            else:
                try:
                    position, emotion = item
                except (TypeError, ValueError):
                    raise CurveError(
                        f"a keyframe is a (position, emotion) pair, got {item!r}"
                    ) from None
            position = _position(position)
            if unit == "sentences" and position != int(position):
                raise CurveError(f"sentence positions must be whole numbers, got {position}")
            frames.append(Keyframe(position, as_emotion(emotion)))
        for before, after in itertools.pairwise(frames):
            if after.position <= before.position:
                raise CurveError(
                    f"keyframes must be in strictly increasing order of position: {after.position}"
                    f" comes after {before.position}"
                )
        self.keyframes: tuple[Keyframe, ...] = tuple(frames)
        self.unit: Unit = unit
        self.interpolation: Interpolation = interpolation
        self._positions = np.array([k.position for k in frames])

    # ----- construction -------------------------------------------------------------------------
    @classmethod
    def constant(cls, emotion: EmotionLike, unit: Unit = "seconds") -> EmotionCurve:
        return cls([(0.0, emotion)], unit=unit)

    @classmethod
    def from_sentences(cls, emotions: Sequence[EmotionLike]) -> EmotionCurve:
        """One keyframe per sentence, in order (`unit="sentences"`)."""
        return cls(list(enumerate(emotions)), unit="sentences")

    @classmethod
    def parse(cls, text: str) -> EmotionCurve:
        """Read the compact string form (see the module docstring)."""
        if not isinstance(text, str) or not text.strip():
            raise CurveError("empty emotion curve. " + CURVE_HELP)
        arrows = set(re.findall(r"->|~>", text))
        if len(arrows) > 1:
            raise CurveError("use either '->' (linear) or '~>' (smooth) throughout. " + CURVE_HELP)
        interpolation = _ARROWS[arrows.pop()] if arrows else "linear"
        units = set()
        keyframes = []
        for part in re.split(r"->|~>", text):
            emotion_text, at, position_text = part.strip().rpartition("@")
            if not at or not emotion_text.strip() or not position_text.strip():
                raise CurveError(f"cannot read keyframe {part.strip()!r}. " + CURVE_HELP)
            position_text = position_text.strip()
            unit = "sentences" if position_text.startswith("#") else "seconds"
            position_text = position_text.lstrip("#").removesuffix("s")
            units.add(unit)
            try:
                position = float(position_text)
            except ValueError:
                raise CurveError(
                    f"position {position_text!r} in {part.strip()!r} is not a number. " + CURVE_HELP
                ) from None
            try:
                emotion = Emotion.parse(emotion_text)
            except EmogenError as error:
                raise CurveError(f"keyframe {part.strip()!r}: {error}") from None
            keyframes.append((position, emotion))
        if len(units) > 1:
            raise CurveError("do not mix seconds and '#' sentence positions. " + CURVE_HELP)
        return cls(keyframes, unit=units.pop(), interpolation=interpolation)

    # ----- evaluation ---------------------------------------------------------------------------
    @property
    def start(self) -> float:
        return self.keyframes[0].position

    @property
    def end(self) -> float:
        return self.keyframes[-1].position

    def at(self, position: float) -> Emotion:
        """The emotion at one position (seconds, or sentence index)."""
        position = _position(position, allow_negative=True)
        index = int(np.searchsorted(self._positions, position, side="right"))
        if index == 0:
            return self.keyframes[0].emotion
        if index == len(self.keyframes):
            return self.keyframes[-1].emotion
        left, right = self.keyframes[index - 1], self.keyframes[index]
        s = (position - left.position) / (right.position - left.position)
        if self.interpolation == "smooth":
            s = s * s * (3.0 - 2.0 * s)
        return blend(left.emotion, right.emotion, s)

    def __call__(self, position: float) -> Emotion:
        return self.at(position)

    def times(self, fps: float, duration: float | None = None) -> np.ndarray:
        """Frame times `k / fps` for k = 0 .. ceil(duration * fps) - 1; duration defaults to the
        last keyframe's position (at least one frame)."""
        if not (isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0):
            raise CurveError(f"fps must be a finite number > 0, got {fps!r}")
        duration = self.end if duration is None else _position(duration)
        count = max(1, math.ceil(duration * fps - 1e-9))
        return np.arange(count) / fps

    def sample(self, fps: float, duration: float | None = None) -> list[Emotion]:
        """The emotion at each frame time (see `times`)."""
        return [self.at(t) for t in self.times(fps, duration)]

    def vad_track(self, positions: Sequence[float] | np.ndarray) -> np.ndarray:
        """Effective VAD at each position: `(N, 3)` float64."""
        return np.array([self.at(float(p)).vad for p in positions], dtype=np.float64).reshape(-1, 3)

    def for_sentences(self, count: int) -> list[Emotion]:
        """One emotion per sentence 0..count-1 (a seconds curve is read at t = index)."""
        if not isinstance(count, int) or count < 0:
            raise CurveError(f"sentence count must be an integer >= 0, got {count!r}")
        return [self.at(float(i)) for i in range(count)]

    def timed(self, sentence_starts: Sequence[float]) -> EmotionCurve:
        """A sentence curve on the clock: sentence k's emotion from `sentence_starts[k]` seconds
        (a TTS output's `sentence_starts`), held through the sentence and eased into the next
        over its first 0.3 s (smooth). A seconds curve is returned unchanged."""
        if self.unit == "seconds":
            return self
        starts = [_position(start) for start in sentence_starts]
        if not starts or any(b <= a for a, b in itertools.pairwise(starts)):
            raise CurveError(f"sentence_starts must increase, got {list(sentence_starts)}")
        emotions = self.for_sentences(len(starts))
        keyframes = [(starts[0], emotions[0])]
        for start, previous, emotion in zip(starts[1:], emotions, emotions[1:]):
            ease = min(0.3, (start - keyframes[-1][0]) / 2)
            keyframes += [(start, previous), (start + ease, emotion)]
        return EmotionCurve(keyframes, unit="seconds", interpolation="smooth")

    def with_intensity(self, intensity: float) -> EmotionCurve:
        """The same curve with every keyframe's intensity replaced."""
        return EmotionCurve(
            [(k.position, k.emotion.with_intensity(intensity)) for k in self],
            unit=self.unit,
            interpolation=self.interpolation,
        )

    def __iter__(self) -> Iterator[Keyframe]:
        return iter(self.keyframes)

    def __len__(self) -> int:
        return len(self.keyframes)

    # ----- serialisation ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "unit": self.unit,
            "interpolation": self.interpolation,
            "keyframes": [{"at": k.position, "emotion": k.emotion.to_dict()} for k in self],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EmotionCurve:
        if not isinstance(data, Mapping) or "keyframes" not in data:
            raise CurveError(
                "an EmotionCurve dict needs 'keyframes': [{'at': ..., 'emotion': ...}]"
            )
        try:
            keyframes = [(k["at"], k["emotion"]) for k in data["keyframes"]]
        except (KeyError, TypeError):
            raise CurveError("each keyframe needs 'at' and 'emotion'") from None
        return cls(
            keyframes,
            unit=data.get("unit", "seconds"),
            interpolation=data.get("interpolation", "linear"),
        )

    def __str__(self) -> str:
        arrow = " -> " if self.interpolation == "linear" else " ~> "
        mark = "#" if self.unit == "sentences" else ""
        return arrow.join(f"{k.emotion}@{mark}{_fmt_position(k.position)}" for k in self)

    def __repr__(self) -> str:
        return f"EmotionCurve({str(self)!r}, unit={self.unit!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, EmotionCurve):
            return NotImplemented
        return (self.keyframes, self.unit, self.interpolation) == (
            other.keyframes,
            other.unit,
            other.interpolation,
        )

    def __hash__(self) -> int:
        return hash((self.keyframes, self.unit, self.interpolation))


def blend(first: Emotion, second: Emotion, s: float) -> Emotion:
    """The emotion a fraction `s` in [0, 1] of the way from `first` to `second` (see module doc)."""
    if s <= 0:
        return first
    if s >= 1:
        return second
    w0, w1 = (1.0 - s) * first.intensity, s * second.intensity
    intensity = w0 + w1
    if intensity > 0:
        a, b = w0 / intensity, w1 / intensity
    else:
        a, b = 1.0 - s, s
    target = [a * x + b * y for x, y in zip(first.target_vad, second.target_vad)]
    weights: dict[str, float] = {}
    if first.mixture and second.mixture:
        for scale, mixture in ((a, first.mixture), (b, second.mixture)):
            for name, weight in mixture:
                if scale * weight > 0:
                    weights[name] = weights.get(name, 0.0) + scale * weight
    # Intensity and target are convex combinations, but rounding can step past a bound by 1 ulp.
    target = [min(1.0, max(-1.0, x)) for x in target]
    intensity = min(1.0, max(0.0, (1.0 - s) * first.intensity + s * second.intensity))
    return Emotion(*target, intensity=intensity, mixture=tuple(weights.items()))


def as_curve(value: EmotionLike | EmotionCurve, unit: Unit = "seconds") -> EmotionCurve:
    """Coerce an Emotion, emotion string, curve string or curve to an `EmotionCurve`."""
    if isinstance(value, EmotionCurve):
        return value
    if isinstance(value, str) and "@" in value:
        return EmotionCurve.parse(value)
    return EmotionCurve.constant(as_emotion(value), unit=unit)


def _position(value: Any, allow_negative: bool = False) -> float:
    try:
        position = float(value)
    except (TypeError, ValueError):
        raise CurveError(f"a position must be a number, got {value!r}") from None
    if not math.isfinite(position):
        raise CurveError(f"a position must be finite, got {position}")
    if position < 0 and not allow_negative:
        raise CurveError(f"a keyframe position must be >= 0, got {position}")
    return position


def _fmt_position(position: float) -> str:
    text = repr(float(position))
    return text[:-2] if text.endswith(".0") else text
