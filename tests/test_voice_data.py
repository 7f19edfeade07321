"""Custom-voice data: a folder of recordings checked, transcribed and segmented, with reasons."""

from __future__ import annotations

import json

import numpy as np
import pytest

from emogen.speech.audio import load_audio, save_audio
from emogen.speech.corpus import read_manifest
from emogen.speech.voice_data import VoiceDataError, prepare_voice_data

SENTENCES = [
    "The train to the city leaves from the second platform every hour.",
    "I put the keys on the kitchen table before I went out.",
    "We walked along the river until the sun went down.",
    "The package arrived this morning with a note from my brother.",
]


@pytest.fixture(scope="module")
def recordings(tts_default, tmp_path_factory):
    """A folder with good, long, mismatched, empty-transcript, noise and silent recordings."""
    folder = tmp_path_factory.mktemp("recordings")
    rate = 22050
    speech = [tts_default(s, generator=i).audios[0] for i, s in enumerate(SENTENCES)]
    for index, (sentence, audio) in enumerate(zip(SENTENCES[:2], speech)):
        save_audio(folder / f"good{index}.wav", audio, rate)
        (folder / f"good{index}.txt").write_text(sentence)
    save_audio(folder / "untranscribed.flac", speech[2], rate)  # no .txt: Whisper's words
    pause = np.zeros(int(0.6 * rate), np.float32)
    long = np.concatenate([x for a in speech for x in (a, pause)])
    save_audio(folder / "long.wav", long, rate)  # ~14 s, cut at pauses below 6 s
    save_audio(folder / "mismatch.wav", speech[3], rate)
    (folder / "mismatch.txt").write_text("Completely different words about the weather in Spain.")
    save_audio(folder / "empty_text.wav", speech[0], rate)
    (folder / "empty_text.txt").write_text("  \n")
    noise = np.random.default_rng(0).normal(0, 0.05, 2 * rate).astype(np.float32)
    save_audio(folder / "noise.wav", noise, rate)
    save_audio(folder / "silence.wav", np.zeros(rate, np.float32), rate)
    (folder / "notes.txt").write_text("a file that is not a recording")
    return folder


def test_kept_segments_and_reasons_for_the_rest(recordings, tmp_path) -> None:
    report = prepare_voice_data(
        recordings, tmp_path / "data", speaker="anna", min_total_seconds=5,
        max_segment_seconds=6, progress=False,
    )  # fmt: skip
    rejected = dict(report.rejected)
    assert "does not match the audio" in rejected["mismatch.wav"]
    assert "empty transcript" in rejected["empty_text.wav"]
    assert "no speech" in rejected["noise.wav"]
    assert "silent" in rejected["silence.wav"]
    kept_files = {segment[0] for segment in report.segments}
    assert kept_files == {"good0.wav", "good1.wav", "untranscribed.flac", "long.wav"}
    assert report.transcribed == ["long.wav", "untranscribed.flac"]
    long_pieces = [s for s in report.segments if s[0] == "long.wav"]
    assert len(long_pieces) >= 3 and all(end - start <= 6.2 for _, start, end, _ in long_pieces)
    # the given transcript is kept as written
    assert [s[3] for s in report.segments if s[0] == "good0.wav"] == [SENTENCES[0]]
    manifest = read_manifest(report.manifest)
    assert len(manifest) == len(report.segments)
    assert {u.speaker for u in manifest} == {"anna"}
    assert all(u.emotion.is_neutral for u in manifest)
    first = manifest[0]
    audio, rate = load_audio(manifest.audio_path(first))
    assert rate == 22050 and len(audio) / rate == pytest.approx(first.duration_s, abs=0.01)
    # every segment's phonemes timed on it (for the codec LM's phoneme pointer), in order
    from emogen.emotion.text import split_sentences
    from emogen.speech.voice import PiperVoice

    voice = PiperVoice()
    for utterance in manifest:
        phonemes = "".join(voice.phonemize(s) for s in split_sentences(utterance.text))
        assert "".join(p for p, _, _ in utterance.alignment) == phonemes
        starts = [start for _, start, _ in utterance.alignment]
        assert starts == sorted(starts) and utterance.alignment[-1][2] <= utterance.duration_s
    good = next(u for u in manifest if u.text == SENTENCES[0])  # the TTS's own timing, ~known
    assert 0.0 < good.alignment[0][1] < 0.4 and good.duration_s - good.alignment[-1][2] < 0.5
    saved = json.loads((tmp_path / "data" / "report.json").read_text())
    assert saved["seconds"] == pytest.approx(report.seconds, abs=0.01)
    assert "left out" in report.summary() and "mismatch.wav" in report.summary()


def test_too_little_speech_is_refused_before_training(recordings, tmp_path) -> None:
    with pytest.raises(VoiceDataError, match="at least 60 s") as caught:
        prepare_voice_data(recordings, tmp_path / "data", progress=False)
    assert "noise.wav" in str(caught.value)  # the report comes with the error
    assert not (tmp_path / "data" / "manifest.jsonl").exists()


def test_folder_without_audio(tmp_path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(VoiceDataError, match=r"no audio .* \(found \.txt\)"):
        prepare_voice_data(tmp_path, tmp_path / "out", progress=False)
    with pytest.raises(VoiceDataError, match="empty"):
        (tmp_path / "empty").mkdir()
        prepare_voice_data(tmp_path / "empty", tmp_path / "out", progress=False)
