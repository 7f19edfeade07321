"""Audio input/output: format round trips, downmix, resampling, clear errors, atomic writes."""

from __future__ import annotations

import os

import numpy as np
import pytest
import soundfile

from emogen.errors import EmogenError
from emogen.speech import audio as audio_module
from emogen.speech.audio import load_audio, rms_db, save_audio

SAMPLE_RATE = 22050


def chirp(seconds=0.5, sample_rate=SAMPLE_RATE, amplitude=0.5):
    """A 200 Hz -> 1.7 kHz sweep: no period, so a misaligned copy does not correlate."""
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    return (amplitude * np.sin(2 * np.pi * (200 * t + 1500 * t**2))).astype(np.float32)


def tone(frequency, seconds, sample_rate, amplitude=0.5):
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    return (amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def dominant_frequency(audio, sample_rate):
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    return np.argmax(spectrum) * sample_rate / len(audio)


@pytest.mark.parametrize(
    ("extension", "tolerance"),
    [(".wav", 1e-4), (".flac", 1e-4), (".ogg", 0.05), (".mp3", 0.05)],
)
def test_every_format_round_trips(tmp_path, extension, tolerance):
    if extension == ".mp3" and "MP3" not in soundfile.available_formats():
        pytest.skip(f"libsndfile {soundfile.__libsndfile_version__} has no mp3 support")
    audio = chirp()
    path = save_audio(tmp_path / f"speech{extension}", audio, SAMPLE_RATE)
    assert path == tmp_path / f"speech{extension}"
    loaded, rate = load_audio(path)
    assert rate == SAMPLE_RATE
    assert loaded.dtype == np.float32 and loaded.shape == audio.shape
    assert loaded.flags["C_CONTIGUOUS"]
    # Lossless formats keep the samples to 16-bit precision; lossy ones keep the waveform aligned.
    assert np.sqrt(np.mean((loaded - audio) ** 2)) < tolerance
    assert np.corrcoef(loaded, audio)[0, 1] > 0.99
    assert os.listdir(tmp_path) == [path.name]  # no temporary file left behind


def test_mp3_written_by_libsndfile_directly_is_read(tmp_path):
    if "MP3" not in soundfile.available_formats():
        pytest.skip("no mp3 support in this libsndfile")
    soundfile.write(tmp_path / "clip.mp3", chirp(), SAMPLE_RATE, format="MP3")
    loaded, rate = load_audio(tmp_path / "clip.mp3", sample_rate=16000)
    assert rate == 16000 and abs(len(loaded) - 8000) <= 1


def test_stereo_file_is_downmixed_by_mean(tmp_path):
    left = chirp()
    soundfile.write(tmp_path / "stereo.wav", np.stack([left, np.zeros_like(left)], axis=1), 22050)
    loaded, _ = load_audio(tmp_path / "stereo.wav")
    assert np.allclose(loaded, left / 2, atol=1e-4)


@pytest.mark.parametrize("layout", ["(T, C)", "(C, T)"])
def test_multichannel_arrays_are_downmixed(layout):
    channels = np.stack([chirp(), -0.5 * chirp(), chirp()], axis=1)  # (T, 3)
    array = channels if layout == "(T, C)" else channels.T
    loaded, rate = load_audio(array, source_sample_rate=SAMPLE_RATE)
    assert rate == SAMPLE_RATE
    assert np.allclose(loaded, chirp() * 0.5, atol=1e-6)


def test_int16_arrays_and_gradio_tuples():
    pcm = (chirp() * 32767).astype(np.int16)
    for source in [(SAMPLE_RATE, pcm), (pcm, SAMPLE_RATE)]:
        loaded, rate = load_audio(source)
        assert rate == SAMPLE_RATE
        assert np.allclose(loaded, chirp(), atol=1e-4)


def test_array_rate_defaults_to_the_requested_rate():
    loaded, rate = load_audio(chirp(), sample_rate=SAMPLE_RATE)
    assert rate == SAMPLE_RATE and np.array_equal(loaded, chirp())
    with pytest.raises(EmogenError, match="source_sample_rate"):
        load_audio(chirp())
    original = chirp()
    loaded, _ = load_audio(original, SAMPLE_RATE)
    loaded[:] = 0  # the result is a copy: editing it leaves the caller's array alone
    assert np.array_equal(original, chirp())


@pytest.mark.parametrize(("source_rate", "target_rate"), [(44100, 22050), (16000, 22050)])
def test_resampling_changes_length_and_keeps_pitch(source_rate, target_rate):
    audio = tone(440.0, 1.0, source_rate)
    loaded, rate = load_audio(audio, target_rate, source_sample_rate=source_rate)
    assert rate == target_rate
    assert len(loaded) == target_rate  # 1 s
    assert dominant_frequency(loaded, rate) == pytest.approx(440.0, abs=2.0)
    assert np.sqrt(np.mean(loaded[1000:-1000] ** 2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.02)


def test_file_resampled_on_load(tmp_path):
    soundfile.write(tmp_path / "hi.flac", tone(300.0, 0.5, 48000), 48000)
    loaded, rate = load_audio(tmp_path / "hi.flac", sample_rate=16000)
    assert rate == 16000 and len(loaded) == 8000
    assert dominant_frequency(loaded, rate) == pytest.approx(300.0, abs=3.0)


def test_missing_corrupt_and_empty_files(tmp_path):
    missing = tmp_path / "nowhere" / "voice.wav"
    with pytest.raises(EmogenError, match=r"not found.*nowhere"):
        load_audio(missing)
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF this is not really a wave file" * 10)
    with pytest.raises(
        EmogenError, match=r"cannot read audio file .*corrupt\.wav.*readable formats"
    ):
        load_audio(corrupt)
    empty = tmp_path / "empty.flac"
    empty.write_bytes(b"")
    with pytest.raises(EmogenError, match="empty"):
        load_audio(empty)
    with pytest.raises(EmogenError, match="folder"):
        load_audio(tmp_path)
    soundfile.write(tmp_path / "zero.wav", np.zeros((0, 1), dtype=np.float32), SAMPLE_RATE)
    with pytest.raises(EmogenError, match="empty"):
        load_audio(tmp_path / "zero.wav")


def test_silent_nan_empty_and_long_audio():
    with pytest.raises(EmogenError, match="the audio is silent"):
        load_audio(np.zeros(22050, dtype=np.float32), SAMPLE_RATE)
    with pytest.raises(EmogenError, match="the audio is silent"):
        load_audio(np.full(22050, 5e-5, dtype=np.float32), SAMPLE_RATE)
    noisy = chirp()
    noisy[100] = np.nan
    with pytest.raises(EmogenError, match="1 non-finite"):
        load_audio(noisy, SAMPLE_RATE)
    with pytest.raises(EmogenError, match="empty"):
        load_audio(np.zeros(0, dtype=np.float32), SAMPLE_RATE)
    with pytest.raises(EmogenError, match=r"over the limit of 0\.25 s.*max_seconds"):
        load_audio(chirp(0.5), SAMPLE_RATE, max_seconds=0.25)
    assert len(load_audio(chirp(0.5), SAMPLE_RATE, max_seconds=None)[0]) == 11025


def test_long_file_is_refused_before_decoding(tmp_path, monkeypatch):
    soundfile.write(tmp_path / "long.wav", chirp(1.0), SAMPLE_RATE)

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded a file that is over the limit")

    monkeypatch.setattr(audio_module.soundfile, "read", no_decoding)
    with pytest.raises(EmogenError, match=r"over the limit of 0\.5 s"):
        load_audio(tmp_path / "long.wav", max_seconds=0.5)


def test_unusable_arrays_and_arguments():
    with pytest.raises(EmogenError, match="at most 8 channels"):
        load_audio(np.ones((9, 9), dtype=np.float32), SAMPLE_RATE)
    with pytest.raises(EmogenError, match="not mono"):
        load_audio(np.ones((2, 3, 100), dtype=np.float32), SAMPLE_RATE)
    with pytest.raises(EmogenError, match="dtype"):
        load_audio(np.array(["a", "b"]), SAMPLE_RATE)
    with pytest.raises(EmogenError, match="file path, a numpy array"):
        load_audio(12345)
    with pytest.raises(EmogenError, match="sample_rate"):
        load_audio(chirp(), sample_rate=22050.5)
    with pytest.raises(EmogenError, match="max_seconds"):
        load_audio(chirp(), SAMPLE_RATE, max_seconds=-1)
    with pytest.raises(EmogenError, match="tuple"):
        load_audio((SAMPLE_RATE, chirp(), "extra"))


def test_save_refuses_unknown_extensions_and_bad_audio(tmp_path):
    with pytest.raises(EmogenError, match=r"\.wav, \.flac, \.ogg"):
        save_audio(tmp_path / "out.aac", chirp(), SAMPLE_RATE)
    with pytest.raises(EmogenError, match="none"):
        save_audio(tmp_path / "out", chirp(), SAMPLE_RATE)
    with pytest.raises(EmogenError, match="does not exist"):
        save_audio(tmp_path / "missing" / "out.wav", chirp(), SAMPLE_RATE)
    bad = chirp()
    bad[5] = np.inf
    with pytest.raises(EmogenError, match="NaN or infinite"):
        save_audio(tmp_path / "out.wav", bad, SAMPLE_RATE)
    with pytest.raises(EmogenError, match="empty"):
        save_audio(tmp_path / "out.wav", np.zeros(0, dtype=np.float32), SAMPLE_RATE)
    assert list(tmp_path.iterdir()) == []


def test_failed_write_leaves_no_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    target = tmp_path / "out.wav"
    save_audio(target, chirp(), SAMPLE_RATE)
    before = target.read_bytes()

    def write_half_then_fail(file, data, samplerate, **kwargs):
        with open(file, "wb") as handle:
            handle.write(b"RIFF partial")
        raise OSError("disk full")

    monkeypatch.setattr(audio_module.soundfile, "write", write_half_then_fail)
    with pytest.raises(EmogenError, match=r"cannot write .*disk full"):
        save_audio(target, tone(440.0, 0.5, SAMPLE_RATE), SAMPLE_RATE)
    with pytest.raises(EmogenError, match="disk full"):
        save_audio(tmp_path / "new.flac", chirp(), SAMPLE_RATE)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.wav"]


def test_encoder_errors_become_emogen_errors(tmp_path):
    if "MP3" not in soundfile.available_formats():
        pytest.skip("no mp3 support in this libsndfile")
    # MPEG audio has no 7 kHz sample rate: libsndfile refuses it.
    with pytest.raises(EmogenError, match="could not write"):
        save_audio(tmp_path / "odd.mp3", tone(440.0, 0.2, 7000), 7000)
    assert list(tmp_path.iterdir()) == []


def test_clipping_is_reported(tmp_path, caplog):
    with caplog.at_level("WARNING", logger="emogen.speech.audio"):
        save_audio(tmp_path / "loud.wav", chirp(amplitude=1.5), SAMPLE_RATE)
    assert "clipped" in caplog.text
    loaded, _ = load_audio(tmp_path / "loud.wav")
    assert np.abs(loaded).max() <= 1.0


def test_saved_file_has_normal_permissions(tmp_path):
    path = save_audio(tmp_path / "perm.wav", chirp(), SAMPLE_RATE)
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_rms_db():
    assert rms_db(tone(440.0, 1.0, SAMPLE_RATE, amplitude=1.0)) == pytest.approx(-3.01, abs=0.01)
    assert rms_db(np.zeros(100)) == -120.0
    assert rms_db(np.zeros(0)) == -120.0
    assert rms_db(0.5 * chirp()) == pytest.approx(rms_db(chirp()) - 6.02, abs=0.01)
