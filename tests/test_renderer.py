"""EmotionRenderer: emotion -> prosody controls (a DirectionBank), and the WORLD edits they drive.

Real joe speech is synthesized once per module (two short phrases with a pause between them);
exact pitch measurements use a synthetic harmonic tone, whose F0 WORLD tracks cleanly.
"""

from __future__ import annotations

import numpy as np
import pytest

from emogen.emotion import Emotion, EmotionCurve
from emogen.errors import EmogenError
from emogen.speech.prosody import frame_levels_db
from emogen.speech.renderer import (
    PROSODY_CONTROLS,
    EmotionRenderer,
    RenderOutput,
    default_profiles,
)
from emogen.speech.voice import PiperVoice
from emogen.speech.world import WorldFeatures, WorldVocoder

FAMILIES = ("angry", "happy", "sad", "afraid", "disgusted", "surprised", "calm")
PITCH = PROSODY_CONTROLS.index("pitch_shift_st")
FRAME_S = 0.005  # WorldVocoder's default frame period


class RecordingVocoder(WorldVocoder):
    """A WorldVocoder that keeps the features it was last asked to synthesize (the edits)."""

    def synthesize(self, features: WorldFeatures) -> np.ndarray:
        self.synthesized = features
        return super().synthesize(features)


def harmonic_tone(f0_hz: float, seconds: float, sample_rate: int = 22050) -> np.ndarray:
    """A steady voiced-speech stand-in: 12 harmonics (amplitude 1/k) of `f0_hz`, faint noise."""
    times = np.arange(round(seconds * sample_rate)) / sample_rate
    audio = sum(np.sin(2 * np.pi * k * f0_hz * times) / k for k in range(1, 13))
    audio = 0.2 * audio + 0.002 * np.random.default_rng(0).standard_normal(times.shape)
    return audio.astype(np.float32)


def semitones(f0: np.ndarray) -> np.ndarray:
    return 12.0 * np.log2(f0 / 100.0)


def voiced_level_db(audio: np.ndarray, features: WorldFeatures) -> float:
    """Mean power of the 25 ms windows at the voiced frames of `features`, in dB."""
    levels = frame_levels_db(audio, features.sample_rate, features.times, 0.025)
    return float(10 * np.log10(np.mean(10 ** (levels[features.voiced] / 10))))


@pytest.fixture(scope="module")
def renderer() -> EmotionRenderer:
    return EmotionRenderer()


@pytest.fixture(scope="module")
def vocoder() -> WorldVocoder:
    return WorldVocoder()


@pytest.fixture(scope="module")
def speech() -> tuple[np.ndarray, int]:
    """Two joe phrases with 0.4 s of silence between them (a phrase boundary and a pause)."""
    voice = PiperVoice()
    first = voice.synthesize("The weather is lovely today.", seed=0)
    second = voice.synthesize("Let us walk to the river.", seed=1)
    rate = first.sample_rate
    gap = np.zeros(round(0.4 * rate), np.float32)
    return np.concatenate([first.audio, gap, second.audio]), rate


@pytest.fixture(scope="module")
def features(speech, vocoder) -> WorldFeatures:
    return vocoder.analyze(*speech)


def render(renderer, speech, features, vocoder, emotion, **kwargs) -> RenderOutput:
    audio, rate = speech
    return renderer.render(audio, rate, emotion, vocoder=vocoder, features=features, **kwargs)


# ---------------------------------------------------------------------- emotion -> controls


@pytest.mark.parametrize(
    "emotion",
    [
        "angry",
        "sad",
        "afraid",
        "calm",
        "furious",
        "0.6 happy + 0.4 surprised",
        "v=-0.6 a=0.5 d=0.2",
    ],
)
def test_controls_are_linear_in_intensity(renderer, emotion):
    full = Emotion.parse(emotion).with_intensity(1.0)
    half = renderer.control_vector(full.with_intensity(0.5))
    assert np.abs(renderer.control_vector(full)).max() > 0
    np.testing.assert_allclose(half, 0.5 * renderer.control_vector(full), atol=1e-12)
    tenth = renderer.control_vector(full.with_intensity(0.1))
    np.testing.assert_allclose(tenth, 0.1 * renderer.control_vector(full), atol=1e-12)


