"""Speech corpora: manifest checks, the ESD/RAVDESS/CREMA-D/folder preparers on tiny fixtures
built in each corpus's layout, and the synthetic corpus builder (one process; two under slow)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

from emogen.emotion import Emotion, EmotionCurve
from emogen.errors import EmogenError
from emogen.speech.corpus import (
    CREMA_D_LEVELS,
    Manifest,
    ManifestError,
    Utterance,
    prepare_crema_d,
    prepare_esd,
    prepare_folder,
    prepare_ravdess,
    read_manifest,
    write_manifest,
)

ROOT = Path(__file__).resolve().parents[1]
BUILD_SCRIPT = ROOT / "training" / "speech_corpus" / "build.py"


def write_wav(path: Path, seconds: float = 0.3, sample_rate: int = 16000, seed: int = 0) -> Path:
    """A short tone with a little noise, as 16-bit PCM."""
    path.parent.mkdir(parents=True, exist_ok=True)
    times = np.arange(round(seconds * sample_rate)) / sample_rate
    noise = 0.01 * np.random.default_rng(seed).standard_normal(times.shape)
    soundfile.write(path, 0.3 * np.sin(2 * np.pi * 150 * times) + noise, sample_rate)
    return path


def line(utterance_id: str, audio: str, **changes) -> str:
    data = {
        "id": utterance_id,
        "audio": audio,
        "text": "Hello there.",
        "speaker": "a",
        "emotion": Emotion.parse("happy:0.5").to_dict(),
        "duration_s": 0.3,
    }
    data.update(changes)
    return json.dumps(data)


# ---------------------------------------------------------------------- manifests


def test_manifest_round_trip_keeps_every_field(tmp_path):
    write_wav(tmp_path / "wavs" / "a.wav")
    write_wav(tmp_path / "wavs" / "b.wav")
    curve = EmotionCurve.parse("happy@0 -> sad:0.6@0.2")
    utterances = [
        Utterance("n", "wavs/a.wav", "Hi.", "joe", Emotion.neutral(), 0.3, language="en"),
        Utterance("c", "wavs/b.wav", "Hi.", "joe", None, 0.3, curve=curve, pair="n"),
        Utterance(
            "d",
            "wavs/b.wav",
            "Hi.",
            "joe",
            None,
            0.3,
            alignment=(("h", 0.01, 0.05), ("i", 0.05, 0.2)),
        ),
    ]
    write_manifest(tmp_path / "manifest.jsonl", utterances)
    manifest = read_manifest(tmp_path / "manifest.jsonl")
    assert manifest.utterances == utterances
    assert manifest.audio_path(manifest[1]) == tmp_path / "wavs" / "b.wav"
    assert [(e.id, n.id) for e, n in manifest.pairs()] == [("c", "n")]
    assert not list(tmp_path.glob(".*.tmp"))  # the atomic write left no temporary behind


def test_bad_lines_are_reported_together_with_their_numbers(tmp_path):
    write_wav(tmp_path / "good.wav")
    (tmp_path / "broken.wav").write_bytes(b"RIFF not really a wav")
    lines = [
        line("u1", "good.wav"),
        line("u2", "missing.wav"),
        line("u3", "good.wav", emotion={"category": "hapy"}),
        '{"id": "u4", "audio": "good.wav",',
        line("u5", "broken.wav"),
        "",
        line("u6", "good.wav", pair="nobody"),
        line("u1", "good.wav"),
        line("u8", "good.wav", emotion=None, text=""),
    ]
    path = tmp_path / "manifest.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ManifestError) as caught:
        read_manifest(path)
    problems = {p.line: p.message for p in caught.value.problems}
    assert sorted(problems) == [2, 3, 4, 5, 7, 8, 9]
    assert "not found" in problems[2]
    assert "unknown emotion category 'hapy'" in problems[3] and "'happy'" in problems[3]
    assert "not valid JSON" in problems[4]
    assert "unreadable audio" in problems[5]
    assert "'nobody'" in problems[7]
    assert "repeats line 1" in problems[8]
    assert "'text'" in problems[9]
    message = str(caught.value)
    assert "7 of 8 lines are bad" in message and "skip_bad" in message
    for number in problems:
        assert f"line {number}:" in message


def test_skip_bad_returns_the_good_lines_and_the_report(tmp_path):
    write_wav(tmp_path / "good.wav")
    path = tmp_path / "manifest.jsonl"
    path.write_text(
        "\n".join(
            [
                line("n", "missing.wav", emotion=Emotion.neutral().to_dict()),
                line("e", "good.wav", pair="n"),
                line("f", "good.wav", emotion="angry:0.8"),  # a string label is accepted
            ]
        )
    )
    manifest = read_manifest(path, skip_bad=True)
    assert [u.id for u in manifest] == ["e", "f"]
    assert [p.line for p in manifest.problems] == [1]
    assert manifest[0].pair is None  # its neutral side was left out
    assert manifest[1].emotion == Emotion.parse("angry:0.8")
    with pytest.raises(ManifestError, match="no usable utterance"):
        path.write_text(line("x", "missing.wav"))
        read_manifest(path, skip_bad=True)


def test_bad_alignments_are_reported_with_their_line_numbers(tmp_path):
    write_wav(tmp_path / "good.wav")  # 0.3 s
    alignments = [
        [["h", 0.0, 0.1], ["i", 0.1, 0.25]],  # good
        [["h", 0.0, 0.1], ["i", 0.05, 0.2]],  # starts before the previous end
        [["h", 0.0, 0.1], ["i", 0.1, 0.5]],  # ends after the audio
        [["", 0.0, 0.1]],  # no phoneme
        [["h", 0.2, 0.1]],  # ends before it starts
        [["h", 0.0]],  # not a triple
        [],
    ]
    path = tmp_path / "manifest.jsonl"
    path.write_text(
        "\n".join(line(f"u{i}", "good.wav", alignment=a) for i, a in enumerate(alignments))
    )
    with pytest.raises(ManifestError) as caught:
        read_manifest(path)
    problems = {p.line: p.message for p in caught.value.problems}
    assert sorted(problems) == [2, 3, 4, 5, 6, 7]
    assert "out of order" in problems[2] and "ends after the audio" in problems[3]
    assert "non-empty string" in problems[4] and "out of order" in problems[5]
    assert "[phoneme, start_s, end_s]" in problems[6] and "non-empty list" in problems[7]
    manifest = read_manifest(path, skip_bad=True)
    assert manifest[0].alignment == (("h", 0.0, 0.1), ("i", 0.1, 0.25))


# ---------------------------------------------------------------------- preparers


def test_prepare_esd_labels_and_pairs_parallel_utterances(tmp_path):
    root = tmp_path / "Emotion Speech Dataset"
    texts = {"000001": "Neutral", "000351": "Angry", "000701": "Happy", "001051": "Sad"}
    sentence = "The nine the eggs, I keep."
    rows = [f"0011_{n}\t{sentence}\t{emotion}" for n, emotion in texts.items()]
    rows.append("0011_001401 It has spaces. Surprise")  # a space-separated line
    (root / "0011").mkdir(parents=True)
    (root / "0011" / "0011.txt").write_text("\n".join(rows) + "\n", encoding="utf-8")
    write_wav(root / "0011" / "Neutral" / "0011_000001.wav")
    write_wav(root / "0011" / "Angry" / "train" / "0011_000351.wav")  # split subfolders
    write_wav(root / "0011" / "Happy" / "0011_000701.wav")
    write_wav(root / "0011" / "Sad" / "test" / "0011_001051.wav")
    write_wav(root / "0011" / "Surprise" / "0011_001401.wav")
    write_wav(root / "0011" / "Surprise" / "0011_009999.wav")  # no text line: left out
    (root / "0001").mkdir()
    (root / "0001" / "0001.txt").write_bytes("0001_000001\t打远一看\t中立\n".encode("gb18030"))
    write_wav(root / "0001" / "Neutral" / "0001_000001.wav")

    manifest = prepare_esd(tmp_path, tmp_path / "esd.jsonl")
    read_back = read_manifest(tmp_path / "esd.jsonl")
    assert read_back.utterances == manifest.utterances
    by_id = read_back.by_id()
    assert len(by_id) == 6
    assert by_id["0001_000001"].text == "打远一看" and by_id["0001_000001"].language == "zh"
    angry = by_id["0011_000351"]
    assert angry.emotion == Emotion.from_category("angry")
    assert angry.text == sentence and angry.speaker == "0011" and angry.language == "en"
    assert angry.pair == "0011_000001"
    assert by_id["0011_001401"].emotion.category == "surprised"
    assert by_id["0011_001401"].text == "It has spaces." and by_id["0011_001401"].pair is None
    assert by_id["0011_000001"].emotion.is_neutral
    assert angry.duration_s == pytest.approx(0.3)
    assert (tmp_path / angry.audio).resolve() == root / "0011/Angry/train/0011_000351.wav"
    only = prepare_esd(tmp_path, tmp_path / "en.jsonl", speakers=["0011"])
    assert {u.speaker for u in only} == {"0011"}


def test_prepare_ravdess_decodes_names_and_intensity(tmp_path):
    actor = tmp_path / "Audio_Speech_Actors_01-24" / "Actor_12"
    names = [
        "03-01-01-01-02-01-12",  # neutral, statement 2 ("dogs"), repetition 1
        "03-01-06-01-02-01-12",  # fearful, normal
        "03-01-06-02-02-01-12",  # fearful, strong
        "03-01-02-02-01-02-12",  # calm, strong, statement 1, repetition 2 (no neutral twin)
        "03-02-03-01-01-01-12",  # song: left out by default
        "01-01-03-01-01-01-12",  # audio-video modality: left out
    ]
    for name in names:
        write_wav(actor / f"{name}.wav", sample_rate=48000)
    write_wav(actor / "notes.wav")  # not a RAVDESS name

    prepared = prepare_ravdess(tmp_path, tmp_path / "r.jsonl")
    by_id = read_manifest(tmp_path / "r.jsonl").by_id()
    assert by_id == prepared.by_id()
    assert sorted(by_id) == sorted(names[:4])
    normal, strong = by_id["03-01-06-01-02-01-12"], by_id["03-01-06-02-02-01-12"]
    assert normal.emotion == Emotion.from_category("afraid", intensity=0.5)
    assert strong.emotion == Emotion.from_category("afraid", intensity=1.0)
    assert normal.text == "Dogs are sitting by the door." and normal.speaker == "ravdess_12"
    assert normal.pair == strong.pair == "03-01-01-01-02-01-12"
    assert by_id["03-01-02-02-01-02-12"].pair is None
    assert by_id["03-01-02-02-01-02-12"].text == "Kids are talking by the door."
    with_song = prepare_ravdess(tmp_path, tmp_path / "s.jsonl", include_song=True)
    assert "03-02-03-01-01-01-12" in with_song.by_id()


def test_prepare_crema_d_maps_sentences_emotions_and_levels(tmp_path):
    audio = tmp_path / "CREMA-D" / "AudioWAV"
    for name in ["1001_IEO_NEU_XX", "1001_IEO_ANG_HI", "1001_IEO_ANG_LO", "1001_DFA_DIS_XX"]:
        write_wav(audio / f"{name}.wav")
    write_wav(audio / "1001_XYZ_ANG_HI.wav")  # unknown sentence code
    manifest = prepare_crema_d(tmp_path / "CREMA-D", tmp_path / "c.jsonl")
    by_id = read_manifest(tmp_path / "c.jsonl").by_id()
    assert by_id == manifest.by_id()
    assert sorted(by_id) == [
        "1001_DFA_DIS_XX",
        "1001_IEO_ANG_HI",
        "1001_IEO_ANG_LO",
        "1001_IEO_NEU_XX",
    ]
    high, low = by_id["1001_IEO_ANG_HI"], by_id["1001_IEO_ANG_LO"]
    assert high.emotion == Emotion.from_category("angry", intensity=1.0)
    assert low.emotion.intensity == pytest.approx(CREMA_D_LEVELS["LO"])
    assert low.emotion.intensity < high.emotion.intensity
    assert high.text == "It's eleven o'clock." and high.speaker == "crema_1001"
    assert high.pair == low.pair == "1001_IEO_NEU_XX"
    assert by_id["1001_DFA_DIS_XX"].emotion.category == "disgusted"
    assert by_id["1001_DFA_DIS_XX"].text == "Don't forget a jacket."
    assert by_id["1001_DFA_DIS_XX"].pair is None  # no neutral "Don't forget a jacket."


def test_prepare_folder_reads_txt_and_metadata_emotions(tmp_path):
    voice = tmp_path / "my_voice"
    write_wav(voice / "take1.wav")
    (voice / "take1.txt").write_text("  Good morning,\n everyone. ")
    write_wav(voice / "take2.wav")
    write_wav(voice / "more" / "take3.wav")
    (voice / "more" / "take3.txt").write_text("A third take.")
    write_wav(voice / "take4.wav")  # no text anywhere: left out
    (voice / "metadata.csv").write_text(
        "file,text,emotion\ntake1.wav,,happy:0.6\ntake2,From the metadata.,0.7 sad + 0.3 afraid\n"
    )
    manifest = prepare_folder(voice, tmp_path / "v.jsonl", emotion="neutral")
    by_id = read_manifest(tmp_path / "v.jsonl").by_id()
    assert by_id == manifest.by_id()
    assert sorted(by_id) == ["more_take3", "take1", "take2"]
    assert by_id["take1"].text == "Good morning, everyone."
    assert by_id["take1"].emotion == Emotion.parse("happy:0.6")
    assert by_id["take2"].text == "From the metadata."
    assert dict(by_id["take2"].emotion.mixture) == pytest.approx({"sad": 0.7, "afraid": 0.3})
    assert by_id["more_take3"].emotion.is_neutral  # the default for unlabelled files
    assert {u.speaker for u in by_id.values()} == {"my_voice"}
    unlabelled = prepare_folder(voice, tmp_path / "u.jsonl", speaker="me")
    assert unlabelled.by_id()["more_take3"].emotion is None


def test_prepare_folder_reports_every_bad_metadata_row(tmp_path):
    voice = tmp_path / "voice"
    write_wav(voice / "a.wav")
    (voice / "metadata.tsv").write_text("file\temotion\na\tjoyous-ish\nb\thappy\n")
    with pytest.raises(EmogenError) as caught:
        prepare_folder(voice, tmp_path / "v.jsonl")
    message = str(caught.value)
    assert "line 2:" in message and "joyous-ish" in message
    assert "'b' listed but not found" in message


@pytest.mark.parametrize("preparer", [prepare_esd, prepare_ravdess, prepare_crema_d])
def test_preparers_say_what_they_expected_on_an_empty_folder(tmp_path, preparer):
    with pytest.raises(EmogenError, match=r"ESD speaker folder|no usable"):
        preparer(tmp_path, tmp_path / "m.jsonl")
    with pytest.raises(EmogenError, match="not found"):
        preparer(tmp_path / "nowhere", tmp_path / "m.jsonl")


# ---------------------------------------------------------------------- synthetic corpus


def load_build_module():
    """training/speech_corpus/build.py as a module (registered first: it defines dataclasses)."""
    if "speech_corpus_build" not in sys.modules:
        spec = importlib.util.spec_from_file_location("speech_corpus_build", BUILD_SCRIPT)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    return sys.modules["speech_corpus_build"]


def check_built_corpus(manifest: Manifest, config: dict) -> None:
    """Labels, pairs and audio of a corpus built from the tiny config's first sentence."""
    by_id = manifest.by_id()
    neutral = by_id["s00000-t0-neutral"]
    assert neutral.emotion == Emotion.neutral() and neutral.pair is None
    emotional = [u for u in manifest if u.emotion is not None and not u.emotion.is_neutral]
    expected = {(e, float(i)) for e in config["emotions"] for i in config["intensities"]}
    first = [u for u in emotional if u.id.startswith("s00000-")]
    assert {(u.emotion.category, u.emotion.intensity) for u in first} == expected
    for utterance in first:
        assert utterance.emotion == Emotion.parse(
            f"{utterance.emotion.category}:{utterance.emotion.intensity}"
        )
    curves = [u for u in manifest if u.curve is not None]
    assert curves and all(u.emotion is None for u in curves)
    assert str(curves[0].curve) == str(EmotionCurve.parse(config["curves"][0]))
    pairs = manifest.pairs()
    neutrals = [u for u in manifest if u.emotion is not None and u.emotion.is_neutral]
    assert len(pairs) == len(manifest) - len(neutrals)  # every other utterance has its neutral
    neutral_audio, rate = soundfile.read(manifest.audio_path(neutral))
    assert rate == 22050
    for utterance in manifest:  # read_manifest checked order and bounds; here, coverage
        alignment = utterance.alignment
        assert alignment is not None and len(alignment) > 10
        assert alignment[0][1] < 0.2 and utterance.duration_s - alignment[-1][2] < 0.2
    # Sad speaks slower (Scherer 2003): the same phonemes take longer than in the neutral twin.
    sad = by_id["s00000-t0-sad-1"]
    assert [p for p, _, _ in sad.alignment] == [p for p, _, _ in neutral.alignment]
    spoken = {u.id: sum(end - start for _, start, end in u.alignment) for u in (sad, neutral)}
    assert spoken[sad.id] > 1.1 * spoken[neutral.id]
    for emotional_utterance, partner in pairs:
        assert partner.text == emotional_utterance.text and partner.emotion.is_neutral
        audio, _ = soundfile.read(manifest.audio_path(emotional_utterance))
        # Same words from the same seed: similar length (emotions change the rate), other sound.
        assert 0.6 < len(audio) / len(neutral_audio) < 1.6
        assert not np.array_equal(audio[: len(neutral_audio)], neutral_audio[: len(audio)])


