"""The diffusion voice-conversion model (emogen.speech.acoustic) and its training recipe
(training/vc_diffusion): real classes at tiny sizes, and the tiny config trained on the tiny
synthetic corpus (built once per session, ~40 s; the training runs ~30 s each)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler

from emogen.emotion import DirectionBank, EmotionCurve
from emogen.emotion.encoder import EmotionEncoder
from emogen.errors import EmogenError
from emogen.speech.acoustic import (
    PITCH_FEATURES,
    FrameDenoiser,
    align_frames,
    convert_pitch,
    emotion_embedding,
    frame_emotion_embedding,
    frame_tempo,
    sample,
    stretch_frames,
    training_target,
)
from emogen.speech.corpus import ManifestError

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


def test_an_emotion_curve_conditions_frame_by_frame():
    denoiser, encoder = _tiny_models()
    with torch.no_grad():
        # 200 frames of 5 ms = 1 s: neutral at 0 s, angry at 1 s.
        track = frame_emotion_embedding(encoder, "neutral@0 -> angry@1", 200, 5.0)
        neutral, angry = emotion_embedding(encoder, "neutral"), emotion_embedding(encoder, "angry")
        half = emotion_embedding(encoder, EmotionCurve.parse("neutral@0 -> angry@1").at(0.5))
    assert track.shape == (200, 16)
    torch.testing.assert_close(track[0], neutral[0])
    # Read at 20 Hz and interpolated: frame 100 (0.5 s) lies on a control point.
    torch.testing.assert_close(track[100], half[0], atol=1e-5, rtol=1e-4)
    assert (track[199] - angry[0]).abs().max() < (track[150] - angry[0]).abs().max()
    constant = frame_emotion_embedding(encoder, "sad", 7, 5.0)
    torch.testing.assert_close(constant, emotion_embedding(encoder, "sad").expand(7, -1))
    with pytest.raises(EmogenError, match="curves over seconds"):
        frame_emotion_embedding(encoder, "happy@#0 -> sad@#1", 10, 5.0)

    # A per-frame embedding that is constant equals the per-item one; guidance works with it.
    noisy, source = torch.randn(1, 200, 8), torch.randn(1, 200, 6)
    with torch.no_grad():
        per_item = denoiser(noisy, 10, source, angry).sample
        per_frame = denoiser(noisy, 10, source, angry[:, None].expand(1, 200, 16)).sample
    torch.testing.assert_close(per_frame, per_item)
    scheduler = DDIMScheduler(num_train_timesteps=100, clip_sample=False)
    frames = sample(denoiser, encoder, scheduler, source, emotion_embeds=track[None],
                    num_inference_steps=3, emotion_guidance_scale=2.0,
                    generator=torch.Generator().manual_seed(0))  # fmt: skip
    assert frames.shape == (1, 200, 8) and torch.isfinite(frames).all()
    with pytest.raises(EmogenError, match="either emotions or emotion_embeds"):
        sample(denoiser, encoder, scheduler, source, "sad", emotion_embeds=track[None])


def test_shallow_runs_start_from_the_given_frames():
    denoiser, encoder = _tiny_models()
    scheduler = DPMSolverMultistepScheduler(num_train_timesteps=100)
    source, start = torch.randn(1, 20, 6), torch.randn(1, 20, 8)

    def run(**options) -> torch.Tensor:
        return sample(denoiser, encoder, scheduler, source, "angry", num_inference_steps=10,
                      generator=torch.Generator().manual_seed(0), **options)  # fmt: skip

    # strength 0 runs no step: the start frames come back; a shallow run stays near them
    # (DiffSinger / SDEdit), a full run does not.
    torch.testing.assert_close(run(strength=0.0, init_frames=start), start)
    shallow = run(strength=0.3, init_frames=start)
    assert (shallow - start).abs().mean() < 0.7 * (run() - start).abs().mean()
    # A lower sampling temperature draws smaller noise: the full run's output shrinks with it.
    assert run(noise_scale=0.5).abs().mean() < run().abs().mean()
    with pytest.raises(EmogenError, match="strength must be in"):
        run(strength=1.5)
    with pytest.raises(EmogenError, match="noise_scale must be > 0"):
        run(noise_scale=0.0)
    with pytest.raises(EmogenError, match="init_frames must have shape"):
        run(strength=0.5, init_frames=torch.zeros(1, 3, 8))


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


@pytest.fixture(scope="module")
def recipe(recipe_module):
    return recipe_module("vc_diffusion")


@pytest.fixture(scope="module")
def corpus(tiny_corpus) -> Path:
    return tiny_corpus  # built once per session (conftest.py)


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

    assert json.loads((out / "training_summary.json").read_text())["steps"] == config["steps"]
    # The model card's loss curve.
    from emogen.recipes import plot_loss_log

    image = plot_loss_log(out / "loss.csv", out / "loss.png", "vc-diffusion tiny")
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and image.stat().st_size > 5000


def test_the_trained_model_converts_through_the_vc_pipeline(tiny_run, recipe, corpus):
    from emogen.pipelines import EmotionalVCPipeline, load_pipeline
    from emogen.speech.audio import load_audio

    out, _ = tiny_run
    pipe = load_pipeline(out / "pipeline")
    assert isinstance(pipe, EmotionalVCPipeline) and pipe.is_learned
    assert type(pipe.scheduler).__name__ == "DPMSolverMultistepScheduler"
    assert pipe.denoiser.config.channels == recipe.load_config("tiny")["channels"]
    neutral = next(line for line in corpus.read_text().splitlines() if "neutral" in line)
    audio, rate = load_audio(corpus.parent / json.loads(neutral)["audio"])

    # The tempo bank was fitted on the corpus pairs' duration ratios.
    assert isinstance(pipe.tempo, DirectionBank)
    assert pipe.tempo.feature_names == ("log_duration_ratio",)
    # ... and the pitch bank on their F0 statistics: the tiny corpus's angry speech is higher.
    assert isinstance(pipe.pitch, DirectionBank) and pipe.pitch.feature_names == PITCH_FEATURES
    assert pipe.pitch.offset("angry")[0] > 0.05
    converted = pipe((rate, audio), emotion="angry", source_emotion="neutral", generator=0,
                     num_inference_steps=4, preserve_duration=True)  # fmt: skip
    result = converted.audios[0]
    # preserve_duration keeps the input's timing; same seed, same audio.
    assert result.shape == audio.shape and np.isfinite(result).all() and result.std() > 1e-3
    again = pipe((rate, audio), emotion="angry", source_emotion="neutral", generator=0,
                 num_inference_steps=4, preserve_duration=True)  # fmt: skip
    np.testing.assert_array_equal(again.audios[0], result)
    # Otherwise the length changes by the bank's ratio for the emotion (within two frames).
    for emotion in ("angry", "sad:0.5"):
        ratio = float(np.exp(pipe.tempo.offset(emotion)[0]))
        stretched = pipe((rate, audio), emotion=emotion, source_emotion="neutral",
                         num_inference_steps=2).audios[0]  # fmt: skip
        assert abs(len(stretched) - ratio * len(audio)) <= 2 * rate * 0.005, (emotion, ratio)
    # A curve conditions frame by frame; another scheduler swaps in; 16 kHz input comes back
    # at 16 kHz.
    pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
    curve = pipe((rate, audio), emotion="sad@0 -> happy@1.5", source_emotion="neutral",
                 generator=1, num_inference_steps=3, emotion_guidance_scale=2.0,
                 preserve_duration=True)  # fmt: skip
    assert curve.audios[0].shape == audio.shape and np.isfinite(curve.audios[0]).all()
    low = load_audio((rate, audio), sample_rate=16000)
    resampled = pipe(low, emotion="sad", source_emotion="neutral", num_inference_steps=2,
                     preserve_duration=True)  # fmt: skip
    assert resampled.sample_rate == 16000 and resampled.audios[0].shape == low[0].shape
    with pytest.raises(EmogenError, match="needs all of"):
        EmotionalVCPipeline(vocoder=pipe.vocoder, denoiser=pipe.denoiser)
    with pytest.raises(EmogenError, match="tempo bank belongs to the learned converter"):
        EmotionalVCPipeline(vocoder=pipe.vocoder, renderer=pipe.renderer, tempo=pipe.tempo)
    with pytest.raises(EmogenError, match="pitch bank belongs to the learned converter"):
        EmotionalVCPipeline(vocoder=pipe.vocoder, renderer=pipe.renderer, pitch=pipe.pitch)


def test_tempo_stretches_frames_by_the_emotion_direction():
    # Fitted like the recipe: log duration ratios; sad renderings 20 % longer, angry 10 % shorter.
    ratios = np.log([[1.2], [1.2], [0.9], [1.0 + 0.2 * 0.5]])
    tempo = DirectionBank.fit(ratios, ["sad", "sad", "angry", "sad:0.5"],
                              neutral_features=np.zeros((1, 1)))  # fmt: skip
    np.testing.assert_allclose(frame_tempo(tempo, "neutral", 4, 5.0), np.ones(4))
    # An emotion that kept the rate in the corpus has no direction: it adds nothing.
    np.testing.assert_allclose(frame_tempo(tempo, "surprised", 4, 5.0), np.ones(4))
    np.testing.assert_allclose(frame_tempo(tempo, "angry", 3, 5.0), np.full(3, 0.9), rtol=1e-6)
    full, half = frame_tempo(tempo, "sad", 2, 5.0)[0], frame_tempo(tempo, "sad:0.5", 2, 5.0)[0]
    assert full == pytest.approx(1.2, rel=0.01)
    assert np.log(half) == pytest.approx(np.log(full) / 2)  # linear in intensity (log domain)
    mixed = frame_tempo(tempo, "0.5 sad + 0.5 surprised", 2, 5.0)[0]
    assert np.log(mixed) == pytest.approx(np.log(full) / 2)
    curve = frame_tempo(tempo, "neutral@0 -> sad@1", 200, 5.0)
    assert curve[0] == pytest.approx(1.0) and curve[-1] == pytest.approx(full, rel=0.01)
    assert np.all(np.diff(curve) >= -1e-12)

    frames = np.stack([np.arange(10.0), -np.arange(10.0)], axis=1)
    uniform = stretch_frames(frames, np.full(10, 1.5))
    np.testing.assert_array_equal(uniform, align_frames(frames, 15))  # as in training
    varying = stretch_frames(frames, np.r_[np.ones(5), np.full(5, 3.0)])
    assert varying.shape == (20, 2) and varying.dtype == np.float32
    assert np.all(np.diff(varying[:, 0]) >= 0)  # time runs forward
    assert (varying[:, 0] >= 5).sum() > 12  # the slow half lasts three times as long
    with pytest.raises(EmogenError, match="finite and > 0"):
        stretch_frames(frames, np.zeros(10))
    with pytest.raises(EmogenError, match="one feature"):
        frame_tempo(DirectionBank.fit(np.ones((2, 2)), ["sad", "sad"], np.zeros((1, 2))),
                    "sad", 3, 5.0)  # fmt: skip


def test_pitch_bank_moves_the_contour_to_the_emotions_level_and_range():
    # Fitted like the recipe: angry renderings 0.2 higher in log F0 with a 30 % wider range.
    rows = np.array([[0.2, np.log(1.3)], [0.2, np.log(1.3)], [-0.1, np.log(0.8)]])
    pitch = DirectionBank.fit(rows, ["angry", "angry", "sad"], neutral_features=np.zeros((1, 2)),
                              feature_names=list(PITCH_FEATURES))  # fmt: skip
    rng = np.random.default_rng(0)
    source = np.log(120.0) + 0.1 * rng.standard_normal(400)
    # The model's contour: the right shape, but a level and range of its own.
    converted = np.log(110.0) + 0.05 * rng.standard_normal(300)
    voiced = np.ones(300, dtype=bool)
    neutral = convert_pitch(pitch, "neutral", converted, voiced, source, 5.0)
    assert neutral.mean() == pytest.approx(source.mean()) and neutral.std() == pytest.approx(
        source.std()
    )
    np.testing.assert_allclose(  # the shape is kept: a linear map of the model's contour
        (neutral - neutral.mean()) / neutral.std(), (converted - converted.mean()) / converted.std()
    )
    angry = convert_pitch(pitch, "angry", converted, voiced, source, 5.0)
    assert angry.mean() - source.mean() == pytest.approx(0.2)
    assert angry.std() / source.std() == pytest.approx(1.3)
    half = convert_pitch(pitch, "angry:0.5", converted, voiced, source, 5.0)
    assert half.mean() - source.mean() == pytest.approx(0.1)  # linear in intensity
    assert np.log(half.std() / source.std()) == pytest.approx(np.log(1.3) / 2)
    # Unvoiced frames do not count in the statistics; an emotion the bank lacks adds nothing.
    partly = voiced.copy()
    partly[:100] = False
    shifted = convert_pitch(pitch, "surprised", converted + 5.0 * ~partly, partly, source, 5.0)
    assert shifted[partly].mean() == pytest.approx(source.mean())
    # A curve moves frame by frame: sad at the start, angry at the end.
    curve = convert_pitch(pitch, "sad@0 -> angry@1.5", converted, voiced, source, 5.0)
    assert curve[:50].mean() < source.mean() < curve[-50:].mean()
    # Nothing to scale (a flat or unvoiced contour): unchanged.
    np.testing.assert_array_equal(convert_pitch(pitch, "angry", converted, ~voiced, source,
                                                5.0), converted)  # fmt: skip
    np.testing.assert_array_equal(convert_pitch(pitch, "angry", converted, voiced, source[:1],
                                                5.0), converted)  # fmt: skip
    with pytest.raises(EmogenError, match="pitch bank has the features"):
        convert_pitch(DirectionBank.fit(np.ones((2, 1)), ["sad", "sad"], np.zeros((1, 1))),
                      "sad", converted, voiced, source, 5.0)  # fmt: skip


def test_resumed_run_ends_where_the_uninterrupted_one_does(tiny_run, recipe, corpus, tmp_path):
    reference_out, _ = tiny_run
    config = recipe.load_config("tiny")
    # Killed at step 80: the newest state is step 50, steps 51-80 are done again.
    stopped = recipe.train(config, corpus, tmp_path, stop_after=80)
    assert not stopped["completed"] and not (tmp_path / "pipeline").exists()
    assert [p.name for p in sorted((tmp_path / "states").glob("step-*"))] == ["step-0000050"]

    resumed = recipe.train(config, corpus, tmp_path, resume=True)
    assert resumed["completed"] and resumed["resumed_from"] == 50
    assert resumed["steps"] == config["steps"]
    rows = _log(tmp_path)
    assert [int(r["step"]) for r in rows] == list(range(config["steps"] + 1))
    # Nothing lost: the same batches, noise and state, so the same losses and weights.
    expected = np.array([float(r["loss"] or 0) for r in _log(reference_out)])
    np.testing.assert_allclose([float(r["loss"] or 0) for r in rows], expected, rtol=1e-4)
    again = FrameDenoiser.from_pretrained(tmp_path / "pipeline" / "denoiser")
    original = FrameDenoiser.from_pretrained(reference_out / "pipeline" / "denoiser")
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


def test_two_cpu_processes_train_together(recipe, corpus, tmp_path):
    # The documented launch: ACCELERATE_USE_CPU=true accelerate launch --multi_gpu
    # --num_processes 2 (a gloo group); a short variant of tiny so it completes and exports.
    import os

    import yaml

    config = recipe.load_config("tiny") | {"steps": 30, "eval_every": 10, "save_every": 20}
    config_path = tmp_path / "two.yaml"
    config_path.write_text(yaml.safe_dump(config))
    env = os.environ | {"ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu",
               "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
               "--dynamo_backend", "no", str(RECIPE), "--config", str(config_path),
               "--manifest", str(corpus), "--out", str(tmp_path / "run")]  # fmt: skip
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((tmp_path / "run" / "training_summary.json").read_text())
    assert summary["num_processes"] == 2 and summary["completed"] and summary["steps"] == 30
    assert [int(r["step"]) for r in _log(tmp_path / "run")] == list(range(31))
    assert (tmp_path / "run" / "states" / "step-0000020").is_dir()
    assert (tmp_path / "run" / "pipeline" / "model_index.json").is_file()


def test_the_feature_cache_is_reused_by_another_process(corpus, tmp_path):
    # The cache key must not depend on the process (string hashing orders diffusers'
    # `_use_default_values`): a second run, or a resumed one, reads the cache.
    import os

    script = (
        "import sys, time\n"
        "from emogen.speech.corpus import read_manifest\n"
        "from emogen.speech.feature_cache import cached_world_frames\n"
        "from emogen.speech.frames import WorldFrameCoder\n"
        "from emogen.speech.world import WorldVocoder\n"
        "manifest = read_manifest(sys.argv[1])\n"
        "ids = [u.id for u in manifest][:2]\n"
        "t = time.perf_counter()\n"
        "frames = cached_world_frames(manifest, sys.argv[1], ids, sys.argv[2],\n"
        "    WorldVocoder(window_f0_floor=65.0, aperiodicity_stride=2), WorldFrameCoder())\n"
        "print(sorted(frames) == sorted(ids))\n"
    )
    stamps = []
    for seed in ("1", "2"):
        env = os.environ | {"PYTHONHASHSEED": seed}
        result = subprocess.run([sys.executable, "-c", script, str(corpus), str(tmp_path / "f")],
                                env=env, capture_output=True, text=True, check=True)  # fmt: skip
        assert result.stdout.strip() == "True"
        stamps.append((tmp_path / "f" / "frames.safetensors").stat().st_mtime_ns)
    assert stamps[0] == stamps[1]  # not analysed again