@pytest.mark.parametrize(
    "emotion", ["neutral", "angry:0", "sad:0", Emotion.from_vad(0.5, 0.5, 0.5, 0)]
)
def test_neutral_and_zero_intensity_give_zero_controls(renderer, emotion):
    vector = renderer.control_vector(emotion)
    assert vector.shape == (len(PROSODY_CONTROLS),)
    assert not vector.any()


def test_controls_names_every_control(renderer):
    controls = renderer.controls("angry:0.5")
    assert list(controls) == list(PROSODY_CONTROLS)
    assert controls["pitch_shift_st"] == pytest.approx(
        0.5 * default_profiles()["angry"]["pitch_shift_st"]
    )


@pytest.mark.parametrize(
    ("mixture", "weights"),
    [
        ("0.5 angry + 0.5 sad", {"angry": 0.5, "sad": 0.5}),
        ("0.25 happy + 0.75 afraid", {"happy": 0.25, "afraid": 0.75}),
        (
            "0.2 calm + 0.3 disgusted + 0.5 surprised",
            {"calm": 0.2, "disgusted": 0.3, "surprised": 0.5},
        ),
    ],
)
def test_mixtures_add_their_profiles(renderer, mixture, weights):
    expected = sum(w * renderer.control_vector(name) for name, w in weights.items())
    np.testing.assert_allclose(renderer.control_vector(mixture), expected, atol=1e-12)
    # and the mixture's intensity scales the sum
    np.testing.assert_allclose(
        renderer.control_vector(f"({mixture}):0.4"), 0.4 * expected, atol=1e-12
    )


def test_a_half_half_mixture_is_the_mean_of_the_two(renderer):
    mean = 0.5 * (renderer.control_vector("angry") + renderer.control_vector("sad"))
    np.testing.assert_allclose(renderer.control_vector("0.5 angry + 0.5 sad"), mean, atol=1e-12)


@pytest.mark.parametrize("family", FAMILIES)
def test_each_family_at_full_intensity_is_its_published_profile(renderer, family):
    profile = default_profiles()[family]
    expected = [profile.get(name, 0.0) for name in PROSODY_CONTROLS]
    np.testing.assert_allclose(renderer.control_vector(family), expected, atol=1e-12)


@pytest.mark.parametrize(
    ("category", "family"),
    [
        ("furious", "angry"),
        ("mad", "angry"),
        ("anxious", "afraid"),
        ("terrified", "afraid"),
        ("joyful", "happy"),
        ("depressed", "sad"),
        ("relaxed", "calm"),
    ],
)
def test_a_category_reaches_its_family_profile(renderer, category, family):
    # "relaxed" sits outside Parrott's tree and reaches calm through the VAD posterior (~1 - 1e-6)
    np.testing.assert_allclose(
        renderer.control_vector(category), renderer.control_vector(family), atol=1e-4
    )


@pytest.mark.parametrize(
    "vad", [(-0.7, -0.4, -0.3), (0.8, 0.3, 0.5), (-0.5, 0.8, 0.6), (0.0, 0.0, 0.0), (1, 1, 1)]
)
def test_raw_vad_emotions_give_finite_controls(renderer, vad):
    vector = renderer.control_vector(Emotion.from_vad(*vad))
    assert vector.shape == (len(PROSODY_CONTROLS),)
    assert np.isfinite(vector).all()


def test_raw_vad_follows_the_family_it_reads_as(renderer):
    # A sad VAD point reads as the sad family: lower and slower, as the sad profile.
    sad_point = renderer.controls("v=-0.7 a=-0.4 d=-0.3")
    assert sad_point["pitch_shift_st"] < -1.0 and sad_point["rate_log2"] < -0.1
    happy_point = renderer.controls("v=0.8 a=0.3 d=0.5")
    assert happy_point["pitch_shift_st"] == pytest.approx(
        default_profiles()["happy"]["pitch_shift_st"], abs=0.05
    )


