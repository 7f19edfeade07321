"""The audio-to-motion model (emogen.face.motion_model) and its training recipe
(training/audio_to_motion): real classes at tiny sizes, and the tiny config trained on the tiny
synthetic corpus (built once per session, conftest.py)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from emogen.errors import EmogenError
from emogen.face.motion_model import (
    LEVEL_FLOOR,
    MEL_BANDS,
    AudioToMotionModel,
    motion_audio_features,
)
from emogen.face.visemes import MOUTH_PARAMETERS, mouth_track
from emogen.speech.audio import load_audio
from emogen.speech.corpus import read_manifest
from emogen.speech.voice import PhonemeTiming

RATE = 22050


def _tiny_model(seed: int = 0) -> AudioToMotionModel:
    torch.manual_seed(seed)
    model = AudioToMotionModel(audio_channels=8, audio_layers=1, denoiser_channels=8,
                               denoiser_layers=2, dilation_cycle=2, emotion_hidden_size=8,
                               num_train_timesteps=100, num_inference_steps=3)  # fmt: skip
    # The denoiser's output is zero at initialisation (DiffWave): make it say something.
    torch.nn.init.normal_(model.denoiser.output_projection.weight, std=0.3)
    model.set_feature_statistics(torch.full((4 * MEL_BANDS,), -3.0), torch.full((160,), 2.0))
    return model.eval()


def _speechlike(seconds: float = 1.3) -> np.ndarray:
    """Bursts of a harmonic tone with silences between them."""
    t = np.arange(round(seconds * RATE)) / RATE
    tone = 0.3 * np.sin(2 * np.pi * 140 * t) + 0.1 * np.sin(2 * np.pi * 700 * t)
    return (tone * ((t % 0.4) < 0.25)).astype(np.float32)


def test_audio_features_are_timed_level_free_and_floored():
    audio = _speechlike()
    features = motion_audio_features(audio, RATE, 33, 25.0, 4)
    assert features.shape == (33, 4 * MEL_BANDS) and features.dtype == np.float32
    assert features.max() <= 1.0 and features.min() >= LEVEL_FLOOR
    # The level is normalised away: a quieter recording gives the same features.
    np.testing.assert_allclose(motion_audio_features(audio * 0.1, RATE, 33, 25.0, 4), features,
                               atol=1e-3)  # fmt: skip
    # Silence sits at the floor; so does a very quiet clip (it is not amplified into speech).
    assert (
        motion_audio_features(np.zeros(RATE, np.float32), RATE, 10, 25.0, 4) == LEVEL_FLOOR
    ).all()
    assert motion_audio_features(audio * 1e-6, RATE, 33, 25.0, 4).max() < LEVEL_FLOOR + 0.1
    # Frame j reads the audio at j / fps: the tone starts at 0 s and pauses at 0.25-0.4 s.
    loudness = features.reshape(33, 4, MEL_BANDS).max(axis=(1, 2))
    assert loudness[3] > -1.0 and loudness[8] < -4.0 and loudness[12] > -1.0
    with pytest.raises(EmogenError, match="1-D mono"):
        motion_audio_features(np.zeros((2, 100)), RATE, 3, 25.0, 4)
    with pytest.raises(EmogenError, match="NaN"):
        motion_audio_features(np.full(100, np.nan), RATE, 3, 25.0, 4)


def test_predict_shape_range_seed_and_frame_rates():
    model = _tiny_model()
    audio = _speechlike()
    mouth = model.predict(audio, RATE, "angry:0.7")
    assert mouth.shape == (33, len(MOUTH_PARAMETERS)) and mouth.dtype == np.float32
    assert mouth.min() >= 0.0 and mouth.max() <= 1.0 and mouth.std() > 0
    np.testing.assert_array_equal(model.predict(audio, RATE, "angry:0.7"), mouth)  # seeded
    assert not np.allclose(model.predict(audio, RATE, "angry:0.7", generator=1), mouth)
    assert not np.allclose(model.predict(audio, RATE, "happy"), mouth)
    # Other frame rates and lengths: the model's 25 fps track, interpolated.
    assert model.predict(audio, RATE, "angry:0.7", fps=30).shape == (39, 5)
    assert model.predict(audio, RATE, num_frames=50).shape == (50, 5)
    # Strength 0 is the prior alone: no noise, so no seed matters; between, shallow diffusion.
    prior = model.predict(audio, RATE, "angry:0.7", diffusion_strength=0.0)
    np.testing.assert_array_equal(
        model.predict(audio, RATE, "angry:0.7", diffusion_strength=0.0, generator=5), prior
    )
    shallow = model.predict(audio, RATE, "angry:0.7", diffusion_strength=0.5, noise_scale=0.5)
    assert not np.allclose(shallow, prior) and not np.allclose(shallow, mouth)
    # A curve over seconds, and guidance.
    curve = model.predict(audio, RATE, "sad@0 -> angry@1.2", emotion_guidance_scale=2.0)
    assert curve.shape == (33, 5) and np.isfinite(curve).all()
    for kwargs, message in (
        ({"sample_rate": 0}, "sample_rate"),
        ({"fps": -1.0}, "fps"),
        ({"num_frames": 0}, "num_frames"),
        ({"emotion": "furious-ish"}, "unknown emotion category"),
    ):
        with pytest.raises(EmogenError, match=message):
            model.predict(audio, **{"sample_rate": RATE, **kwargs})


def test_saved_and_loaded_model_predicts_the_same(tmp_path):
    model = _tiny_model()
    audio = _speechlike()
    model.save_pretrained(tmp_path / "motion")
    assert sorted(p.name for p in (tmp_path / "motion").iterdir()) == [
        "config.json",
        "diffusion_pytorch_model.safetensors",
    ]
    loaded = AudioToMotionModel.from_pretrained(tmp_path / "motion").eval()
    assert loaded.config.denoiser_channels == 8
    torch.testing.assert_close(loaded.feature_mean, model.feature_mean)  # saved buffers
    # the same numbers up to float32 rounding (two module instances need not share kernels)
    np.testing.assert_allclose(
        loaded.predict(audio, RATE, "sad"), model.predict(audio, RATE, "sad"), rtol=0, atol=1e-6
    )
    with pytest.raises(EmogenError, match="mel_context"):
        AudioToMotionModel(mel_context=0)
    with pytest.raises(EmogenError, match="diffusion_strength"):
        AudioToMotionModel(diffusion_strength=1.5)


# ---------------------------------------------------------------------- the recipe


@pytest.fixture(scope="module")
def recipe(recipe_module):
    return recipe_module("audio_to_motion")


@pytest.fixture(scope="module")
def tiny_run(recipe, tiny_corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("audio-to-motion-tiny")
    summary = recipe.train(recipe.load_config("tiny"), tiny_corpus, out, export=out / "exported")
    return out, summary


def _log(out: Path) -> list[dict]:
    with open(out / "loss.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_training_targets_are_the_rig_track_of_the_alignment(recipe, tiny_corpus):
    manifest = read_manifest(tiny_corpus)
    utterance = next(u for u in manifest if u.alignment is not None)
    audio, rate = load_audio(manifest.audio_path(utterance))
    features, mouth = recipe.clip_targets(audio, rate, utterance.alignment, 25.0, 4)
    frames = int(np.ceil(len(audio) / rate * 25.0 - 1e-9))
    assert features.shape == (frames, 160) and mouth.shape == (frames, 5)
    timing = [PhonemeTiming(*entry) for entry in utterance.alignment]
    np.testing.assert_allclose(mouth, mouth_track(timing, np.arange(frames) / 25.0), atol=1e-6)
    assert mouth[:, 0].max() > 0.5  # the jaw opens somewhere in a sentence


def test_tiny_training_learns_and_exports_a_model(tiny_run, recipe):
    out, summary = tiny_run
    config = recipe.load_config("tiny")
    assert summary["completed"] and summary["steps"] == config["steps"]
    assert summary["num_validation_clips"] > 0 and summary["num_clips"] > 0
    assert summary["final_eval_loss"] < 0.9 * summary["first_eval_loss"]
    rows = _log(out)
    assert [int(r["step"]) for r in rows] == list(range(config["steps"] + 1))
    assert all(r["val_jaw_r"] for r in rows if r["eval_loss"])
    assert json.loads((out / "training_summary.json").read_text())["steps"] == config["steps"]
    assert (out / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for folder in (out / "motion", out / "exported"):
        model = AudioToMotionModel.from_pretrained(folder).eval()
        assert model.config.audio_channels == config["audio_channels"]
        # The training features' statistics travel with the weights.
        assert float(model.feature_std.min()) >= 0.1 and float(model.feature_mean.abs().sum()) > 0
    mouth = model.predict(_speechlike(), RATE, "happy")
    assert mouth.shape == (33, 5) and mouth.min() >= 0 and mouth.max() <= 1


def test_resumed_run_ends_where_the_uninterrupted_one_does(tiny_run, recipe, tiny_corpus, tmp_path):
    reference_out, _ = tiny_run
    config = recipe.load_config("tiny")
    save_every = config["save_every"]
    stopped = recipe.train(config, tiny_corpus, tmp_path, stop_after=save_every + 5)
    assert not stopped["completed"] and not (tmp_path / "motion").exists()
    resumed = recipe.train(config, tiny_corpus, tmp_path, resume=True)
    assert resumed["completed"] and resumed["resumed_from"] == save_every
    rows = _log(tmp_path)
    assert [int(r["step"]) for r in rows] == list(range(config["steps"] + 1))
    # Nothing lost: the same batches, noise and state, so the same losses and weights.
    expected = [float(r["loss"] or 0) for r in _log(reference_out)]
    np.testing.assert_allclose([float(r["loss"] or 0) for r in rows], expected, rtol=1e-4)
    again = AudioToMotionModel.from_pretrained(tmp_path / "motion")
    original = AudioToMotionModel.from_pretrained(reference_out / "motion")
    for (name, a), (_, b) in zip(again.state_dict().items(), original.state_dict().items()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=name)


def test_fine_tuning_starts_from_the_saved_model(tiny_run, recipe, tiny_corpus, tmp_path):
    reference_out, reference = tiny_run
    config = recipe.load_config("tiny")
    recipe.train(config, tiny_corpus, tmp_path / "tuned", stop_after=1,
                 init_from=reference_out / "motion")  # fmt: skip
    # Its first evaluation (same fixed batch) is the trained model's last one, not a fresh start.
    first = float(_log(tmp_path / "tuned")[0]["eval_loss"])
    assert first == pytest.approx(reference["final_eval_loss"], rel=1e-3)
    assert first < 0.9 * reference["first_eval_loss"]
    with pytest.raises(EmogenError, match="audio_channels"):
        recipe.train(dict(config, audio_channels=32), tiny_corpus, tmp_path / "other",
                     init_from=reference_out / "motion")  # fmt: skip


def test_configs_are_checked(recipe, tmp_path):
    import yaml

    base = recipe.load_config("base")
    assert base["steps"] > recipe.load_config("tiny")["steps"]
    bad = dict(base, crop_frames=0)
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    with pytest.raises(EmogenError, match="crop_frames must be >= 1"):
        recipe.load_config(str(tmp_path / "bad.yaml"))
    (tmp_path / "unknown.yaml").write_text(yaml.safe_dump(dict(base, use_emotion=True)))
    with pytest.raises(EmogenError, match="unknown keys"):
        recipe.load_config(str(tmp_path / "unknown.yaml"))
