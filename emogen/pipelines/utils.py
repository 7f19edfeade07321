"""Argument handling shared by the pipelines (one home for seeds, output types, emotion inputs)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Union

import numpy as np
import torch

from ..emotion import Emotion, EmotionCurve
from ..errors import EmogenError

# What a pipeline's `emotion` argument accepts.
EmotionInput = Union[Emotion, EmotionCurve, str, Mapping[str, Any], Sequence[Any]]  # noqa: UP007
OUTPUT_TYPES = ("np", "pt")


def resolve_seed(generator: int | torch.Generator | np.random.Generator | None) -> int | None:
    """An integer seed from an int, a torch.Generator (its initial seed) or a numpy Generator."""
    if generator is None:
        return None
    if isinstance(generator, bool):
        raise EmogenError("generator must be an int seed or a torch/numpy Generator, not a bool")
    if isinstance(generator, (int, np.integer)):
        if generator < 0:
            raise EmogenError(f"a seed must be >= 0, got {generator}")
        return int(generator)
    if isinstance(generator, torch.Generator):
        return int(generator.initial_seed()) % 2**63
    if isinstance(generator, np.random.Generator):
        return int(generator.integers(2**63))
    raise EmogenError(
        f"generator must be an int seed or a torch/numpy Generator, got {type(generator).__name__}"
    )


def final_emotion(emotion: Emotion | EmotionCurve) -> Emotion:
    """The emotion itself, or a curve's last keyframe (what an output reports for a curve)."""
    return emotion.keyframes[-1].emotion if isinstance(emotion, EmotionCurve) else emotion


def check_intensity(intensity: float | None) -> None:
    """None (keep each emotion's own) or a number in [0, 1]."""
    if intensity is None:
        return
    try:
        value = float(intensity)
    except (TypeError, ValueError):
        value = float("nan")
    if not 0.0 <= value <= 1.0:  # also refuses NaN
        raise EmogenError(f"intensity must be in [0, 1], got {intensity!r}")


def check_output_type(output_type: str) -> None:
    if output_type not in OUTPUT_TYPES:
        raise EmogenError(f"output_type must be one of {OUTPUT_TYPES}, got {output_type!r}")


def to_output(audio: np.ndarray, output_type: str) -> np.ndarray | torch.Tensor:
    return torch.from_numpy(audio) if output_type == "pt" else audio


def check_learned_components(learned: Mapping[str, object], renderer: object | None) -> bool:
    """A pipeline's learned path needs all of its components or none of them, and without them
    the rule-based renderer. Returns whether the learned path is complete."""
    missing = [name for name, value in learned.items() if value is None]
    if missing and len(missing) < len(learned):
        raise EmogenError(
            f"the learned path needs all of {', '.join(learned)}; missing: {', '.join(missing)}"
        )
    if missing and renderer is None:
        raise EmogenError(
            f"give a renderer (the rule-based path) or the learned components {', '.join(learned)}"
        )
    return not missing
