"""WorldVocoder: F0 on known tones and on the joe voice, analysis/synthesis round trip, config."""

from __future__ import annotations

import json

import numpy as np
import pytest

from emogen.errors import EmogenError
from emogen.speech.voice import PiperVoice
from emogen.speech.world import WorldFeatures, WorldVocoder

SAMPLE_RATE = 22050
JOE_SENTENCE = "The quick brown fox jumps over the lazy dog."


def harmonic_tone(f0_start, f0_end, seconds=1.0, sample_rate=SAMPLE_RATE, harmonics=12, seed=0):
    """A voiced-speech stand-in: harmonics (amplitude 1/k) of a linear F0 glide, plus noise.

    Returns the waveform and a function giving the true F0 at any time.
    """
    times = np.arange(round(seconds * sample_rate)) / sample_rate
    f0 = f0_start + (f0_end - f0_start) * times / seconds
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    audio = sum(
        np.sin(k * phase) / k
        for k in range(1, harmonics + 1)
        if k * max(f0_start, f0_end) < sample_rate / 2
    )
    audio = 0.2 * audio + 0.002 * np.random.default_rng(seed).standard_normal(times.shape)
    return audio.astype(np.float32), lambda t: f0_start + (f0_end - f0_start) * t / seconds


def steady_tone(f0, harmonics, seconds=1.5, sample_rate=SAMPLE_RATE, seed=0):
    """Equal-amplitude harmonics `harmonics` of a steady `f0` (Hz), plus a little noise."""
    times = np.arange(round(seconds * sample_rate)) / sample_rate
    audio = sum(np.sin(2 * np.pi * k * f0 * times) for k in harmonics)
    audio = 0.2 * audio / np.abs(audio).max()
    audio = audio + 0.002 * np.random.default_rng(seed).standard_normal(times.shape)
    return audio.astype(np.float32)


def reference_f0(audio, sample_rate, times, window_s=0.05, low=55.0, high=400.0):
    """F0 where a frame is clearly periodic, by window-corrected autocorrelation (Boersma 1993).

    Independent of the trackers under test: 50 ms Hann frames, the autocorrelation r divided by
    the window's own, its highest peak at lag L between 1/high and 1/low. A frame counts (else
    0) if r(L) > 0.7, it is within 30 dB of the loudest frame, and its octave is unambiguous,
    r(L/2) < r(L) - 0.1 (where one harmonic carries nearly all the energy, as the 2nd does on
    some joe frames, L and L/2 correlate alike and neither is a safe reference).
    """
    audio = np.asarray(audio, dtype=np.float64)
    size = round(window_s * sample_rate)
    centers = np.round(np.asarray(times) * sample_rate).astype(int)
    padded = np.pad(audio, (size, size))
    frames = padded[centers[:, None] + size - size // 2 + np.arange(size)]
    frames = (frames - frames.mean(axis=1, keepdims=True)) * np.hanning(size)
    fft_size = 1 << (2 * size).bit_length()
    acf = np.fft.irfft(np.abs(np.fft.rfft(frames, fft_size)) ** 2, fft_size)[:, :size]
    window_acf = np.fft.irfft(np.abs(np.fft.rfft(np.hanning(size), fft_size)) ** 2, fft_size)
    acf = acf / np.maximum(acf[:, :1], 1e-20) / (window_acf[:size] / window_acf[0])
    lags = np.arange(int(sample_rate / high), int(sample_rate / low) + 1)
    lag = lags[np.argmax(acf[:, lags], axis=1)]
    rows = np.arange(len(frames))
    left, peak, right = acf[rows, lag - 1], acf[rows, lag], acf[rows, lag + 1]
    offset = np.clip(0.5 * (left - right) / np.minimum(left - 2 * peak + right, -1e-12), -0.5, 0.5)
    half = acf[rows, np.round(lag / 2).astype(int)]
    level = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-30)
    clear = (peak > 0.7) & (half < peak - 0.1) & (level > level.max() - 30)
    return np.where(clear, sample_rate / (lag + offset), 0.0)


@pytest.fixture(scope="module")
def joe():
    """A sentence from the bundled Piper "joe" voice (F0 ~85 Hz, weak fundamental)."""
    spoken = PiperVoice().synthesize(JOE_SENTENCE, seed=0)
    return spoken.audio, spoken.sample_rate


@pytest.fixture(scope="module")
def glide():
    return harmonic_tone(120.0, 180.0, seconds=1.5)


