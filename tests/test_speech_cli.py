"""The `emogen tts` and `emogen vc` command-line contract (issue 3).

Commands run in-process through `emogen.cli.main`; the pipelines they load are cached per
module (the CLI still resolves every name or path itself), so the voice loads once. One test runs
the installed `emogen` script in a subprocess to prove the entry point.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

import emogen.pipelines
from emogen.cli import main
from emogen.pipelines import SHIPPED_DIR, load_pipeline, resolve_pipeline_path

EMOGEN = Path(sys.executable).parent / "emogen"
PCM16_STEP = 1 / 32768  # one step of a 16-bit wav

_PIPELINES: dict[Path, object] = {}


def cached_load_pipeline(name_or_path, **kwargs):
    path = resolve_pipeline_path(name_or_path)
    if path not in _PIPELINES:
        _PIPELINES[path] = load_pipeline(path, **kwargs)
    return _PIPELINES[path]


@pytest.fixture(autouse=True)
def load_each_pipeline_once(monkeypatch):
    monkeypatch.setattr(emogen.pipelines, "load_pipeline", cached_load_pipeline)


@pytest.fixture(scope="module")
def tts():
    return cached_load_pipeline("tts-default")


@pytest.fixture(scope="module")
def vc():
    return cached_load_pipeline("vc-default")


@pytest.fixture(scope="module")
def speech_file(tmp_path_factory, tts) -> Path:
    """A neutral joe utterance as a 16-bit wav: the input of `emogen vc`."""
    path = tmp_path_factory.mktemp("input") / "speech.wav"
    out = tts("The weather is lovely today.", generator=0)
    soundfile.write(path, out.audios[0], out.sample_rate, subtype="PCM_16")
    return path


def read(path: Path) -> tuple[np.ndarray, int]:
    return soundfile.read(path, dtype="float32")


def assert_fails(capsys, argv: list[str], message: str, command: str = "tts") -> None:
    """The command exits with status 2 and an `emogen CMD: error: ...` line naming `message`."""
    assert main(argv) == 2
    stderr = capsys.readouterr().err
    assert f"emogen {command}: error:" in stderr
    assert message in stderr


def wavs(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.suffix == ".wav") if folder.exists() else []


# ---------------------------------------------------------------------- emogen tts


def test_tts_writes_a_readable_wav_of_the_pipelines_audio(tts, tmp_path, capsys):
    out = tmp_path / "hello.wav"
    argv = ["tts", "Hello there, friend.", "--emotion", "happy", "--seed", "3", "--out", str(out)]
    assert main(argv) == 0
    assert capsys.readouterr().out.strip() == str(out)
    info = soundfile.info(out)
    assert info.samplerate == tts.voice.sample_rate and info.channels == 1
    assert info.subtype == "PCM_16" and 0.5 < info.duration < 3.0
    audio, _ = read(out)
    expected = tts("Hello there, friend.", emotion="happy", generator=3).audios[0]
    assert audio.shape == expected.shape
    np.testing.assert_allclose(audio, expected, atol=PCM16_STEP)
    assert [p.name for p in tmp_path.iterdir()] == ["hello.wav"]  # no temporary file left


def test_text_file_writes_one_wav_per_non_empty_line_in_order(tmp_path, capsys):
    lines = tmp_path / "lines.txt"
    lines.write_text(
        "Hi.\n\n   \nThis line is much longer than the others, so it takes longer to say.\n"
        "\nGood night.\n",
        encoding="utf-8",
    )
    out_dir = tmp_path / "out"  # created by the command
    argv = ["tts", "--text-file", str(lines), "--emotion", "calm", "--out-dir", str(out_dir)]
    assert main([*argv, "--seed", "1"]) == 0
    assert "wrote 3 files" in capsys.readouterr().out
    assert wavs(out_dir) == ["0001.wav", "0002.wav", "0003.wav"]
    durations = [soundfile.info(out_dir / name).duration for name in wavs(out_dir)]
    assert durations[1] > 2 * durations[0] and durations[1] > 2 * durations[2]
    assert durations[0] < durations[2]  # "Hi." is shorter than "Good night."


def test_text_file_line_matches_speaking_it_alone(tts, tmp_path):
    lines = tmp_path / "lines.txt"
    lines.write_text("Hello there.\n\nGood night, friend.\n", encoding="utf-8")
    argv = ["tts", "--text-file", str(lines), "--emotion", "sad", "--seed", "4"]
    assert main([*argv, "--out-dir", str(tmp_path / "out")]) == 0
    second, _ = read(tmp_path / "out" / "0002.wav")
    expected = tts("Good night, friend.", emotion="sad", generator=4).audios[0]
    np.testing.assert_allclose(second, expected, atol=PCM16_STEP)


def test_same_seed_gives_identical_files_and_another_seed_does_not(tmp_path):
    paths = [tmp_path / f"{name}.wav" for name in ("first", "second", "other")]
    for path, seed in zip(paths, ("5", "5", "6")):
        argv = ["tts", "The sun is out.", "--emotion", "afraid", "--seed", seed]
        assert main([*argv, "--out", str(path)]) == 0
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert paths[0].read_bytes() != paths[2].read_bytes()


def test_intensity_scales_the_emotion(tmp_path):
    def speak(name: str, *options: str) -> np.ndarray:
        path = tmp_path / f"{name}.wav"
        argv = ["tts", "The sun is out.", "--seed", "0", "--out", str(path), *options]
        assert main(argv) == 0
        return read(path)[0]

    neutral = speak("neutral")
    np.testing.assert_array_equal(speak("zero", "--emotion", "sad", "--intensity", "0"), neutral)
    half, full = (
        speak("half", "--emotion", "sad:0.9", "--intensity", "0.5"),
        speak("full", "--emotion", "sad"),
    )
    assert len(neutral) < len(half) < len(full)  # sad slows speech more as intensity grows


def test_curve_option(tts, tmp_path):
    text = "Hello there. Good night."
    path = tmp_path / "curve.wav"
    argv = ["tts", text, "--curve", "happy@#0 -> sad@#1", "--seed", "2", "--out", str(path)]
    assert main(argv) == 0
    expected = tts(text, emotion=["happy", "sad"], generator=2).audios[0]
    np.testing.assert_allclose(read(path)[0], expected, atol=PCM16_STEP)
    seconds = tmp_path / "seconds.wav"
    argv = ["tts", text, "--curve", "happy@0 -> sad@1.5", "--seed", "2", "--out", str(seconds)]
    assert main(argv) == 0
    expected = tts(text, emotion="happy@0 -> sad@1.5", generator=2).audios[0]
    np.testing.assert_allclose(read(seconds)[0], expected, atol=PCM16_STEP)


def test_pipeline_by_short_name_and_by_path(tmp_path):
    by_name, by_path = tmp_path / "name.wav", tmp_path / "path.wav"
    common = ["tts", "Good night.", "--emotion", "happy", "--seed", "0"]
    assert main([*common, "--pipeline", "tts-default", "--out", str(by_name)]) == 0
    path = str(SHIPPED_DIR / "tts-default")
    assert main([*common, "--pipeline", path, "--out", str(by_path)]) == 0
    assert by_name.read_bytes() == by_path.read_bytes()


def test_best_of_option(tmp_path, capsys):
    """--best-of reaches a codec-LM pipeline (one candidate: what best_of=1 says); other
    pipelines, values below 1 and flags the pipeline has no use for are refused before anything
    is written."""
    from emogen.pipelines import load_pipeline

    path = tmp_path / "one.wav"
    argv = ["tts", "Good night.", "--pipeline", "tts-codec-lm", "--seed", "0"]
    assert main([*argv, "--best-of", "1", "--out", str(path)]) == 0
    expected = load_pipeline("tts-codec-lm")("Good night.", generator=0, best_of=1).audios[0]
    np.testing.assert_allclose(read(path)[0], expected, atol=PCM16_STEP)
    refused = tmp_path / "refused.wav"
    assert main([*argv, "--best-of", "0", "--out", str(refused)]) == 2
    assert "--best-of must be >= 1, got 0" in capsys.readouterr().err
    assert main(["tts", "Hi.", "--best-of", "2", "--out", str(refused)]) == 2
    assert "--best-of applies to codec-LM pipelines" in capsys.readouterr().err
    # a denoising-steps flag means nothing to a codec LM: named, not a TypeError
    assert main([*argv, "--steps", "5", "--out", str(refused)]) == 2
    assert "--steps does not apply to tts-codec-lm (CodecLMTTSPipeline)" in capsys.readouterr().err
    assert not refused.exists()


def test_emotion_auto_follows_the_text(tts, tmp_path, caplog):
    text = "I am so happy, this is wonderful! My dog died and I feel terrible."
    path = tmp_path / "auto.wav"
    with caplog.at_level(logging.INFO, logger="emogen"):
        assert (
            main(["-v", "tts", text, "--emotion", "auto", "--seed", "0", "--out", str(path)]) == 0
        )
    wrote = [r.getMessage() for r in caplog.records if r.getMessage().startswith("wrote")]
    assert len(wrote) == 1 and "happy" in wrote[0] and "sad" in wrote[0]
    expected = tts(text, emotion="auto", generator=0).audios[0]
    np.testing.assert_allclose(read(path)[0], expected, atol=PCM16_STEP)


def test_emotion_forms_of_emogen_emotion_are_accepted(tmp_path):
    for index, emotion in enumerate(
        ["slightly annoyed", "0.6 happy + 0.4 surprised", "v=0.2 a=-0.4 d=0.1", "mad"]
    ):
        path = tmp_path / f"{index}.wav"
        assert main(["tts", "Okay.", "--emotion", emotion, "--out", str(path)]) == 0
        assert soundfile.info(path).frames > 0


# ---------------------------------------------------------------------- emogen vc


def test_vc_writes_the_converted_speech(vc, speech_file, tmp_path, capsys):
    out = tmp_path / "angry.wav"
    argv = ["vc", str(speech_file), "--emotion", "angry", "--intensity", "0.7", "--seed", "0"]
    assert main([*argv, "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    audio, rate = read(out)
    source, source_rate = read(speech_file)
    assert rate == source_rate
    expected = vc(str(speech_file), emotion="angry", intensity=0.7, generator=0).audios[0]
    np.testing.assert_allclose(audio, expected, atol=PCM16_STEP)
    assert 0.8 < len(audio) / len(source) < 1.0  # angry speaks faster


def test_vc_options(vc, speech_file, tmp_path):
    kept = tmp_path / "kept.wav"
    argv = ["vc", str(speech_file), "--emotion", "sad", "--preserve-duration", "--out", str(kept)]
    assert main(argv) == 0
    assert soundfile.info(kept).frames == soundfile.info(speech_file).frames
    same = tmp_path / "same.wav"
    argv = [
        "vc",
        str(speech_file),
        "--emotion",
        "sad",
        "--source-emotion",
        "sad",
        "--out",
        str(same),
    ]
    assert main(argv) == 0
    # nothing left to change
    expected = vc(str(speech_file), emotion="neutral", source_emotion="neutral").audios[0]
    np.testing.assert_allclose(read(same)[0], expected, atol=PCM16_STEP)
    estimated = tmp_path / "estimated.wav"  # the default source: estimated from the input
    argv = ["vc", str(speech_file), "--emotion", "calm", "--source-emotion", "auto"]
    assert main([*argv, "--out", str(estimated)]) == 0
    expected = vc(str(speech_file), emotion="calm").audios[0]
    np.testing.assert_allclose(read(estimated)[0], expected, atol=PCM16_STEP)
    curve = tmp_path / "curve.wav"
    argv = [
        "vc",
        str(speech_file),
        "--curve",
        "happy@0 -> sad@1",
        "--seed",
        "1",
        "--out",
        str(curve),
    ]
    assert main(argv) == 0
    expected = vc(str(speech_file), emotion="happy@0 -> sad@1", generator=1).audios[0]
    np.testing.assert_allclose(read(curve)[0], expected, atol=PCM16_STEP)


# ---------------------------------------------------------------------- failures


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["tts", "Hello.", "--emotion", "hapy"], "Did you mean 'happy'"),
        (["tts", "   "], "empty or only whitespace"),
        (["tts", "♪♪♪"], "can be spoken"),
        (["tts", "Hello.", "--intensity", "1.5"], "intensity must be in [0, 1]"),
        (["tts", "Hello.", "--emotion", "sad", "--curve", "happy@0 -> sad@1"], "not both"),
        (["tts", "Hello.", "--curve", "happy@0 -> sda@1"], "sda"),
        (["tts", "Hello.", "--pipeline", "tts-defualt"], "Did you mean 'tts-default'"),
        (["tts", "Hello.", "--seed", "-1"], "seed must be >= 0"),
    ],
)
def test_tts_failures_exit_non_zero_and_write_nothing(tmp_path, capsys, argv, message):
    out = tmp_path / "out.wav"
    assert_fails(capsys, [*argv, "--out", str(out)], message)
    assert list(tmp_path.iterdir()) == []


def test_tts_argument_mistakes(tmp_path, capsys):
    lines = tmp_path / "lines.txt"
    lines.write_text("Hello.\n", encoding="utf-8")
    out = str(tmp_path / "out.wav")
    assert_fails(capsys, ["tts", "--out", out], "not both and not neither")
    assert_fails(capsys, ["tts", "Hi.", "--text-file", str(lines), "--out", out], "not both")
    assert_fails(capsys, ["tts", "Hi."], "--out FILE.wav is required")
    assert_fails(capsys, ["tts", "--text-file", str(lines), "--out", out], "--out-dir DIR")
    missing = str(tmp_path / "missing.txt")
    assert_fails(
        capsys, ["tts", "--text-file", missing, "--out-dir", out], "cannot read --text-file"
    )
    blank = tmp_path / "blank.txt"
    blank.write_text("\n  \n\n", encoding="utf-8")
    assert_fails(capsys, ["tts", "--text-file", str(blank), "--out-dir", out], "no non-empty line")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blank.txt", "lines.txt"]


def test_text_file_with_a_bad_line_writes_nothing(tmp_path, capsys):
    lines = tmp_path / "lines.txt"
    lines.write_text("Hello there.\n" + "word " * 1001 + "\nGood night.\n", encoding="utf-8")
    out_dir = tmp_path / "out"
    assert_fails(
        capsys, ["tts", "--text-file", str(lines), "--out-dir", str(out_dir)], "over the limit"
    )
    assert wavs(out_dir) == []


def test_text_file_with_an_unspeakable_line_writes_nothing(tmp_path, capsys):
    lines = tmp_path / "lines.txt"
    lines.write_text("Hello there.\n♪♪♪\nGood night.\n", encoding="utf-8")
    out_dir = tmp_path / "out"
    assert_fails(capsys, ["tts", "--text-file", str(lines), "--out-dir", str(out_dir)], "spoken")
    assert wavs(out_dir) == []


def test_output_folder_that_does_not_exist_is_an_error(tmp_path, capsys):
    assert_fails(
        capsys, ["tts", "Hello.", "--out", str(tmp_path / "nope" / "x.wav")], "does not exist"
    )
    not_a_folder = tmp_path / "file.txt"
    not_a_folder.write_text("x")
    assert_fails(capsys, ["tts", "Hello.", "--out", str(not_a_folder / "x.wav")], "does not exist")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]


def test_read_only_output_folder_is_a_clear_error(tmp_path, capsys, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    if os.geteuid() == 0:  # root ignores the mode: refuse writes in `locked` as the OS would
        real_open = os.open

        def refusing_open(path, flags, *args, **kwargs):
            if Path(path).parent == locked and flags & os.O_CREAT:
                raise PermissionError(13, "Permission denied", str(path))
            return real_open(path, flags, *args, **kwargs)

        monkeypatch.setattr(os, "open", refusing_open)
    try:
        assert_fails(capsys, ["tts", "Hello.", "--out", str(locked / "x.wav")], "Permission denied")
    finally:
        locked.chmod(0o755)
    assert list(locked.iterdir()) == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--emotion", "sda"], "Did you mean 'sad'"),
        (["--emotion", "auto"], "'auto' is for tts"),
        (["--emotion", "sad", "--intensity", "2"], "intensity must be in [0, 1]"),
        (["--curve", "happy@#0 -> sad@#1"], "seconds"),
    ],
)
def test_vc_failures_exit_non_zero_and_write_nothing(speech_file, tmp_path, capsys, argv, message):
    out = tmp_path / "out.wav"
    assert_fails(capsys, ["vc", str(speech_file), *argv, "--out", str(out)], message, "vc")
    assert list(tmp_path.iterdir()) == []


def test_vc_bad_input_files(tmp_path, capsys):
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt not a wave file at all" * 4)
    silent = tmp_path / "silent.wav"
    soundfile.write(silent, np.zeros(8000, np.float32), 16000)
    out = tmp_path / "out.wav"
    cases = [
        (tmp_path / "missing.wav", "audio file not found"),
        (corrupt, "cannot read audio file"),
        (silent, "silent"),
    ]
    for path, message in cases:
        assert_fails(
            capsys, ["vc", str(path), "--emotion", "sad", "--out", str(out)], message, "vc"
        )
    assert not out.exists()


def test_a_failed_run_keeps_the_existing_output(speech_file, tmp_path, capsys):
    out = tmp_path / "keep.wav"
    soundfile.write(out, np.full(100, 0.25, np.float32), 22050)
    before = out.read_bytes()
    assert_fails(capsys, ["tts", "Hello.", "--emotion", "hapy", "--out", str(out)], "hapy")
    assert_fails(capsys, ["tts", "♪♪♪", "--out", str(out)], "spoken")  # fails mid-synthesis
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"not audio")
    assert_fails(
        capsys, ["vc", str(corrupt), "--emotion", "sad", "--out", str(out)], "cannot read", "vc"
    )
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corrupt.wav", "keep.wav"]


# ---------------------------------------------------------------------- the installed script


@pytest.mark.slow  # a fresh interpreter imports torch and diffusers and loads the voice: ~25 s
def test_installed_emogen_script_speaks(tmp_path):
    out = tmp_path / "script.wav"
    result = subprocess.run(
        [
            str(EMOGEN),
            "tts",
            "Hello there.",
            "--emotion",
            "happy",
            "--seed",
            "0",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(out)
    assert soundfile.info(out).duration > 0.3
