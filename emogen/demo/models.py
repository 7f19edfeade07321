"""The demo's pipelines: loaded on first use, once per process, and used one call at a time."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

logger = logging.getLogger(__name__)

BUNDLED_VOICE = "joe-us"


def _load(name: str, voice: str | None) -> Any:
    from ..pipelines import load_pipeline

    if voice is None or voice == BUNDLED_VOICE:
        return load_pipeline(name)
    from ..speech.voice import PiperVoice

    return load_pipeline(name, voice=PiperVoice(model=voice))


class PipelineCache:
    """Pipelines by (name, voice), each loaded once and shared by every request.

    Loading takes a per-pipeline lock, so two first requests load it once; calls take the same
    lock (`use`), because the components (an onnxruntime session, MediaPipe's detector) are not
    documented as thread-safe. Different pipelines run in parallel.

    Args:
        loader: `(name, voice) -> pipeline`; the default is `load_pipeline` (with the Piper
            voice `voice` swapped in for a TTS pipeline).
    """

    def __init__(self, loader: Callable[[str, str | None], Any] = _load):
        self._loader = loader
        self._pipelines: dict[tuple[str, str | None], Any] = {}
        self._locks: dict[tuple[str, str | None], threading.RLock] = {}
        self._guard = threading.Lock()

    def _lock(self, key: tuple[str, str | None]) -> threading.RLock:
        with self._guard:
            return self._locks.setdefault(key, threading.RLock())

    def get(self, name: str, voice: str | None = None) -> Any:
        """The pipeline, loaded now if this is its first use."""
        key = (name, voice)
        with self._lock(key):
            if key not in self._pipelines:
                logger.info("loading pipeline %s%s", name, f" (voice {voice})" if voice else "")
                self._pipelines[key] = self._loader(name, voice)
            return self._pipelines[key]

    @contextmanager
    def use(self, name: str, voice: str | None = None) -> Iterator[Any]:
        """`with cache.use("tts-default") as tts:` holds the pipeline for one call."""
        key = (name, voice)
        with self._lock(key):
            yield self.get(name, voice)

    def loaded(self) -> list[tuple[str, str | None]]:
        """The (name, voice) pairs loaded so far."""
        with self._guard:
            return list(self._pipelines)


# One cache per process: every app built in it shares the loaded pipelines.
PIPELINES = PipelineCache()