def test_custom_profiles_replace_the_shipped_ones():
    custom = EmotionRenderer(profiles={"angry": {"pitch_shift_st": 3.0}})
    controls = custom.controls("furious")
    assert controls["pitch_shift_st"] == pytest.approx(3.0)
    assert all(v == 0 for k, v in controls.items() if k != "pitch_shift_st")
    assert not custom.control_vector("sad").any()  # a family without a profile does nothing


def test_renderer_config_round_trip(tmp_path):
    custom = EmotionRenderer(
        profiles={"sad": {"pitch_shift_st": -2.0, "rate_log2": -0.1}}, tremor_hz=4.0
    )
    custom.save_pretrained(tmp_path)
    loaded = EmotionRenderer.from_pretrained(tmp_path)
    assert loaded.config.tremor_hz == 4.0
    np.testing.assert_array_equal(loaded.control_vector("sad"), custom.control_vector("sad"))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"profiles": {"angry": {"pitch_shift": 3.0}}}, "unknown controls"),
        ({"profiles": {"angry": {"volume": 3.0, "pitch_shift_st": 1.0}}}, "pitch_shift_st"),
        ({"profiles": {"angry": {"pitch_shift_st": 0.0}}}, "non-zero"),
        ({"profiles": {"grumpyish": {"pitch_shift_st": 1.0}}}, "grumpyish"),
        ({"tremor_hz": 0.0}, "tremor_hz"),
        ({"max_semitones": -1.0}, "max_semitones"),
        ({"phrase_pause_s": 0}, "phrase_pause_s"),
    ],
)
def test_bad_renderer_settings_are_errors(kwargs, message):
    with pytest.raises(EmogenError, match=message):
        EmotionRenderer(**kwargs)


def test_sentence_curves_are_refused_by_the_renderer(renderer):
    with pytest.raises(EmogenError, match="sentence"):
        renderer.control_track("happy@#0 -> sad@#1", np.arange(10) * FRAME_S)


# ---------------------------------------------------------------------- rendering


@pytest.mark.parametrize("emotion", ["neutral", "angry:0", Emotion.from_vad(-0.5, 0.5, 0.0, 0.0)])
def test_neutral_rendering_is_the_plain_resynthesis(renderer, speech, features, emotion):
    vocoder = RecordingVocoder()
    out = render(renderer, speech, features, vocoder, emotion, seed=0)
    np.testing.assert_allclose(vocoder.synthesized.f0, features.f0, rtol=1e-12)
    np.testing.assert_array_equal(vocoder.synthesized.spectral_envelope, features.spectral_envelope)
    # The plain resynthesis, brought back to the input's voiced level (see render).
    plain = WorldVocoder().synthesize(features)
    gain = np.dot(out.audio, plain) / np.dot(plain, plain)
    np.testing.assert_allclose(out.audio, gain * plain, rtol=1e-4, atol=1e-6)
    assert voiced_level_db(out.audio, features) == pytest.approx(
        voiced_level_db(speech[0], features), abs=0.01
    )
    assert not out.controls.any()
    np.testing.assert_allclose(out.time_map, features.times)


def test_angry_controls_and_edited_f0_follow_the_profile(renderer, speech, features, vocoder):
    shift = default_profiles()["angry"]["pitch_shift_st"]
    out = render(renderer, speech, features, vocoder, "angry", seed=0)
    assert out.controls.shape == (features.num_frames, len(PROSODY_CONTROLS))
    np.testing.assert_allclose(out.controls[:, PITCH], shift)
    # The edited F0 (before retiming): voiced frames move by the shift, plus the range widening
    # around the mean, the phrase-final fall and jitter, which leave the median near the shift.
    _, phrase_ends = renderer._pauses(features)
    edited = renderer._edit_f0(features, out.controls, phrase_ends, np.random.default_rng(0))
    voiced = features.voiced
    change = semitones(edited[voiced]) - semitones(features.f0[voiced])
    assert np.median(change) == pytest.approx(shift, abs=0.3)
    assert (edited[~voiced] == 0).all()  # unvoiced frames stay unvoiced


