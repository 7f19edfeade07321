"""The diffusion voice-conversion model (emogen.speech.acoustic) and its training recipe
(training/vc_diffusion): real classes at tiny sizes, and the tiny config trained on the tiny
synthetic corpus (built once per module, ~40 s; the training runs ~30 s each)."""

from __future__ import annotations

import csv
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler

from emogen.emotion.encoder import EmotionEncoder
from emogen.errors import EmogenError
from emogen.speech.acoustic import (
    FrameDenoiser,
    align_frames,
    emotion_embedding,
    sample,
    training_target,
)
from emogen.speech.corpus import ManifestError
from emogen.speech.frames import FrameNormalizer, WorldFrameCoder

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "training" / "vc_diffusion" / "train.py"


def _tiny_models(seed: int = 0) -> tuple[FrameDenoiser, EmotionEncoder]:
    torch.manual_seed(seed)
    denoiser = FrameDenoiser(frame_dims=8, condition_dims=6, emotion_dims=16, channels=16,
                             num_layers=3, dilation_cycle=2)  # fmt: skip
    # The output layer starts at zero (DiffWave); give it weights so the emotion matters.
    torch.nn.init.normal_(denoiser.output_projection.weight, std=0.3)
    encoder = EmotionEncoder(hidden_size=16, condition_dropout_prob=0, attribute_dropout_prob=0)
    return denoiser.eval(), encoder.eval()


def test_forward_shapes_and_save_load_round_trip(tmp_path):
    denoiser, encoder = _tiny_models()
    noisy, source = torch.randn(2, 30, 8), torch.randn(2, 30, 6)
    embedding = emotion_embedding(encoder, ["angry", "sad:0.5"])
    assert embedding.shape == (2, 16)
    output = denoiser(noisy, torch.tensor([3, 900]), source, embedding).sample
    assert output.shape == (2, 30, 8)
    assert denoiser(noisy, 5, source, embedding, return_dict=False)[0].shape == (2, 30, 8)

    denoiser.save_pretrained(tmp_path / "denoiser")
    loaded = FrameDenoiser.from_pretrained(tmp_path / "denoiser")
    assert loaded.config.channels == 16 and loaded.config.condition_dims == 6
    assert (tmp_path / "denoiser" / "diffusion_pytorch_model.safetensors").is_file()
    with torch.no_grad():
        again = loaded(noisy, torch.tensor([3, 900]), source, embedding).sample
        torch.testing.assert_close(
            again, denoiser(noisy, torch.tensor([3, 900]), source, embedding).sample
        )

    with pytest.raises(EmogenError, match="condition_frames must have shape"):
        denoiser(noisy, 1, torch.randn(2, 29, 6), embedding)
    with pytest.raises(EmogenError, match="kernel_size"):
        FrameDenoiser(kernel_size=4)


def test_intensity_moves_linearly_along_the_emotion_direction():
    _, encoder = _tiny_models()
    with torch.no_grad():
        neutral = emotion_embedding(encoder, "neutral")
        zero, half, full = (emotion_embedding(encoder, "angry", intensity=s) for s in (0, 0.5, 1))
        own = emotion_embedding(encoder, "angry:0.5")
    # EmoReg: e(c, s) = e(neutral) + s * (e(c, 1) - e(neutral)).
    torch.testing.assert_close(zero, neutral)
    torch.testing.assert_close(half, (neutral + full) / 2)
    torch.testing.assert_close(own, half)
    assert not torch.allclose(full, neutral)
    with pytest.raises(EmogenError, match="intensity must be in"):
        emotion_embedding(encoder, "angry", intensity=1.5)


@pytest.mark.parametrize("scheduler_class", [DDIMScheduler, DPMSolverMultistepScheduler])
def test_guidance_scale_changes_the_sample(scheduler_class):
    denoiser, encoder = _tiny_models()
    scheduler = scheduler_class.from_config(
        DDPMScheduler(num_train_timesteps=100, clip_sample=False).config
    )
    source = torch.randn(1, 20, 6)

    def run(scale: float, emotion: str = "angry") -> torch.Tensor:
        generator = torch.Generator().manual_seed(0)
        return sample(denoiser, encoder, scheduler, source, emotion, num_inference_steps=6,
                      emotion_guidance_scale=scale, generator=generator)  # fmt: skip

    conditional, unconditional = run(1.0), run(0.0)
    assert conditional.shape == (1, 20, 8) and torch.isfinite(conditional).all()
    torch.testing.assert_close(run(1.0), conditional)  # seeded: reproducible
    assert (conditional - unconditional).abs().mean() > 1e-5  # a random model: small, but not 0
    # Without guidance the emotion is ignored: any emotion gives the same sample.
    torch.testing.assert_close(run(0.0, "happy"), unconditional)
    assert (run(3.0) - conditional).abs().mean() > 1e-5  # a random model: small, but not 0
    with pytest.raises(EmogenError, match="emotion_guidance_scale"):
        run(-1.0)


def test_align_frames_and_training_target():
    frames = np.stack([np.arange(5.0), np.arange(5.0) * 2], axis=1)
    aligned = align_frames(frames, 9)
    assert aligned.shape == (9, 2) and aligned.dtype == np.float32
    np.testing.assert_allclose(aligned[:, 0], np.linspace(0, 4, 9), atol=1e-6)
    assert align_frames(torch.from_numpy(frames), 3).shape == (3, 2)

    clean, noise, steps = torch.randn(2, 4, 3), torch.randn(2, 4, 3), torch.tensor([1, 50])
    assert training_target(DDPMScheduler(), clean, noise, steps) is noise
    v = training_target(DDPMScheduler(prediction_type="v_prediction"), clean, noise, steps)
    assert not torch.allclose(v, noise)


