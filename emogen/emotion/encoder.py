"""`EmotionEncoder`: a batch of emotions -> conditioning vectors for every learned emogen model.

One emotion is three attributes, each encoded into one token of `hidden_size` (audiocraft's
"attributes -> conditioner -> fuser", Copet et al. 2023):

    category   mixture weights (B, C) @ category table (C + 1, H)   -> (B, H)
               (a soft one-hot, so a mixture's token is the weighted sum of its parts' tokens;
               the extra last row is the learned null category, as in diffusers' LabelEmbedding)
    vad        effective VAD (B, 3) -> Gaussian Fourier features -> MLP -> (B, H)
    intensity  intensity (B,)       -> Gaussian Fourier features -> MLP -> (B, H)

    tokens = stack(category, vad, intensity)   (B, 3, H)   for cross-attention
    pooled = MLP(concat(tokens))               (B, H)      for adaLN / FiLM / adding to a timestep

Each attribute has a learned null embedding. In training, attributes are dropped independently
(`attribute_dropout_prob`) and the whole condition together (`condition_dropout_prob`), so that a
model learns p(x), p(x | some attributes) and p(x | emotion); at inference `drop_condition` gives
the unconditional branch of classifier-free guidance (Ho & Salimans 2022).

The numbers are encoded like Stable Audio's timing conditioning (Evans et al. 2024): learned random
Fourier features (Tancik et al. 2020) with the raw value appended, then a linear map.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from diffusers.utils import BaseOutput
from torch import nn

from ..errors import EmogenError, EmotionError, check_finite_range
from .emotion import Emotion, EmotionLike, as_emotion
from .taxonomy import load_taxonomy

__all__ = ["EmotionEncoder", "EmotionEncoderOutput", "EmotionInputs", "GaussianFourierFeatures"]


@dataclass
class EmotionInputs:
    """The tensors `EmotionEncoder.forward` takes, as built by `EmotionEncoder.prepare`.

    Attributes:
        category_weights: `(B, C)` mixture weights over the encoder's categories (rows sum to 1).
        vad: `(B, 3)` effective valence, arousal, dominance (intensity * target), in [-1, 1].
        intensity: `(B,)` intensity in [0, 1].
    """

    category_weights: torch.Tensor
    vad: torch.Tensor
    intensity: torch.Tensor

    def to(
        self, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> EmotionInputs:
        return EmotionInputs(
            self.category_weights.to(device=device, dtype=dtype),
            self.vad.to(device=device, dtype=dtype),
            self.intensity.to(device=device, dtype=dtype),
        )

    def __len__(self) -> int:
        return self.intensity.shape[0]


@dataclass
class EmotionEncoderOutput(BaseOutput):
    """Output of `EmotionEncoder`.

    Args:
        pooled (`torch.Tensor` of shape `(batch_size, hidden_size)`):
            One vector per emotion (for adaLN, FiLM, or adding to a timestep embedding).
        tokens (`torch.Tensor` of shape `(batch_size, 3, hidden_size)`):
            The category, VAD and intensity tokens, in that order (for cross-attention).
    """

    pooled: torch.Tensor
    tokens: torch.Tensor


class GaussianFourierFeatures(nn.Module):
    """Learned random Fourier features of a vector, with the raw values appended.

    gamma(x) = [x, sin(2 pi x W), cos(2 pi x W)], W ~ N(0, std^2) of shape (in_features,
    num_features) (Tancik et al. 2020). W is trained, as in Stable Audio's number conditioner
    (Evans et al. 2024); appending x keeps the exact value available to the next layer.

    Shapes: `(B, in_features)` -> `(B, in_features + 2 * num_features)`.
    """

    def __init__(self, in_features: int, num_features: int, std: float = 1.0):
        super().__init__()
        self.frequencies = nn.Parameter(torch.randn(in_features, num_features) * std)
        self.out_features = in_features + 2 * num_features

    def forward(self, values: torch.Tensor) -> torch.Tensor:
        values = values.to(self.frequencies.dtype)
        angles = 2 * math.pi * values @ self.frequencies
        return torch.cat([values, angles.sin(), angles.cos()], dim=-1)


def _mlp(in_features: int, hidden_size: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(in_features, hidden_size), nn.SiLU(), nn.Linear(hidden_size, hidden_size)
    )


class EmotionEncoder(ModelMixin, ConfigMixin):
    """Encodes a batch of emotions into a pooled vector and three attribute tokens.

    Args:
        categories: category names of the embedding table, in order (default: every category of
            the shipped taxonomy). Synonyms are resolved; the saved config holds the canonical
            names, so a saved encoder keeps its table even if the taxonomy grows.
        hidden_size: size H of every token and of the pooled vector.
        num_fourier_features: number of random frequencies K for VAD and for intensity.
        fourier_std: standard deviation of the initial frequencies (Tancik et al. 2020: the
            scale sets how fine a detail of VAD the features can resolve).
        condition_dropout_prob: probability, in training, of replacing the whole emotion by the
            null condition (classifier-free guidance, Ho & Salimans 2022, train with 0.1-0.2).
        attribute_dropout_prob: probability, in training, of replacing each attribute
            independently by its null embedding (per-attribute dropout, as audiocraft's
            conditioners), so that e.g. VAD alone or category alone can guide.

    Example:
        >>> encoder = EmotionEncoder(hidden_size=32).eval()
        >>> out = encoder.encode(["happy", "angry:0.5", "0.6 sad + 0.4 fearful"])
        >>> out.pooled.shape, out.tokens.shape
        (torch.Size([3, 32]), torch.Size([3, 3, 32]))
    """

    @register_to_config
    def __init__(
        self,
        categories: Sequence[str] | None = None,
        hidden_size: int = 256,
        num_fourier_features: int = 32,
        fourier_std: float = 1.0,
        condition_dropout_prob: float = 0.1,
        attribute_dropout_prob: float = 0.1,
    ):
        super().__init__()
        names = _check_categories(categories)
        for name, value in (
            ("hidden_size", hidden_size),
            ("num_fourier_features", num_fourier_features),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise EmotionError(f"{name} must be an integer >= 1, got {value!r}")
        check_finite_range("fourier_std", fourier_std, 0.0, math.inf, EmotionError)
        if fourier_std <= 0:
            raise EmotionError(f"fourier_std must be > 0, got {fourier_std}")
        for name, value in (
            ("condition_dropout_prob", condition_dropout_prob),
            ("attribute_dropout_prob", attribute_dropout_prob),
        ):
            check_finite_range(name, value, 0.0, 1.0, EmotionError)
        # Pin the resolved names in the config (the default None would follow the taxonomy), also
        # for `from_config(encoder.config)`, which skips the keys listed as defaults.
        defaults = [
            key for key in self.config.get("_use_default_values", []) if key != "categories"
        ]
        self.register_to_config(categories=list(names), _use_default_values=defaults)
        self.categories: tuple[str, ...] = names
        self._category_index = {name: i for i, name in enumerate(names)}

        # Category: one row per category plus the null row last (diffusers' LabelEmbedding).
        self.category_embedding = nn.Embedding(len(names) + 1, hidden_size)
        self.vad_fourier_features = GaussianFourierFeatures(3, num_fourier_features, fourier_std)
        self.vad_projection = _mlp(self.vad_fourier_features.out_features, hidden_size)
        self.intensity_fourier_features = GaussianFourierFeatures(
            1, num_fourier_features, fourier_std
        )
        self.intensity_projection = _mlp(self.intensity_fourier_features.out_features, hidden_size)
        self.vad_null_embedding = nn.Parameter(torch.randn(hidden_size))
        self.intensity_null_embedding = nn.Parameter(torch.randn(hidden_size))
        self.pooled_projection = _mlp(3 * hidden_size, hidden_size)

    @property
    def null_category_index(self) -> int:
        """Row of the null category in `category_embedding` (the last one)."""
        return len(self.categories)

    # ----- inputs -------------------------------------------------------------------------------
    def prepare(self, emotions: Sequence[EmotionLike] | EmotionLike) -> EmotionInputs:
        """Turn emotions (Emotion, string form or dict; one or a sequence) into input tensors.

        A labelled emotion's category weights are its mixture. A raw-VAD emotion gets the taxonomy
        posterior at its TARGET point restricted to the encoder's categories: intensity is carried
        by the intensity and VAD inputs, so "v=.. a=.. i=0.2" names the same category as at
        intensity 1 (as "happy:0.2" does).

        Returns:
            `EmotionInputs` of float32 CPU tensors: `(B, C)`, `(B, 3)`, `(B,)`.

        Raises:
            EmotionError: an unreadable emotion, or a mixture category this encoder has no row for.
        """
        if isinstance(emotions, (Emotion, str, Mapping)):
            emotions = [emotions]
        emotions = [as_emotion(e) for e in emotions]
        if not emotions:
            raise EmogenError("prepare() needs at least one emotion, got an empty sequence")
        weights = torch.zeros(len(emotions), len(self.categories))
        for row, emotion in enumerate(emotions):
            for name, weight in self._category_weights(emotion).items():
                weights[row, self._category_index[name]] = weight
        vad = torch.tensor([e.vad for e in emotions], dtype=torch.float32)
        intensity = torch.tensor([e.intensity for e in emotions], dtype=torch.float32)
        return EmotionInputs(weights, vad, intensity)

    def _category_weights(self, emotion: Emotion) -> dict[str, float]:
        taxonomy = load_taxonomy()
        if not emotion.mixture:
            return taxonomy.posterior(emotion.target_vad, names=self.categories)
        weights = {taxonomy.resolve(name): weight for name, weight in emotion.mixture}
        unknown = [name for name in weights if name not in self._category_index]
        if unknown:
            raise EmotionError(
                f"this EmotionEncoder has no category {', '.join(map(repr, unknown))}; "
                f"its categories are: {', '.join(self.categories)}"
            )
        return weights

    # ----- forward ------------------------------------------------------------------------------
    def forward(
        self,
        category_weights: torch.Tensor,
        vad: torch.Tensor,
        intensity: torch.Tensor,
        drop_condition: torch.Tensor | None = None,
        return_dict: bool = True,
    ) -> EmotionEncoderOutput | tuple[torch.Tensor, torch.Tensor]:
        """Encode prepared emotions.

        Args:
            category_weights: `(B, C)` mixture weights over `self.categories`.
            vad: `(B, 3)` effective VAD.
            intensity: `(B,)` intensity.
            drop_condition: optional `(B,)` bool; True rows get the null condition (all three
                attributes null), in train and eval mode alike: the unconditional branch of
                classifier-free guidance (Ho & Salimans 2022).
            return_dict: return an `EmotionEncoderOutput` (default) or a `(pooled, tokens)` tuple.

        Returns:
            `pooled (B, H)` and `tokens (B, 3, H)` (category, VAD, intensity).
        """
        batch_size = self._check_inputs(category_weights, vad, intensity, drop_condition)
        device = self.category_embedding.weight.device
        dtype = self.category_embedding.weight.dtype

        # Which rows get the null embedding, per attribute: (3, B) for category, VAD, intensity.
        drop = torch.zeros(3, batch_size, dtype=torch.bool, device=device)
        if self.training:
            # Per-attribute dropout (audiocraft) and whole-condition dropout for CFG (Ho &
            # Salimans 2022), drawn independently.
            if self.config.attribute_dropout_prob > 0:
                drop |= (
                    torch.rand(3, batch_size, device=device) < self.config.attribute_dropout_prob
                )
            if self.config.condition_dropout_prob > 0:
                drop |= (
                    torch.rand(1, batch_size, device=device) < self.config.condition_dropout_prob
                )
        if drop_condition is not None:
            drop |= drop_condition.to(device=device, dtype=torch.bool)[None]

        # Category: soft one-hot with an extra null column, times the table -> (B, H). Linear in
        # the weights, so a mixture's token is the weighted sum of its categories' tokens.
        weights = category_weights.to(device=device, dtype=dtype)
        weights = torch.cat([weights, weights.new_zeros(batch_size, 1)], dim=-1)
        null_row = torch.zeros_like(weights)
        null_row[:, self.null_category_index] = 1
        weights = torch.where(drop[0, :, None], null_row, weights)
        category_token = weights @ self.category_embedding.weight

        vad_token = self.vad_projection(self.vad_fourier_features(vad.to(device=device)))
        vad_token = torch.where(drop[1, :, None], self.vad_null_embedding, vad_token)

        intensity_features = self.intensity_fourier_features(intensity.to(device=device)[:, None])
        intensity_token = self.intensity_projection(intensity_features)
        intensity_token = torch.where(
            drop[2, :, None], self.intensity_null_embedding, intensity_token
        )

        tokens = torch.stack([category_token, vad_token, intensity_token], dim=1)
        pooled = self.pooled_projection(tokens.flatten(1))
        if not return_dict:
            return pooled, tokens
        return EmotionEncoderOutput(pooled=pooled, tokens=tokens)

    def _check_inputs(self, category_weights, vad, intensity, drop_condition) -> int:
        num_categories = len(self.categories)
        if category_weights.ndim != 2 or category_weights.shape[1] != num_categories:
            raise EmogenError(
                f"category_weights must have shape (batch, {num_categories}) for this encoder's "
                f"{num_categories} categories, got {tuple(category_weights.shape)}"
            )
        batch_size = category_weights.shape[0]
        expected = {"vad": (batch_size, 3), "intensity": (batch_size,)}
        if drop_condition is not None:
            expected["drop_condition"] = (batch_size,)
        given = {"vad": vad, "intensity": intensity, "drop_condition": drop_condition}
        for name, shape in expected.items():
            if tuple(given[name].shape) != shape:
                raise EmogenError(
                    f"{name} must have shape {shape} (batch size {batch_size} from "
                    f"category_weights), got {tuple(given[name].shape)}"
                )
        return batch_size

    # ----- conveniences -------------------------------------------------------------------------
    def encode(
        self,
        emotions: Sequence[EmotionLike] | EmotionLike,
        drop_condition: torch.Tensor | None = None,
    ) -> EmotionEncoderOutput:
        """`prepare` then `forward`, on the encoder's device and dtype."""
        inputs = self.prepare(emotions).to(device=self.device, dtype=self.dtype)
        return self(
            inputs.category_weights, inputs.vad, inputs.intensity, drop_condition=drop_condition
        )

    def null(self, batch_size: int = 1) -> EmotionEncoderOutput:
        """The unconditional output (every attribute null), `(batch_size, H)` and
        `(batch_size, 3, H)`: the same whatever the emotion, for classifier-free guidance."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise EmogenError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        device, dtype = self.device, self.dtype
        return self(
            torch.zeros(batch_size, len(self.categories), device=device, dtype=dtype),
            torch.zeros(batch_size, 3, device=device, dtype=dtype),
            torch.zeros(batch_size, device=device, dtype=dtype),
            drop_condition=torch.ones(batch_size, dtype=torch.bool, device=device),
        )


def _check_categories(categories: Sequence[str] | None) -> tuple[str, ...]:
    taxonomy = load_taxonomy()
    if categories is None:
        return taxonomy.names
    if isinstance(categories, str) or not isinstance(categories, Sequence):
        raise EmotionError(
            f"categories must be a list of category names, got {type(categories).__name__}"
        )
    if not categories:
        raise EmotionError(
            "categories must name at least one category; known: " + ", ".join(taxonomy.names)
        )
    names = tuple(taxonomy.resolve(name) for name in categories)
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise EmotionError(f"categories must be distinct; repeated (after synonyms): {repeated}")
    return names
