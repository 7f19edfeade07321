"""CodecLanguageModel: delay pattern, teacher-forced training, KV-cached batched generation."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from emogen.errors import EmogenError
from emogen.speech.codec_lm import (
    CodecLanguageModel,
    _sample,
    delay_codes,
    phoneme_prior_table,
    undelay_codes,
)

K = 16


def test_delay_pattern_round_trip() -> None:
    codes = torch.randint(0, K, (3, 7), generator=torch.Generator().manual_seed(0))
    delayed = delay_codes(codes, bos=K, end=K + 1)
    assert delayed.shape == (3, 9)
    assert delayed[1, 0] == K and delayed[2, :2].tolist() == [K, K]  # BOS before
    assert delayed[0, 7:].tolist() == [K + 1, K + 1] and delayed[1, 8] == K + 1  # END after
    assert torch.equal(delayed[2, 2:], codes[2])
    assert torch.equal(undelay_codes(delayed, 7), codes)


@pytest.fixture(scope="module", params=[False, True], ids=["plain", "aligned"])
def memorised(request):
    """A tiny model trained until it has learned two utterances by heart, without and with the
    phoneme pointer (row 1's second phoneme lasts no frame: its pointer skips it)."""
    aligned = request.param
    torch.manual_seed(0)
    model = CodecLanguageModel(
        phoneme_alignment=aligned,
        phoneme_vocab_size=20,
        num_codebooks=3,
        codebook_size=K,
        emotion_dims=8,
        hidden_size=32,
        num_layers=2,
        num_heads=2,
        intermediate_size=64,
        max_positions=128,
    )
    tokens = torch.tensor([[1, 2, 3, 4, 0], [5, 6, 7, 0, 0]])
    token_lengths = torch.tensor([4, 3])
    codes = torch.randint(0, K, (2, 3, 10), generator=torch.Generator().manual_seed(1))
    code_lengths = torch.tensor([10, 6])
    condition = torch.randn(2, 8, generator=torch.Generator().manual_seed(2))
    frame_phonemes = torch.tensor([[0, 0, 1, 1, 1, 2, 2, 3, 3, 3], [0, 0, 2, 2, 2, 2, 0, 0, 0, 0]])
    optimizer = torch.optim.Adam(model.parameters(), 3e-3)
    first = None
    for _ in range(300):
        loss = model(
            condition, tokens, token_lengths, codes, code_lengths,
            frame_phonemes if aligned else None,
        ).loss  # fmt: skip
        first = float(loss.detach()) if first is None else first
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return (
        model.eval(),
        tokens,
        token_lengths,
        codes,
        code_lengths,
        condition,
        first,
        float(loss.detach()),
    )


def test_training_learns_and_greedy_generation_replays_the_codes(memorised) -> None:
    model, tokens, token_lengths, codes, code_lengths, condition, first, last = memorised
    assert last < 0.05 * first
    prompts = [tokens[row, : token_lengths[row]] for row in range(2)]
    generated = model.generate(prompts, condition, top_k=1, max_frames=40)
    # each row stops where its utterance ended (codebook 0's END), with every code right
    for row in range(2):
        assert torch.equal(generated[row], codes[row, :, : code_lengths[row]])


def test_batched_generation_equals_one_by_one(memorised) -> None:
    model, tokens, token_lengths, _, _, condition, _, _ = memorised
    prompts = [tokens[row, : token_lengths[row]] for row in range(2)]
    generator = torch.Generator().manual_seed(3)
    batched = model.generate(prompts, condition, temperature=1e-3, max_frames=40)
    single = model.generate(prompts[1:], condition[1:], temperature=1e-3, max_frames=40)
    assert torch.equal(batched[1], single[0])
    sampled = model.generate(prompts, condition, top_p=0.9, max_frames=12, generator=generator)
    assert all(s.shape[0] == 3 and 1 <= s.shape[1] <= 12 for s in sampled)
    assert all(int(s.max()) < K for s in sampled)  # BOS and END never leak into the codes


def test_guidance_and_limits(memorised) -> None:
    model, tokens, token_lengths, _, _, condition, _, _ = memorised
    prompt = [tokens[0, :4]]
    guided = model.generate(
        prompt, condition[:1], torch.zeros(1, 8), guidance_scale=2.0, top_k=1, max_frames=5
    )
    assert guided[0].shape == (3, 5)  # stopped at max_frames
    # guidance on chosen levels only: none of them is the conditional model, all is the default

    def run(**kwargs) -> torch.Tensor:
        return model.generate(
            prompt, condition[:1], torch.zeros(1, 8), top_k=1, max_frames=8,
            generator=torch.Generator().manual_seed(0), **kwargs,
        )[0]  # fmt: skip

    assert torch.equal(run(guidance_scale=3.0, guided_levels=[]), run())
    assert torch.equal(run(guidance_scale=3.0, guided_levels=[0, 1, 2]), run(guidance_scale=3.0))
    with pytest.raises(EmogenError, match="guided_levels"):
        run(guidance_scale=3.0, guided_levels=[3])
    longer = model.generate(prompt, condition[:1], top_k=1, max_frames=40, min_frames=15)
    assert longer[0].shape[1] >= 15
    with pytest.raises(EmogenError, match="null_condition"):
        model.generate(prompt, condition[:1], guidance_scale=2.0)
    with pytest.raises(EmogenError, match="temperature"):
        model.generate(prompt, condition[:1], temperature=0)
    with pytest.raises(EmogenError, match="top_p"):
        model.generate(prompt, condition[:1], top_p=1.5)
    if model.config.phoneme_alignment:
        with pytest.raises(EmogenError, match="frame_phonemes"):
            model(condition, tokens, token_lengths, torch.zeros(2, 3, 4, dtype=torch.long),
                  token_lengths)  # fmt: skip
    with pytest.raises(EmogenError, match="codebooks"):
        model(
            condition, tokens, token_lengths, torch.zeros(2, 2, 4, dtype=torch.long), token_lengths
        )


def test_sampling_filters() -> None:
    scores = torch.tensor([[0.0, 3.0, 1.0, 2.9]])
    generator = torch.Generator().manual_seed(0)
    draws = {int(_sample(scores, 1.0, 1, None, generator)) for _ in range(20)}
    assert draws == {1}  # top-1 is greedy
    draws = {int(_sample(scores, 1.0, None, 0.3, generator)) for _ in range(20)}
    assert draws == {1}  # the nucleus of 30 % holds only the best entry
    draws = {int(_sample(scores, 1.0, 2, None, generator)) for _ in range(200)}
    assert draws == {1, 3}  # top-2
    draws = {int(_sample(scores, 100.0, None, None, generator)) for _ in range(200)}
    assert draws == {0, 1, 2, 3}  # a high temperature flattens the distribution


def test_save_load_round_trip(memorised, tmp_path) -> None:
    model, tokens, _, _, _, condition, _, _ = memorised
    model.save_pretrained(tmp_path / "lm")
    loaded = CodecLanguageModel.from_pretrained(tmp_path / "lm").eval()
    prompts = [tokens[0, :4]]
    assert torch.equal(
        loaded.generate(prompts, condition[:1], top_k=1, max_frames=40)[0],
        model.generate(prompts, condition[:1], top_k=1, max_frames=40)[0],
    )


def test_durations_from_elsewhere_drive_the_pointer(memorised) -> None:
    """`frame_phonemes` in generation: the pointer follows the given durations, the row has
    exactly their frames, and bad owners are refused."""
    model, tokens, _, codes, _, condition, _, _ = memorised
    prompt = [tokens[0, :4]]
    if not model.config.phoneme_alignment:
        with pytest.raises(EmogenError, match="phoneme_alignment"):
            model.generate(prompt, condition[:1], frame_phonemes=[torch.zeros(3)])
        with pytest.raises(EmogenError, match="return_pointers needs"):
            model.generate(prompt, condition[:1], return_pointers=True)
        return
    # the training durations: the memorised codes come back, frame for frame, and the pointer
    # reported for each frame is the phoneme it was drawn for
    owners = torch.tensor([0, 0, 1, 1, 1, 2, 2, 3, 3, 3])
    replay, pointers = model.generate(
        prompt, condition[:1], top_k=1, frame_phonemes=[owners], return_pointers=True
    )
    assert torch.equal(replay[0], codes[0]) and torch.equal(pointers[0], owners)
    # free-running, the pointer's own advances: one per frame, in order, within the prompt
    free, moved = model.generate(
        [*prompt, *prompt], condition[:2], temperature=1.0, return_pointers=True,
        generator=torch.Generator().manual_seed(3),
    )  # fmt: skip
    for row_codes, row_pointers in zip(free, moved):
        assert row_pointers.shape == (row_codes.shape[1],)
        assert (
            row_pointers.diff() >= 0
        ).all() and 0 <= row_pointers.min() <= row_pointers.max() <= 3
    stretched = torch.tensor([0] * 6 + [1] * 6 + [2] * 6 + [3] * 6)
    longer = model.generate(prompt, condition[:1], top_k=1, frame_phonemes=[stretched])
    assert longer[0].shape == (3, 24)  # 24 frames although the model would stop after 10
    for bad, match in (
        ([torch.tensor([1, 0])], "must not decrease"),
        ([torch.tensor([0, 4])], "must not decrease and must lie in 0 .. 3"),
        ([torch.tensor([])], "non-empty"),
        ([owners, owners], "2 rows"),
    ):
        with pytest.raises(EmogenError, match=match):
            model.generate(prompt, condition[:1], frame_phonemes=bad)


def test_max_phoneme_frames_moves_a_held_pointer_on(memorised) -> None:
    """`max_phoneme_frames`: a pointer that stays that long on one phoneme is moved on, so the
    utterance is shorter than the memorised one; without a pointer the limit is unused."""
    model, tokens, _, _, _, condition, _, _ = memorised
    prompt = [tokens[0, :4]]
    # a low temperature: the pointer's advances are the memorised ones
    free = model.generate(prompt, condition[:1], temperature=1e-3, max_frames=40)
    forced = model.generate(
        prompt, condition[:1], temperature=1e-3, max_frames=40, max_phoneme_frames=1
    )
    if model.config.phoneme_alignment:
        assert free[0].shape == (3, 10)  # the memorised durations: 2, 3, 2, 3 frames
        assert forced[0].shape[1] <= 4  # one frame a phoneme at most
    else:
        assert torch.equal(forced[0], free[0])
    with pytest.raises(EmogenError, match="max_phoneme_frames must be >= 1"):
        model.generate(prompt, condition[:1], max_phoneme_frames=0)


def test_phoneme_prior_table_and_guidance(memorised, tmp_path) -> None:
    """The prior counts log p(phoneme | first-level code); a large `phoneme_prior_scale` makes
    each frame's first code one heard with its phoneme; it saves and loads with the model."""
    table = phoneme_prior_table(
        [torch.tensor([3, 7])], [torch.tensor([[1, 1, 2, 2]])], [torch.tensor([0, 0, 1, 1])],
        phoneme_vocab_size=8, codebook_size=4, smoothing=0.5,
    )  # fmt: skip
    assert table.shape == (8, 4)
    # code 1 was heard twice with phoneme 3: (2 + 0.5) / (2 + 8 * 0.5)
    assert table[3, 1].exp().item() == pytest.approx(2.5 / 6)
    assert table[7, 1].exp().item() == pytest.approx(0.5 / 6)
    assert torch.allclose(table[:, 0].exp(), torch.full((8,), 1 / 8))  # never heard: uniform
    model, tokens, _, _, _, condition, _, _ = memorised
    prompt = [tokens[0, :4]]
    if not model.config.phoneme_alignment:
        with pytest.raises(EmogenError, match="phoneme_prior_scale > 0 needs"):
            model.generate(prompt, condition[:1], phoneme_prior_scale=1.0)
        return
    with pytest.raises(EmogenError, match="phoneme_prior_scale > 0 needs"):
        model.generate(prompt, condition[:1], phoneme_prior_scale=1.0)  # no prior yet
    # a prior that hears phoneme p only with code p + 5 (the prompt's phonemes are 1 .. 4)
    prior = torch.full((20, K), -20.0)
    for phoneme in range(20):
        prior[phoneme, (phoneme + 5) % K] = 0.0
    with_prior = model.with_phoneme_prior(prior).eval()
    owners = torch.tensor([0, 0, 1, 1, 1, 2, 2, 3, 3, 3])
    generated = with_prior.generate(
        prompt, condition[:1], top_k=1, frame_phonemes=[owners], phoneme_prior_scale=10.0
    )[0]
    assert torch.equal(generated[0], tokens[0, owners] + 5)
    plain = with_prior.generate(prompt, condition[:1], top_k=1, frame_phonemes=[owners])[0]
    assert torch.equal(
        plain, model.generate(prompt, condition[:1], top_k=1, frame_phonemes=[owners])[0]
    )
    with_prior.save_pretrained(tmp_path / "lm")
    loaded = CodecLanguageModel.from_pretrained(tmp_path / "lm")
    assert torch.equal(loaded.phoneme_log_prior, prior)
    with pytest.raises(EmogenError, match="must be"):
        model.with_phoneme_prior(torch.zeros(3, 3))
    with pytest.raises(EmogenError, match=">= 0"):
        with_prior.generate(prompt, condition[:1], phoneme_prior_scale=-1.0)


def test_own_history_trains_on_the_models_own_draws(memorised) -> None:
    """Parallel scheduled sampling: with own_history the inputs hold the model's draws (the loss
    changes, the targets do not), reproducibly for one generator; 0 is teacher forcing."""
    model, tokens, token_lengths, codes, code_lengths, condition, _, _ = memorised
    owners = None
    if model.config.phoneme_alignment:
        owners = torch.tensor([[0, 0, 1, 1, 1, 2, 2, 3, 3, 3], [0, 0, 2, 2, 2, 2, 0, 0, 0, 0]])
    args = (condition, tokens, token_lengths, codes, code_lengths, owners)
    with torch.no_grad():
        forced = model(*args).loss
        assert torch.equal(model(*args, own_history=0.0).loss, forced)
        # random inputs: a model that learned by heart loses its footing
        noisy = model.from_config(model.config).eval()
        first = noisy(*args, own_history=1.0, generator=torch.Generator().manual_seed(0)).loss
        again = noisy(*args, own_history=1.0, generator=torch.Generator().manual_seed(0)).loss
        assert torch.equal(first, again)
        teacher = noisy(*args).loss
    assert not torch.equal(first, teacher)
    grads = model.train()(*args, own_history=0.5, generator=torch.Generator().manual_seed(1))
    grads.loss.backward()
    assert all(p.grad is not None for p in model.heads.parameters())
    model.zero_grad()
    model.eval()


@pytest.fixture(scope="module")
def tiny_lm_run(recipe_module, tiny_codec_run, tiny_corpus, tmp_path_factory):
    """The codec-LM recipe's tiny config trained once: `(run folder, summary)`."""
    recipe = recipe_module("tts_codec_lm")
    out = tmp_path_factory.mktemp("codec-lm-tiny")
    codec = tiny_codec_run[0] / "codec"
    return out, recipe.train(recipe.load_config("tiny"), codec, tiny_corpus, out)


def test_recipe_tiny_learns_resumes_and_saves_a_pipeline(
    recipe_module, tiny_codec_run, tiny_lm_run, tiny_corpus, tmp_path
) -> None:
    import numpy as np

    from emogen.pipelines import CodecLMTTSPipeline, load_pipeline

    recipe = recipe_module("tts_codec_lm")
    config = recipe.load_config("tiny")
    codec = tiny_codec_run[0] / "codec"
    run, full = tiny_lm_run
    assert full["completed"] and full["final_eval_loss"] < 0.9 * full["first_eval_loss"]
    # killed after step 30, resumed from its step-20 state: the same final weights
    recipe.train(config, codec, tiny_corpus, tmp_path / "cut", stop_after=30)
    # a run on its way: its newest state (step 20) exported as a pipeline, nothing trained
    exported = recipe.train(config, codec, tiny_corpus, tmp_path / "cut", export_only=True,
                            resume=True)  # fmt: skip
    assert exported["steps"] == 20
    assert isinstance(load_pipeline(exported["pipeline"]), CodecLMTTSPipeline)
    with pytest.raises(EmogenError, match="no saved state"):
        recipe.train(config, codec, tiny_corpus, tmp_path / "empty", export_only=True)
    resumed = recipe.train(config, codec, [tiny_corpus], tmp_path / "cut", resume=True)
    assert resumed["resumed_from"] == 20
    pipe = load_pipeline(run / "pipeline")
    again = load_pipeline(tmp_path / "cut" / "pipeline")
    assert isinstance(pipe, CodecLMTTSPipeline)
    for a, b in zip(
        pipe.language_model.state_dict().values(), again.language_model.state_dict().values()
    ):
        torch.testing.assert_close(a, b)
    out = pipe("Hello there. See you soon.", emotion="sad", generator=0)
    assert out.sample_rate == 22050 and len(out.sentences[0]) == 2
    assert out.audios[0].dtype == np.float32 and np.isfinite(out.audios[0]).all()
    assert out.sentence_starts[0][1] > 0 and out.emotions[0][0].category == "sad"
    # a curve over seconds: each sentence gets the curve at its estimated start
    curved = pipe("Hello there. See you soon.", emotion="happy@0 -> sad@1", generator=0)
    first, second = curved.emotions[0]
    assert first.category == "happy" and second.valence < first.valence
    with pytest.raises(EmogenError, match="best_of"):
        pipe("Hello.", best_of=0)
    with pytest.raises(EmogenError, match="needs sampling"):  # greedy: N identical candidates
        pipe("Hello.", best_of=2, top_k=1)
    assert pipe.config.phoneme_prior_scale == 0.0  # no pointer, so no phoneme prior
    with pytest.raises(EmogenError, match="phoneme_prior_scale > 0 needs"):
        pipe("Hello.", phoneme_prior_scale=1.0)
    # a fresh process loads it too (diffusers only loads components of imported modules)
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys; from emogen.pipelines import load_pipeline; "
         "print(type(load_pipeline(sys.argv[1]).estimator).__name__)", str(run / "pipeline")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    assert loaded.stdout.strip() == "SpeechEmotionEstimator"


@pytest.fixture(scope="module")
def tiny_aligned_run(recipe_module, tiny_codec_run, tiny_corpus, tmp_path_factory):
    """The tiny config with the phoneme pointer, trained once: `(run folder, summary)`."""
    recipe = recipe_module("tts_codec_lm")
    config = {**recipe.load_config("tiny"), "phoneme_alignment": True}
    out = tmp_path_factory.mktemp("codec-lm-aligned")
    return out, recipe.train(config, tiny_codec_run[0] / "codec", tiny_corpus, out)


def test_recipe_with_the_phoneme_pointer(
    recipe_module, tiny_codec_run, tiny_aligned_run, tiny_corpus, tmp_path
) -> None:
    """phoneme_alignment: each sentence's token frames carry the phoneme under them (from the
    corpus alignment), the model trains and speaks; a manifest without alignment is refused."""
    import json

    recipe = recipe_module("tts_codec_lm")
    config = {**recipe.load_config("tiny"), "phoneme_alignment": True}
    codec = tiny_codec_run[0] / "codec"
    run, summary = tiny_aligned_run
    assert summary["completed"] and summary["final_eval_loss"] < summary["first_eval_loss"]
    rows = torch.load(run / "codes.pt")["rows"]
    for row in rows:
        owners = row["frame_phonemes"]
        assert owners.shape == (row["codes"].shape[1],)
        assert (owners.diff() >= 0).all() and 0 <= owners.min() <= owners.max() < len(row["tokens"])
    assert all(row["frame_phonemes"][-1] >= len(row["tokens"]) - 3 for row in rows)
    pipe_folder = run / "pipeline"
    from emogen.pipelines import load_pipeline

    pipe = load_pipeline(pipe_folder)
    assert pipe.language_model.config.phoneme_alignment
    out = pipe("Hello there.", emotion="angry", generator=0)
    assert out.audios[0].size > 0 and np.isfinite(out.audios[0]).all()
    # the phoneme prior counted on the training sentences is exported with the model
    prior = pipe.language_model.phoneme_log_prior.exp()
    assert torch.allclose(prior.sum(0), torch.ones(prior.shape[1]))  # p(phoneme | code)
    heard = torch.cat([row["codes"][0] for row in rows]).unique()  # held-out rows' codes too
    leaning = prior[:, heard].max(0).values > 1.5 / prior.shape[0]  # towards some phonemes
    assert leaning.float().mean() > 0.8
    assert torch.allclose(prior[:, ~leaning], prior[0, ~leaning])  # unheard codes: uniform
    guided = pipe("Hello there.", emotion="angry", generator=0, phoneme_prior_scale=2.0)
    assert guided.audios[0].size > 0 and np.isfinite(guided.audios[0]).all()
    # a codec that reads phonemes is told, frame by frame, the one the pointer was on
    told = pipe.codec.with_phonemes(sorted(set(pipe.voice.phonemize("Hello there. Bye."))))
    heard = []

    def decode(codes, levels=None, phonemes=None):
        heard.append((codes.shape[1], phonemes))
        return type(told).decode(told, codes, levels, phonemes)

    told.decode = decode
    pipe.register_modules(codec=told)
    generate, drawn = pipe.language_model.generate, []

    def spy(*args, **kwargs):
        out = generate(*args, **kwargs)
        drawn.append(out)
        return out

    pipe.language_model.generate = spy
    pipe(["Hello there.", "Bye."], generator=0, best_of=1)
    sounds = [pipe.voice.phonemize(t) for t in ("Hello there.", "Bye.")]
    codes, pointers = drawn[0]
    assert len(heard) == 2
    for (frames, phonemes), sound, row_codes, row in zip(heard, sounds, codes, pointers):
        assert frames == row_codes.shape[1] == len(phonemes)
        assert phonemes == "".join(sound[i] for i in row.tolist())
    unaligned = Path(tiny_corpus).with_name("unaligned.jsonl")  # its wav paths are relative
    lines = [json.loads(line) for line in Path(tiny_corpus).read_text().splitlines()]
    unaligned.write_text("".join(json.dumps({**line, "alignment": None}) + "\n" for line in lines))
    with pytest.raises(EmogenError, match="no phoneme alignment"):
        recipe.train(config, codec, unaligned, tmp_path / "refused")


def test_codec_decoder_learns_the_language_models_own_codes(
    recipe_module, tiny_codec_run, tiny_aligned_run, tiny_corpus, tmp_path, monkeypatch
) -> None:
    """lm_pipeline (training/codec, config lm): the language model speaks each sampled sentence
    with the recording's durations forced on its pointer, so its codes fill the recording's
    token frames; the decoder learns to read them (held-out error on them falls), the encoder
    and codebooks stay; the codes are cached; bad settings are refused."""
    import yaml
    from accelerate import Accelerator

    from emogen.speech.codec import WorldFrameCodec

    recipe = recipe_module("codec")
    base = tiny_codec_run[0] / "codec"
    pipeline = tiny_aligned_run[0] / "pipeline"
    config = {**recipe.load_config("tiny"), "steps": 150, "save_every": 1000}
    config.update(decoder_only=True, phoneme_conditioning=True, lm_pipeline=str(pipeline))
    config.update(lm_code_share=0.5, lm_utterances=6)
    summary = recipe.train(config, tiny_corpus, tmp_path / "run", init_from=base)
    assert summary["completed"] and summary["final_eval_loss"] < summary["first_eval_loss"]
    trained = WorldFrameCodec.from_pretrained(tmp_path / "run" / "codec")
    original = WorldFrameCodec.from_pretrained(base)
    for module in ("encoder", "quantizer"):
        for a, b in zip(
            getattr(original, module).state_dict().values(),
            getattr(trained, module).state_dict().values(),
        ):
            assert torch.equal(a, b)
    assert trained.reads_phonemes

    import emogen.pipelines

    def refuse(*args, **kwargs):
        raise AssertionError("the cached codes were generated again")

    monkeypatch.setattr(emogen.pipelines, "load_pipeline", refuse)
    lm, real, held = recipe.build_lm_data(
        tiny_corpus, tmp_path / "run", config, Accelerator(), trained.eval()
    )
    assert len(lm) == 6 and len(held) >= 1 and len(real) >= len(lm)
    real_of = {frames.numpy().tobytes(): codes for frames, codes, _ in real}
    differ = 0
    for frames, codes, told in lm:
        assert codes.shape == (trained.num_codebooks, len(frames) // 4)
        assert len(frames) % 4 == 0 and (told > 0).float().mean() > 0.9
        encoder_codes = real_of[frames.numpy().tobytes()]
        differ += int((codes != encoder_codes).any())
    assert differ == len(lm)  # the model's own codes, not the encoder's
    monkeypatch.undo()
    for update, match in (
        ({"decoder_only": False}, "lm_pipeline trains a decoder"),
        ({"lm_utterances": -1}, "lm_utterances must be >= 0"),
        ({"lm_code_share": 1.5}, "lm_code_share must be in"),
    ):
        bad = tmp_path / "bad.yaml"
        bad.write_text(yaml.safe_dump({**config, **update}))
        with pytest.raises(EmogenError, match=match):
            recipe.load_config(str(bad))
    with pytest.raises(EmogenError, match="never reads its codes"):
        recipe.train(
            {**config, "lm_code_share": 0.0}, tiny_corpus, tmp_path / "zero", init_from=base
        )
    with pytest.raises(EmogenError, match="codebooks are not this codec"):
        other = tmp_path / "other-codec"
        WorldFrameCodec.from_config(original.config).save_pretrained(other)  # fresh codebooks
        recipe.train(config, tiny_corpus, tmp_path / "other", init_from=other)


def test_voice_finetune_command(
    tiny_aligned_run, tts_default, tmp_path, monkeypatch, capsys
) -> None:
    """`emogen voice finetune`: recordings -> checked, phoneme-aligned data -> the base pipeline
    (here one with the phoneme pointer) with its codec's decoder fine-tuned to speak the base
    voice's codes in the recorded voice; it loads and speaks."""
    import json

    from emogen.cli import main
    from emogen.pipelines import load_pipeline
    from emogen.speech import finetune
    from emogen.speech.audio import save_audio

    recordings = tmp_path / "recordings"
    recordings.mkdir()
    for index, text in enumerate(["We walked along the river.", "The package came today."]):
        speech = tts_default(text, generator=index)
        save_audio(recordings / f"take{index}.wav", speech.audios[0], speech.sample_rate)
        (recordings / f"take{index}.txt").write_text(text)
    (recordings / "noise.wav").write_bytes(b"RIFF....not audio")
    monkeypatch.setattr(finetune, "ROOT", tmp_path)  # checkpoints/ under the test's folder
    base = str(tiny_aligned_run[0] / "pipeline")
    argv = ["voice", "finetune", str(recordings), "--name", "anna", "--base", base]
    # the default minimum (1 minute) refuses 3 s of speech, with the report, before training
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "at least 60 s" in err and "noise.wav: unreadable" in err
    assert not (tmp_path / "checkpoints" / "anna" / "codec-run").exists()
    assert main([*argv, "--min-minutes", "0.03", "--steps", "3"]) == 0
    folder = tmp_path / "checkpoints" / "anna"
    assert capsys.readouterr().out.strip() == str(folder)
    tuned, before = load_pipeline(folder), load_pipeline(base)

    def changed(a: torch.nn.Module, b: torch.nn.Module) -> list[bool]:
        return [
            not torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values())
        ]

    # only the codec's decoder learnt; the language model and the codes are the base's
    assert any(changed(tuned.codec.decoder, before.codec.decoder))
    for module in ("encoder", "quantizer"):
        assert not any(changed(getattr(tuned.codec, module), getattr(before.codec, module)))
    assert not any(changed(tuned.language_model, before.language_model))
    summary = json.loads((folder / "codec-run" / "training_summary.json").read_text())
    assert summary["steps"] == 3 and summary["completed"]
    aligner = json.loads((folder / "codec-run" / "aligner" / "training_summary.json").read_text())
    assert aligner["steps"] == 3  # the first, alignment pass: at most --steps
    assert (folder / "data" / "manifest.jsonl").is_file()
    assert not (folder / "README.md").exists()  # the base's card is not this voice's
    out = tuned("Hello there.", emotion="happy", generator=0)
    assert np.isfinite(out.audios[0]).all()
    assert main([*argv[:-2], "--base", "no-such-pipeline"]) == 2
    assert "no pipeline 'no-such-pipeline'" in capsys.readouterr().err
    assert main([*argv[:4], "bad/name", "--base", base]) == 2


def test_the_shipped_codec_lm_speaks_with_its_tuned_sampling() -> None:
    """pipelines/tts-codec-lm: at most 40 MB, the decoding chosen by tune_sampling.py, one
    candidate by default, and a sentence of speech of a plausible length for its words."""
    from emogen.pipelines import SHIPPED_DIR, CodecLMTTSPipeline, load_pipeline

    folder = SHIPPED_DIR / "tts-codec-lm"
    assert sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) <= 40e6
    pipe = load_pipeline("tts-codec-lm")
    assert isinstance(pipe, CodecLMTTSPipeline)
    config = pipe.config
    chosen = (config.temperature, config.top_k, config.emotion_guidance_scale)
    assert chosen == (0.3, 5, 1.5) and config.phoneme_prior_scale == 3.0
    # one candidate: best of 4 pleased Whisper, not PocketSphinx (RESULTS_listeners.md)
    assert config.best_of == 1
    assert pipe.codec.config.pitch_codebook  # level 1 is the pitch (training/codec, pitch)
    assert pipe.codec.reads_phonemes  # told the pointer's phonemes (training/codec, lm)
    assert pipe.language_model.config.phoneme_prior  # counted by the recipe, exported with it
    out = pipe("We walked along the river.", emotion="happy", generator=0)
    audio, seconds = out.audios[0], len(out.audios[0]) / out.sample_rate
    assert np.isfinite(audio).all() and np.abs(audio).max() > 0.05
    assert 0.8 < seconds < 3.5, seconds  # 7 syllables; the pointer ends the utterance