@pytest.fixture(scope="module")
def analysis(glide):
    return WorldVocoder().analyze(glide[0], SAMPLE_RATE)


@pytest.mark.parametrize("method", ["yin", "dio", "harvest"])
def test_f0_follows_a_known_glide_within_3_percent(glide, method):
    audio, true_f0 = glide
    features = WorldVocoder(f0_method=method).analyze(audio, SAMPLE_RATE)
    inner = (features.times > 0.05) & (features.times < 1.45)
    assert features.voiced[inner].mean() > 0.95
    voiced = inner & features.voiced
    error = np.abs(features.f0[voiced] / true_f0(features.times[voiced]) - 1.0)
    assert error.max() < 0.03


@pytest.mark.parametrize(
    ("f0", "harmonics"),
    [
        (85.0, range(2, 7)),  # weak (here absent) fundamental, like the joe voice
        (450.0, range(1, 9)),  # 2T, 3T... are in range and dip as deep as T
        (200.0, [1]),  # a pure sine
    ],
)
def test_steady_tones_are_tracked_at_the_right_octave(f0, harmonics):
    features = WorldVocoder().analyze(steady_tone(f0, harmonics), SAMPLE_RATE)
    inner = (features.times > 0.05) & (features.times < 1.45)
    within = np.abs(features.f0[inner] / f0 - 1) < 0.03
    assert within.mean() > 0.9


def test_joe_voice_f0_and_resynthesis_keep_the_pitch(joe):
    audio, sample_rate = joe
    vocoder = WorldVocoder()
    features = vocoder.analyze(audio, sample_rate)
    reference = reference_f0(audio, sample_rate, features.times)
    periodic = reference > 0
    assert periodic.sum() > 100
    assert 70 < reference[periodic].mean() < 110  # the voice's range, before trusting it
    # DIO and Harvest report ~2x on many of these frames (see WorldVocoder's docstring).
    within = np.abs(features.f0[periodic] / reference[periodic] - 1) < 0.05
    assert within.mean() > 0.9

    resynthesized = vocoder.synthesize(features)
    again = reference_f0(resynthesized, sample_rate, features.times)
    both = periodic & (again > 0)
    assert both.sum() > 0.7 * periodic.sum()
    assert again[both].mean() == pytest.approx(reference[both].mean(), rel=0.1)

    up = vocoder.synthesize(features.replace(f0=features.f0 * 2 ** (3 / 12)))
    raised = reference_f0(up, sample_rate, features.times)
    both = periodic & (raised > 0)
    assert both.sum() > 0.7 * periodic.sum()
    assert np.median(raised[both] / reference[both]) == pytest.approx(2 ** (3 / 12), rel=0.03)


