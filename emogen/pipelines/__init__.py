"""Pipelines, one file each, and `load_pipeline` for short names and paths.

Shipped pipeline folders live in the repository's `pipelines/` (diffusers layout); a short name
such as "tts-default" is looked up there and in `$EMOGEN_PIPELINES_DIR`.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._lazy import lazy_getattr
from ..errors import EmogenError, close_matches

if TYPE_CHECKING:
    from .avatar import AvatarOutput, AvatarPipeline
    from .dialogue import DialogueTurn, EmpatheticDialoguePipeline
    from .talking_head import TalkingHeadOutput, TalkingHeadPipeline
    from .tts import EmotionalSpeechOutput, EmotionalTTSPipeline, SpeechChunk
    from .tts_codec_lm import CodecLMTTSPipeline
    from .vc import EmotionalVCPipeline

_LAZY = {
    "AvatarOutput": ".avatar",
    "AvatarPipeline": ".avatar",
    "CodecLMTTSPipeline": ".tts_codec_lm",
    "DialogueTurn": ".dialogue",
    "EmpatheticDialoguePipeline": ".dialogue",
    "EmotionalSpeechOutput": ".tts",
    "EmotionalTTSPipeline": ".tts",
    "SpeechChunk": ".tts",
    "TalkingHeadOutput": ".talking_head",
    "TalkingHeadPipeline": ".talking_head",
    "EmotionalVCPipeline": ".vc",
}
__all__ = [
    "AvatarOutput",
    "AvatarPipeline",
    "CodecLMTTSPipeline",
    "DialogueTurn",
    "EmotionalSpeechOutput",
    "EmotionalTTSPipeline",
    "EmotionalVCPipeline",
    "EmpatheticDialoguePipeline",
    "SpeechChunk",
    "TalkingHeadOutput",
    "TalkingHeadPipeline",
    "load_pipeline",
    "pipeline_dirs",
]
SHIPPED_DIR = Path(__file__).resolve().parents[2] / "pipelines"


__getattr__ = lazy_getattr(__name__, _LAZY)


def pipeline_dirs() -> list[Path]:
    """Folders searched for short names: $EMOGEN_PIPELINES_DIR (os.pathsep-separated), then the
    repository's pipelines/."""
    extra = [Path(p) for p in os.environ.get("EMOGEN_PIPELINES_DIR", "").split(os.pathsep) if p]
    return [*extra, SHIPPED_DIR]


def resolve_pipeline_path(name_or_path: str | os.PathLike) -> Path:
    """The folder of a pipeline given by path or short name ("tts-default")."""
    path = Path(name_or_path).expanduser()
    if (path / "model_index.json").is_file():
        return path
    if not path.is_absolute():
        for folder in pipeline_dirs():
            candidate = folder / str(name_or_path)
            if (candidate / "model_index.json").is_file():
                return candidate
    known = sorted(
        p.name
        for folder in pipeline_dirs()
        if folder.is_dir()
        for p in folder.iterdir()
        if (p / "model_index.json").is_file()
    )
    hints = close_matches(str(name_or_path), known)
    hint = f" Did you mean {', '.join(repr(h) for h in hints)}?" if hints else ""
    raise EmogenError(
        f"no pipeline {str(name_or_path)!r}: not a folder with model_index.json, nor a short "
        f"name in {[str(d) for d in pipeline_dirs()]}.{hint} Known: {', '.join(known) or 'none'}"
    )


def load_pipeline(name_or_path: str | os.PathLike, **kwargs: Any):
    """Load a pipeline folder by path or short name (its class comes from model_index.json)."""
    import json

    from diffusers import DiffusionPipeline

    path = resolve_pipeline_path(name_or_path)
    class_name = json.loads((path / "model_index.json").read_text())["_class_name"]
    if class_name not in _LAZY:
        return DiffusionPipeline.from_pretrained(path, **kwargs)
    return getattr(
        importlib.import_module(_LAZY[class_name], __name__), class_name
    ).from_pretrained(path, **kwargs)
