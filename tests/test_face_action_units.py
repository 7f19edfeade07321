"""Emotion -> facial action units (emogen.face.action_units): EMFACS prototypes, intensity,
mixtures, categories through their families, curves over time."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from emogen.errors import EmogenError
from emogen.face.action_units import ACTION_UNITS, PROTOTYPES, action_unit_track, action_units


def active(units: dict[int, float], threshold: float = 1e-9) -> set[int]:
    return {au for au, value in units.items() if value > threshold}


@pytest.mark.parametrize(
    ("emotion", "expected"),
    [
        ("happy", {6, 12, 25}),
        ("sad", {1, 4, 15, 54, 64}),
        ("surprised", {1, 2, 5, 26}),
        ("afraid", {1, 2, 4, 5, 7, 20, 26}),
        ("angry", {4, 5, 7, 23}),
        ("disgusted", {9, 15, 16}),
        ("calm", {12, 43}),
    ],
)
def test_each_family_shows_its_emfacs_prototype(emotion, expected):
    units = action_units(emotion)
    assert set(units) == set(ACTION_UNITS) and active(units) == expected
    assert units == pytest.approx({au: PROTOTYPES[emotion].get(au, 0.0) for au in ACTION_UNITS})


def test_intensity_scales_and_neutral_is_still():
    assert not active(action_units("neutral"))
    assert not active(action_units("happy:0"))
    half = action_units("happy:0.5")
    assert half[12] == pytest.approx(0.5) and half[6] == pytest.approx(0.5)
    assert action_units("slightly happy")[12] < action_units("very happy")[12]


def test_categories_mixtures_and_raw_vad_reach_the_prototypes():
    assert action_units("lonely") == pytest.approx(action_units("sad"))  # through its family
    assert action_units("furious") == pytest.approx(action_units("angry"))
    mixed = action_units("0.5 happy + 0.5 surprised")
    assert mixed[12] == pytest.approx(0.5) and mixed[26] == pytest.approx(0.5)
    assert mixed[1] == pytest.approx(0.5) and mixed[6] == pytest.approx(0.5)
    blend = action_units("0.5 afraid + 0.5 surprised")  # both raise AU1: never past 1
    assert max(blend.values()) <= 1.0
    pleasant = action_units("v=0.85 a=0.3 d=0.5")  # near happy's centroid
    assert pleasant[12] > 0.5 and pleasant[15] < 0.2


def test_the_families_are_distinguishable():
    vectors = {f: np.array(list(action_units(f).values())) for f in PROTOTYPES}
    for a, b in itertools.combinations(vectors, 2):
        cosine = vectors[a] @ vectors[b] / np.linalg.norm(vectors[a]) / np.linalg.norm(vectors[b])
        assert cosine < 0.8, (a, b, cosine)


def test_tracks_follow_curves():
    times = np.linspace(0.0, 2.0, 5)
    track = action_unit_track("happy@0 -> sad@2", times)
    assert track.shape == (5, len(ACTION_UNITS))
    column = {au: i for i, au in enumerate(ACTION_UNITS)}
    smile, frown = track[:, column[12]], track[:, column[15]]
    assert smile[0] == pytest.approx(1.0) and smile[-1] == pytest.approx(0.0)
    assert frown[0] == pytest.approx(0.0) and frown[-1] == pytest.approx(1.0)
    assert np.all(np.diff(smile) <= 1e-9) and np.all(np.diff(frown) >= -1e-9)
    assert smile[2] == pytest.approx(0.5) and frown[2] == pytest.approx(0.5)
    steady = action_unit_track("angry:0.6", times)
    assert np.allclose(steady, steady[0]) and steady[0, column[4]] == pytest.approx(0.6)
    with pytest.raises(EmogenError, match="curves over seconds"):
        action_unit_track("happy@#0 -> sad@#1", times)
    with pytest.raises(EmogenError, match="1-D array of seconds"):
        action_unit_track("happy", np.zeros((2, 2)))
