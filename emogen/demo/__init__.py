"""The web demo (Gradio): `build_app`, `launch` and `DemoLimits` (see `app.py`)."""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # offline: no telemetry calls

from .app import build_app, launch
from .limits import DemoLimits

__all__ = ["DemoLimits", "build_app", "launch"]
