"""Shared test set-up: one torch thread (stable timings), no hub access, skip gpu tests on CPU;
the tiny speech corpus the training recipes share; the face tests' detector and portraits."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest
import torch

torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def tts_default():
    """The shipped rule-based TTS (`pipelines/tts-default`), loaded once for the face tests."""
    from emogen.pipelines import load_pipeline

    return load_pipeline("tts-default")


@pytest.fixture(scope="session")
def detector():
    """One MediaPipe face landmark detector for the face tests."""
    from emogen.face import FaceLandmarkDetector

    return FaceLandmarkDetector()


@pytest.fixture(scope="session")
def portraits() -> dict:
    """The two bundled portraits: skimage's astronaut (smiling) and matplotlib's Grace Hopper
    (neutral), as RGB arrays."""
    from emogen.face import SAMPLE_PORTRAITS, load_portrait

    return {name: load_portrait(name) for name in SAMPLE_PORTRAITS}


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The manifest of the tiny synthetic corpus (training/speech_corpus, config tiny: 16
    utterances with alignments), built once per session (~40 s) for the training recipes."""
    out = tmp_path_factory.mktemp("corpus-tiny")
    subprocess.run(
        [sys.executable, str(ROOT / "training/speech_corpus/build.py"), "--config", "tiny",
         "--out", str(out)],
        check=True, capture_output=True, cwd=ROOT,
    )  # fmt: skip
    return out / "manifest.jsonl"


@pytest.fixture(scope="session")
def recipe_module():
    """`emogen.recipes.load_recipe` for the tests of the training recipes."""
    from emogen.recipes import load_recipe

    return load_recipe


@pytest.fixture(scope="session")
def tiny_codec_run(tiny_corpus, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A tiny codec trained once per session (training/codec, config tiny): `(run folder,
    summary)`; the codec is in `<run>/codec`."""
    from emogen.recipes import load_recipe

    recipe = load_recipe("codec")
    out = tmp_path_factory.mktemp("codec-tiny")
    return out, recipe.train(recipe.load_config("tiny"), tiny_corpus, out)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def demo_server():
    """The web demo (`emogen.demo.launch`) served in-process on a free port, shared by
    tests/test_demo.py and tests/test_demo_browser.py; uploads are limited to 1 MB so the
    oversized-upload checks need only a small file. Yields the running `gr.Blocks`
    (`.local_url`, `.emogen_limits`)."""
    import socket

    from emogen.demo import DemoLimits, launch

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    limits = DemoLimits(max_upload_size="1mb", max_audio_seconds=20.0, max_text_characters=300)
    app = launch(port=port, limits=limits, prevent_thread_lock=True, quiet=True)
    yield app
    app.close()
