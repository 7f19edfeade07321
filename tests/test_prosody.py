"""Prosody features: each moves the right way on synthetic signals that change one cue at a time."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile

from emogen.errors import EmogenError
from emogen.eval.speech import acoustic_correlates
from emogen.speech.prosody import ProsodyFeatures, prosody_features
from emogen.speech.world import WorldVocoder

SAMPLE_RATE = 16000


def speech_like(
    f0_start=120.0,
    f0_end=None,
    seconds=1.0,
    level=0.2,
    harmonic_decay=1.0,
    syllable_rate=None,
    silences=(),
    noise=0.002,
    jitter=0.0,
    seed=0,
):
    """A voiced stand-in for speech where one cue at a time can be set.

    Harmonics with amplitude 1/k**harmonic_decay of an F0 glide from f0_start to f0_end, optional
    syllable-like amplitude pulses at `syllable_rate` Hz (raised cosine), random F0 steps of
    relative size `jitter` every 5 ms, white noise, and `silences` ((at_s, length_s) pairs)
    inserted as digital silence.
    """
    rng = np.random.default_rng(seed)
    f0_end = f0_start if f0_end is None else f0_end
    n = round(seconds * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    f0 = f0_start + (f0_end - f0_start) * t / seconds
    if jitter:
        steps = 1.0 + jitter * rng.standard_normal(n // 80 + 1)
        f0 = f0 * np.repeat(steps, 80)[:n]
    phase = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE
    top = max(f0_start, f0_end) * (1 + 4 * jitter)
    audio = sum(
        np.sin(k * phase) / k**harmonic_decay for k in range(1, 40) if k * top < SAMPLE_RATE / 2
    )
    audio = level * audio / np.max(np.abs(audio))
    if syllable_rate:
        audio = audio * (0.5 - 0.5 * np.cos(2 * np.pi * syllable_rate * t))
    audio = audio + noise * rng.standard_normal(n)
    for at, length in sorted(silences, reverse=True):
        cut = round(at * SAMPLE_RATE)
        audio = np.concatenate([audio[:cut], np.zeros(round(length * SAMPLE_RATE)), audio[cut:]])
    return audio.astype(np.float32)


def measure(audio):
    return prosody_features(audio, SAMPLE_RATE)


def test_higher_f0_gives_higher_mean():
    low, high = measure(speech_like(120.0)), measure(speech_like(200.0))
    assert high.f0_mean_semitones == pytest.approx(12 * np.log2(2.0), abs=0.2)
    assert high.f0_mean_semitones - low.f0_mean_semitones == pytest.approx(
        12 * np.log2(200 / 120), abs=0.2
    )
    assert low.f0_range_semitones < 0.5 and abs(low.f0_slope_semitones_per_s) < 0.5


def test_wider_glide_gives_larger_range():
    narrow = measure(speech_like(140.0, 160.0))
    wide = measure(speech_like(100.0, 200.0))
    # 20th-80th percentile of a linear glide in Hz, in semitones.
    assert wide.f0_range_semitones == pytest.approx(12 * np.log2(180 / 120), abs=0.5)
    assert narrow.f0_range_semitones < 2.0 < 6.0 < wide.f0_range_semitones


def test_range_ignores_a_few_octave_errors():
    audio = speech_like(100.0, 200.0)
    clean = measure(audio)
    features = WorldVocoder().analyze(audio, SAMPLE_RATE)
    f0 = features.f0.copy()
    voiced = np.flatnonzero(f0 > 0)
    wrong = voiced[:: len(voiced) // 8][:8]  # ~3 % of the voiced frames an octave off
    f0[wrong[::2]] *= 2.0
    f0[wrong[1::2]] /= 2.0
    noisy = prosody_features(audio, SAMPLE_RATE, features.replace(f0=f0))
    assert noisy.f0_range_semitones == pytest.approx(clean.f0_range_semitones, abs=0.3)


def test_rising_and_falling_glides_give_opposite_slope_and_final_rise():
    rising = measure(speech_like(120.0, 180.0, seconds=1.5))
    falling = measure(speech_like(180.0, 120.0, seconds=1.5))
    expected_slope = 12 * np.log2(180 / 120) / 1.5  # about 4.7 semitones per second
    assert rising.f0_slope_semitones_per_s == pytest.approx(expected_slope, rel=0.15)
    assert falling.f0_slope_semitones_per_s == pytest.approx(-expected_slope, rel=0.15)
    assert rising.f0_final_rise_semitones > 1.0
    assert falling.f0_final_rise_semitones < -1.0


def test_louder_gives_higher_energy_and_nothing_else():
    quiet = measure(speech_like(level=0.1))
    loud = measure(speech_like(level=0.2, noise=0.004))  # the same signal, twice the amplitude
    assert loud.energy_db - quiet.energy_db == pytest.approx(6.02, abs=0.1)
    assert loud.f0_mean_semitones == pytest.approx(quiet.f0_mean_semitones, abs=0.05)
    assert loud.spectral_tilt_db == pytest.approx(quiet.spectral_tilt_db, abs=0.3)


def test_more_high_frequency_harmonics_give_a_less_negative_tilt():
    steep = measure(speech_like(harmonic_decay=2.0))
    flat = measure(speech_like(harmonic_decay=1.0))
    flatter = measure(speech_like(harmonic_decay=0.5))
    assert steep.spectral_tilt_db < flat.spectral_tilt_db < flatter.spectral_tilt_db
    assert flat.spectral_tilt_db - steep.spectral_tilt_db > 5.0
    assert steep.spectral_tilt_db < 0


def test_faster_syllable_pulses_give_a_higher_speech_rate():
    slow = measure(speech_like(seconds=2.0, syllable_rate=4.0))
    fast = measure(speech_like(seconds=2.0, syllable_rate=6.0))
    assert slow.speech_rate == pytest.approx(4.0, rel=0.2)
    assert fast.speech_rate == pytest.approx(6.0, rel=0.2)
    assert slow.pause_ratio == fast.pause_ratio == 0.0


def test_known_syllables_give_the_rate_over_speaking_time():
    audio = speech_like(seconds=2.0, syllable_rate=5.0, silences=[(1.0, 0.5)])
    detected = measure(audio)
    counted = prosody_features(audio, SAMPLE_RATE, syllables=10)
    assert counted.speech_rate == pytest.approx(5.0, rel=0.1)  # 10 in 2 s of speaking time
    double = prosody_features(audio, SAMPLE_RATE, syllables=20)
    assert double.speech_rate == pytest.approx(2 * counted.speech_rate)
    assert counted.pause_ratio == detected.pause_ratio
    for bad in (-1, 2.5, True):
        with pytest.raises(EmogenError, match="syllables must be None or an integer"):
            prosody_features(audio, SAMPLE_RATE, syllables=bad)


def test_inserted_silences_raise_the_pause_ratio_but_not_the_rate():
    fluent = measure(speech_like(seconds=2.0, syllable_rate=5.0))
    halting = measure(
        speech_like(seconds=2.0, syllable_rate=5.0, silences=[(0.6, 0.3), (1.4, 0.3)])
    )
    assert fluent.pause_ratio < 0.02
    assert halting.pause_ratio == pytest.approx(0.6 / 2.6, abs=0.05)
    assert halting.duration_s == pytest.approx(2.6)
    assert halting.speech_rate == pytest.approx(fluent.speech_rate, rel=0.15)


def test_short_silences_are_not_pauses():
    gaps = [(0.5, 0.05), (1.0, 0.05), (1.5, 0.05)]  # 50 ms: stop closures, not pauses
    assert measure(speech_like(seconds=2.0, syllable_rate=5.0, silences=gaps)).pause_ratio == 0.0


def test_f0_perturbation_gives_jitter():
    smooth = measure(speech_like(150.0, seconds=1.5))
    shaky = measure(speech_like(150.0, seconds=1.5, jitter=0.03))
    assert smooth.jitter_percent < 0.3
    assert shaky.jitter_percent > 1.0


def test_noise_lowers_hnr():
    clean = measure(speech_like(noise=0.001))
    breathy = measure(speech_like(noise=0.03))
    assert clean.hnr_db > breathy.hnr_db + 5.0


def test_leading_and_trailing_silence_do_not_count():
    core = speech_like(seconds=1.6, syllable_rate=5.0)  # whole pulses: starts and ends at 0
    padded = np.concatenate([np.zeros(8000, np.float32), core, np.zeros(8000, np.float32)])
    a, b = measure(core), measure(padded)
    assert b.pause_ratio == a.pause_ratio == 0.0
    assert b.speech_rate == pytest.approx(a.speech_rate, rel=0.1)
    assert b.duration_s == pytest.approx(a.duration_s + 1.0)


def test_short_input_gives_finite_values_or_a_clear_error():
    features = measure(speech_like(seconds=0.15))
    assert np.isfinite(features.as_array()).all()
    assert features.f0_range_semitones < 1.0 and features.pause_ratio == 0.0
    tiny = measure(speech_like(seconds=0.05))  # 50 ms: still tracked, and still finite
    assert np.isfinite(tiny.as_array()).all()


def test_unvoiced_input_is_refused():
    hiss = 0.1 * np.random.default_rng(1).standard_normal(SAMPLE_RATE).astype(np.float32)
    with pytest.raises(EmogenError, match="no voiced speech"):
        measure(hiss)


def test_precomputed_features_give_the_same_result():
    audio = speech_like(130.0, 170.0, syllable_rate=5.0)
    features = WorldVocoder().analyze(audio, SAMPLE_RATE)
    assert prosody_features(audio, SAMPLE_RATE, features) == measure(audio)
    with pytest.raises(EmogenError, match="not of this audio"):
        prosody_features(audio[:8000], SAMPLE_RATE, features)
    with pytest.raises(EmogenError, match="WorldFeatures"):
        prosody_features(audio, SAMPLE_RATE, features.f0)


def test_features_of_edited_audio_are_accepted():
    audio = speech_like(150.0, seconds=1.0, syllable_rate=5.0)
    vocoder = WorldVocoder()
    features = vocoder.analyze(audio, SAMPLE_RATE)
    slower = np.repeat(np.arange(features.num_frames), 3)[::2]  # 1.5x longer
    stretched = features.replace(
        f0=features.f0[slower],
        spectral_envelope=features.spectral_envelope[slower],
        aperiodicity=features.aperiodicity[slower],
    )
    rendered = vocoder.synthesize(stretched)
    measured = prosody_features(rendered, SAMPLE_RATE, stretched)
    original = prosody_features(audio, SAMPLE_RATE, features)
    assert measured.duration_s == pytest.approx(1.5, abs=0.02)
    assert measured.speech_rate == pytest.approx(original.speech_rate / 1.5, rel=0.2)
    assert measured.f0_mean_semitones == pytest.approx(original.f0_mean_semitones, abs=0.1)


def test_vector_form_round_trips():
    features = measure(speech_like(150.0, 170.0))
    vector = features.as_array()
    assert vector.shape == (len(ProsodyFeatures.NAMES),) == (12,)
    assert list(features.as_dict()) == list(ProsodyFeatures.NAMES)
    assert ProsodyFeatures.from_array(vector) == features
    with pytest.raises(EmogenError, match=r"shape \(12,\)"):
        ProsodyFeatures.from_array(vector[:5])


def test_acoustic_correlates_is_the_feature_dict(tmp_path):
    audio = speech_like(140.0, syllable_rate=5.0)
    correlates = acoustic_correlates(audio, SAMPLE_RATE)
    assert correlates == measure(audio).as_dict()
    assert all(isinstance(value, float) for value in correlates.values())
    soundfile.write(tmp_path / "clip.wav", audio, SAMPLE_RATE, subtype="FLOAT")
    assert acoustic_correlates(tmp_path / "clip.wav") == correlates
    with pytest.raises(EmogenError, match="sample rate"):
        acoustic_correlates(audio)
    # With the words known, the rate counts their syllables (9 in this sentence).
    spoken = acoustic_correlates(audio, SAMPLE_RATE, text="I can't believe we won the button!")
    expected = prosody_features(audio, SAMPLE_RATE, syllables=9).speech_rate
    assert spoken["speech_rate"] == pytest.approx(expected)