def test_analysis_shapes_and_grid(analysis, glide):
    audio, _ = glide
    n = int(1000 * len(audio) / SAMPLE_RATE / 5.0) + 1
    fft_size = 2048  # pyworld's CheapTrick size for a 60 Hz floor at 22.05 kHz
    assert analysis.f0.shape == (n,)
    assert analysis.spectral_envelope.shape == analysis.aperiodicity.shape == (n, fft_size // 2 + 1)
    assert analysis.fft_size == fft_size
    assert analysis.num_samples == len(audio)
    assert analysis.sample_rate == SAMPLE_RATE and analysis.frame_period_ms == 5.0
    assert analysis.duration_s == pytest.approx(1.5)
    assert np.allclose(np.diff(analysis.times), 0.005)
    assert analysis.frequencies[-1] == pytest.approx(SAMPLE_RATE / 2)
    assert ((analysis.aperiodicity >= 0) & (analysis.aperiodicity <= 1)).all()


def test_round_trip_keeps_length_f0_and_spectral_shape(analysis, glide):
    audio, _ = glide
    vocoder = WorldVocoder()
    resynthesized = vocoder.synthesize(analysis)
    assert resynthesized.dtype == np.float32
    assert resynthesized.shape == audio.shape
    again = vocoder.analyze(resynthesized, SAMPLE_RATE)
    inner = (analysis.times > 0.05) & (analysis.times < 1.45)
    both = inner & analysis.voiced & again.voiced
    assert both.sum() > 0.9 * inner.sum()
    assert np.abs(again.f0[both] / analysis.f0[both] - 1).max() < 0.03
    band = analysis.frequencies < 5000
    original = np.log(analysis.spectral_envelope[both][:, band])
    copy = np.log(again.spectral_envelope[both][:, band])
    assert np.corrcoef(original.ravel(), copy.ravel())[0, 1] > 0.95
    # Same level: a resynthesis that halved the signal would still correlate.
    assert np.std(resynthesized) == pytest.approx(np.std(audio), rel=0.2)


def test_pitch_edit_through_replace_moves_the_resynthesized_f0(analysis):
    vocoder = WorldVocoder()
    up = analysis.replace(f0=analysis.f0 * 2 ** (3 / 12))
    assert up.spectral_envelope is analysis.spectral_envelope  # shared, not copied
    measured = vocoder.analyze(vocoder.synthesize(up), SAMPLE_RATE)
    inner = (analysis.times > 0.1) & (analysis.times < 1.4) & analysis.voiced & measured.voiced
    ratio = np.median(measured.f0[inner] / analysis.f0[inner])
    assert ratio == pytest.approx(2 ** (3 / 12), rel=0.01)


def test_changing_the_frame_count_frees_the_length(analysis):
    vocoder = WorldVocoder()
    slow = np.repeat(np.arange(analysis.num_frames), 2)  # half speed
    stretched = analysis.replace(
        f0=analysis.f0[slow],
        spectral_envelope=analysis.spectral_envelope[slow],
        aperiodicity=analysis.aperiodicity[slow],
    )
    assert stretched.num_samples is None
    audio = vocoder.synthesize(stretched)
    assert len(audio) == int(stretched.num_frames * 5.0 * SAMPLE_RATE / 1000)
    with pytest.raises(EmogenError, match="num_samples"):
        stretched.replace(num_samples=analysis.num_samples)


def test_copy_is_independent_and_replace_checks_fields(analysis):
    copy = analysis.copy()
    copy.f0[:] = 0
    copy.spectral_envelope *= 2
    assert analysis.voiced.any()
    assert not np.shares_memory(copy.spectral_envelope, analysis.spectral_envelope)
    with pytest.raises(EmogenError, match="unknown WorldFeatures field"):
        analysis.replace(pitch=analysis.f0)
    with pytest.raises(EmogenError, match="same shape"):
        analysis.replace(aperiodicity=analysis.aperiodicity[:, :10])
    with pytest.raises(EmogenError, match="frames"):
        WorldFeatures(
            analysis.f0[:-1], analysis.spectral_envelope, analysis.aperiodicity, SAMPLE_RATE, 5.0
        )


def test_synthesize_rejects_invalid_features(analysis):
    vocoder = WorldVocoder()
    with pytest.raises(EmogenError, match="f0"):
        vocoder.synthesize(analysis.replace(f0=-analysis.f0))
    bad = analysis.spectral_envelope.copy()
    bad[3, 3] = np.nan
    with pytest.raises(EmogenError, match="spectral_envelope"):
        vocoder.synthesize(analysis.replace(spectral_envelope=bad))
    with pytest.raises(EmogenError, match="aperiodicity"):
        vocoder.synthesize(analysis.replace(aperiodicity=analysis.aperiodicity * 2))
    with pytest.raises(EmogenError, match="WorldFeatures"):
        vocoder.synthesize(analysis.f0)


def test_config_saves_and_loads(tmp_path):
    vocoder = WorldVocoder(frame_period_ms=10.0, f0_floor=70.0, f0_method="harvest", fft_size=2048)
    vocoder.save_pretrained(tmp_path / "world")
    saved = json.loads((tmp_path / "world" / "world_config.json").read_text())
    assert saved["_class_name"] == "WorldVocoder" and saved["f0_method"] == "harvest"
    loaded = WorldVocoder.from_pretrained(tmp_path / "world")
    for key in ("frame_period_ms", "f0_floor", "f0_ceil", "f0_method", "fft_size"):
        assert loaded.config[key] == vocoder.config[key]
    WorldVocoder().save_pretrained(tmp_path / "pipe" / "vocoder")
    assert (
        WorldVocoder.from_pretrained(tmp_path / "pipe", subfolder="vocoder").config.fft_size is None
    )


def test_explicit_fft_size_and_frame_period(glide):
    audio, _ = glide
    features = WorldVocoder(frame_period_ms=10.0, fft_size=4096).analyze(audio, SAMPLE_RATE)
    assert features.spectral_envelope.shape == (int(1000 * 1.5 / 10.0) + 1, 2049)
    with pytest.raises(EmogenError, match="at least 2048"):
        WorldVocoder(fft_size=512).analyze(audio, SAMPLE_RATE)


def test_fast_settings_keep_the_analysis_close(joe):
    """The TTS default's settings: a 65 Hz window floor (FFT 1024) and D4C on every 2nd frame."""
    audio, sample_rate = joe
    full = WorldVocoder().analyze(audio, sample_rate)
    fast = WorldVocoder(window_f0_floor=65.0, aperiodicity_stride=2).analyze(audio, sample_rate)
    assert full.fft_size == 2048 and fast.fft_size == 1024
    assert np.array_equal(fast.f0, full.f0)  # F0 is still tracked down to f0_floor
    assert (full.f0[full.voiced] < 65.0).any()  # ... and this voice goes below the window floor
    voiced = full.voiced
    # Band aperiodicity: within ~0.2 dB on average of D4C on every frame, unvoiced frames equal.
    full_db = 20 * np.log10(full.aperiodicity[voiced][:, ::2])
    fast_db = 20 * np.log10(fast.aperiodicity[voiced])
    assert np.abs(full_db - fast_db).mean() < 0.3
    assert np.allclose(fast.aperiodicity[~voiced], full.aperiodicity[~voiced][:, ::2])
    # The envelope keeps its shape below 5 kHz on the coarser FFT grid.
    band = fast.frequencies < 5000
    coarse = np.log(full.spectral_envelope[voiced][:, ::2][:, band])
    assert (
        np.corrcoef(coarse.ravel(), np.log(fast.spectral_envelope[voiced][:, band]).ravel())[0, 1]
        > 0.98
    )
    resynthesized = WorldVocoder().synthesize(fast)
    assert np.std(resynthesized) == pytest.approx(np.std(audio), rel=0.2)


def test_window_floor_sets_the_fft_size_at_any_rate():
    vocoder = WorldVocoder(window_f0_floor=65.0)
    assert vocoder.fft_size_for(22050) == 1024
    assert vocoder.fft_size_for(44100) == 2048
    with pytest.raises(EmogenError, match="raise window_f0_floor"):
        WorldVocoder(window_f0_floor=65.0, fft_size=512).fft_size_for(22050)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"window_f0_floor": 50.0}, ">= f0_floor"),
        ({"window_f0_floor": 600.0}, "window_f0_floor"),
        ({"aperiodicity_stride": 0}, r"aperiodicity_stride must be an integer in \[1, 8\]"),
        ({"aperiodicity_stride": 2.0}, "aperiodicity_stride"),
        ({"f0_method": "crepe"}, r"one of \['yin', 'dio', 'harvest'\]"),
        ({"f0_floor": 300.0, "f0_ceil": 200.0}, "below f0_ceil"),
        ({"frame_period_ms": 0.0}, "frame_period_ms"),
        ({"f0_floor": float("nan")}, "f0_floor"),
        ({"fft_size": 1000}, "power of two"),
    ],
)
def test_bad_config_is_refused(kwargs, message):
    with pytest.raises(EmogenError, match=message):
        WorldVocoder(**kwargs)