# ---------------------------------------------------------------------- the recipe


def _load_recipe():
    spec = importlib.util.spec_from_file_location("vc_diffusion_train", RECIPE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def recipe():
    return _load_recipe()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("corpus-tiny")
    subprocess.run(
        [sys.executable, str(ROOT / "training/speech_corpus/build.py"), "--config", "tiny",
         "--out", str(out)],
        check=True, capture_output=True, cwd=ROOT,
    )  # fmt: skip
    return out / "manifest.jsonl"


@pytest.fixture(scope="module")
def tiny_run(recipe, corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("vc-tiny")
    summary = recipe.train(recipe.load_config("tiny"), corpus, out)
    return out, summary


def _log(out: Path) -> list[dict[str, str]]:
    with open(out / "loss.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_tiny_training_learns_and_saves_a_loadable_model(tiny_run, recipe):
    out, summary = tiny_run
    config = recipe.load_config("tiny")
    assert summary["completed"] and summary["steps"] == config["steps"]
    rows = _log(out)
    losses = np.array([float(r["loss"]) for r in rows[1:]])
    assert len(losses) == config["steps"]
    # Measured: ~1.0 at the start, ~0.80 after 600 steps.
    assert losses[-50:].mean() < 0.9 * losses[:50].mean()
    assert summary["final_eval_loss"] < 0.9 * summary["first_eval_loss"]

    denoiser = FrameDenoiser.from_pretrained(out / "denoiser").eval()
    encoder = EmotionEncoder.from_pretrained(out / "emotion_encoder").eval()
    normalizer = FrameNormalizer.from_pretrained(out / "frame_normalizer")
    coder = WorldFrameCoder.from_pretrained(out / "frame_coder")
    scheduler = DDIMScheduler.from_pretrained(out / "scheduler")
    assert denoiser.config.channels == config["channels"]
    assert json.loads((out / "training_summary.json").read_text())["steps"] == config["steps"]

    source = np.random.default_rng(0).normal(size=(40, coder.layout.dims)).astype(np.float32)
    frames = sample(denoiser, encoder, scheduler, torch.from_numpy(source)[None], "happy:0.7",
                    num_inference_steps=5, emotion_guidance_scale=1.5,
                    generator=torch.Generator().manual_seed(0))  # fmt: skip
    features = coder.decode(normalizer.denormalize(frames[0].numpy()))
    assert features.num_frames == 40


def test_resumed_run_ends_where_the_uninterrupted_one_does(tiny_run, recipe, corpus, tmp_path):
    reference_out, _ = tiny_run
    config = recipe.load_config("tiny")
    # Killed at step 80: the newest state is step 50, steps 51-80 are done again.
    stopped = recipe.train(config, corpus, tmp_path, stop_after=80)
    assert not stopped["completed"] and not (tmp_path / "denoiser").exists()
    assert [p.name for p in sorted((tmp_path / "states").glob("step-*"))] == ["step-0000050"]

    resumed = recipe.train(config, corpus, tmp_path, resume=True)
    assert resumed["completed"] and resumed["resumed_from"] == 50
    assert resumed["steps"] == config["steps"]
    rows = _log(tmp_path)
    assert [int(r["step"]) for r in rows] == list(range(config["steps"] + 1))
    # Nothing lost: the same batches, noise and state, so the same losses and weights.
    expected = np.array([float(r["loss"] or 0) for r in _log(reference_out)])
    np.testing.assert_allclose([float(r["loss"] or 0) for r in rows], expected, rtol=1e-4)
    again = FrameDenoiser.from_pretrained(tmp_path / "denoiser")
    original = FrameDenoiser.from_pretrained(reference_out / "denoiser")
    for (name, a), (_, b) in zip(again.state_dict().items(), original.state_dict().items()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=name)


def test_bad_manifest_lines_stop_training_unless_skipped(recipe, corpus, tmp_path):
    lines = corpus.read_text().splitlines()
    bad = corpus.with_name("manifest-bad.jsonl")
    broken = json.loads(lines[1]) | {"id": "broken", "audio": "wavs/missing.wav"}
    bad.write_text("\n".join([*lines, json.dumps(broken), "{not json"]) + "\n")
    config = recipe.load_config("tiny")
    with pytest.raises(ManifestError, match="2 of 18 lines are bad"):
        recipe.train(config, bad, tmp_path / "strict", stop_after=1)
    summary = recipe.train(config, bad, tmp_path / "lenient", skip_bad=True, stop_after=2)
    assert summary["steps"] == 2 and summary["num_pairs"] == 14


def test_corpora_at_other_sample_rates_are_resampled_to_the_coders(recipe, corpus, tmp_path):
    # ESD and CREMA-D come at 16 kHz: the same corpus written at 16 kHz trains the same way.
    from emogen.speech.audio import load_audio, save_audio

    copy = tmp_path / "corpus-16k"
    (copy / "wavs").mkdir(parents=True)
    for wav in (corpus.parent / "wavs").glob("*.wav"):
        audio, _ = load_audio(wav, sample_rate=16000)
        save_audio(copy / "wavs" / wav.name, audio, 16000)
    (copy / "manifest.jsonl").write_text(corpus.read_text())
    config = recipe.load_config("tiny")
    summary = recipe.train(config, copy / "manifest.jsonl", tmp_path / "out", stop_after=2)
    assert summary["steps"] == 2 and summary["num_pairs"] == 14
