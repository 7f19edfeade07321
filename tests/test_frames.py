"""WORLD frame features: column layout, normaliser, and decode -> WORLD synthesis on joe speech."""

from __future__ import annotations

import numpy as np
import pytest
import pyworld
from scipy.signal import stft

from emogen.errors import EmogenError
from emogen.speech.frames import FrameNormalizer, WorldFrameCoder, phoneme_frame_durations
from emogen.speech.voice import PiperVoice
from emogen.speech.world import WorldFeatures, WorldVocoder, num_world_frames

SENTENCE = "The quick brown fox jumps over the lazy dog."


@pytest.fixture(scope="module")
def joe():
    """Joe speech and its WORLD analysis with the TTS pipeline's vocoder settings."""
    spoken = PiperVoice().synthesize(SENTENCE, seed=0)
    vocoder = WorldVocoder(window_f0_floor=65.0)
    return spoken.audio, vocoder, vocoder.analyze(spoken.audio, spoken.sample_rate)


def log_spectrogram(audio: np.ndarray) -> np.ndarray:
    return 10 * np.log10(np.abs(stft(audio, nperseg=1024, noverlap=768)[2]) ** 2 + 1e-10)


def test_layout_columns_hold_each_stream(joe):
    _, _, features = joe
    coder = WorldFrameCoder()
    layout = coder.layout
    assert layout.dims == 64 and layout.envelope == slice(2, 62)
    assert (
        layout.aperiodicity
        == slice(62, 64)
        == slice(62, 62 + pyworld.get_num_aperiodicities(22050))
    )
    assert len(layout.names) == 64 and layout.names[:3] == ["log_f0", "voicing", "envelope_0"]

    frames = coder.encode(features)
    assert frames.shape == (features.num_frames, 64) and frames.dtype == np.float32
    voiced = features.voiced
    assert 0.2 < voiced.mean() < 0.9  # speech has both kinds of frame
    np.testing.assert_array_equal(frames[:, layout.voicing], voiced)
    np.testing.assert_allclose(
        np.exp(frames[voiced, layout.log_f0]), features.f0[voiced], rtol=1e-5
    )
    # Unvoiced frames carry log F0 interpolated between their voiced neighbours (no holes).
    log_f0 = frames[:, layout.log_f0]
    low, high = np.log(features.f0[voiced]).min(), np.log(features.f0[voiced]).max()
    assert (
        np.isfinite(log_f0).all() and (log_f0 >= low - 1e-5).all() and (log_f0 <= high + 1e-5).all()
    )
    gap = np.flatnonzero(~voiced[1:] & voiced[:-1])[0] + 1  # first unvoiced frame after voicing
    end = gap + np.argmax(voiced[gap:])
    expected = np.interp(gap, [gap - 1, end], [log_f0[gap - 1], log_f0[end]])
    assert log_f0[gap] == pytest.approx(expected, abs=1e-5)
    # The envelope's first coefficient follows the frame's energy; aperiodicity is in dB <= 0.
    energy = np.log(features.spectral_envelope.sum(axis=1))
    assert np.corrcoef(frames[:, layout.envelope.start], energy)[0, 1] > 0.9
    assert (frames[:, layout.aperiodicity] <= 1e-6).all()


def test_decode_then_world_synthesis_keeps_f0_and_spectrum(joe):
    audio, vocoder, features = joe
    coder = WorldFrameCoder()
    decoded = coder.decode(coder.encode(features), num_samples=features.num_samples)
    assert isinstance(decoded, WorldFeatures) and decoded.fft_size == 1024
    np.testing.assert_allclose(decoded.f0, features.f0, rtol=1e-5)  # voicing and F0 kept
    # Envelope coding costs ~2 dB of log-spectral distance (60 coefficients).
    envelope_db = 10 * np.log10(features.spectral_envelope / decoded.spectral_envelope)
    assert np.sqrt(np.mean(envelope_db**2, axis=1)).mean() < 3.0

    direct, coded = vocoder.synthesize(features), vocoder.synthesize(decoded)
    assert coded.shape == audio.shape
    distance = np.sqrt(np.mean((log_spectrogram(direct) - log_spectrogram(coded)) ** 2, axis=0))
    assert distance.mean() < 2.5  # dB: close to WORLD's own resynthesis
    # ... and far closer to it than the resynthesis is to the voice's original audio.
    original = np.sqrt(np.mean((log_spectrogram(audio) - log_spectrogram(direct)) ** 2, axis=0))
    assert distance.mean() < 0.5 * original.mean()
    # The pitch heard back is the pitch put in: analyse the coded audio again.
    again = vocoder.analyze(coded, 22050)
    both = again.voiced & features.voiced
    assert both.sum() > 0.8 * features.voiced.sum()
    assert np.median(np.abs(np.log2(again.f0[both] / features.f0[both]))) < 0.02  # < 1/4 semitone