def test_the_verifier_puts_words_first() -> None:
    """`verifier_score`: one word wrong in ten outweighs a VAD distance of up to 1; between
    candidates with the same words, the closer emotion wins; the error is capped at 1."""
    from emogen.pipelines.tts_codec_lm import VERIFIER_EMOTION_WEIGHT, verifier_score

    assert VERIFIER_EMOTION_WEIGHT == 0.1
    assert verifier_score(0.0, 0.9) > verifier_score(0.1, 0.0)
    assert verifier_score(0.1, 0.2) > verifier_score(0.1, 0.5)
    assert verifier_score(3.0, 0.0) == verifier_score(1.0, 0.0) == -1.0
    assert verifier_score(0.1, 0.5, emotion_weight=1.0) < verifier_score(0.2, 0.0, 1.0)


def test_best_of_keeps_the_verifiers_choice() -> None:
    """The shipped codec LM with `best_of=3`: every candidate is scored by `verify`
    (`verifier_score` of `verifier_terms`), and the one spoken is the best scored."""
    from emogen.eval.speech import word_error_rate
    from emogen.pipelines import load_pipeline
    from emogen.pipelines.tts_codec_lm import verifier_score

    pipe = load_pipeline("tts-codec-lm")
    text = "We walked along the river."
    scored = []

    def recording(audio, sample_rate, sentence, emotion):
        transcript, distance = pipe.verifier_terms(audio, sample_rate, emotion)
        score = type(pipe).verify(pipe, audio, sample_rate, sentence, emotion)
        assert score == verifier_score(word_error_rate(sentence, transcript), distance)
        scored.append((score, audio.copy()))
        return score

    pipe.verify = recording
    out = pipe(text, emotion="sad", generator=3, best_of=3)
    assert len(scored) == 3
    first = scored[0][1]
    assert any(len(a) != len(first) or not np.array_equal(a, first) for _, a in scored[1:])
    best = max(scored, key=lambda item: item[0])[1]
    spoken = out.audios[0]
    assert len(spoken) == len(best)  # peak-normalised after the choice
    np.testing.assert_allclose(spoken / np.abs(spoken).max(), best / np.abs(best).max(), atol=1e-5)
