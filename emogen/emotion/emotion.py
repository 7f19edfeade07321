"""`Emotion`: one point of the shared emotion space.

An emotion is a TARGET point in valence-arousal-dominance (VAD, each in [-1, 1]), optionally
labelled with a category or a category mixture, and an intensity in [0, 1]. What every pipeline
renders is the EFFECTIVE point

    vad = neutral + intensity * (target - neutral)

so intensity 0 is neutral whatever the target, and intensity scales linearly towards the target.
The neutral point is the origin by construction of the scales (see data/taxonomy.json).

Accepted string forms (`Emotion.parse`):

    happy                       a category (or synonym: "mad" -> angry); intensity 1
    angry:0.8                   a category with intensity
    slightly annoyed            a degree word + category (Cliff 1959 adverb multipliers)
    0.6 happy + 0.4 surprised   a mixture (weights are proportions, normalised to sum 1;
                                Daisy-TTS "secondary emotions" as mixtures of primary ones)
    (0.6 happy + 0.4 sad):0.5   a mixture with intensity
    v=0.2 a=-0.4 d=0.1          raw VAD (valence=, arousal=, dominance= also; d defaults to 0;
                                i= / intensity= sets intensity)
    neutral                     no emotion
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import EmotionError, check_finite_range
from .taxonomy import NEUTRAL, Taxonomy, load_taxonomy

# Degree adverbs as intensities. Cliff (1959, "Adverbs as multipliers", Psychological Review 66)
# measured adverbs as multipliers of the adjective's scale value: slightly .54, somewhat .66,
# rather .84, pretty .88, (none) 1.00, quite 1.05, decidedly 1.16, very 1.25, unusually 1.28,
# extremely 1.45. We divide by "extremely" so that the strongest adverb is intensity 1; a bare
# category name is the category's full prototype (intensity 1) as everywhere else in emogen.
_CLIFF_EXTREMELY = 1.45
_CLIFF = {
    "slightly": 0.54,
    "somewhat": 0.66,
    "rather": 0.84,
    "pretty": 0.88,
    "quite": 1.05,
    "decidedly": 1.16,
    "very": 1.25,
    "unusually": 1.28,
    "extremely": 1.45,
}
# Adverbs Cliff did not measure, placed beside the measured one they are used like.
_SAME_AS = {
    "a little": "slightly",
    "a bit": "slightly",
    "a little bit": "slightly",
    "a tad": "slightly",
    "mildly": "slightly",
    "kind of": "somewhat",
    "kinda": "somewhat",
    "sort of": "somewhat",
    "fairly": "rather",
    "moderately": "rather",
    "really": "very",
    "so": "very",
    "deeply": "very",
    "highly": "very",
    "truly": "very",
    "super": "unusually",
    "incredibly": "extremely",
    "utterly": "extremely",
    "totally": "extremely",
    "completely": "extremely",
    "intensely": "extremely",
    "terribly": "extremely",
}
DEGREE_WORDS: dict[str, float] = {
    **{word: value / _CLIFF_EXTREMELY for word, value in _CLIFF.items()},
    **{word: _CLIFF[base] / _CLIFF_EXTREMELY for word, base in _SAME_AS.items()},
}

FORMS_HELP = (
    "Accepted forms: a category ('happy'), a category with intensity ('angry:0.8'), a degree word "
    "and a category ('slightly annoyed', 'very calm'), a mixture ('0.6 happy + 0.4 surprised', "
    "optionally '(0.6 happy + 0.4 surprised):0.8'), raw VAD ('v=0.2 a=-0.4 d=0.1', each in "
    "[-1, 1]), or 'neutral'."
)

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_VAD_KEYS = {
    "v": "valence",
    "valence": "valence",
    "a": "arousal",
    "arousal": "arousal",
    "d": "dominance",
    "dominance": "dominance",
    "i": "intensity",
    "intensity": "intensity",
}


def _fmt(x: float) -> str:
    """Shortest float text that reads back exactly (keeps str -> parse round trips lossless)."""
    text = repr(float(x))
    return text[:-2] if text.endswith(".0") else text


@dataclass(frozen=True)
class Emotion:
    """A point in the shared emotion space (immutable, hashable, torch-free).

    Attributes:
        valence, arousal, dominance: the TARGET point, each in [-1, 1].
        intensity: in [0, 1]; the effective point is `neutral + intensity * (target - neutral)`.
        mixture: `((category, weight), ...)` with weights summing to 1, heaviest first; empty for an
            emotion given as raw VAD.

    Example:
        >>> e = Emotion.parse("angry:0.5")
        >>> e.category, e.intensity
        ('angry', 0.5)
        >>> Emotion.parse("mad") == Emotion.parse("angry")
        True
    """

    valence: float
    arousal: float
    dominance: float
    intensity: float = 1.0
    mixture: tuple[tuple[str, float], ...] = field(default=())

    def __post_init__(self) -> None:
        for name in ("valence", "arousal", "dominance"):
            object.__setattr__(
                self, name, check_finite_range(name, getattr(self, name), -1.0, 1.0, EmotionError)
            )
        object.__setattr__(
            self,
            "intensity",
            check_finite_range("intensity", self.intensity, 0.0, 1.0, EmotionError),
        )
        object.__setattr__(self, "mixture", _normalise_mixture(self.mixture))

    # ----- constructors -------------------------------------------------------------------------
    @classmethod
    def neutral(cls) -> Emotion:
        """No emotion: the origin of VAD space."""
        return cls.from_category(NEUTRAL)

    @classmethod
    def from_category(
        cls, name: str, intensity: float = 1.0, taxonomy: Taxonomy | None = None
    ) -> Emotion:
        """A category (or synonym) at its taxonomy centroid."""
        return cls.from_mixture({name: 1.0}, intensity=intensity, taxonomy=taxonomy)

    @classmethod
    def from_mixture(
        cls, weights: Mapping[str, float], intensity: float = 1.0, taxonomy: Taxonomy | None = None
    ) -> Emotion:
        """A mixture of categories; its target is the weighted mean of their centroids.

        Weights are proportions: positive, normalised to sum 1 (`{"happy": 3, "sad": 1}` is
        75 % happy). Repeated categories (also via synonyms) add up.
        """
        taxonomy = taxonomy or load_taxonomy()
        if not weights:
            raise EmotionError("a mixture needs at least one category. " + FORMS_HELP)
        merged: dict[str, float] = {}
        for name, weight in weights.items():
            weight = check_finite_range(f"weight of {name!r}", weight, 0.0, math.inf, EmotionError)
            if weight == 0:
                raise EmotionError(f"mixture weight of {name!r} must be > 0, got 0")
            canonical = taxonomy.resolve(name)
            merged[canonical] = merged.get(canonical, 0.0) + weight
        total = sum(merged.values())
        vad = [0.0, 0.0, 0.0]
        for name, weight in merged.items():
            for axis, value in enumerate(taxonomy.categories[name].vad):
                vad[axis] += weight / total * value
        return cls(*vad, intensity=intensity, mixture=tuple(merged.items()))

    @classmethod
    def from_vad(
        cls, valence: float, arousal: float, dominance: float = 0.0, intensity: float = 1.0
    ) -> Emotion:
        """A raw VAD point with no category label."""
        return cls(valence, arousal, dominance, intensity)

    @classmethod
    def parse(cls, text: str, taxonomy: Taxonomy | None = None) -> Emotion:
        """Parse any of the string forms in this module's docstring.

        Raises:
            EmotionError: malformed text, unknown category (with close matches), or a value out of
                range; the message lists the accepted forms.
        """
        if isinstance(text, Emotion):
            return text
        if not isinstance(text, str):
            raise EmotionError(f"an emotion must be a string, got {type(text).__name__}")
        taxonomy = taxonomy or load_taxonomy()
        source = " ".join(text.strip().lower().split())
        if not source:
            raise EmotionError("empty emotion. " + FORMS_HELP)
        try:
            return _parse(source, taxonomy)
        except EmotionError as error:
            message = str(error)
            if "Accepted forms" not in message:
                message = f"{message} (in {text!r}). {FORMS_HELP}"
            raise EmotionError(message) from None

    # ----- views --------------------------------------------------------------------------------
    @property
    def target_vad(self) -> tuple[float, float, float]:
        return (self.valence, self.arousal, self.dominance)

    @property
    def vad(self) -> tuple[float, float, float]:
        """Effective VAD: neutral + intensity * (target - neutral); the neutral point is 0."""
        return tuple(self.intensity * x for x in self.target_vad)  # type: ignore[return-value]

    @property
    def category(self) -> str | None:
        """The dominant category of the mixture, or None for a raw VAD point."""
        return self.mixture[0][0] if self.mixture else None

    @property
    def is_neutral(self) -> bool:
        return self.category == NEUTRAL or self.intensity == 0 or not any(self.target_vad)

    def probabilities(self, taxonomy: Taxonomy | None = None) -> dict[str, float]:
        """Posterior over categories at the effective VAD point, most probable first."""
        return (taxonomy or load_taxonomy()).posterior(self.vad)

    def nearest_category(self, taxonomy: Taxonomy | None = None) -> str:
        """The most probable category at the effective VAD point."""
        return (taxonomy or load_taxonomy()).nearest(self.vad)

    def with_intensity(self, intensity: float) -> Emotion:
        return Emotion(*self.target_vad, intensity=intensity, mixture=self.mixture)

    # ----- serialisation ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict. `valence/arousal/dominance` are EFFECTIVE; `target` is the target."""
        valence, arousal, dominance = self.vad
        return {
            "category": self.category,
            "mixture": dict(self.mixture),
            "intensity": self.intensity,
            "valence": valence,
            "arousal": arousal,
            "dominance": dominance,
            "target": {
                "valence": self.valence,
                "arousal": self.arousal,
                "dominance": self.dominance,
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Emotion:
        """Inverse of `to_dict`. Hand-written dicts may give only a category or a mixture (the
        target is then the taxonomy centroid), or only valence/arousal/dominance (taken as the
        target)."""
        if not isinstance(data, Mapping):
            raise EmotionError(f"an emotion dict must be a mapping, got {type(data).__name__}")
        intensity = data.get("intensity", 1.0)
        mixture = data.get("mixture") or ({data["category"]: 1.0} if data.get("category") else {})
        if "target" in data:
            target = data["target"]
            try:
                vad = (target["valence"], target["arousal"], target["dominance"])
            except (KeyError, TypeError):
                raise EmotionError(
                    "'target' must hold 'valence', 'arousal' and 'dominance'"
                ) from None
            names = {load_taxonomy().resolve(n): w for n, w in dict(mixture).items()}
            return cls(*vad, intensity=intensity, mixture=tuple(names.items()))
        if mixture:
            return cls.from_mixture(mixture, intensity=intensity)
        if "valence" in data and "arousal" in data:
            return cls(data["valence"], data["arousal"], data.get("dominance", 0.0), intensity)
        raise EmotionError(
            "an emotion dict needs 'target', 'mixture', 'category' or 'valence' and 'arousal'; "
            f"got keys {sorted(data)}"
        )

    def __str__(self) -> str:
        """The parseable string form: `Emotion.parse(str(e)) == e` for taxonomy-built emotions."""
        return self.label(digits=None)

    def label(self, digits: int | None = 2) -> str:
        """The string form with numbers rounded to `digits` (None: exact, as `str`)."""

        def num(x: float) -> str:
            return _fmt(x) if digits is None else _fmt(round(x, digits))

        intensity = "" if self.intensity == 1 else f":{num(self.intensity)}"
        if not self.mixture:
            vad = f"v={num(self.valence)} a={num(self.arousal)} d={num(self.dominance)}"
            return vad + (f" i={num(self.intensity)}" if intensity else "")
        if len(self.mixture) == 1:
            return f"{self.category}{intensity}"
        body = " + ".join(f"{num(w)} {name}" for name, w in self.mixture)
        return f"({body}){intensity}" if intensity else body

    def __repr__(self) -> str:
        valence, arousal, dominance = self.vad
        return f"Emotion({self.label()} | v={valence:+.2f} a={arousal:+.2f} d={dominance:+.2f})"


EmotionLike = Emotion | str | Mapping[str, Any]


def as_emotion(value: EmotionLike, intensity: float | None = None) -> Emotion:
    """Coerce what a user passes (Emotion, string form, or dict) to an `Emotion`.

    `intensity`, when given, replaces the emotion's own intensity.
    """
    if isinstance(value, Emotion):
        emotion = value
    elif isinstance(value, str):
        emotion = Emotion.parse(value)
    elif isinstance(value, Mapping):
        emotion = Emotion.from_dict(value)
    else:
        raise EmotionError(
            f"expected an Emotion, a string or a dict, got {type(value).__name__}. " + FORMS_HELP
        )
    return emotion if intensity is None else emotion.with_intensity(intensity)


def _normalise_mixture(mixture: Any) -> tuple[tuple[str, float], ...]:
    items = list(mixture.items()) if isinstance(mixture, Mapping) else list(mixture)
    if not items:
        return ()
    weights = {}
    for name, weight in items:
        weight = check_finite_range(f"weight of {name!r}", weight, 0.0, math.inf, EmotionError)
        if weight <= 0:
            raise EmotionError(f"mixture weight of {name!r} must be > 0, got {weight}")
        weights[str(name)] = weights.get(str(name), 0.0) + weight
    total = sum(weights.values())
    if abs(total - 1.0) < 1e-9:
        total = 1.0  # already normalised: dividing again would move the last bit (JSON round trips)
    ordered = sorted(weights.items(), key=lambda item: (-item[1], item[0]))
    return tuple((name, weight / total) for name, weight in ordered)


def _parse(source: str, taxonomy: Taxonomy) -> Emotion:
    if "=" in source:
        return _parse_vad(source)
    group = re.fullmatch(rf"\((.+)\)\s*(?::\s*({_NUMBER}))?", source)
    if group:
        intensity = 1.0 if group.group(2) is None else float(group.group(2))
        return _parse_mixture(group.group(1), taxonomy, intensity)
    if "+" in source:
        return _parse_mixture(source, taxonomy, 1.0)
    with_intensity = re.fullmatch(r"(.+?)\s*:\s*(\S+)", source)
    if with_intensity:
        name, value = with_intensity.groups()
        if not re.fullmatch(_NUMBER, value):
            raise EmotionError(f"intensity after ':' must be a number in [0, 1], got {value!r}")
        return Emotion.from_category(name, float(value), taxonomy)
    return _parse_description(source, taxonomy)


def _parse_vad(source: str) -> Emotion:
    values: dict[str, float] = {}
    rest = re.sub(
        rf"\b([a-z]+)\s*=\s*({_NUMBER}|\S+)",
        lambda m: values.__setitem__(m.group(1), m.group(2)) or "",  # type: ignore[func-returns-value]
        source,
    )
    if rest.replace(",", " ").strip():
        raise EmotionError(f"cannot read {rest.strip()!r} in a VAD emotion")
    named = {}
    for key, raw in values.items():
        if key not in _VAD_KEYS:
            raise EmotionError(f"unknown VAD key {key!r}; use v=, a=, d= (and optionally i=)")
        if not re.fullmatch(_NUMBER, raw) and raw not in ("nan", "inf", "-inf"):
            raise EmotionError(f"{_VAD_KEYS[key]} must be a number, got {raw!r}")
        named[_VAD_KEYS[key]] = float(raw)
    if "valence" not in named or "arousal" not in named:
        raise EmotionError("a VAD emotion needs at least v= and a=")
    return Emotion(
        named["valence"], named["arousal"], named.get("dominance", 0.0), named.get("intensity", 1.0)
    )


def _parse_mixture(source: str, taxonomy: Taxonomy, intensity: float) -> Emotion:
    weights: dict[str, float] = {}
    for term in source.split("+"):
        match = re.fullmatch(rf"\s*(?:({_NUMBER})(%?)\s*\*?\s*)?([a-z][a-z '-]*?)\s*", term)
        if not match:
            raise EmotionError(f"cannot read mixture term {term.strip()!r}; write e.g. '0.6 happy'")
        number, percent, name = match.groups()
        weight = 1.0 if number is None else float(number) / (100.0 if percent else 1.0)
        canonical = taxonomy.resolve(name)
        weights[canonical] = weights.get(canonical, 0.0) + weight
    return Emotion.from_mixture(weights, intensity=intensity, taxonomy=taxonomy)


def _parse_description(source: str, taxonomy: Taxonomy) -> Emotion:
    if source in taxonomy:
        return Emotion.from_category(source, 1.0, taxonomy)
    # Longest degree phrase first ("a little bit" before "a little").
    for degree in sorted(DEGREE_WORDS, key=len, reverse=True):
        if source.startswith(degree + " "):
            name = source[len(degree) + 1 :].strip()
            if name in taxonomy:
                return Emotion.from_category(name, DEGREE_WORDS[degree], taxonomy)
            break
    else:
        name = source
    taxonomy.resolve(name)  # raises with close matches
    raise EmotionError(f"cannot read {source!r}")  # pragma: no cover (resolve raised)
