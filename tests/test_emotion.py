"""Emotion: parsing every string form, the effective-VAD rule, JSON, errors."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emogen.emotion import DEGREE_WORDS, Emotion, as_emotion, load_taxonomy
from emogen.errors import EmogenError, EmotionError

TAXONOMY = load_taxonomy()


def test_category_is_taxonomy_centroid_at_full_intensity():
    happy = Emotion.parse("happy")
    assert happy.category == "happy"
    assert happy.intensity == 1.0
    assert happy.target_vad == TAXONOMY.vad("happy")
    assert happy.vad == pytest.approx(TAXONOMY.vad("happy"))
    assert happy.mixture == (("happy", 1.0),)


def test_effective_vad_is_neutral_plus_intensity_times_offset():
    angry = Emotion.parse("angry:0.8")
    neutral = TAXONOMY.vad("neutral")
    for effective, target, origin in zip(angry.vad, angry.target_vad, neutral):
        assert effective == pytest.approx(origin + 0.8 * (target - origin))
    assert Emotion.parse("angry:0").vad == pytest.approx((0.0, 0.0, 0.0))


def test_synonyms_resolve_to_the_category():
    assert Emotion.parse("mad") == Emotion.parse("angry")
    assert Emotion.parse("Scared") == Emotion.parse("afraid")
    assert Emotion.parse("  happiness ") == Emotion.parse("happy")


def test_degree_words_order_intensity_and_keep_the_category():
    slightly = Emotion.parse("slightly annoyed")
    assert slightly.category == "annoyed"
    assert 0 < slightly.intensity < 0.5
    intensities = [Emotion.parse(f"{w} happy").intensity for w in ("slightly", "quite", "very")]
    assert intensities == sorted(intensities) and len(set(intensities)) == 3
    assert Emotion.parse("extremely happy").intensity == 1.0
    assert Emotion.parse("very calm").category == "calm"
    assert Emotion.parse("a little bit sad").intensity == DEGREE_WORDS["a little bit"]


def test_mixture_weights_and_vad():
    mix = Emotion.parse("0.6 happy + 0.4 surprised")
    assert mix.mixture == (("happy", 0.6), ("surprised", 0.4))
    assert mix.category == "happy"
    expected = [0.6 * h + 0.4 * s for h, s in zip(TAXONOMY.vad("happy"), TAXONOMY.vad("surprised"))]
    assert mix.target_vad == pytest.approx(expected)
    assert Emotion.parse("60% happy + 40% surprised") == mix
    assert Emotion.parse("3 happy + 2 surprised") == mix  # proportions
    assert Emotion.parse("(0.6 happy + 0.4 surprised):0.5").intensity == 0.5


def test_raw_vad_has_no_category_and_reads_as_nearest():
    e = Emotion.parse("v=0.2 a=-0.4 d=0.1")
    assert (e.valence, e.arousal, e.dominance, e.category) == (0.2, -0.4, 0.1, None)
    assert Emotion.parse("valence=0.2, arousal=-0.4") == Emotion(0.2, -0.4, 0.0)
    assert Emotion.parse("v=0.2 a=-0.4 d=0.1 i=0.5").vad == pytest.approx((0.1, -0.2, 0.05))
    assert e.nearest_category() == next(iter(e.probabilities()))


def test_neutral():
    neutral = Emotion.neutral()
    assert neutral == Emotion.parse("neutral")
    assert neutral.vad == (0.0, 0.0, 0.0)
    assert neutral.is_neutral and neutral.nearest_category() == "neutral"


def test_json_round_trip_and_keys():
    for text in ["happy", "angry:0.8", "0.6 happy + 0.4 surprised", "v=0.2 a=-0.4 d=0.1 i=0.3"]:
        e = Emotion.parse(text)
        data = json.loads(json.dumps(e.to_dict()))
        assert Emotion.from_dict(data) == e
        assert {"category", "valence", "arousal", "dominance", "intensity"} <= set(data)


def test_hand_written_dicts():
    assert Emotion.from_dict({"category": "mad", "intensity": 0.5}) == Emotion.parse("angry:0.5")
    assert Emotion.from_dict({"valence": 0.1, "arousal": 0.2}) == Emotion(0.1, 0.2, 0.0)
    with pytest.raises(EmotionError, match="needs"):
        Emotion.from_dict({"intensity": 0.5})


def test_equality_hashing_and_repr():
    assert hash(Emotion.parse("angry:0.8")) == hash(Emotion.parse("mad:0.8"))
    assert len({Emotion.parse("happy"), Emotion.parse("glad"), Emotion.parse("sad")}) == 2
    assert Emotion.parse("happy") != Emotion.parse("happy:0.9")
    text = repr(Emotion.parse("angry:0.8"))
    assert text.startswith("Emotion(angry:0.8 |") and "v=-" in text


def test_immutable():
    e = Emotion.parse("happy")
    with pytest.raises(AttributeError):
        e.intensity = 0.5  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("hapy", "Did you mean 'happy'"),
        ("angry:1.5", "intensity must be in [0.0, 1.0]"),
        ("angry:-0.1", "intensity must be in [0.0, 1.0]"),
        ("angry:abc", "must be a number"),
        ("v=nan a=0", "finite"),
        ("v=1.2 a=0", "valence must be in [-1.0, 1.0]"),
        ("v=0.1", "at least v= and a="),
        ("x=0.1 a=0.2", "unknown VAD key"),
        ("", "empty emotion"),
        ("   ", "empty emotion"),
        ("happy + ", "cannot read mixture term"),
        ("0 happy + 1 sad", "must be > 0"),
        ("very hapy", "Did you mean 'happy'"),
    ],
)
def test_bad_input_raises_clear_error(text, fragment):
    with pytest.raises(EmotionError) as info:
        Emotion.parse(text)
    assert fragment in str(info.value)
    assert "Accepted forms" in str(info.value)
    assert isinstance(info.value, EmogenError) and isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"valence": math.nan, "arousal": 0, "dominance": 0},
        {"valence": 0, "arousal": 2, "dominance": 0},
        {"valence": 0, "arousal": 0, "dominance": 0, "intensity": 1.01},
        {"valence": 0, "arousal": 0, "dominance": 0, "mixture": (("happy", -1),)},
    ],
)
def test_constructor_rejects_out_of_range(kwargs):
    with pytest.raises(EmotionError):
        Emotion(**kwargs)


def test_as_emotion_coerces_and_overrides_intensity():
    assert as_emotion("happy", intensity=0.3) == Emotion.parse("happy:0.3")
    assert as_emotion({"category": "sad"}) == Emotion.parse("sad")
    with pytest.raises(EmotionError, match="expected an Emotion"):
        as_emotion(3.0)  # type: ignore[arg-type]


# ----- property-based round trips ---------------------------------------------------------------
unit = st.floats(-1, 1, allow_nan=False)
intensities = st.floats(0, 1, allow_nan=False)
names = st.sampled_from(TAXONOMY.names)


@st.composite
def emotions(draw):
    kind = draw(st.sampled_from(["category", "mixture", "vad"]))
    intensity = draw(intensities)
    if kind == "vad":
        return Emotion(draw(unit), draw(unit), draw(unit), intensity)
    if kind == "category":
        return Emotion.from_category(draw(names), intensity)
    weights = draw(st.dictionaries(names, st.floats(0.01, 10), min_size=2, max_size=4))
    return Emotion.from_mixture(weights, intensity)


@given(emotions())
def test_string_form_round_trip(emotion):
    parsed = Emotion.parse(str(emotion))
    assert [name for name, _ in parsed.mixture] == [name for name, _ in emotion.mixture]
    assert [w for _, w in parsed.mixture] == pytest.approx([w for _, w in emotion.mixture])
    assert parsed.target_vad == pytest.approx(emotion.target_vad, abs=1e-12)
    assert parsed.intensity == emotion.intensity


@given(emotions())
def test_json_round_trip_property(emotion):
    assert Emotion.from_dict(json.loads(json.dumps(emotion.to_dict()))) == emotion


@given(emotions())
def test_effective_vad_stays_in_range(emotion):
    assert all(-1 <= x <= 1 for x in emotion.vad)
    assert abs(sum(emotion.probabilities().values()) - 1) < 1e-9