def test_pitch_shift_alone_moves_every_voiced_frame_exactly(speech, features):
    renderer = EmotionRenderer(
        profiles={"angry": {"pitch_shift_st": 3.0}, "sad": {"pitch_shift_st": -2.0}}
    )
    for emotion, shift in (("angry", 3.0), ("sad:0.5", -1.0)):
        vocoder = RecordingVocoder()
        render(renderer, speech, features, vocoder, emotion, seed=0)
        edited = vocoder.synthesized  # no rate change, so the frame grid is kept
        voiced = features.voiced
        np.testing.assert_allclose(edited.f0[voiced], features.f0[voiced] * 2 ** (shift / 12))
        assert (edited.f0[~voiced] == 0).all()
        np.testing.assert_array_equal(edited.spectral_envelope, features.spectral_envelope)


def test_pitch_shift_is_heard_in_the_rendered_audio_of_a_tone(vocoder):
    """End to end on a clean tone: re-analysis of the rendering finds F0 * 2^(3/12)."""
    tone = harmonic_tone(150.0, 1.0)
    renderer = EmotionRenderer(profiles={"angry": {"pitch_shift_st": 3.0}})
    out = renderer.render(tone, 22050, "angry", vocoder=vocoder, seed=0)
    again = vocoder.analyze(out.audio, 22050)
    inner = (again.times > 0.1) & (again.times < 0.9) & again.voiced
    assert inner.sum() > 100
    assert np.median(again.f0[inner]) == pytest.approx(150.0 * 2 ** (3 / 12), rel=0.01)


def test_pitch_range_scales_excursions_around_the_mean(speech, features):
    renderer = EmotionRenderer(profiles={"happy": {"pitch_range_log2": 1.0}})
    vocoder = RecordingVocoder()
    render(renderer, speech, features, vocoder, "happy", seed=0)
    voiced = features.voiced
    before = semitones(features.f0[voiced])
    after = semitones(vocoder.synthesized.f0[voiced])
    # range factor 2^1 = 2: every excursion from the mean doubles, the mean stays
    np.testing.assert_allclose(after - before.mean(), 2.0 * (before - before.mean()), atol=1e-9)


def test_final_contour_ramps_up_to_each_phrase_end(speech, features):
    renderer = EmotionRenderer(profiles={"surprised": {"final_contour_st": 2.0}})
    vocoder = RecordingVocoder()
    render(renderer, speech, features, vocoder, "surprised", seed=0)
    change = semitones(np.maximum(vocoder.synthesized.f0, 1e-3)) - semitones(
        np.maximum(features.f0, 1e-3)
    )
    _, phrase_ends = renderer._pauses(features)
    assert len(phrase_ends) == 2  # the silence in the middle ends the first phrase
    times = features.times
    for start, end in zip([0, phrase_ends[0] + 1], phrase_ends):
        assert change[end] == pytest.approx(2.0)
        # frames of the phrase more than final_contour_s (0.3 s) before its end are untouched
        early = features.voiced & (times >= times[start]) & (times < times[end] - 0.35)
        assert early.sum() > 20
        assert np.abs(change[early]).max() < 1e-9


def test_jitter_has_the_asked_size(speech, features):
    renderer = EmotionRenderer(profiles={"afraid": {"jitter_percent": 2.0}})
    vocoder = RecordingVocoder()
    render(renderer, speech, features, vocoder, "afraid", seed=0)
    voiced = features.voiced
    change = semitones(vocoder.synthesized.f0[voiced]) - semitones(features.f0[voiced])
    assert abs(change.mean()) < 0.05
    assert change.std() == pytest.approx(12 * np.log2(1.02), rel=0.15)