def test_tiny_corpus_build_writes_labelled_pairs_and_resumes(tmp_path):
    build = load_build_module()
    config = build.load_config("tiny")
    out = tmp_path / "corpus"
    manifest_path = build.build(config, out, limit=8)  # the first sentence, every kind once
    manifest = read_manifest(manifest_path)
    assert len(manifest) == 8
    check_built_corpus(manifest, config)
    assert not list(out.glob("manifest.shard-*")) and not list(out.rglob(".*.tmp"))

    # A rerun renders nothing again (the pipeline is never even loaded) and writes the same.
    written = {p.name: p.stat().st_mtime_ns for p in (out / "wavs").iterdir()}
    (out / "wavs" / "s00000-t0-sad-1.wav").unlink()
    before = manifest_path.read_text()
    build.build(config, out, limit=8)
    assert manifest_path.read_text() == before
    again = {p.name: p.stat().st_mtime_ns for p in (out / "wavs").iterdir()}
    changed = {name for name in written if again[name] != written[name]}
    assert changed == {"s00000-t0-sad-1.wav"}

    with pytest.raises(EmogenError, match="another config"):
        build.build({**config, "seed": 1}, out, limit=8)


def test_corpus_speech_equals_the_pipeline_and_times_every_sentence():
    """`speak` renders as the pipeline does (same audio), with the alignment in output time."""
    build = load_build_module()
    pipe = build._pipeline("tts-default")
    text = "The rain stopped. We walked home slowly."
    for emotion in ("neutral", "sad:1"):
        audio, alignment = build.speak(pipe, text, emotion, 7)
        expected = pipe(text, emotion=emotion, generator=7).audios[0]
        np.testing.assert_array_equal(audio, expected)
        utterance = Utterance.from_json(
            {
                "id": "x",
                "audio": "x.wav",
                "text": text,
                "speaker": "joe",
                "emotion": emotion,
                "duration_s": round(len(audio) / pipe.voice.sample_rate, 4),
                "alignment": alignment,
            }
        )
        first, second = (pipe.voice.phonemize(s) for s in ("The rain stopped.", text[18:]))
        assert "".join(p for p, _, _ in utterance.alignment) == first + second
        # The sentence pause (0.3 s, longer when sad) lies between the two sentences' phonemes.
        join = len(first)
        assert alignment[join][1] - alignment[join - 1][2] > 0.3


