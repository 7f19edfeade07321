"""The shipped taxonomy: coverage, citations, and category <-> VAD both ways."""

from __future__ import annotations

import json
from importlib import resources

import numpy as np
import pytest

from emogen.emotion import Emotion, load_taxonomy
from emogen.emotion.taxonomy import Category, Taxonomy
from emogen.errors import EmotionError

TAXONOMY = load_taxonomy()
# Rashkin et al. (2019), the 32 EmpatheticDialogues labels.
EMPATHETIC_DIALOGUES = [
    *("surprised", "excited", "annoyed", "proud", "angry", "sad", "grateful", "lonely"),
    *("impressed", "afraid", "disgusted", "confident", "terrified", "hopeful", "anxious"),
    *("disappointed", "joyful", "prepared", "devastated", "embarrassed", "content"),
    *("anticipating", "nostalgic", "ashamed", "furious", "jealous", "sentimental", "caring"),
    *("guilty", "trusting", "apprehensive", "faithful"),
]
EKMAN = ("happy", "sad", "angry", "afraid", "disgusted", "surprised")


def test_coverage():
    assert len(TAXONOMY) >= 40
    assert len(EMPATHETIC_DIALOGUES) == 32
    for name in (*EMPATHETIC_DIALOGUES, *EKMAN, "neutral", "calm"):
        assert name in TAXONOMY.categories, name
    assert set(TAXONOMY.group("basic7")) == {*EKMAN, "neutral"}
    assert set(TAXONOMY.group("ekman")) == set(EKMAN)


def test_every_value_is_cited_and_in_range():
    data = json.loads(
        resources.files("emogen.emotion").joinpath("data/taxonomy.json").read_text("utf-8")
    )
    for name, category in TAXONOMY.categories.items():
        assert category.source in data["sources"], name
        assert len(data["sources"][category.source]) > 30  # a real citation, not a key
        assert all(-1 <= x <= 1 for x in category.vad)
        assert all(0 < s <= 1 for s in category.spread)
    assert TAXONOMY.vad("neutral") == (0.0, 0.0, 0.0)


def test_centroids_sit_where_the_literature_puts_them():
    valences = np.array([TAXONOMY.vad(n)[0] for n in EKMAN])
    happy, sad, angry, afraid, _, _ = (TAXONOMY.vad(n) for n in EKMAN)
    assert happy[0] > 0.5 and sad[0] < -0.5 and angry[0] < -0.3
    assert TAXONOMY.vad("calm")[1] < -0.5 < TAXONOMY.vad("excited")[1] + 1
    assert afraid[2] < 0 < happy[2]
    assert TAXONOMY.vad("furious")[1] > TAXONOMY.vad("annoyed")[1]
    assert valences.std() > 0.3  # the basic emotions spread over valence


def test_each_centroid_is_its_own_nearest_category():
    for name, category in TAXONOMY.categories.items():
        assert TAXONOMY.nearest(category.vad) == name


def test_posterior_is_a_distribution_and_ranks_by_distance():
    posterior = TAXONOMY.posterior(TAXONOMY.vad("happy"))
    assert abs(sum(posterior.values()) - 1) < 1e-9
    assert next(iter(posterior)) == "happy"
    assert list(posterior.values()) == sorted(posterior.values(), reverse=True)
    assert TAXONOMY.posterior((0, 0, 0))["neutral"] > 0.5


def test_compound_point_is_a_distribution_over_both_parts():
    names = ["angry", "sad", "neutral", "happy", "surprised"]
    posterior = TAXONOMY.posterior(Emotion.parse("0.5 angry + 0.5 sad").vad, names=names)
    assert posterior["angry"] > 0.2 and posterior["sad"] > 0.2
    assert posterior["angry"] + posterior["sad"] > 0.99
    pure = TAXONOMY.posterior(Emotion.parse("angry").vad, names=names)
    assert pure["angry"] > posterior["angry"]


def test_intensity_moves_the_posterior_from_neutral_to_the_category():
    probs = [Emotion.from_category("angry", i).probabilities()["angry"] for i in (0, 0.5, 1)]
    assert probs == sorted(probs)
    assert Emotion.from_category("angry", 0).nearest_category() == "neutral"


def test_posterior_restricted_and_temperature():
    restricted = TAXONOMY.posterior((0.5, 0.2, 0.3), names=["happy", "sad"])
    assert set(restricted) == {"happy", "sad"} and restricted["happy"] > 0.9
    sharp = TAXONOMY.posterior((0.5, 0.2, 0.3), temperature=0.01)
    flat = TAXONOMY.posterior((0.5, 0.2, 0.3), temperature=10)
    assert max(sharp.values()) > max(flat.values())
    with pytest.raises(EmotionError, match="temperature"):
        TAXONOMY.posterior((0, 0, 0), temperature=0)


def test_resolve_errors_name_close_matches():
    with pytest.raises(EmotionError, match="Did you mean 'furious'"):
        TAXONOMY.resolve("furios")
    with pytest.raises(EmotionError, match="unknown category group"):
        TAXONOMY.group("nope")


def test_custom_taxonomy_validation():
    neutral = Category("neutral", (0, 0, 0), (0.1, 0.1, 0.1), "definition", "", (), ())
    joy = Category("joy", (0.8, 0.3, 0.2), (0.3, 0.3, 0.3), "x", "joy", (), ("glee",))
    glee = Category("glee", (0.7, 0.5, 0.2), (0.3, 0.3, 0.3), "x", "glee", (), ())
    with pytest.raises(EmotionError, match="names both"):
        Taxonomy([neutral, joy, glee])
    with pytest.raises(EmotionError, match="neutral"):
        Taxonomy([joy])
    small = Taxonomy([neutral, joy])
    assert Emotion.parse("glee", taxonomy=small).category == "joy"


def test_families():
    assert TAXONOMY.family("anxious") == {"afraid": 1.0}  # Parrott (2001): nervousness -> fear
    assert TAXONOMY.family("loving") == {"calm": 1.0}
    assert TAXONOMY.family("happy") == {"happy": 1.0}
    assert TAXONOMY.family("neutral") == {}
    derived = TAXONOMY.family("grateful")  # not in the tree: the posterior over families
    assert 0.99 < sum(derived.values()) <= 1 + 1e-9 and next(iter(derived)) == "happy"
    for name in TAXONOMY.names:
        assert set(TAXONOMY.family(name)) <= {
            "happy",
            "sad",
            "angry",
            "afraid",
            "disgusted",
            "surprised",
            "calm",
        }
