"""EmotionCurve: parsing, interpolation, sampling, JSON, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from emogen.emotion import Emotion, load_taxonomy
from emogen.emotion.curve import EmotionCurve, as_curve, blend
from emogen.errors import CurveError, EmogenError


def test_parse_compact_form():
    curve = EmotionCurve.parse("happy@0 -> sad:0.6@2.5")
    assert [k.position for k in curve] == [0.0, 2.5]
    assert curve.keyframes[1].emotion == Emotion.parse("sad:0.6")
    assert (curve.unit, curve.interpolation) == ("seconds", "linear")
    assert str(curve) == "happy@0 -> sad:0.6@2.5"


def test_holds_ends_and_hits_keyframes():
    curve = EmotionCurve.parse("happy@1 -> sad:0.6@2.5")
    assert curve.at(0) == curve.at(1) == Emotion.parse("happy")
    assert curve.at(2.5) == curve.at(99) == Emotion.parse("sad:0.6")


def test_linear_effective_vad_moves_linearly():
    curve = EmotionCurve.parse("happy@0 -> sad:0.6@2")
    start, end = np.array(curve.at(0).vad), np.array(curve.at(2).vad)
    for t in (0.25, 1.0, 1.5):
        assert np.allclose(curve.at(t).vad, start + t / 2 * (end - start))
    middle = curve.at(1.0)
    assert middle.intensity == pytest.approx(0.8)
    assert dict(middle.mixture) == pytest.approx({"happy": 0.625, "sad": 0.375})


def test_smooth_is_slow_at_keyframes_and_symmetric():
    linear = EmotionCurve.parse("happy@0 -> sad@1")
    smooth = EmotionCurve.parse("happy@0 ~> sad@1")
    assert smooth.interpolation == "smooth"
    assert smooth.at(0.5).vad == pytest.approx(linear.at(0.5).vad)
    start = np.array(linear.at(0).vad)
    assert (
        np.abs(np.array(smooth.at(0.1).vad) - start).sum()
        < np.abs(np.array(linear.at(0.1).vad) - start).sum()
    )


def test_fade_to_neutral_keeps_label_and_lowers_intensity():
    curve = EmotionCurve([(0, "angry"), (1, "angry:0")])
    assert curve.at(0.5).category == "angry"
    assert curve.at(0.5).intensity == pytest.approx(0.5)


def test_sentence_curves():
    curve = EmotionCurve.parse("happy@#0 -> angry@#2")
    assert curve.unit == "sentences"
    emotions = curve.for_sentences(4)
    assert emotions[0] == Emotion.parse("happy") and emotions[2] == emotions[3]
    assert emotions[1].mixture == (("angry", 0.5), ("happy", 0.5))
    assert EmotionCurve.from_sentences(["happy", "sad"]).for_sentences(2)[1].category == "sad"
    assert str(curve) == "happy@#0 -> angry@#2"


def test_sampling_at_a_frame_rate():
    curve = EmotionCurve.parse("happy@0 -> sad@2")
    assert len(curve.sample(fps=25)) == 50
    assert len(curve.sample(fps=10, duration=3.05)) == 31
    track = curve.vad_track(curve.times(4))
    assert track.shape == (8, 3) and np.all(np.diff(track[:, 0]) < 0)  # valence falls
    assert len(EmotionCurve.constant("happy").sample(fps=30)) == 1


def test_json_round_trip():
    curve = EmotionCurve.parse("(0.6 happy + 0.4 surprised)@0 ~> v=-0.3 a=0.5 d=0@1.5")
    assert EmotionCurve.from_dict(json.loads(json.dumps(curve.to_dict()))) == curve
    assert EmotionCurve.parse(str(curve)) == curve


def test_as_curve():
    assert as_curve("happy").at(5) == Emotion.parse("happy")
    assert as_curve("happy@0 -> sad@1").at(1) == Emotion.parse("sad")
    curve = EmotionCurve.constant("calm")
    assert as_curve(curve) is curve


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("happy@1 -> sad@0", "strictly increasing"),
        ("happy@1 -> sad@1", "strictly increasing"),
        ("happy", "cannot read keyframe"),
        ("happy@soon", "not a number"),
        ("hapy@0", "Did you mean 'happy'"),
        ("happy@0 -> sad@1 ~> calm@2", "either '->'"),
        ("happy@#0 -> sad@1", "do not mix"),
        ("happy@#0.5", "whole numbers"),
        ("happy@-1", ">= 0"),
        ("", "empty emotion curve"),
    ],
)
def test_malformed_curves(spec, fragment):
    with pytest.raises(CurveError, match=fragment.replace("(", r"\(")):
        EmotionCurve.parse(spec)


def test_constructor_errors():
    with pytest.raises(CurveError, match="at least one keyframe"):
        EmotionCurve([])
    with pytest.raises(CurveError, match="unit must be one of"):
        EmotionCurve([(0, "happy")], unit="frames")  # type: ignore[arg-type]
    with pytest.raises(CurveError, match="fps"):
        EmotionCurve.constant("happy").sample(fps=0)
    with pytest.raises(EmogenError):
        EmotionCurve([(0, "happy"), (float("nan"), "sad")])


names = st.sampled_from(load_taxonomy().names)
emotions = st.builds(Emotion.from_category, names, st.floats(0, 1, allow_nan=False)) | st.builds(
    Emotion,
    st.floats(-1, 1, allow_nan=False),
    st.floats(-1, 1, allow_nan=False),
    st.floats(-1, 1, allow_nan=False),
    st.floats(0, 1, allow_nan=False),
)


@given(emotions, emotions, st.floats(0, 1, allow_nan=False))
def test_blend_stays_between_its_keyframes(first, second, s):
    mixed = blend(first, second, s)
    for axis in range(3):
        low, high = sorted((first.target_vad[axis], second.target_vad[axis]))
        assert low - 1e-12 <= mixed.target_vad[axis] <= high + 1e-12
        low, high = sorted((first.vad[axis], second.vad[axis]))
        assert low - 1e-12 <= mixed.vad[axis] <= high + 1e-12
    assert min(first.intensity, second.intensity) - 1e-12 <= mixed.intensity
    assert mixed.intensity <= max(first.intensity, second.intensity) + 1e-12


@given(st.lists(emotions, min_size=1, max_size=5), st.floats(-1, 10, allow_nan=False))
def test_curve_values_stay_in_range(keyframe_emotions, t):
    curve = EmotionCurve(list(enumerate(keyframe_emotions)), interpolation="smooth")
    emotion = curve.at(t)
    assert all(-1 <= x <= 1 for x in emotion.vad) and 0 <= emotion.intensity <= 1
    assert EmotionCurve.from_dict(curve.to_dict()) == curve


def test_a_sentence_plan_is_timed_by_sentence_starts():
    plan = EmotionCurve.from_sentences(["happy", "sad", "calm"])
    timed = plan.timed([0.0, 1.5, 2.0])
    assert timed.unit == "seconds" and timed.interpolation == "smooth"
    assert timed.at(1.0).category == "happy"  # held through the first sentence
    assert timed.at(1.5).category == "happy" and timed.at(1.8).category == "sad"
    assert timed.at(2.5).category == "calm"
    seconds = EmotionCurve.parse("happy@0 -> sad@2")
    assert seconds.timed([0.0, 1.0]) is seconds
    with pytest.raises(CurveError, match="must increase"):
        plan.timed([0.0, 0.0, 1.0])
