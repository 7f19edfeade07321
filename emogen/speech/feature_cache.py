"""WORLD frames of a corpus, analysed once and cached: the features step of the training recipes.

Every learned acoustic model (diffusion VC, diffusion TTS) trains on `WorldFrameCoder` rows of
the manifest's audio. Analysis is the slow part (~0.1 s per second of audio on one core), so it
is split between the processes of an `accelerate launch`, and the result is cached in one
safetensors file beside a JSON key (manifest path and digest, vocoder and coder configs, the
utterance ids): a rerun, or a resumed run, reads the cache unless one of those changed.

Example:
    >>> frames = cached_world_frames(manifest, ids, Path("run/features"), vocoder, coder)
    >>> frames[ids[0]].shape   # (N, 64) float32
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from .corpus import Manifest
from .frames import WorldFrameCoder
from .world import WorldVocoder

__all__ = ["FRAMES_FILE", "cached_world_frames"]

FRAMES_FILE = "frames.safetensors"
KEY_FILE = "features.json"


def cached_world_frames(
    manifest: Manifest,
    manifest_path: str | Path,
    ids: Sequence[str],
    folder: str | Path,
    vocoder: WorldVocoder,
    coder: WorldFrameCoder,
    state: Any | None = None,
) -> dict[str, np.ndarray]:
    """`coder.encode(vocoder.analyze(audio))` of each utterance in `ids`, from the cache in
    `folder` when it is up to date, else analysed (split between processes) and cached.

    Args:
        manifest: the read manifest.
        manifest_path: its file (its digest is part of the cache key).
        ids: the utterances to analyse.
        folder: the cache folder (replaced when stale).
        vocoder: the analysis (`WorldVocoder`), at any rate: audio is resampled to the coder's.
        coder: the `WorldFrameCoder` of the model.
        state: an `accelerate` `Accelerator` or `PartialState` (None: a `PartialState`); every
            process must call this function.

    Returns:
        utterance id -> `(N, D)` float32 frames.
    """
    from accelerate import PartialState
    from safetensors.numpy import load_file, save_file

    from .audio import load_audio

    state = state if state is not None else PartialState()
    folder, manifest_path = Path(folder), Path(manifest_path)
    ids = sorted(ids)
    key = {
        "manifest": str(manifest_path.resolve()),
        "manifest_sha1": hashlib.sha1(manifest_path.read_bytes()).hexdigest(),
        "vocoder": _settings(vocoder.config),
        "coder": _settings(coder.config),
        "ids_sha1": hashlib.sha1("\n".join(ids).encode()).hexdigest(),
    }
    cached, key_file = folder / FRAMES_FILE, folder / KEY_FILE
    fresh = cached.is_file() and key_file.is_file() and json.loads(key_file.read_text()) == key
    if not fresh:
        if state.is_main_process:
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
        state.wait_for_everyone()
        by_id = manifest.by_id()
        with state.split_between_processes(ids) as share:
            frames = {}
            # ~0.2 s an utterance: a corpus of thousands takes minutes.
            bar = tqdm(
                share,
                desc=f"WORLD analysis (process {state.process_index})",
                position=state.process_index,
                mininterval=5,
                disable=len(share) < 50,
            )
            for utterance_id in bar:
                # Corpora come at their own rates (ESD and CREMA-D 16 kHz, RAVDESS 48 kHz); the
                # coder's layout is for one rate.
                audio, rate = load_audio(
                    manifest.audio_path(by_id[utterance_id]), sample_rate=coder.config.sample_rate
                )
                frames[utterance_id] = coder.encode(vocoder.analyze(audio, rate))
            save_file(frames, folder / f"shard-{state.process_index:03d}.safetensors")
        state.wait_for_everyone()
        if state.is_main_process:
            merged = {}
            for shard in sorted(folder.glob("shard-*.safetensors")):
                merged.update(load_file(shard))
                shard.unlink()
            save_file(merged, cached)
            key_file.write_text(json.dumps(key, indent=2) + "\n")
        state.wait_for_everyone()
    return load_file(cached)


def _settings(config: Any) -> dict[str, Any]:
    """A component's config without diffusers' bookkeeping: `_use_default_values` is a list
    made from a set, in an order that changes with each process's string hashing."""
    return {key: value for key, value in sorted(config.items()) if not key.startswith("_")}
