"""Fine-tune emogen's codec-LM TTS on a custom voice: `emogen voice finetune FOLDER --name NAME`.

The codec language model speaks in the codes of the corpus voice it was trained on; a codec
adapted to decode those codes in the new voice makes the whole pipeline speak in it, and keeps
everything the language model learned: its intelligibility, its emotions and their intensities.
(Fine-tuning the language model itself on 5 minutes of a voice did not work: its speech fell to
85-126 % WER; pipelines/tts-codec-lm/README.md.)

1. `prepare_voice_data` checks, transcribes and segments the recordings into
   `checkpoints/NAME/data` (and refuses, with its report, before any training when too little
   usable speech is left);
2. the codec recipe (training/codec, config `finetune`, `source_voice` set to the base
   pipeline's voice) pairs each recording with renditions of its text by the base's voice,
   encoded by the base's codec and aligned by DTW, and fine-tunes the codec's decoder with
   Accelerate, in `checkpoints/NAME/codec-run`, to turn the corpus voice's codes into the
   recording; it saves states as it goes (`resume=True` continues);
3. the base pipeline, with the adapted codec, is written to `checkpoints/NAME`, so that
   `emogen tts --pipeline checkpoints/NAME --emotion E ...` speaks in that voice.

Example:
    >>> folder = finetune_voice("recordings/anna", "anna")
    >>> load_pipeline(folder)("Hello!", emotion="happy")
"""

from __future__ import annotations

import json
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
        steps: the codec decoder's fine-tuning steps (None: training/codec's `finetune`
            config's); the first, alignment pass runs at most as many.
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
    voice_config = base_path / "voice" / "voice_config.json"
    if not (base_path / "codec").is_dir() or not voice_config.is_file():
        raise EmogenError(f"{base_path} is not a codec-LM pipeline (no codec/ and voice/)")
    recipe = load_recipe("codec")
    config = recipe.load_config("finetune")
    config["source_voice"] = json.loads(voice_config.read_text())["model"]
    if steps is not None:
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise EmogenError(f"steps must be an integer >= 1, got {steps!r}")
        config["steps"] = steps
        config["alignment_steps"] = min(config["alignment_steps"], steps)
    out = Path(checkpoints if checkpoints is not None else ROOT / "checkpoints") / name
    report = prepare_voice_data(
        folder, out / "data", speaker=name, min_total_seconds=min_total_seconds, progress=progress
    )
    logger.info("%s", report.summary())
    # every utterance of a short recording session may be needed for training
    config["validation_texts"] = min(config["validation_texts"], len(report.segments) // 10)
    summary = recipe.train(
        config, report.manifest, out / "codec-run", resume=resume, init_from=base_path / "codec"
    )
    if not summary["completed"]:
        raise EmogenError(f"adapting the codec stopped at step {summary['steps']}; resume it")
    for item in base_path.iterdir():  # the base pipeline's files, with the adapted codec
        if item.name.startswith(".") or (item.is_file() and item.name != "model_index.json"):
            continue  # the base's card and training logs are not this voice's
        target = out / item.name
        if target.is_dir():
            shutil.rmtree(target)
        source = out / "codec-run" / "codec" if item.name == "codec" else item
        (shutil.copytree if item.is_dir() else shutil.copy2)(source, target)
    return out