def test_corpus_config_errors_are_caught_before_rendering(tmp_path):
    build = load_build_module()
    config = build.load_config("tiny")
    with pytest.raises(EmogenError, match="unknown emotion category"):
        build.check_config({**config, "emotions": ["hapy"]})
    with pytest.raises(EmogenError, match="not found"):
        build.load_config("huge")
    sentences = build.load_sentences(config)
    held_out = (ROOT / "benchmarks/speech/sentences.txt").read_text().splitlines()
    assert len(sentences) == config["num_sentences"] and not set(sentences) & set(held_out)
    assert build.plan(config) == build.plan(config)  # the plan is deterministic


def test_chitchat_messages_are_filtered_to_clean_sentences():
    build = load_build_module()
    assert build._clean_message("I think the museum opens at nine tomorrow.")
    for chat in [
        "im doing good how are you?",
        "Haha that is so funny man!",
        "Yes",
        "OMG that is wild!!",
    ]:
        assert not build._clean_message(chat)
    pytest.importorskip("chitchat_dataset")
    sentences = build.chitchat_sentences()
    assert len(sentences) > 10_000 and all(build._clean_message(s) for s in sentences[:1000])


@pytest.mark.slow
def test_tiny_corpus_builds_in_two_accelerate_processes(tmp_path):
    out = tmp_path / "corpus"
    env = {**os.environ, "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
        "--main_process_port", "29531", str(BUILD_SCRIPT), "--config", "tiny", "--out", str(out),
    ]  # fmt: skip
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "process 1" in result.stderr  # the second process rendered its shard
    build = load_build_module()
    config = build.load_config("tiny")
    manifest = read_manifest(out / "manifest.jsonl")
    assert [u.id for u in manifest] == [job.id for job in build.plan(config)]
    check_built_corpus(manifest, config)


def test_prose_sentences_are_written_and_held_out_text_is_not_among_them():
    build = load_build_module()
    sentences = build.prose_sentences()
    assert len(sentences) > 5000
    assert all(build._written(s) for s in sentences)
    held_out = (ROOT / "benchmarks" / "speech" / "sentences.txt").read_text().splitlines()
    assert not set(sentences) & {" ".join(line.split()) for line in held_out}
