"""Text-emotion scoring shared by the benchmarks (text emotion, dialogue)."""

from __future__ import annotations

__all__ = ["VALENCE_DEAD_ZONE", "valence_sign"]

# |valence| below this counts as neutral (sign 0), as VADER's documented compound threshold.
VALENCE_DEAD_ZONE = 0.05


def valence_sign(value: float, dead_zone: float = VALENCE_DEAD_ZONE) -> int:
    """-1, 0 or +1: the sign of an effective valence, 0 inside the dead zone."""
    return 0 if abs(value) < dead_zone else (1 if value > 0 else -1)
