"""Faces for the talking head (DESIGN.md, pipeline 3): portrait landmarks, the emotion ->
facial action unit mapping of the expression rig, and visemes timed from phonemes (known, or
aligned from the audio alone)."""

from __future__ import annotations

from .action_units import ACTION_UNITS, PROTOTYPES, action_unit_track, action_units
from .audio_timing import align_audio, mouth_track_from_audio
from .landmarks import (
    NUM_LANDMARKS,
    SAMPLE_PORTRAITS,
    FaceError,
    FaceLandmarkDetector,
    FaceLandmarks,
    default_model_path,
    load_portrait,
    sample_portrait_path,
)
from .motion_model import AudioToMotionModel
from .visemes import MOUTH_PARAMETERS, VISEMES, mouth_track, viseme_segments

__all__ = [
    "ACTION_UNITS",
    "MOUTH_PARAMETERS",
    "NUM_LANDMARKS",
    "PROTOTYPES",
    "SAMPLE_PORTRAITS",
    "VISEMES",
    "AudioToMotionModel",
    "FaceError",
    "FaceLandmarkDetector",
    "FaceLandmarks",
    "action_unit_track",
    "action_units",
    "align_audio",
    "default_model_path",
    "load_portrait",
    "mouth_track",
    "mouth_track_from_audio",
    "sample_portrait_path",
    "viseme_segments",
]