def test_energy_and_tilt_shape_the_envelope(renderer, speech, features):
    vocoder = RecordingVocoder()
    out = render(renderer, speech, features, vocoder, "sad", preserve_duration=False, seed=0)
    controls = out.controls[0]
    energy = controls[PROSODY_CONTROLS.index("energy_db")]
    tilt = controls[PROSODY_CONTROLS.index("tilt_db_per_octave")]
    envelope = renderer._edit_envelope(features, out.controls)
    gain_db = 10 * np.log10(envelope / features.spectral_envelope)
    frequencies = features.frequencies
    below_1k = frequencies <= 1000
    np.testing.assert_allclose(gain_db[:, below_1k], energy, atol=1e-9)
    at_4k = np.argmin(np.abs(frequencies - 4000))
    expected = energy + tilt * np.log2(frequencies[at_4k] / 1000)
    np.testing.assert_allclose(gain_db[:, at_4k], expected, atol=1e-9)
    assert energy < 0 and tilt < 0  # sad is softer with less high-frequency energy


@pytest.mark.parametrize("shift", [4.0, -3.0])
def test_pitch_shifts_keep_the_level_and_energy_moves_it(speech, features, vocoder, shift):
    # WORLD resynthesis at a shifted F0 alone loses ~1 dB; the renderer restores the level.
    audio, rate = speech
    shifted = EmotionRenderer(profiles={"happy": {"pitch_shift_st": shift}})
    out = shifted.render(audio, rate, "happy", vocoder=vocoder, features=features).audio
    assert voiced_level_db(out, features) == pytest.approx(
        voiced_level_db(audio, features), abs=0.05
    )
    louder = EmotionRenderer(profiles={"happy": {"pitch_shift_st": shift, "energy_db": 2.0}})
    out = louder.render(audio, rate, "happy", vocoder=vocoder, features=features).audio
    assert voiced_level_db(out, features) - voiced_level_db(audio, features) == pytest.approx(
        2.0, abs=0.05
    )


def test_breathiness_adds_aperiodicity_to_voiced_frames_above_500_hz(renderer, features):
    controls = renderer.control_track("sad", features.times)
    aperiodicity = renderer._edit_aperiodicity(features, controls)
    voiced = features.voiced
    high = features.frequencies > 3000
    low = features.frequencies < 500
    assert (aperiodicity[np.ix_(voiced, high)] >= features.aperiodicity[np.ix_(voiced, high)]).all()
    assert (
        aperiodicity[np.ix_(voiced, high)].mean()
        > features.aperiodicity[np.ix_(voiced, high)].mean()
    )
    np.testing.assert_array_equal(aperiodicity[:, low], features.aperiodicity[:, low])
    np.testing.assert_array_equal(aperiodicity[~voiced], features.aperiodicity[~voiced])
    assert aperiodicity.max() <= 1.0


@pytest.mark.parametrize(
    ("emotion", "longer"), [("sad", True), ("disgusted", True), ("angry", False), ("afraid", False)]
)
def test_rate_changes_the_length_unless_duration_is_preserved(
    renderer, speech, features, vocoder, emotion, longer
):
    audio, rate = speech
    out = render(renderer, speech, features, vocoder, emotion, seed=0)
    ratio = len(out.audio) / len(audio)
    assert (ratio > 1.05) if longer else (ratio < 0.95)
    assert out.time_map[-1] == pytest.approx(len(out.audio) / rate, abs=2 * FRAME_S)
    kept = render(renderer, speech, features, vocoder, emotion, preserve_duration=True, seed=0)
    assert abs(len(kept.audio) - len(audio)) <= round(FRAME_S * rate)


def test_pauses_stretch_more_than_speech(renderer, speech, features, vocoder):
    out = render(renderer, speech, features, vocoder, "sad", seed=0)
    pauses, _ = renderer._pauses(features)
    assert pauses.sum() * FRAME_S > 0.3  # the 0.4 s gap (and the trailing silence)
    durations = np.diff(out.time_map)
    sad = default_profiles()["sad"]
    speech_step = FRAME_S * 2 ** -sad["rate_log2"]
    pause_step = FRAME_S * 2 ** (-sad["rate_log2"] + sad["pause_log2"])
    np.testing.assert_allclose(durations[~pauses[:-1]], speech_step)
    np.testing.assert_allclose(durations[pauses[:-1]], pause_step)


