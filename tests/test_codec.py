"""Audio codecs: residual VQ, emogen's WORLD-frame codec, transformers' EnCodec; the recipe."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from emogen.errors import EmogenError
from emogen.speech.codec import (
    AudioCodec,
    EncodecCodec,
    ResidualVectorQuantizer,
    WorldFrameCodec,
)

RATE = 22050


def _clusters(generator: torch.Generator, centres: torch.Tensor, count: int) -> torch.Tensor:
    picks = torch.randint(len(centres), (count,), generator=generator)
    return centres[picks] + 0.05 * torch.randn(count, centres.shape[1], generator=generator)


def test_rvq_learns_clusters_and_refines_level_by_level() -> None:
    generator = torch.Generator().manual_seed(0)
    centres = 3 * torch.randn(8, 6, generator=generator)
    torch.manual_seed(0)
    quantizer = ResidualVectorQuantizer(6, num_codebooks=3, codebook_size=16, decay=0.8).train()
    for _ in range(60):
        quantizer(_clusters(generator, centres, 256)[None])
    quantizer.eval()
    data = _clusters(generator, centres, 512)[None]
    quantised, codes, commitment = quantizer(data)
    assert codes.shape == (1, 3, 512) and codes.dtype == torch.long
    errors = [
        float(((quantizer.lookup(codes[:, :levels]) - data) ** 2).mean()) for levels in (1, 2, 3)
    ]
    # the first codebook finds the clusters (their spread is 0.05^2 = 0.0025 per dimension),
    # and each further level takes away more of what is left
    assert errors[0] < 0.05 * float(data.var())
    assert errors[0] > errors[1] > errors[2]
    torch.testing.assert_close(quantised, quantizer.lookup(codes))
    assert float(commitment) > 0


def test_rvq_restarts_dead_codes() -> None:
    torch.manual_seed(0)
    quantizer = ResidualVectorQuantizer(4, num_codebooks=1, codebook_size=32, decay=0.5).train()
    data = torch.randn(1, 512, 4)
    quantizer(data)  # initialises on the batch
    quantizer.codebooks[0, :16] = 100.0  # half the entries far from any data: never chosen
    quantizer.sums[0, :16] = 100.0
    for _ in range(10):
        quantizer(torch.randn(1, 512, 4))
    assert float(quantizer.codebooks[0].abs().max()) < 10  # all restarted on data


def test_rvq_lookup_refuses_bad_codes() -> None:
    quantizer = ResidualVectorQuantizer(4, num_codebooks=2, codebook_size=8)
    with pytest.raises(EmogenError, match=r"\[0, 8\)"):
        quantizer.lookup(torch.full((1, 2, 3), 8))
    with pytest.raises(EmogenError, match="levels"):
        quantizer.lookup(torch.zeros(1, 3, 3, dtype=torch.long))


def _tone(seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(RATE * seconds)) / RATE
    pitch = 110 + 20 * np.sin(2 * np.pi * 1.5 * t)
    return (0.3 * np.sin(2 * np.pi * np.cumsum(pitch) / RATE)).astype(np.float32)


def _tiny_codec() -> WorldFrameCodec:
    torch.manual_seed(0)
    return WorldFrameCodec(
        channels=16, latent_dims=8, num_codebooks=2, codebook_size=16, blocks=1
    ).eval()


def test_world_codec_interface_and_shapes() -> None:
    codec = _tiny_codec()
    assert isinstance(codec, AudioCodec)
    assert codec.frame_rate == 50.0 and codec.num_codebooks == 2 and codec.codebook_size == 16
    codes = codec.encode(_tone(1.0), RATE)
    assert codes.dtype == torch.long and codes.shape == (2, 51)  # 201 frames of 5 ms -> 51
    audio = codec.decode(codes)
    assert audio.dtype == np.float32 and np.isfinite(audio).all()
    assert len(audio) == pytest.approx(51 * 4 * 0.005 * RATE, rel=0.01)
    # audio at another rate is resampled first: the same sound, the same number of frames
    assert codec.encode(_tone(1.0)[::2].copy(), RATE // 2).shape == (2, 51)
    train = codec.train()(torch.randn(2, 32, 64))
    assert train.reconstruction.shape == (2, 32, 64) and train.codes.shape == (2, 2, 8)


def test_world_codec_refuses_bad_input() -> None:
    codec = _tiny_codec()
    with pytest.raises(EmogenError, match="1-D"):
        codec.encode(np.zeros((2, 100), np.float32), RATE)
    with pytest.raises(EmogenError, match=r"\(Q, T\)"):
        codec.decode(torch.zeros(4, dtype=torch.long))
    with pytest.raises(EmogenError, match="power of two"):
        WorldFrameCodec(stride=3)


def test_world_codec_pitch_level_codes_log_f0_apart_from_the_envelope() -> None:
    from emogen.speech.frames import FrameNormalizer

    torch.manual_seed(0)
    codec = WorldFrameCodec(
        channels=16, latent_dims=8, num_codebooks=3, codebook_size=16, blocks=1,
        pitch_codebook=True, pitch_bins=16,
    ).eval()  # fmt: skip
    assert codec.quantizer.num_codebooks == 2  # content levels; level 1 is the pitch
    codec.with_statistics(FrameNormalizer(mean=[float(np.log(120.0))] + [0.0] * 63, std=[1.0] * 64))
    frames = torch.zeros(1, 16, 64)
    frames[0, :, 0] = torch.log(torch.tensor([60.0] * 4 + [120.0] * 4 + [240.0] * 4 + [500.0] * 4))
    frames[0, :, 0] -= float(np.log(120.0))  # normalised
    pitch = codec.pitch_codes(frames)
    # 16 even steps of log F0 from f0_floor 60 Hz to f0_ceil 500 Hz
    steps = 15 * np.log(np.array([60, 120, 240, 500]) / 60) / np.log(500 / 60)
    assert pitch.tolist() == [np.round(steps).astype(int).tolist()]
    # the content codes do not see log F0: the same envelope at another pitch, the same codes
    raised = frames.clone()
    raised[..., 0] += 0.5
    one, two = codec(frames).codes, codec(raised).codes
    assert torch.equal(one[:, [0, 2]], two[:, [0, 2]]) and not torch.equal(one[:, 1], two[:, 1])
    codes = codec.encode(_tone(0.5), RATE)
    assert codes.shape[0] == 3 and int(codes[1].max()) < 16
    full, coarse = codec.decode_frames(codes), codec.decode_frames(codes, levels=1)
    assert np.isfinite(full).all() and full.shape == coarse.shape
    assert not np.allclose(full, coarse)  # the residual level is left out
    bad = codes.clone()
    bad[1, 0] = 16
    with pytest.raises(EmogenError, match=r"pitch codes \(level 1\) must be in \[0, 16\)"):
        codec.decode(bad)
    with pytest.raises(EmogenError, match="the codec's 3 levels, got 1"):
        codec.decode(codes[:1])
    with pytest.raises(EmogenError, match="pitch_codebook needs"):
        WorldFrameCodec(num_codebooks=1, pitch_codebook=True)
    with pytest.raises(EmogenError, match="pitch_offset needs pitch_codebook"):
        WorldFrameCodec(pitch_offset=3.0)
    # a codec adapted to a custom voice reads the corpus voice's pitch codes `pitch_offset`
    # steps lower: decode raises them (in range), encode lowers them
    codec.register_to_config(pitch_offset=2.6)
    read: list[torch.Tensor] = []
    reconstruct = codec.reconstruct
    codec.reconstruct = lambda c, levels=None, phonemes=None: (
        read.append(c[0].clone()) or reconstruct(c, levels, phonemes)
    )
    shifted = codes.clone()
    shifted[1] = torch.tensor([0, 5, 14] * 20)[: codes.shape[1]]
    codec.decode_frames(shifted)
    assert read[0][1].tolist() == (shifted[1] + 3).clamp(max=15).tolist()
    assert torch.equal(read[0][[0, 2]], shifted[[0, 2]])
    assert codec.encode(_tone(0.5), RATE)[1].tolist() == (codes[1] - 3).clamp(min=0).tolist()


def test_world_codec_decodes_with_fewer_levels_when_asked() -> None:
    codec = _tiny_codec().train()
    frames = torch.randn(2, 32, 64)
    coarse, full = codec(frames, levels=1), codec(frames)
    assert coarse.codes.shape == (2, 1, 8) and full.codes.shape == (2, 2, 8)
    assert not torch.allclose(coarse.reconstruction, full.reconstruction)


def test_world_codec_is_told_phonemes(tmp_path) -> None:
    """`phonemes`: the decoder adds an embedding of each token frame's phoneme (0 for none or an
    unlisted character), zero until trained; `with_phonemes` adds it to a trained codec."""
    plain = _tiny_codec()
    codes = plain.encode(_tone(0.5), RATE)
    told = plain.with_phonemes(["a", "b", "c"]).eval()
    assert told.reads_phonemes and not plain.reads_phonemes
    assert told.phoneme_ids("abz?").tolist() == [1, 2, 0, 0]
    length = codes.shape[1]
    # a zero embedding: the same frames as the codec it came from, told or not
    np.testing.assert_allclose(told.decode_frames(codes, phonemes="a" * length),
                               plain.decode_frames(codes), atol=1e-5)  # fmt: skip
    with torch.no_grad():
        told.phoneme_embedding.weight.normal_()
    a = told.decode_frames(codes, phonemes="a" * length)
    b = told.decode_frames(codes, phonemes="b" * length)
    assert np.abs(a - b).max() > 1e-3
    np.testing.assert_allclose(
        told.decode_frames(codes), told.decode_frames(codes, phonemes="?" * length)
    )
    assert told.decode(codes, phonemes="c" * length).shape == plain.decode(codes).shape
    with pytest.raises(EmogenError, match="one per token frame"):
        told.decode(codes, phonemes="ab")
    with pytest.raises(EmogenError, match="reads no phonemes"):
        plain.decode(codes, phonemes="a" * length)
    with pytest.raises(EmogenError, match="already"):
        told.with_phonemes(["a"])
    told.save_pretrained(tmp_path / "told")
    loaded = WorldFrameCodec.from_pretrained(tmp_path / "told")
    assert loaded.config.phonemes == ["a", "b", "c"]
    np.testing.assert_array_equal(loaded.decode_frames(codes, phonemes="b" * length), b)


def test_world_codec_save_load_round_trip(tmp_path) -> None:
    from emogen.speech.frames import FrameNormalizer

    codec = _tiny_codec()
    codec.with_statistics(FrameNormalizer(mean=[1.0] * 64, std=[2.0] * 64))
    codec.save_pretrained(tmp_path / "codec")
    loaded = WorldFrameCodec.from_pretrained(tmp_path / "codec")
    np.testing.assert_allclose(loaded.normalizer.std, 2.0)
    tone = _tone(0.5)
    assert torch.equal(loaded.encode(tone, RATE), codec.encode(tone, RATE))


def test_encodec_codec_loads_a_local_model(tmp_path) -> None:
    from transformers import EncodecConfig, EncodecModel

    torch.manual_seed(0)
    config = EncodecConfig(
        target_bandwidths=[1.5, 3.0],
        sampling_rate=24000,
        num_filters=4,
        hidden_size=16,
        codebook_dim=16,
        codebook_size=1024,
        num_residual_layers=1,
        upsampling_ratios=[8, 5, 4, 2],
        num_lstm_layers=1,
    )
    EncodecModel(config).save_pretrained(tmp_path / "encodec")
    codec = EncodecCodec(str(tmp_path / "encodec"), bandwidth=3.0)
    assert isinstance(codec, AudioCodec)
    assert (codec.sample_rate, codec.frame_rate, codec.codebook_size) == (24000, 75.0, 1024)
    assert codec.num_codebooks == 4  # 3 kbit/s at 75 frames of 10 bits per codebook
    codes = codec.encode(_tone(1.0), RATE)  # resampled to 24 kHz
    assert codes.shape == (4, 75) and codes.dtype == torch.long
    audio = codec.decode(codes)
    assert audio.shape == (24000,) and np.isfinite(audio).all()
    codec.save_pretrained(tmp_path / "wrapper")
    assert EncodecCodec.from_pretrained(tmp_path / "wrapper").config.bandwidth == 3.0
    with pytest.raises(EmogenError, match="no EncodecModel folder"):
        EncodecCodec(str(tmp_path / "missing"))


def test_recipe_tiny_learns_and_resumes(
    recipe_module, tiny_codec_run, tiny_corpus, tmp_path
) -> None:
    recipe = recipe_module("codec")
    config = recipe.load_config("tiny")
    run, full = tiny_codec_run
    assert full["completed"] and full["final_eval_loss"] < full["first_eval_loss"]
    codec = WorldFrameCodec.from_pretrained(run / "codec")
    assert codec.config.num_codebooks == config["num_codebooks"]
    assert np.abs(codec.normalizer.mean).max() > 0.1  # the corpus's statistics, in the config
    # killed after step 40, resumed from its step-30 state: the same final weights
    recipe.train(config, tiny_corpus, tmp_path / "cut", stop_after=40)
    resumed = recipe.train(config, tiny_corpus, tmp_path / "cut", resume=True)
    assert resumed["resumed_from"] == 30
    again = WorldFrameCodec.from_pretrained(tmp_path / "cut" / "codec")
    for (name, a), b in zip(codec.state_dict().items(), again.state_dict().values()):
        torch.testing.assert_close(a, b, msg=name)
    summary = json.loads((run / "training_summary.json").read_text())
    assert summary["num_parameters"] > 0
    # adapting the trained codec (a custom voice): its sizes and statistics, codebooks frozen
    adapt = {**recipe.load_config("finetune"), "steps": 3, "crop_frames": 64, "batch_size": 2}
    adapt["validation_texts"] = 1
    with pytest.raises(EmogenError, match="init_from"):
        recipe.train(adapt, tiny_corpus, tmp_path / "no-base")
    recipe.train(adapt, tiny_corpus, tmp_path / "adapted", init_from=run / "codec")
    adapted = WorldFrameCodec.from_pretrained(tmp_path / "adapted" / "codec")
    assert adapted.config.channels == codec.config.channels
    np.testing.assert_array_equal(adapted.normalizer.mean, codec.normalizer.mean)
    torch.testing.assert_close(adapted.quantizer.codebooks, codec.quantizer.codebooks)
    assert not torch.equal(adapted.decoder[0].weight, codec.decoder[0].weight)


def test_recipe_decoder_told_phonemes_learns(
    recipe_module, tiny_codec_run, tiny_corpus, tmp_path
) -> None:
    """decoder_only + phoneme_conditioning (config phonemes): a trained codec's decoder learns to
    read the corpus's phonemes beside codes with random substitutions; the encoder and codebooks
    stay, so every code keeps its meaning."""
    recipe = recipe_module("codec")
    base = WorldFrameCodec.from_pretrained(tiny_codec_run[0] / "codec")
    config = {**recipe.load_config("tiny"), "steps": 200, "save_every": 1000}
    config.update(decoder_only=True, phoneme_conditioning=True, code_noise=0.5, phoneme_dropout=0.2)
    with pytest.raises(EmogenError, match="decoder_only trains a trained codec"):
        recipe.train(config, tiny_corpus, tmp_path / "no-base")
    summary = recipe.train(
        config, tiny_corpus, tmp_path / "run", init_from=tiny_codec_run[0] / "codec"
    )
    assert summary["completed"]
    told = WorldFrameCodec.from_pretrained(tmp_path / "run" / "codec")
    # on codes with substitutions, the phoneme told lowers the error: the decoder leans on it
    from accelerate import Accelerator

    utterances = recipe.build_data(tiny_corpus, tmp_path / "run", config, Accelerator(), told)[0]
    errors = {"told": [], "none": []}
    for frames, labels in utterances:
        length = len(frames) // 4 * 4
        frames = frames[None, :length]
        codes = told.codes_of(frames)
        noisy = recipe.corrupt_codes(codes, 1.0, told, torch.Generator().manual_seed(0))
        ids = (labels[None, 2:length:4] + 1).clamp(min=0)
        with torch.no_grad():
            for key, phonemes in (("told", ids), ("none", None)):
                decoded = told.reconstruct(noisy, phonemes=phonemes)
                errors[key].append(recipe.reconstruction_loss(decoded, frames, 4.0))
    assert np.mean(errors["told"]) < 0.95 * np.mean(errors["none"]), errors
    lines = [json.loads(line) for line in tiny_corpus.read_text().splitlines()]
    assert told.config.phonemes == sorted({e[0] for line in lines for e in line["alignment"]})
    assert told.phoneme_embedding.weight.abs().sum() > 0
    for module in ("encoder", "quantizer"):
        for a, b in zip(
            getattr(base, module).state_dict().values(), getattr(told, module).state_dict().values()
        ):
            assert torch.equal(a, b)
    tone = _tone(0.5)
    assert torch.equal(told.encode(tone, RATE), base.encode(tone, RATE))
    # code_noise substitutes content codes (never the pitch level) in up to its share of frames
    pitch = WorldFrameCodec(num_codebooks=3, codebook_size=512, pitch_codebook=True, channels=16)
    codes = torch.zeros(64, 3, 100, dtype=torch.long)
    noisy = recipe.corrupt_codes(codes, 0.5, pitch, torch.Generator().manual_seed(0))
    changed = (noisy != codes).float()
    assert changed[:, 1].sum() == 0
    assert 0.2 < changed[:, [0, 2]].mean() < 0.3  # U(0, 0.5): a quarter on average
    assert changed[:, 0].mean(1).max() < 0.6
    assert torch.equal(recipe.corrupt_codes(codes, 0.0, pitch, torch.Generator()), codes)
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        (recipe.HERE / "configs" / "tiny.yaml")
        .read_text()
        .replace("code_noise: 0.0", "code_noise: 0.3")
    )
    with pytest.raises(EmogenError, match="code_noise needs decoder_only"):
        recipe.load_config(str(bad))


def test_recipe_pitch_level_with_phoneme_guidance_learns(
    recipe_module, tiny_corpus, tmp_path
) -> None:
    """The pitch level, quantizer dropout and the phoneme loss of the first level, together:
    the phoneme classifier learns the corpus's alignment, and the codec saved is a pitch codec."""
    import csv

    recipe = recipe_module("codec")
    config = {**recipe.load_config("tiny"), "num_codebooks": 3, "pitch_codebook": True}
    config.update(quantizer_dropout=0.5, phoneme_weight=1.0, steps=40, save_every=100)
    summary = recipe.train(config, tiny_corpus, tmp_path / "run")
    assert summary["completed"]
    rows = list(csv.DictReader((tmp_path / "run" / "loss.csv").open()))
    phoneme = [float(r["phoneme_loss"]) for r in rows if r["phoneme_loss"]]
    assert len(phoneme) >= 4 and np.mean(phoneme[-2:]) < np.mean(phoneme[:2])
    codec = WorldFrameCodec.from_pretrained(tmp_path / "run" / "codec")
    assert codec.config.pitch_codebook and codec.quantizer.num_codebooks == 2
    assert codec.encode(_tone(0.5), RATE).shape[0] == 3

    # `source_voice` (emogen voice finetune): the decoder learns to read renditions of each
    # text by another voice (here the corpus's own), aligned by DTW; the rest stays
    adapt = {**recipe.load_config("finetune"), "steps": 4, "crop_frames": 64, "batch_size": 2}
    adapt.update(validation_texts=1, source_voice="joe-us", source_renditions=2, alignment_steps=2)
    with pytest.raises(EmogenError, match="give init_from"):
        recipe.train(adapt, tiny_corpus, tmp_path / "no-base")
    summary = recipe.train(
        adapt, tiny_corpus, tmp_path / "adapted", init_from=tmp_path / "run" / "codec"
    )
    adapted = WorldFrameCodec.from_pretrained(tmp_path / "adapted" / "codec")
    assert summary["completed"] and adapted.config.pitch_offset == summary["pitch_offset"]
    assert abs(summary["pitch_offset"]) < 100  # the same voice: a small shift
    for module in ("encoder", "quantizer"):
        for a, b in zip(
            getattr(codec, module).state_dict().values(),
            getattr(adapted, module).state_dict().values(),
        ):
            assert torch.equal(a, b)
    assert not torch.equal(adapted.decoder[0].weight, codec.decoder[0].weight)
    # pitch augmentation moves a pair's log F0 and its pitch codes together
    frames = torch.randn(4, 64, 64) * 0.3
    codes = torch.zeros(4, 3, 16, dtype=torch.long)
    codes[:, 1] = adapted.pitch_codes(frames)
    moved, moved_codes = recipe.shift_pitch(frames, codes, adapted, 6.0, torch.Generator())
    assert torch.equal(moved[..., 1:], frames[..., 1:]) and not torch.equal(moved, frames)
    assert (adapted.pitch_codes(moved) - moved_codes[:, 1]).abs().max() <= 1
    # ... and the other columns as the base decoder answers a pitch step (louder when higher)
    response = recipe.pitch_response(codec, [(frames[0], codes[0], None)], 0.0, step=2)
    assert response.shape == (64,) and response[2:].abs().sum() > 0
    again, again_codes = recipe.shift_pitch(
        frames, codes, adapted, 6.0, torch.Generator(), response
    )
    steps = (again_codes[:, 1] - codes[:, 1]).float()[:, :1, None]  # no clamping here
    torch.testing.assert_close(
        again[..., 2:] - frames[..., 2:], steps * response[2:].expand(4, 64, -1)
    )
    # a first pass of alignment_steps, whose decoder re-spoke the renditions for the alignment
    aligner = tmp_path / "adapted" / "aligner"
    assert json.loads((aligner / "training_summary.json").read_text())["steps"] == 2
    pairs = torch.load(tmp_path / "adapted" / "features" / "source_pairs.pt", weights_only=False)
    assert pairs["key"]["source_aligner"] == str(aligner / "codec")
    frames = {u: f for u, f in pairs["pairs"].items()}
    assert all(len(renditions) == 2 for renditions in frames.values())
    for renditions in frames.values():  # the recording's own pitch; the renditions' content
        assert torch.equal(renditions[0][1], renditions[1][1])
        assert renditions[0].shape == renditions[1].shape and renditions[0].shape[0] == 3
