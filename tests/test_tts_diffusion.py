"""The diffusion TTS (emogen.speech.diffusion_tts), its training recipe (training/tts_diffusion)
and the learned path of EmotionalTTSPipeline: real classes at tiny sizes, and the tiny config
trained on the tiny synthetic corpus (built once per session, conftest.py)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import DDIMScheduler, DDPMScheduler

from emogen.emotion.encoder import EmotionEncoder
from emogen.errors import EmogenError
from emogen.pipelines import EmotionalTTSPipeline, load_pipeline
from emogen.speech.acoustic import FrameDenoiser
from emogen.speech.corpus import ManifestError, read_manifest
from emogen.speech.diffusion_tts import (
    PhonemeAcousticModel,
    generate_frames,
    phoneme_average,
    phoneme_tokens,
    regulate_length,
)
from emogen.speech.frames import sentence_segments
from emogen.speech.voice import PiperVoice


def _tiny_models(seed: int = 0):
    torch.manual_seed(seed)
    model = PhonemeAcousticModel(vocab_size=40, frame_dims=8, emotion_dims=16, hidden_size=16,
                                 num_encoder_layers=1, num_decoder_layers=2, dropout=0.0,
                                 max_frames=400)  # fmt: skip
    # About 5 frames a phoneme (log(1 + 5)), so that the sentence has some length.
    torch.nn.init.constant_(model.duration_predictor.output_projection.bias, 1.8)
    denoiser = FrameDenoiser(frame_dims=8, condition_dims=8, emotion_dims=16, channels=16,
                             num_layers=2, dilation_cycle=2)  # fmt: skip
    torch.nn.init.normal_(denoiser.output_projection.weight, std=0.3)  # zero at init (DiffWave)
    encoder = EmotionEncoder(hidden_size=16, condition_dropout_prob=0, attribute_dropout_prob=0)
    return model.eval(), denoiser.eval(), encoder.eval()


def test_forward_shapes_and_save_load_round_trip(tmp_path):
    model, _, encoder = _tiny_models()
    ids = torch.tensor([[3, 5, 7, 9], [4, 6, 0, 0]])
    mask = ids > 0
    durations = torch.tensor([[2, 0, 3, 1], [4, 2, 0, 0]])
    emotion = encoder.encode(["angry", "sad"]).pooled.detach()
    phoneme_emotion = emotion[:, None].expand(-1, 4, -1)
    frame_emotion = emotion[:, None].expand(-1, 6, -1)
    pitch, energy = torch.randn(2, 4), torch.randn(2, 4)
    with torch.no_grad():
        out = model(ids, mask, phoneme_emotion, durations, pitch, energy, frame_emotion)
    assert out.mu.shape == (2, 6, 8) and out.variances.log_durations.shape == (2, 4)
    assert out.frame_mask.tolist() == [[True] * 6, [True] * 6]
    assert (out.variances.pitch[1, 2:] == 0).all()  # padding phonemes predict nothing

    model.save_pretrained(tmp_path / "acoustic_model")
    loaded = PhonemeAcousticModel.from_pretrained(tmp_path / "acoustic_model").eval()
    assert loaded.config.hidden_size == 16 and loaded.config.max_frames == 400
    with torch.no_grad():
        again = loaded(ids, mask, phoneme_emotion, durations, pitch, energy, frame_emotion)
    torch.testing.assert_close(again.mu, out.mu)

    with pytest.raises(EmogenError, match="phoneme ids must be in"):
        model.encode(torch.tensor([[40]]), torch.ones(1, 1, dtype=torch.bool), emotion[:1, None])
    with pytest.raises(EmogenError, match="odd integer"):
        PhonemeAcousticModel(decoder_kernel_size=4)
    with pytest.raises(EmogenError, match="multiple of num_heads"):
        PhonemeAcousticModel(hidden_size=30, num_heads=4)
    with pytest.raises(EmogenError, match="over the model's limit of 400 frames"):
        regulate_length(torch.zeros(1, 2, 3), torch.tensor([[300, 101]]), 400)


def test_length_regulator_and_phoneme_average():
    hidden = torch.tensor([[[1.0], [2.0], [3.0]]])
    durations = torch.tensor([[2, 0, 3]])
    frames, mask, position = regulate_length(hidden, durations, 10)
    assert frames[0, :, 0].tolist() == [1, 1, 3, 3, 3] and mask.all()
    torch.testing.assert_close(position[0], torch.tensor([0, 0.5, 0, 1 / 3, 2 / 3]))
    # Means over each phoneme's frames; the phoneme without frames takes the frame at its start.
    values = torch.tensor([[[1.0], [3.0], [5.0], [6.0], [7.0]]])
    assert phoneme_average(values, durations)[0, :, 0].tolist() == [2.0, 5.0, 6.0]


def test_guidance_zero_ignores_the_emotion_and_a_seed_repeats():
    model, denoiser, encoder = _tiny_models()
    scheduler = DDIMScheduler.from_config(
        DDPMScheduler(num_train_timesteps=100, clip_sample=False).config
    )
    ids = np.array([3, 5, 7, 9, 11, 2])

    def run(emotion, scale: float, seed: int = 0):
        return generate_frames(model, denoiser, encoder, scheduler, ids, emotion, 5.0,
                               num_inference_steps=3, emotion_guidance_scale=scale,
                               generator=torch.Generator().manual_seed(seed))  # fmt: skip

    angry = run("angry", 1.0)
    assert angry.frames.shape == (int(angry.durations.sum()), 8) and len(angry.durations) == 6
    assert torch.isfinite(angry.frames).all()
    torch.testing.assert_close(run("angry", 1.0).frames, angry.frames)  # seeded
    assert not torch.allclose(run("angry", 1.0, seed=1).frames, angry.frames)
    assert not torch.allclose(run("happy", 1.0).mu, angry.mu)
    # g = 0: only the null emotion speaks, whatever the emotion (a curve included).
    null = run("angry", 0.0)
    for other in ("happy:0.3", "sad@0 -> angry@0.1"):
        again = run(other, 0.0)
        np.testing.assert_array_equal(again.durations, null.durations)
        torch.testing.assert_close(again.frames, null.frames)
    with pytest.raises(EmogenError, match="emotion_guidance_scale"):
        run("angry", -1.0)
    with pytest.raises(EmogenError, match="curves over seconds"):
        run("happy@#0 -> sad@#1", 1.0)


# ---------------------------------------------------------------------- the recipe


@pytest.fixture(scope="module")
def recipe(recipe_module):
    return recipe_module("tts_diffusion")


@pytest.fixture(scope="module")
def tiny_run(recipe, tiny_corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("tts-tiny")
    summary = recipe.train(recipe.load_config("tiny"), tiny_corpus, out)
    return out, summary


def _log(out: Path) -> list[dict[str, str]]:
    with open(out / "loss.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_training_tokens_are_the_tokens_the_pipeline_speaks(recipe, tiny_corpus):
    from emogen.emotion.text import split_sentences
    from emogen.speech.frames import phoneme_frame_durations

    voice = PiperVoice()
    manifest = read_manifest(tiny_corpus)
    for utterance in manifest:
        phonemes = [voice.phonemize(s) for s in split_sentences(utterance.text)]
        # The corpus alignment holds exactly the characters the voice's phonemizer gives.
        assert "".join(p for p, _, _ in utterance.alignment) == "".join(phonemes)
        num_frames = int(utterance.duration_s * 200)
        total = phoneme_frame_durations(utterance.alignment, num_frames, 5.0)
        segments = sentence_segments(utterance, phonemes, num_frames, 5.0)
        for text, (start, end, durations) in zip(phonemes, segments):
            assert len(durations) == len(text) and durations.sum() == end - start
            assert len(phoneme_tokens(voice, text)) == len(text)
        if len(segments) == 1:  # one sentence: only the silences at the ends are cut off
            assert abs(int(segments[0][2][1:-1].sum()) - int(total[1:-1].sum())) <= 2
    with pytest.raises(EmogenError, match="not those of the voice's phonemizer"):
        sentence_segments(manifest[0], ["hə"], 100, 5.0)


def test_tiny_training_learns_and_saves_a_pipeline(tiny_run, recipe):
    out, summary = tiny_run
    config = recipe.load_config("tiny")
    assert summary["completed"] and summary["steps"] == config["steps"]
    rows = _log(out)
    assert [int(r["step"]) for r in rows] == list(range(config["steps"] + 1))
    losses = np.array([float(r["loss"]) for r in rows[1:]])
    assert losses[-10:].mean() < 0.5 * losses[:10].mean()
    prior = np.array([float(r["prior_loss"]) for r in rows[1:]])
    assert prior[-10:].mean() < 0.8 * prior[:10].mean()
    assert summary["final_eval_loss"] < 0.5 * summary["first_eval_loss"]
    assert json.loads((out / "training_summary.json").read_text())["steps"] == config["steps"]
    assert (out / "pipeline" / "acoustic_model" / "diffusion_pytorch_model.safetensors").is_file()


def test_saved_pipeline_speaks_with_an_emotion_and_a_curve(tiny_run):
    out, _ = tiny_run
    pipe = load_pipeline(out / "pipeline")
    assert isinstance(pipe, EmotionalTTSPipeline) and pipe.is_learned and pipe.renderer is None
    text = "Hello there. How are you?"
    result = pipe(text, emotion="angry:0.8", generator=0)
    audio, rate = result.audios[0], result.sample_rate
    assert rate == 22050 and audio.dtype == np.float32 and np.isfinite(audio).all()
    assert 0.3 < len(audio) / rate < 8.0 and np.abs(audio).max() <= 0.99 + 1e-6
    assert [e.label() for e in result.emotions[0]] == ["angry:0.8", "angry:0.8"]
    np.testing.assert_array_equal(pipe(text, emotion="angry:0.8", generator=0).audios[0], audio)

    chunks = list(pipe.stream(text, "sad@0 -> happy@1", generator=0, num_inference_steps=2))
    assert [c.sentence for c in chunks] == ["Hello there.", "How are you?"]
    for chunk in chunks:
        assert np.isfinite(chunk.audio).all()
        phonemes = pipe.voice.phonemize(chunk.sentence)
        assert "".join(t.phoneme for t in chunk.alignment) == phonemes
        speech_s = chunk.alignment[-1].end
        assert speech_s <= len(chunk.audio) / rate + 1e-6
    assert chunks[-1].emotion.category == "happy"

    with pytest.raises(EmogenError, match="num_inference_steps"):
        pipe(text, num_inference_steps=0)
    with pytest.raises(EmogenError, match="emotion_guidance_scale"):
        pipe(text, emotion_guidance_scale=-1.0)
    with pytest.raises(EmogenError, match="over the limit"):
        pipe("word " * 2000)
    with pytest.raises(EmogenError, match="learned path needs all of"):
        EmotionalTTSPipeline(pipe.voice, pipe.vocoder, acoustic_model=pipe.acoustic_model)


def test_cli_speaks_with_the_learned_pipeline(tiny_run, tmp_path):
    from emogen.cli import main

    out, _ = tiny_run
    path = tmp_path / "x.wav"
    argv = ["tts", "--pipeline", str(out / "pipeline"), "Good morning.", "--out", str(path)]
    assert main([*argv, "--emotion", "angry", "--seed", "1"]) == 0
    assert path.is_file() and path.stat().st_size > 1000


def test_resumed_run_ends_where_the_uninterrupted_one_does(tiny_run, recipe, tiny_corpus, tmp_path):
    reference_out, _ = tiny_run
    config = recipe.load_config("tiny")
    save_every = config["save_every"]
    stopped = recipe.train(config, tiny_corpus, tmp_path, stop_after=save_every + 5)
    assert not stopped["completed"] and not (tmp_path / "pipeline").exists()
    resumed = recipe.train(config, tiny_corpus, tmp_path, resume=True)
    assert resumed["completed"] and resumed["resumed_from"] == save_every
    assert resumed["steps"] == config["steps"]
    rows = _log(tmp_path)
    assert [int(r["step"]) for r in rows] == list(range(config["steps"] + 1))
    # Nothing lost: the same batches, noise and state, so the same losses and weights.
    expected = np.array([float(r["loss"] or 0) for r in _log(reference_out)])
    np.testing.assert_allclose([float(r["loss"] or 0) for r in rows], expected, rtol=1e-4)
    again = PhonemeAcousticModel.from_pretrained(tmp_path / "pipeline" / "acoustic_model")
    original = PhonemeAcousticModel.from_pretrained(reference_out / "pipeline" / "acoustic_model")
    for (name, a), (_, b) in zip(again.state_dict().items(), original.state_dict().items()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=name)


def test_bad_manifest_lines_stop_training_unless_skipped(recipe, tiny_corpus, tmp_path):
    lines = tiny_corpus.read_text().splitlines()
    bad = tmp_path / "manifest-bad.jsonl"
    (tmp_path / "wavs").symlink_to(tiny_corpus.parent / "wavs")
    missing = json.loads(lines[1]) | {"id": "missing", "audio": "wavs/missing.wav"}
    unknown = json.loads(lines[2]) | {"id": "unknown", "emotion": "grumpyish"}
    misaligned = json.loads(lines[3]) | {"id": "misaligned", "text": "Something else."}
    bad.write_text("\n".join([*lines, *map(json.dumps, (missing, unknown, misaligned))]) + "\n")
    config = recipe.load_config("tiny")
    with pytest.raises(ManifestError, match="2 of 19 lines are bad") as caught:
        recipe.train(config, bad, tmp_path / "strict", stop_after=1)
    assert [p.line for p in caught.value.problems] == [17, 18]
    # A line whose alignment is not the voice's phonemes of its text is reported the same way.
    only_misaligned = tmp_path / "manifest-misaligned.jsonl"
    only_misaligned.write_text("\n".join([*lines, json.dumps(misaligned)]) + "\n")
    with pytest.raises(ManifestError, match="line 17: the alignment's phonemes"):
        recipe.train(config, only_misaligned, tmp_path / "strict", stop_after=1)
    summary = recipe.train(config, bad, tmp_path / "lenient", skip_bad=True, stop_after=2)
    assert summary["steps"] == 2 and summary["num_sentences"] == 16