def test_decode_takes_a_model_prediction(joe):
    """Frames from a model: soft voicing flags, aperiodicity above 0 dB, any N."""
    _, vocoder, features = joe
    coder = WorldFrameCoder()
    frames = coder.encode(features)[:100].copy()
    frames[:, 1] = np.where(frames[:, 1] > 0.5, 0.9, 0.1)
    frames[:, 62:] += 5.0
    decoded = coder.decode(frames)
    assert decoded.num_samples is None and decoded.num_frames == 100
    assert ((decoded.aperiodicity >= 0) & (decoded.aperiodicity <= 1)).all()
    np.testing.assert_array_equal(decoded.f0 > 0, features.f0[:100] > 0)
    assert vocoder.synthesize(decoded).shape[0] == int(100 * 5.0 * 22050 / 1000)
    with pytest.raises(EmogenError, match=r"\(N, 64\)"):
        coder.decode(frames[:, :10])
    with pytest.raises(EmogenError, match="NaN"):
        coder.decode(np.full((3, 64), np.nan))


def test_encode_checks_rate_and_frame_period(joe):
    _, _, features = joe
    with pytest.raises(EmogenError, match="16000 Hz"):
        WorldFrameCoder(sample_rate=16000).encode(features)
    with pytest.raises(EmogenError, match="frame period"):
        WorldFrameCoder(frame_period_ms=10.0).encode(features)
    with pytest.raises(EmogenError, match="envelope_dims"):
        WorldFrameCoder(envelope_dims=2)
    silent = features.replace(f0=np.zeros_like(features.f0))  # no voiced frame at all
    frames = WorldFrameCoder(unvoiced_f0=90.0).encode(silent)
    np.testing.assert_allclose(frames[:, 0], np.log(90.0))


def test_normalizer_round_trip_and_save_load(joe, tmp_path):
    _, _, features = joe
    coder = WorldFrameCoder()
    frames = coder.encode(features)
    halves = [frames[:150], frames[150:]]
    normalizer = FrameNormalizer.fit(iter(halves))  # streamed over "utterances"
    assert normalizer.config.num_frames == len(frames)
    np.testing.assert_allclose(normalizer.mean, frames.mean(axis=0), rtol=1e-4, atol=1e-4)
    normalized = normalizer.normalize(frames)
    np.testing.assert_allclose(normalized.mean(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(normalized.std(axis=0), 1.0, atol=1e-3)
    np.testing.assert_allclose(normalizer.denormalize(normalized), frames, atol=1e-4)

    constant = frames.copy()
    constant[:, 1] = 1.0  # an all-voiced corpus: the flag column is left unscaled
    assert FrameNormalizer.fit([constant]).std[1] == 1.0

    normalizer.save_pretrained(tmp_path / "normalizer")
    coder.save_pretrained(tmp_path / "coder")
    loaded = FrameNormalizer.from_pretrained(tmp_path / "normalizer")
    np.testing.assert_array_equal(loaded.normalize(frames), normalized)
    assert WorldFrameCoder.from_pretrained(tmp_path / "coder").layout == coder.layout
    with pytest.raises(EmogenError, match="D = 64"):
        normalizer.normalize(frames[:, :5])
    with pytest.raises(EmogenError, match="at least 2 frames"):
        FrameNormalizer.fit([])


def test_phoneme_frame_durations_sum_exactly_and_give_silence_to_the_phoneme_before():
    # 5 ms frames centred at 0, 5, 10, ... ms; 0.1 s of audio at 22.05 kHz -> 21 frames.
    num_frames = num_world_frames(2205, 22050, 5.0)
    alignment = [("h", 0.012, 0.03), ("ə", 0.03, 0.03), ("l", 0.03, 0.05), (".", 0.07, 0.09)]
    durations = phoneme_frame_durations(alignment, num_frames, 5.0)
    assert durations.dtype == np.int64 and durations.sum() == num_frames == 21
    # h: frames 0-5 (leading silence and itself, centres < 30 ms); ə: none; l: 6-13 (with the
    # pause after it, centres < 70 ms); ".": 14-20 (to the end).
    assert durations.tolist() == [6, 0, 8, 7]
    assert phoneme_frame_durations([("a", 0.0, 0.1)], num_frames, 5.0).tolist() == [21]

    rng = np.random.default_rng(0)
    for _ in range(20):  # random alignments on random grids still sum exactly
        count, frame_ms = int(rng.integers(1, 40)), float(rng.choice([5.0, 10.0, 12.5]))
        times = np.sort(rng.uniform(0, 2.0, 2 * count))
        random = [(str(i), times[2 * i], times[2 * i + 1]) for i in range(count)]
        frames = num_world_frames(round(2.0 * 22050), 22050, frame_ms)
        found = phoneme_frame_durations(random, frames, frame_ms)
        assert found.sum() == frames and (found >= 0).all() and len(found) == count

    with pytest.raises(EmogenError, match="does not fit 21 frames"):
        phoneme_frame_durations([("a", 0.0, 0.5)], num_frames, 5.0)
    with pytest.raises(EmogenError, match="out of order"):
        phoneme_frame_durations([("a", 0.05, 0.06), ("b", 0.01, 0.02)], num_frames, 5.0)
    with pytest.raises(EmogenError, match="empty"):
        phoneme_frame_durations([], num_frames, 5.0)
