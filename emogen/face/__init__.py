"""Faces for the talking head (DESIGN.md, pipeline 3): portrait landmarks, and the emotion ->
facial action unit mapping of the expression rig."""

from __future__ import annotations

from .action_units import ACTION_UNITS, PROTOTYPES, action_unit_track, action_units
from .landmarks import (
    NUM_LANDMARKS,
    FaceError,
    FaceLandmarkDetector,
    FaceLandmarks,
    default_model_path,
    load_portrait,
)

__all__ = [
    "ACTION_UNITS",
    "NUM_LANDMARKS",
    "PROTOTYPES",
    "FaceError",
    "FaceLandmarkDetector",
    "FaceLandmarks",
    "action_unit_track",
    "action_units",
    "default_model_path",
    "load_portrait",
]
