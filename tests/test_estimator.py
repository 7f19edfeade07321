"""SpeechEmotionEstimator: fitting on known directions, estimation, saving, bad settings."""

from __future__ import annotations

import numpy as np
import pytest

from emogen.emotion.taxonomy import FAMILIES as BASIC_FAMILIES
from emogen.errors import EmogenError
from emogen.speech.estimator import ROBUST_FEATURES, SpeechEmotionEstimator
from emogen.speech.prosody import ProsodyFeatures

NAMES = ProsodyFeatures.NAMES
USED = [NAMES.index(name) for name in ROBUST_FEATURES]
FAMILIES = ("happy", "sad", "angry")


@pytest.fixture(scope="module")
def synthetic():
    """Prosody rows: a neutral mean, three family steps, noise of known size."""
    rng = np.random.default_rng(0)
    mean = rng.uniform(1.0, 5.0, len(NAMES))
    steps = {family: np.zeros(len(NAMES)) for family in FAMILIES}
    for step in steps.values():
        step[USED] = rng.normal(0.0, 1.0, len(USED))
    noise = 0.1
    neutral = mean + noise * rng.standard_normal((60, len(NAMES)))
    rows, labels = [], []
    for family in FAMILIES:
        for intensity in (0.5, 1.0):
            for _ in range(20):
                rows.append(
                    mean + intensity * steps[family] + noise * rng.standard_normal(len(NAMES))
                )
                labels.append(f"{family}:{intensity}")
    estimator = SpeechEmotionEstimator.fit(neutral, np.array(rows), labels)
    return estimator, mean, steps


def test_fit_recovers_the_family_steps(synthetic):
    estimator, _, steps = synthetic
    fitted = dict(zip(estimator.config.families, estimator.steps))
    assert set(fitted) == set(FAMILIES)
    for family in FAMILIES:
        np.testing.assert_allclose(fitted[family], steps[family][USED], atol=0.1)


@pytest.mark.parametrize(("family", "intensity"), [("sad", 0.8), ("angry", 0.4), ("happy", 1.0)])
def test_an_emotional_row_reads_back_as_its_family_and_intensity(synthetic, family, intensity):
    estimator, mean, steps = synthetic
    emotion = estimator.estimate_from_prosody(mean + intensity * steps[family])
    assert emotion.category == family
    assert emotion.intensity == pytest.approx(intensity, abs=0.05)


def test_the_neutral_mean_reads_as_neutral_and_a_mixture_as_its_stronger_family(synthetic):
    estimator, mean, steps = synthetic
    assert estimator.estimate_from_prosody(mean).is_neutral
    assert estimator.config.min_gain > 0  # set on the neutral rows
    mixed = estimator.estimate_from_prosody(mean + 0.7 * steps["happy"] + 0.2 * steps["sad"])
    assert mixed.category == "happy"
    weights = estimator.weights(ProsodyFeatures.from_array(mean + steps["angry"]))
    assert weights["angry"] == pytest.approx(1.0, abs=0.05) and min(weights.values()) >= 0


def test_neutral_speech_of_other_sentences_sets_the_floor(synthetic):
    _, mean, steps = synthetic
    rng = np.random.default_rng(1)
    neutral = mean + 0.1 * rng.standard_normal((40, len(NAMES)))
    rows = [mean + steps["sad"] + 0.1 * rng.standard_normal(len(NAMES)) for _ in range(20)]
    # Other sentences vary more than the fitted ones: the floor rises with them.
    wider = mean + 0.4 * rng.standard_normal((40, len(NAMES)))
    plain = SpeechEmotionEstimator.fit(neutral, np.array(rows), ["sad"] * 20)
    calibrated = SpeechEmotionEstimator.fit(
        neutral, np.array(rows), ["sad"] * 20, calibration=wider
    )
    assert calibrated.config.min_gain > plain.config.min_gain
    read_as_neutral = [calibrated.estimate_from_prosody(row).is_neutral for row in wider]
    assert np.mean(read_as_neutral) == pytest.approx(0.9, abs=0.05)


def test_save_and_load_keep_the_estimates(synthetic, tmp_path):
    estimator, mean, steps = synthetic
    estimator.save_pretrained(tmp_path / "estimator")
    loaded = SpeechEmotionEstimator.from_pretrained(tmp_path / "estimator")
    row = mean + 0.7 * steps["sad"]
    assert loaded.estimate_from_prosody(row) == estimator.estimate_from_prosody(row)


def test_the_shipped_estimator_loads_and_has_every_family():
    estimator = SpeechEmotionEstimator.default()
    assert set(estimator.config.families) == set(BASIC_FAMILIES)
    assert estimator.config.feature_names == list(ROBUST_FEATURES)
    assert set(estimator.describe()["sad"]) == set(ROBUST_FEATURES)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"feature_names": ["pitch"]}, "unknown"),
        ({"neutral_mean": [0.0]}, "neutral_mean needs"),
        ({"families": ["happy"], "directions": [[np.nan] * len(ROBUST_FEATURES)]}, "finite"),
        ({"families": ["joyish"], "directions": [[1.0] * len(ROBUST_FEATURES)]}, "joyish"),
        ({"min_gain": -1.0}, "min_gain"),
    ],
)
def test_bad_settings_are_errors(kwargs, message):
    with pytest.raises(EmogenError, match=message):
        SpeechEmotionEstimator(**kwargs)


def test_bad_fits_and_inputs_are_errors(synthetic):
    estimator, mean, _ = synthetic
    with pytest.raises(EmogenError, match="neutral examples"):
        SpeechEmotionEstimator.fit(mean[None].repeat(3, 0), mean[None], ["sad"])
    with pytest.raises(EmogenError, match="shape"):
        estimator.estimate_from_prosody(mean[:5])
    with pytest.raises(EmogenError, match="no fitted families"):
        SpeechEmotionEstimator().estimate_from_prosody(mean)
