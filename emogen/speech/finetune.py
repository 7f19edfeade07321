"""Fine-tune emogen's codec-LM TTS on a custom voice: `emogen voice finetune FOLDER --name NAME`.

1. `prepare_voice_data` checks, transcribes and segments the recordings into
   `checkpoints/NAME/data` (and refuses, with its report, before any training when too little
   usable speech is left);
2. the codec recipe (training/codec, config `finetune`) adapts the base pipeline's codec to the
   voice, in `checkpoints/NAME/codec-run`: its encoder and decoder learn the new voice while its
   codebooks stay, so every token keeps the meaning the language model learned (a codec trained
   on one voice cannot carry another: benchmarks/speech/RESULTS_finetune.md);
3. the codec-LM recipe (training/tts_codec_lm, config `finetune`) fine-tunes the base
   pipeline's language model and emotion encoder on the voice's tokens with Accelerate, in
   `checkpoints/NAME/run`, keeping the weights of its lowest held-out loss (early stopping);
   both runs save states as they go (`resume=True` continues);
4. the fine-tuned pipeline, with the adapted codec, is written to `checkpoints/NAME`, so that
   `emogen tts --pipeline checkpoints/NAME --emotion E ...` speaks in that voice.

Example:
    >>> folder = finetune_voice("recordings/anna", "anna")
    >>> load_pipeline(folder)("Hello!", emotion="happy")
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from pathlib import Path

from ..errors import EmogenError
from .voice_data import prepare_voice_data

__all__ = ["DEFAULT_BASE", "finetune_voice"]

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BASE = "tts-codec-lm"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def finetune_voice(
    folder: str | os.PathLike,
    name: str,
    base: str | os.PathLike = DEFAULT_BASE,
    steps: int | None = None,
    codec_steps: int | None = None,
    resume: bool = False,
    checkpoints: str | os.PathLike | None = None,
    min_total_seconds: float = 60.0,
    progress: bool = True,
) -> Path:
    """Fine-tune the codec-LM TTS on the recordings in `folder` (module docstring).

    Args:
        folder: the recordings (wav, flac, ogg, mp3, with `.txt` transcripts beside them or
            transcribed by Whisper).
        name: the voice's name: the pipeline goes to `<checkpoints>/<name>`.
        base: the codec-LM pipeline to start from (a short name or a folder).
        steps: the language model's fine-tuning steps (None: its `finetune` config's).
        codec_steps: the codec's adaptation steps (None: training/codec's `finetune` config's).
        resume: continue an interrupted run from its newest saved state.
        checkpoints: the folder of fine-tuned voices (None: the checkout's `checkpoints/`).
        min_total_seconds: less usable speech is refused before training.
        progress: progress bars.

    Returns:
        The fine-tuned pipeline's folder.

    Raises:
        VoiceDataError: not enough usable speech (with the report of what was left out, why).
        EmogenError: a bad name, an unknown base pipeline.
    """
    from ..pipelines import resolve_pipeline_path
    from ..recipes import load_recipe

    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise EmogenError(
            f"--name must be 1-64 letters, digits, '_', '-' or '.', starting with a letter or "
            f"digit, got {name!r}"
        )
    base_path = resolve_pipeline_path(base)
    codec_recipe, recipe = load_recipe("codec"), load_recipe("tts_codec_lm")
    codec_config, config = codec_recipe.load_config("finetune"), recipe.load_config("finetune")
    for label, value, target in (
        ("steps", steps, config),
        ("codec_steps", codec_steps, codec_config),
    ):
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise EmogenError(f"{label} must be an integer >= 1, got {value!r}")
            target["steps"] = value
    out = Path(checkpoints if checkpoints is not None else ROOT / "checkpoints") / name
    report = prepare_voice_data(
        folder, out / "data", speaker=name, min_total_seconds=min_total_seconds, progress=progress
    )
    logger.info("%s", report.summary())
    # every utterance of a short recording session may be needed for training
    held_out = len(report.segments) // 10
    codec_config["validation_texts"] = min(codec_config["validation_texts"], held_out)
    config["validation_texts"] = min(config["validation_texts"], held_out)
    codec_summary = codec_recipe.train(
        codec_config, report.manifest, out / "codec-run", resume=resume,
        init_from=base_path / "codec",
    )  # fmt: skip
    if not codec_summary["completed"]:
        raise EmogenError(f"adapting the codec stopped at step {codec_summary['steps']}; resume it")
    summary = recipe.train(
        config, out / "codec-run" / "codec", report.manifest, out / "run", resume=resume,
        init_from=base_path,
    )  # fmt: skip
    if not summary["completed"]:
        raise EmogenError(f"fine-tuning stopped at step {summary['steps']}; resume it")
    for item in (out / "run" / "pipeline").iterdir():
        target = out / item.name
        if target.is_dir():
            shutil.rmtree(target)
        (shutil.copytree if item.is_dir() else shutil.copy2)(item, target)
    return out