def test_bad_audio_is_refused():
    vocoder = WorldVocoder()
    tone = harmonic_tone(150.0, 150.0, seconds=0.2)[0]
    with_nan = tone.copy()
    with_nan[10] = np.nan
    with pytest.raises(EmogenError, match="non-finite"):
        vocoder.analyze(with_nan, SAMPLE_RATE)
    with pytest.raises(EmogenError, match="empty"):
        vocoder.analyze(np.zeros(0, dtype=np.float32), SAMPLE_RATE)
    with pytest.raises(EmogenError, match="too short"):
        vocoder.analyze(tone[:200], SAMPLE_RATE)
    with pytest.raises(EmogenError, match="mono"):
        vocoder.analyze(np.stack([tone, tone]), SAMPLE_RATE)
    with pytest.raises(EmogenError, match="float"):
        vocoder.analyze((tone * 32767).astype(np.int16), SAMPLE_RATE)
    with pytest.raises(EmogenError, match="numpy array"):
        vocoder.analyze(tone.tolist(), SAMPLE_RATE)
    with pytest.raises(EmogenError, match="sample_rate"):
        vocoder.analyze(tone, 800)
    with pytest.raises(EmogenError, match="sample_rate"):
        vocoder.analyze(tone, 22050.0)
    # (T, 1) is mono and accepted.
    assert vocoder.analyze(tone[:, None], SAMPLE_RATE).num_samples == len(tone)