def test_a_curve_changes_the_controls_inside_the_utterance(renderer, speech, features, vocoder):
    curve = EmotionCurve.parse("happy@0 -> sad@1")
    out = render(renderer, speech, features, vocoder, curve, seed=0)
    pitch = out.controls[:, PITCH]
    times = features.times
    happy, sad = (
        default_profiles()["happy"]["pitch_shift_st"],
        default_profiles()["sad"]["pitch_shift_st"],
    )
    assert pitch[0] == pytest.approx(happy)
    assert (pitch[times > 1.0] == pytest.approx(sad)) and (pitch[times < 0.3] > 1.0).all()
    assert pitch[np.argmin(np.abs(times - 0.5))] == pytest.approx(0.5 * (happy + sad), abs=0.02)
    assert (np.diff(pitch[times <= 1.0]) <= 1e-9).all()  # falls steadily across the switch
    # time_offset places the audio later on the curve's axis: all of it is then past the switch
    late = render(renderer, speech, features, vocoder, curve, time_offset=1.0, seed=0)
    np.testing.assert_allclose(late.controls[:, PITCH], sad)


def test_source_emotion_is_taken_out(renderer, speech, features, vocoder):
    same = render(renderer, speech, features, vocoder, "angry", source_emotion="angry", seed=0)
    assert np.abs(same.controls).max() < 1e-12
    neutral = render(renderer, speech, features, vocoder, "neutral", seed=0)
    np.testing.assert_array_equal(same.audio, neutral.audio)
    calmer = render(renderer, speech, features, vocoder, "neutral", source_emotion="angry", seed=0)
    np.testing.assert_allclose(
        calmer.controls, -renderer.control_vector("angry")[None].repeat(features.num_frames, 0)
    )
    delta = render(renderer, speech, features, vocoder, "happy", source_emotion="sad", seed=0)
    np.testing.assert_allclose(
        delta.controls[0], renderer.control_vector("happy") - renderer.control_vector("sad")
    )


def test_same_seed_same_audio_and_seeds_matter_only_with_jitter(
    renderer, speech, features, vocoder
):
    first = render(renderer, speech, features, vocoder, "afraid", seed=3).audio
    np.testing.assert_array_equal(
        first, render(renderer, speech, features, vocoder, "afraid", seed=3).audio
    )
    other = render(renderer, speech, features, vocoder, "afraid", seed=4).audio
    assert len(other) == len(first) and not np.array_equal(first, other)  # jitter and tremor
    # happy has no jitter and no tremor: the seed changes nothing
    np.testing.assert_array_equal(
        render(renderer, speech, features, vocoder, "happy", seed=3).audio,
        render(renderer, speech, features, vocoder, "happy", seed=4).audio,
    )


@pytest.fixture(scope="module")
def loud(speech, vocoder) -> tuple[np.ndarray, WorldFeatures]:
    """The speech at a peak of 0.98: louder emotions would clip it."""
    audio, rate = speech
    audio = (0.98 * audio / np.abs(audio).max()).astype(np.float32)
    return audio, vocoder.analyze(audio, rate)


@pytest.mark.parametrize(
    "emotion", ["angry", "afraid", "0.5 happy + 0.5 surprised", "happy@0 -> angry@2"]
)
def test_output_is_finite_float32_and_never_clips(renderer, speech, vocoder, loud, emotion):
    audio, features = loud
    rate = speech[1]
    out = renderer.render(audio, rate, emotion, vocoder=vocoder, features=features, seed=0)
    assert out.audio.dtype == np.float32 and out.audio.ndim == 1
    assert np.isfinite(out.audio).all()
    assert 0.9 < np.abs(out.audio).max() <= np.float32(0.99)  # scaled back, not clipped
    assert out.sample_rate == rate


def test_rendering_works_without_precomputed_features(renderer, speech):
    audio, rate = speech
    out = renderer.render(audio, rate, "happy:0.5", seed=0)  # default vocoder, own analysis
    assert out.audio.dtype == np.float32 and len(out.audio) > 0.9 * len(audio)
