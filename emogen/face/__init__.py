"""Faces: portrait landmarks, the first component of the talking head (DESIGN.md, pipeline 3)."""

from __future__ import annotations

from .landmarks import (
    NUM_LANDMARKS,
    FaceError,
    FaceLandmarkDetector,
    FaceLandmarks,
    default_model_path,
    load_portrait,
)

__all__ = [
    "NUM_LANDMARKS",
    "FaceError",
    "FaceLandmarkDetector",
    "FaceLandmarks",
    "default_model_path",
    "load_portrait",
]
