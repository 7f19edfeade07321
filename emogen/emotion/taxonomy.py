"""Emotion categories as regions of valence-arousal-dominance (VAD) space.

Each category has a centroid and a per-axis spread (data/taxonomy.json, every value cited there).
Category -> VAD is the centroid; VAD -> category is a posterior over categories, so a point between
two categories reads as a distribution over both (compound emotions as distributions in VAD space,
as in dimensional accounts of emotion: Russell & Mehrabian 1977; Mehrabian 1996).

The posterior is a softmax over standardised distances, p(c | x) ~ exp(-z_c^2 / (2 T)) with
z_c = |(x - centroid_c) / spread_c|: a diagonal Gaussian kernel per category with a uniform prior.
We leave out the Gaussian's normaliser (sum log spread_c): the spreads are rater disagreement on
the category word (Warriner et al. 2013), and with the normaliser a category rated consistently
would win points lying on another category's own centroid. The spreads are the SD of single
ratings, far wider than the uncertainty of where a category lies, so the default temperature
T = 0.1 narrows each kernel to about a third of its spread: each category then tops the
posterior at its own centroid with a clear margin, and neutral (spread 0.15) owns the origin.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

from ..errors import EmotionError, close_matches

NEUTRAL = "neutral"
# The basic families every modality renders (data/taxonomy.json, "family_note"): Ekman's six and
# calm, which stands for Parrott's (2001) love family (Juslin & Laukka's 2003 "tenderness").
FAMILIES = ("happy", "sad", "angry", "afraid", "disgusted", "surprised", "calm")
DEFAULT_TEMPERATURE = 0.1


@dataclass(frozen=True)
class Category:
    """One emotion category: VAD centroid and spread, in [-1, 1] per axis."""

    name: str
    vad: tuple[float, float, float]
    spread: tuple[float, float, float]
    source: str
    lemma: str
    groups: tuple[str, ...]
    synonyms: tuple[str, ...]
    family: str | None = None


class Taxonomy:
    """The table of emotion categories, with name resolution and VAD <-> category mapping."""

    def __init__(self, categories: Sequence[Category], sources: dict[str, str] | None = None):
        if not categories:
            raise EmotionError("a taxonomy needs at least one category")
        self.categories: dict[str, Category] = {c.name: c for c in categories}
        if NEUTRAL not in self.categories:
            raise EmotionError(f"a taxonomy must contain the {NEUTRAL!r} category")
        self.sources = dict(sources or {})
        self._aliases: dict[str, str] = {}
        for category in categories:
            for alias in (category.name, *category.synonyms):
                owner = self._aliases.setdefault(alias.lower(), category.name)
                if owner != category.name:
                    raise EmotionError(f"{alias!r} names both {owner!r} and {category.name!r}")
        for category in categories:
            if category.family is not None and category.family not in self.categories:
                raise EmotionError(f"{category.name!r} has unknown family {category.family!r}")
        self.names: tuple[str, ...] = tuple(self.categories)
        self._centroids = np.array([c.vad for c in categories], dtype=np.float64)
        self._spreads = np.array([c.spread for c in categories], dtype=np.float64)

    @classmethod
    def from_json(cls, data: dict) -> Taxonomy:
        categories = [
            Category(
                name=name,
                vad=(float(entry["valence"]), float(entry["arousal"]), float(entry["dominance"])),
                spread=tuple(float(s) for s in entry["spread"]),
                source=entry["source"],
                lemma=entry.get("lemma", name),
                groups=tuple(entry.get("groups", ())),
                synonyms=tuple(s.lower() for s in entry.get("synonyms", ())),
                family=entry.get("family"),
            )
            for name, entry in data["categories"].items()
        ]
        return cls(categories, data.get("sources"))

    def __contains__(self, name: str) -> bool:
        return name.lower() in self._aliases

    def __len__(self) -> int:
        return len(self.categories)

    @property
    def aliases(self) -> dict[str, str]:
        """Every accepted word (names and synonyms) -> canonical category name."""
        return dict(self._aliases)

    def resolve(self, name: str) -> str:
        """Canonical category name for a name or synonym (`mad` -> `angry`).

        Raises:
            EmotionError: unknown name; the message lists the closest known names.
        """
        key = " ".join(str(name).lower().split())
        if key in self._aliases:
            return self._aliases[key]
        hints = close_matches(key, self._aliases)
        hint = f" Did you mean {', '.join(repr(h) for h in hints)}?" if hints else ""
        raise EmotionError(
            f"unknown emotion category {name!r}.{hint} Known categories: {', '.join(self.names)}"
            " (synonyms such as 'mad' or 'scared' are accepted too)."
        )

    def group(self, group: str) -> tuple[str, ...]:
        """Names of the categories in a group ("ekman", "basic7", "empathetic_dialogues")."""
        names = tuple(c.name for c in self.categories.values() if group in c.groups)
        if not names:
            known = sorted({g for c in self.categories.values() for g in c.groups})
            raise EmotionError(f"unknown category group {group!r}; known groups: {known}")
        return names

    def family(self, name: str) -> dict[str, float]:
        """The basic families (`FAMILIES`) a category is expressed as, weights summing to <= 1.

        A category under Parrott's (2001) tree has one family (`anxious` -> `{"afraid": 1.0}`).
        One outside it gets the posterior over neutral and the families at its centroid, less
        neutral's share, so a category near the origin is expressed weakly. Neutral has none.
        Modalities (prosody, facial action units) define profiles for the families and reach
        every category through this.
        """
        category = self.categories[self.resolve(name)]
        if category.name == NEUTRAL:
            return {}
        if category.family is not None:
            return {category.family: 1.0}
        posterior = self.posterior(category.vad, names=[NEUTRAL, *FAMILIES])
        return {name: p for name, p in posterior.items() if name != NEUTRAL}

    def vad(self, name: str) -> tuple[float, float, float]:
        """VAD centroid of a category (or synonym)."""
        return self.categories[self.resolve(name)].vad

    def log_likelihoods(self, vad: np.ndarray, names: Iterable[str] | None = None) -> np.ndarray:
        """Log kernel -z^2/2 of VAD points under each category (see the module docstring).

        Args:
            vad: `(3,)` or `(N, 3)` points.
            names: restrict to these categories (default: all).
        Returns:
            `(len(names),)` or `(N, len(names))` log-likelihoods.
        """
        index = self._index(names)
        points = np.asarray(vad, dtype=np.float64)
        z = (points[..., None, :] - self._centroids[index]) / self._spreads[index]
        return -0.5 * (z**2).sum(-1)

    def posterior(
        self,
        vad: Sequence[float],
        names: Iterable[str] | None = None,
        temperature: float = DEFAULT_TEMPERATURE,
    ) -> dict[str, float]:
        """Posterior probability of each category at one VAD point, most probable first."""
        if not temperature > 0:
            raise EmotionError(f"temperature must be > 0, got {temperature}")
        names = self._names(names)
        logits = self.log_likelihoods(np.asarray(vad, dtype=np.float64), names) / temperature
        probs = np.exp(logits - logits.max())
        probs /= probs.sum()
        order = np.argsort(-probs, kind="stable")
        return {names[i]: float(probs[i]) for i in order}

    def nearest(self, vad: Sequence[float], names: Iterable[str] | None = None) -> str:
        """The most probable category at a VAD point."""
        names = self._names(names)
        return names[int(np.argmax(self.log_likelihoods(np.asarray(vad), names)))]

    def _names(self, names: Iterable[str] | None) -> list[str]:
        return list(self.names) if names is None else [self.resolve(n) for n in names]

    def _index(self, names: Iterable[str] | None) -> list[int]:
        return [self.names.index(n) for n in self._names(names)]


@lru_cache(maxsize=1)
def load_taxonomy() -> Taxonomy:
    """The shipped taxonomy (emogen/emotion/data/taxonomy.json), loaded once."""
    text = resources.files(__package__).joinpath("data/taxonomy.json").read_text(encoding="utf-8")
    return Taxonomy.from_json(json.loads(text))
