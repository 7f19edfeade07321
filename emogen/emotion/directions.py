"""`DirectionBank`: per-category emotion directions in any feature space (EmoReg).

EmoReg (Singh et al. 2024, "EmoReg: Directional latent vector modeling for emotional intensity
regularization in diffusion-based voice conversion") makes intensity continuous by moving a
neutral representation along a fitted direction, mean(emotion) - mean(neutral), scaled by the
intensity. The same recipe works in every space emogen uses (prosody features, a speaker or style
embedding, an LM's hidden states, face expression coefficients), so one bank class serves them all
and intensities stay comparable across modalities.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.numpy import save_file

from ..errors import EmogenError, EmotionError
from .emotion import Emotion, EmotionLike, as_emotion
from .taxonomy import NEUTRAL, load_taxonomy

__all__ = ["DirectionBank"]

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "directions.safetensors"
_FORMAT_VERSION = 1
_METADATA_KEY = "emogen_direction_bank"

Array = np.ndarray | torch.Tensor


class DirectionBank:
    """Unit directions, with their magnitudes, of emotion categories in a feature space of size F.

    The model (EmoReg, Singh et al. 2024): a feature vector of an example with emotion mixture
    weights w_c and intensity s is

        x = mu_0 + s * sum_c w_c * d_c + noise

    where mu_0 is the mean of the neutral examples and d_c the full-intensity (s = 1) step of
    category c. `fit` estimates d_c by least squares over the emotional examples
    (design A_ic = s_i * w_ic, targets x_i - mu_0). Dividing the offsets by the intensity this way
    makes an example at intensity 0.5 count as half a step along d_c, so examples of any intensity
    estimate the same direction. With one category per example at one intensity s, the estimate
    is exactly d_c = (mean(x | c) - mu_0) / s, EmoReg's mean(emotion) - mean(neutral) at s = 1;
    with mixed intensities it weights each example by s_i^2 (low-intensity examples carry little
    signal about the direction); with mixtures it separates the categories instead of crediting
    each with the whole offset. The bank stores d_c as unit_c = d_c / |d_c| and magnitude_c =
    |d_c|, and mu_0.

    `apply(x, emotion)` returns x + s * sum_c w_c * magnitude_c * unit_c: intensity 0 is identity,
    intensity 1 moves a neutral example to its category's mean, and the step is linear in s and in
    the mixture weights. Neutral has no direction (it is the origin); a mixture's neutral share
    just adds nothing. A raw-VAD emotion's weights are the taxonomy posterior at its TARGET point
    over the bank's categories and neutral (intensity is applied once, as s).

    `project(x)` reads intensities back: ((x - mu_0) . unit_c) / magnitude_c, which is s for
    x = mu_0 + s * d_c. Directions of different categories are not orthogonal in general, so
    the other categories' coordinates of such an x are not 0.

    Attributes:
        categories: the fitted category names (neutral excluded), in taxonomy order.
        unit_directions: `(C, F)` float64 unit vectors.
        magnitudes: `(C,)` float64 |d_c|.
        neutral_mean: `(F,)` float64 mu_0.
        feature_names: optional names of the F features (for an interpretable space such as
            prosody: "f0_mean", "energy", ...).

    Example:
        >>> bank = DirectionBank.fit(features, ["neutral", "happy", "angry:0.5", ...])
        >>> louder = bank.apply(neutral_features, "angry", intensity=0.7)
        >>> bank.project(louder)["angry"]  # ~0.7
    """

    def __init__(
        self,
        categories: Sequence[str],
        unit_directions: Array,
        magnitudes: Array,
        neutral_mean: Array,
        feature_names: Sequence[str] | None = None,
    ):
        taxonomy = load_taxonomy()
        self.categories: tuple[str, ...] = tuple(taxonomy.resolve(name) for name in categories)
        if not self.categories:
            raise EmogenError("a DirectionBank needs at least one category")
        if NEUTRAL in self.categories or len(set(self.categories)) != len(self.categories):
            raise EmogenError(
                f"categories must be distinct and exclude {NEUTRAL!r} (it is the origin), "
                f"got {list(self.categories)}"
            )
        self.unit_directions = _as_float64(unit_directions, "unit_directions")
        self.magnitudes = _as_float64(magnitudes, "magnitudes")
        self.neutral_mean = _as_float64(neutral_mean, "neutral_mean")
        if self.neutral_mean.ndim != 1:
            raise EmogenError(f"neutral_mean must be 1-D (F,), got shape {self.neutral_mean.shape}")
        num_categories, feature_dim = len(self.categories), self.neutral_mean.shape[0]
        for name, array, shape in (
            ("neutral_mean", self.neutral_mean, (feature_dim,)),
            ("unit_directions", self.unit_directions, (num_categories, feature_dim)),
            ("magnitudes", self.magnitudes, (num_categories,)),
        ):
            if array.shape != shape:
                raise EmogenError(
                    f"{name} must have shape {shape} for {num_categories} categories and "
                    f"{feature_dim} features, got {array.shape}"
                )
        if not np.allclose(np.linalg.norm(self.unit_directions, axis=1), 1.0, atol=1e-6):
            raise EmogenError("unit_directions must have unit-norm rows")
        if not (self.magnitudes > 0).all():
            raise EmogenError(f"magnitudes must be > 0, got {self.magnitudes.tolist()}")
        self.feature_names = _check_feature_names(feature_names, feature_dim)
        self._index = {name: i for i, name in enumerate(self.categories)}

    # ----- fitting ------------------------------------------------------------------------------
    @classmethod
    def fit(
        cls,
        features: Array,
        emotions: Sequence[EmotionLike],
        neutral_features: Array | None = None,
        feature_names: Sequence[str] | None = None,
    ) -> DirectionBank:
        """Fit one direction per category from labelled examples (see the class docstring).

        Args:
            features: `(N, F)` numpy array or torch tensor, one row per example.
            emotions: N labelled emotions (Emotion, string form or dict), e.g. "happy",
                "angry:0.5", "0.7 sad + 0.3 fearful", "neutral". Neutral examples (category
                neutral, or intensity 0) give mu_0 unless `neutral_features` is given.
            neutral_features: optional `(M, F)` neutral examples; when given, mu_0 is their mean
                and neutral rows of `features` are not used.
            feature_names: optional F names of the features.

        Raises:
            EmogenError: shapes that do not match, non-finite features, no neutral examples,
                no emotional examples, a raw-VAD (unlabelled) emotional example, or categories
                that only occur together in the same proportions (not separable).
        """
        matrix = _as_float64(features, "features")
        if matrix.ndim != 2 or matrix.shape[0] == 0:
            raise EmogenError(
                f"features must have shape (N, F) with N >= 1, got {tuple(matrix.shape)}"
            )
        if isinstance(emotions, (Emotion, str, Mapping)):
            raise EmogenError("emotions must be a sequence with one emotion per row of features")
        emotions = [as_emotion(e) for e in emotions]
        if len(emotions) != matrix.shape[0]:
            raise EmogenError(
                f"got {matrix.shape[0]} feature rows but {len(emotions)} emotions; "
                "give one emotion per row"
            )
        taxonomy = load_taxonomy()
        neutral_rows, emotional_rows, mixtures = [], [], []
        for row, emotion in enumerate(emotions):
            mixture = {taxonomy.resolve(name): w for name, w in emotion.mixture}
            mixture.pop(NEUTRAL, None)
            if emotion.intensity == 0 or (emotion.mixture and not mixture):
                neutral_rows.append(row)
            elif not emotion.mixture:
                raise EmogenError(
                    f"emotion {row} ({emotion!r}) is raw VAD with no category; fit() needs "
                    "labelled emotions such as 'happy', 'angry:0.5' or '0.6 sad + 0.4 fearful'"
                )
            else:
                emotional_rows.append(row)
                mixtures.append((emotion.intensity, mixture))

        if neutral_features is not None:
            neutral = _as_float64(neutral_features, "neutral_features")
            if neutral.ndim == 1:
                neutral = neutral[None]
            if neutral.ndim != 2 or neutral.shape[1] != matrix.shape[1] or neutral.shape[0] == 0:
                raise EmogenError(
                    f"neutral_features must have shape (M, {matrix.shape[1]}) with M >= 1 to "
                    f"match features, got {tuple(neutral.shape)}"
                )
        elif neutral_rows:
            neutral = matrix[neutral_rows]
        else:
            raise EmogenError(
                "no neutral examples: label some rows 'neutral' (or intensity 0), or pass "
                "neutral_features; the directions are measured from the neutral mean"
            )
        if not emotional_rows:
            raise EmogenError(
                "no emotional examples: every row is neutral, so there is no direction"
            )
        neutral_mean = neutral.mean(axis=0)

        seen = {name for _, mixture in mixtures for name in mixture}
        categories = [name for name in taxonomy.names if name in seen]
        index = {name: i for i, name in enumerate(categories)}
        design = np.zeros((len(emotional_rows), len(categories)))
        for row, (intensity, mixture) in enumerate(mixtures):
            for name, weight in mixture.items():
                design[row, index[name]] = intensity * weight
        offsets = matrix[emotional_rows] - neutral_mean
        steps, _, rank, _ = np.linalg.lstsq(design, offsets, rcond=None)
        if rank < len(categories):
            raise EmogenError(
                f"cannot separate the directions of {categories}: some categories only occur "
                "together in fixed proportions; add examples of each category on its own"
            )
        magnitudes = np.linalg.norm(steps, axis=1)
        if not (magnitudes > 0).all():
            flat = [name for name, m in zip(categories, magnitudes, strict=True) if not m > 0]
            raise EmogenError(f"categories {flat} have the same mean as neutral: no direction")
        return cls(categories, steps / magnitudes[:, None], magnitudes, neutral_mean, feature_names)

    # ----- use ----------------------------------------------------------------------------------
    @property
    def feature_dim(self) -> int:
        return self.neutral_mean.shape[0]

    def __contains__(self, name: str) -> bool:
        """Whether `name` (or a synonym) has a fitted direction; neutral never does, and is always
        accepted by `apply` (it adds nothing)."""
        taxonomy = load_taxonomy()
        return name in taxonomy and taxonomy.resolve(name) in self._index

    def __len__(self) -> int:
        return len(self.categories)

    def __repr__(self) -> str:
        return f"DirectionBank(categories={list(self.categories)}, feature_dim={self.feature_dim})"

    def direction(self, name: str) -> np.ndarray:
        """The full-intensity step `magnitude_c * unit_c` of one category, `(F,)` (zeros for
        neutral)."""
        name = self._resolve([name])[0]
        if name == NEUTRAL:
            return np.zeros(self.feature_dim)
        i = self._index[name]
        return self.magnitudes[i] * self.unit_directions[i]

    def weights(self, emotion: EmotionLike, unfitted: str = "raise") -> dict[str, float]:
        """Mixture weights of `emotion` over the bank's categories (neutral's share dropped).

        Args:
            emotion: any emotion.
            unfitted: what a mixture category with no fitted direction does: "raise";
                "ignore" (it adds nothing, like neutral: for a bank fitted only on the categories
                that move its features, such as a tempo bank when an emotion keeps the rate); or
                "family": every category counts through its basic families
                (`Taxonomy.family`: "lonely" as sad), for a bank of family profiles such as the
                speech renderer's prosody or the face's action units.

        Raises:
            EmotionError: a mixture category with no fitted direction (with "raise").
        """
        if unfitted not in ("raise", "ignore", "family"):
            raise EmogenError(f"unfitted must be 'raise', 'ignore' or 'family', got {unfitted!r}")
        emotion = as_emotion(emotion)
        if emotion.mixture and unfitted == "family":
            taxonomy = load_taxonomy()
            weights = {}
            for name, weight in emotion.mixture:
                for family, share in taxonomy.family(name).items():
                    if family in self._index:
                        weights[family] = weights.get(family, 0.0) + weight * share
            return weights
        if emotion.mixture:
            names = [load_taxonomy().resolve(name) for name, _ in emotion.mixture]
            if unfitted == "raise":
                self._resolve(names)
            else:
                names = [name if name in self._index else NEUTRAL for name in names]
            weights: dict[str, float] = {}
            for name, (_, weight) in zip(names, emotion.mixture, strict=True):
                if name != NEUTRAL:
                    weights[name] = weights.get(name, 0.0) + weight
            return weights
        posterior = load_taxonomy().posterior(emotion.target_vad, names=[NEUTRAL, *self.categories])
        posterior.pop(NEUTRAL)
        return posterior

    def offset(
        self, emotion: EmotionLike, intensity: float | None = None, unfitted: str = "raise"
    ) -> np.ndarray:
        """The step `s * sum_c w_c * magnitude_c * unit_c` that `apply` adds, `(F,)` float64.

        `intensity`, in [0, 1], replaces the emotion's own intensity s; `unfitted` is as in
        `weights`.
        """
        emotion = as_emotion(emotion, intensity)
        step = np.zeros(self.feature_dim)
        for name, weight in self.weights(emotion, unfitted).items():
            i = self._index[name]
            step += weight * self.magnitudes[i] * self.unit_directions[i]
        return emotion.intensity * step

    def apply(self, features: Array, emotion: EmotionLike, intensity: float | None = None) -> Array:
        """Move features along the emotion's directions: `features + offset(emotion, intensity)`.

        Args:
            features: `(..., F)` floating numpy array or torch tensor.
            emotion: Emotion, string form or dict.
            intensity: optional, in [0, 1]; replaces the emotion's intensity.

        Returns:
            `(..., F)`, the same type, dtype (and device) as `features`.
        """
        self._check_features(features)
        step = self.offset(emotion, intensity)
        if isinstance(features, torch.Tensor):
            return features + torch.as_tensor(step, dtype=features.dtype, device=features.device)
        return features + step.astype(features.dtype)

    def project(self, features: Array) -> dict[str, float | Array]:
        """Coordinate of features along each direction, in units of its magnitude.

        `((features - mu_0) . unit_c) / magnitude_c`: 0 at the neutral mean, 1 at a full-intensity
        example of c (an intensity estimate, for evaluation).

        Args:
            features: `(F,)` or `(..., F)` numpy array or torch tensor.

        Returns:
            category -> a float for `(F,)` input, else an array (or tensor) of shape `(...)`.
        """
        self._check_features(features)
        if isinstance(features, torch.Tensor):
            centred = features - torch.as_tensor(
                self.neutral_mean, dtype=features.dtype, device=features.device
            )
            scaled = self.unit_directions / self.magnitudes[:, None]
            coords = centred @ torch.as_tensor(
                scaled.T, dtype=features.dtype, device=centred.device
            )
        else:
            centred = np.asarray(features, dtype=np.float64) - self.neutral_mean
            coords = centred @ (self.unit_directions / self.magnitudes[:, None]).T
        if coords.ndim == 1:
            return {name: float(coords[i]) for i, name in enumerate(self.categories)}
        return {name: coords[..., i] for i, name in enumerate(self.categories)}

    def _resolve(self, names: Sequence[str]) -> list[str]:
        taxonomy = load_taxonomy()
        resolved = [taxonomy.resolve(name) for name in names]
        missing = [n for n in resolved if n != NEUTRAL and n not in self._index]
        if missing:
            raise EmotionError(
                f"this DirectionBank has no direction for {', '.join(map(repr, missing))}; "
                f"fitted categories: {', '.join(self.categories)} (and neutral, which adds nothing)"
            )
        return resolved

    def _check_features(self, features: Any) -> None:
        if not isinstance(features, (np.ndarray, torch.Tensor)):
            raise EmogenError(
                f"features must be a numpy array or a torch tensor, got {type(features).__name__}"
            )
        floating = (
            features.is_floating_point()
            if isinstance(features, torch.Tensor)
            else np.issubdtype(features.dtype, np.floating)
        )
        if not floating:
            raise EmogenError(f"features must be floating point, got dtype {features.dtype}")
        if features.ndim == 0 or features.shape[-1] != self.feature_dim:
            raise EmogenError(
                f"features must have shape (..., {self.feature_dim}) for this bank, "
                f"got {tuple(features.shape)}"
            )

    # ----- saving -------------------------------------------------------------------------------
    def _config(self) -> dict[str, Any]:
        return {
            "_class_name": type(self).__name__,
            "format_version": _FORMAT_VERSION,
            "categories": list(self.categories),
            "feature_dim": self.feature_dim,
            "feature_names": None if self.feature_names is None else list(self.feature_names),
        }

    def _tensors(self) -> dict[str, np.ndarray]:
        return {
            "unit_directions": np.ascontiguousarray(self.unit_directions),
            "magnitudes": np.ascontiguousarray(self.magnitudes),
            "neutral_mean": np.ascontiguousarray(self.neutral_mean),
        }

    @classmethod
    def _from_parts(cls, config: Mapping[str, Any], tensors: Mapping[str, np.ndarray], source):
        if config.get("_class_name") != cls.__name__:
            raise EmogenError(f"{source} does not hold a {cls.__name__}")
        if config.get("format_version", 0) > _FORMAT_VERSION:
            raise EmogenError(
                f"{source} has format version {config['format_version']}; this emogen reads "
                f"up to {_FORMAT_VERSION}"
            )
        missing = sorted({"unit_directions", "magnitudes", "neutral_mean"} - set(tensors))
        if missing:
            raise EmogenError(f"{source} lacks the tensors {missing}")
        bank = cls(
            config["categories"],
            tensors["unit_directions"],
            tensors["magnitudes"],
            tensors["neutral_mean"],
            config.get("feature_names"),
        )
        if bank.feature_dim != config.get("feature_dim", bank.feature_dim):
            raise EmogenError(
                f"{source}: config says feature_dim {config['feature_dim']}, "
                f"tensors have {bank.feature_dim}"
            )
        return bank

    def save_pretrained(self, directory: str | Path) -> None:
        """Write `config.json` and `directions.safetensors` into `directory` (created if needed)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / CONFIG_NAME).write_text(
            json.dumps(self._config(), indent=2) + "\n", encoding="utf-8"
        )
        save_file(self._tensors(), directory / WEIGHTS_NAME)

    @classmethod
    def from_pretrained(
        cls, directory: str | Path, subfolder: str | None = None, **kwargs: Any
    ) -> DirectionBank:
        """Load a bank written by `save_pretrained` (a pipeline component: diffusers' loading
        keywords are accepted and ignored)."""
        directory = Path(directory) / (subfolder or "")
        for name in (CONFIG_NAME, WEIGHTS_NAME):
            if not (directory / name).is_file():
                raise FileNotFoundError(f"{directory} has no {name}; is it a saved DirectionBank?")
        config = json.loads((directory / CONFIG_NAME).read_text(encoding="utf-8"))
        with safe_open(directory / WEIGHTS_NAME, framework="np") as file:
            tensors = {key: file.get_tensor(key) for key in file.keys()}  # noqa: SIM118
        return cls._from_parts(config, tensors, directory)

    def save(self, path: str | Path) -> None:
        """Write one `.safetensors` file; the config goes in its header metadata."""
        path = Path(path)
        if path.suffix != ".safetensors":
            raise EmogenError(f"save() writes a .safetensors file, got {path.name!r}")
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file(self._tensors(), path, metadata={_METADATA_KEY: json.dumps(self._config())})

    @classmethod
    def load(cls, path: str | Path) -> DirectionBank:
        """Load a bank written by `save` (a single .safetensors file)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no DirectionBank file at {path}")
        with safe_open(path, framework="np") as file:
            metadata = file.metadata() or {}
            tensors = {key: file.get_tensor(key) for key in file.keys()}  # noqa: SIM118
        if _METADATA_KEY not in metadata:
            raise EmogenError(f"{path} has no {_METADATA_KEY!r} metadata; not a DirectionBank file")
        return cls._from_parts(json.loads(metadata[_METADATA_KEY]), tensors, path)


def _as_float64(values: Any, name: str) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().double().numpy()
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise EmogenError(f"{name} must be a numeric array, got {type(values).__name__}") from None
    if not np.isfinite(array).all():
        raise EmogenError(f"{name} must be finite (no NaN or inf)")
    return array


def _check_feature_names(names: Sequence[str] | None, feature_dim: int) -> tuple[str, ...] | None:
    if names is None:
        return None
    if isinstance(names, str):
        raise EmogenError("feature_names must be a list of strings, not one string")
    names = tuple(str(name) for name in names)
    if len(names) != feature_dim or len(set(names)) != len(names):
        raise EmogenError(
            f"feature_names must be {feature_dim} distinct names (one per feature), "
            f"got {len(names)}" + ("" if len(set(names)) == len(names) else " with repeats")
        )
    return names
