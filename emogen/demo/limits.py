"""`DemoLimits`: what one request to the web demo may ask for, and how many run at once."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import EmogenError

_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)\s*", re.IGNORECASE)


@dataclass(frozen=True)
class DemoLimits:
    """Limits of the web demo, checked before any pipeline runs (a request over a limit gets a
    message in the page saying which limit and its value).

    Args:
        max_text_characters: longest text to speak or message to answer.
        max_audio_seconds: longest uploaded or recorded audio (voice conversion, talking head).
        max_upload_size: largest uploaded file, in Gradio's form ("20mb", "500kb"); Gradio
            refuses bigger uploads before they reach the app.
        max_portrait_pixels: largest portrait, width x height (the talking head downscales
            big portraits anyway; this refuses huge decodes).
        max_video_size: largest video side the size sliders allow, in pixels.
        max_fps: highest frame rate the fps sliders allow.
        max_chat_turns: replies per conversation before the page asks for a new one (a
            conversation lives in the browser session's state; this bounds its memory).
        concurrency_limit: requests run at once (`queue(default_concurrency_limit=...)`);
            2 suits a 2-core machine, where every pipeline runs on one thread.
        max_queue_size: requests waiting in the queue before new ones are refused.
    """

    max_text_characters: int = 500
    max_audio_seconds: float = 30.0
    max_upload_size: str = "20mb"
    max_portrait_pixels: int = 4096 * 4096
    max_video_size: int = 512
    max_fps: int = 30
    max_chat_turns: int = 50
    concurrency_limit: int = 2
    max_queue_size: int = 16

    def __post_init__(self) -> None:
        for name in (
            "max_text_characters",
            "max_portrait_pixels",
            "max_chat_turns",
            "concurrency_limit",
            "max_queue_size",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise EmogenError(f"DemoLimits.{name} must be an integer >= 1, got {value!r}")
        if not 64 <= self.max_video_size <= 2048:
            raise EmogenError(
                f"DemoLimits.max_video_size must be in [64, 2048] pixels, got {self.max_video_size}"
            )
        if not 1 <= self.max_fps <= 60:
            raise EmogenError(f"DemoLimits.max_fps must be in [1, 60], got {self.max_fps}")
        seconds = self.max_audio_seconds
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds > 0:
            raise EmogenError(f"DemoLimits.max_audio_seconds must be > 0, got {seconds!r}")
        if not isinstance(self.max_upload_size, str) or not _SIZE.fullmatch(self.max_upload_size):
            raise EmogenError(
                "DemoLimits.max_upload_size must be a size such as '20mb', '500kb' or '1gb', "
                f"got {self.max_upload_size!r}"
            )

    @property
    def max_upload_bytes(self) -> int:
        """`max_upload_size` in bytes (1 kb = 1024 bytes, as Gradio counts)."""
        number, unit = _SIZE.fullmatch(self.max_upload_size).groups()
        return int(float(number) * 1024 ** ("b", "kb", "mb", "gb").index(unit.lower()))
