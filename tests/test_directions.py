"""DirectionBank on synthetic features where each category adds a known vector to neutral noise."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from emogen.emotion import Emotion, load_taxonomy
from emogen.emotion.directions import DirectionBank
from emogen.errors import EmogenError, EmotionError

FEATURES = 16
NOISE = 0.1


def true_vectors() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return {name: 3 * torch.randn(FEATURES) for name in ("happy", "sad", "angry")}


def synthetic(
    per_category: int = 200, intensity: float = 1.0, seed: int = 1
) -> tuple[torch.Tensor, list[str], torch.Tensor]:
    """Features = base + noise (+ intensity * v_c); returns (features, labels, base)."""
    vectors = true_vectors()
    torch.manual_seed(seed)
    base = torch.randn(FEATURES)
    rows, labels = [], []
    for name in ("neutral", *vectors):
        noise = NOISE * torch.randn(per_category, FEATURES)
        step = torch.zeros(FEATURES) if name == "neutral" else intensity * vectors[name]
        rows.append(base + step + noise)
        labels += [name if name == "neutral" else f"{name}:{intensity}"] * per_category
    return torch.cat(rows).double(), labels, base.double()


def cosine(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


@pytest.fixture(scope="module")
def bank() -> DirectionBank:
    features, labels, _ = synthetic()
    return DirectionBank.fit(features, labels)


def test_fit_recovers_known_directions_and_magnitudes(bank):
    assert bank.categories == ("happy", "sad", "angry")  # taxonomy order
    for name, vector in true_vectors().items():
        unit = bank.unit_directions[bank.categories.index(name)]
        assert cosine(unit, vector) > 0.99
        magnitude = bank.magnitudes[bank.categories.index(name)]
        assert magnitude == pytest.approx(vector.norm().item(), rel=0.02)
    assert np.linalg.norm(bank.unit_directions, axis=1) == pytest.approx(np.ones(3))


def test_half_intensity_examples_recover_the_same_direction(bank):
    features, labels, _ = synthetic(intensity=0.5, seed=2)
    half = DirectionBank.fit(features, labels)
    for name in bank.categories:
        assert cosine(half.direction(name), bank.direction(name)) > 0.99
        # Each example counts as half a step, so the full-intensity magnitude is the same.
        assert half.magnitudes[half.categories.index(name)] == pytest.approx(
            bank.magnitudes[bank.categories.index(name)], rel=0.02
        )


def test_mixed_intensities_and_mixture_examples_separate_directions():
    vectors = true_vectors()
    torch.manual_seed(3)
    base = torch.randn(FEATURES)
    rows, labels = [], []
    for _ in range(150):
        rows.append(base + NOISE * torch.randn(FEATURES))
        labels.append("neutral")
    for name, vector in vectors.items():
        for intensity in (0.25, 0.5, 1.0):
            for _ in range(50):
                rows.append(base + intensity * vector + NOISE * torch.randn(FEATURES))
                labels.append(f"{name}:{intensity}")
    for _ in range(100):  # 0.7 happy + 0.3 sad at 0.8: a step of 0.8 * (0.7 v_h + 0.3 v_s)
        step = 0.8 * (0.7 * vectors["happy"] + 0.3 * vectors["sad"])
        rows.append(base + step + NOISE * torch.randn(FEATURES))
        labels.append("(0.7 happy + 0.3 sad):0.8")
    bank = DirectionBank.fit(torch.stack(rows), labels)
    for name, vector in vectors.items():
        assert cosine(bank.direction(name), vector) > 0.999
        assert np.linalg.norm(bank.direction(name)) == pytest.approx(vector.norm().item(), rel=0.02)


def test_apply_is_identity_at_zero_and_reaches_category_mean_at_one():
    features, labels, _ = synthetic()
    bank = DirectionBank.fit(features, labels)
    labels = np.array(labels)
    neutral_mean = features[torch.from_numpy(labels == "neutral")].mean(0).numpy()
    np.testing.assert_allclose(bank.neutral_mean, neutral_mean)
    for name in bank.categories:
        category_mean = features[torch.from_numpy(labels == f"{name}:1.0")].mean(0).numpy()
        np.testing.assert_allclose(bank.apply(neutral_mean, name), category_mean, atol=1e-9)
        np.testing.assert_array_equal(bank.apply(neutral_mean, name, intensity=0), neutral_mean)
        np.testing.assert_array_equal(bank.apply(neutral_mean, f"{name}:0"), neutral_mean)
    np.testing.assert_array_equal(bank.apply(neutral_mean, "neutral"), neutral_mean)


def test_apply_is_linear_in_intensity(bank):
    x = np.random.default_rng(0).normal(size=(4, FEATURES))
    full = bank.apply(x, "angry") - x
    for intensity in (0.0, 0.25, 0.5, 0.8):
        np.testing.assert_allclose(
            bank.apply(x, "angry", intensity=intensity) - x, intensity * full
        )
        np.testing.assert_allclose(bank.apply(x, f"angry:{intensity}") - x, intensity * full)
    np.testing.assert_allclose(bank.offset("angry", intensity=0.3), 0.3 * bank.direction("angry"))


def test_mixtures_combine_linearly(bank):
    mixed = bank.offset("(0.6 happy + 0.4 sad):0.5")
    expected = 0.5 * (0.6 * bank.direction("happy") + 0.4 * bank.direction("sad"))
    np.testing.assert_allclose(mixed, expected)
    # A neutral share adds nothing.
    np.testing.assert_allclose(
        bank.offset("0.5 happy + 0.5 neutral"), 0.5 * bank.direction("happy")
    )


def test_raw_vad_uses_posterior_at_target(bank):
    valence, arousal, dominance = load_taxonomy().vad("sad")
    at_sad = Emotion.from_vad(valence, arousal, dominance, intensity=0.5)
    weights = bank.weights(at_sad)
    assert max(weights, key=weights.get) == "sad"
    assert sum(weights.values()) <= 1.0 + 1e-9
    origin = Emotion.from_vad(0.0, 0.0, 0.0)
    assert np.abs(bank.offset(origin)).max() < 1e-3 * np.abs(bank.offset("sad")).max()


def test_types_and_dtypes_are_kept(bank):
    x32 = np.zeros((2, 3, FEATURES), dtype=np.float32)
    out = bank.apply(x32, "happy", intensity=0.5)
    assert isinstance(out, np.ndarray)
    assert out.dtype == np.float32
    assert out.shape == (2, 3, FEATURES)

    tensor = torch.zeros(5, FEATURES, dtype=torch.float16, requires_grad=False)
    out = bank.apply(tensor, "sad")
    assert isinstance(out, torch.Tensor)
    assert out.dtype == torch.float16
    np.testing.assert_allclose(
        out.float().numpy()[0], bank.direction("sad").astype(np.float16), rtol=1e-3
    )

    wanted = torch.zeros(FEATURES, requires_grad=True)
    bank.apply(wanted, "angry").sum().backward()
    assert torch.equal(wanted.grad, torch.ones(FEATURES))


def test_project_reads_back_intensity(bank):
    for intensity in (0.0, 0.3, 1.0):
        x = bank.apply(bank.neutral_mean, "happy", intensity=intensity)
        assert bank.project(x)["happy"] == pytest.approx(intensity)
    batch = torch.stack(
        [torch.from_numpy(bank.apply(bank.neutral_mean, "angry", intensity=s)) for s in (0.2, 0.6)]
    ).float()
    coordinates = bank.project(batch)
    assert isinstance(coordinates["angry"], torch.Tensor)
    torch.testing.assert_close(coordinates["angry"], torch.tensor([0.2, 0.6]))


def test_contains_and_categories(bank):
    assert "happy" in bank
    assert "mad" in bank  # synonym of angry
    assert "calm" not in bank
    assert "neutral" not in bank
    assert "not an emotion" not in bank
    assert len(bank) == 3


@pytest.mark.parametrize("single_file", [False, True])
def test_save_and_load_round_trip(tmp_path, single_file):
    features, labels, _ = synthetic(per_category=20)
    names = [f"feature_{i}" for i in range(FEATURES)]
    bank = DirectionBank.fit(features, labels, feature_names=names)
    if single_file:
        bank.save(tmp_path / "bank.safetensors")
        loaded = DirectionBank.load(tmp_path / "bank.safetensors")
    else:
        bank.save_pretrained(tmp_path / "bank")
        assert (tmp_path / "bank" / "config.json").is_file()
        assert (tmp_path / "bank" / "directions.safetensors").is_file()
        loaded = DirectionBank.from_pretrained(tmp_path / "bank")
    assert loaded.categories == bank.categories
    assert loaded.feature_names == tuple(names)
    np.testing.assert_array_equal(loaded.unit_directions, bank.unit_directions)
    np.testing.assert_array_equal(loaded.magnitudes, bank.magnitudes)
    np.testing.assert_array_equal(loaded.neutral_mean, bank.neutral_mean)
    x = np.ones(FEATURES)
    np.testing.assert_array_equal(
        loaded.apply(x, "0.5 happy + 0.5 sad"), bank.apply(x, "0.5 happy + 0.5 sad")
    )


def test_neutral_features_argument_sets_the_origin():
    features, labels, base = synthetic(per_category=50)
    emotional = [i for i, label in enumerate(labels) if label != "neutral"]
    separate_neutral = base + NOISE * torch.randn(30, FEATURES, dtype=torch.float64)
    bank = DirectionBank.fit(
        features[emotional], [labels[i] for i in emotional], neutral_features=separate_neutral
    )
    np.testing.assert_allclose(bank.neutral_mean, separate_neutral.mean(0).numpy())
    for name, vector in true_vectors().items():
        assert cosine(bank.direction(name), vector) > 0.99


def test_errors():
    features, labels, _ = synthetic(per_category=10)
    emotional = [i for i, label in enumerate(labels) if label != "neutral"]
    with pytest.raises(EmogenError, match="no neutral examples"):
        DirectionBank.fit(features[emotional], [labels[i] for i in emotional])
    with pytest.raises(EmogenError, match="40 feature rows but 39 emotions"):
        DirectionBank.fit(features, labels[:-1])
    with pytest.raises(EmogenError, match=r"features must have shape \(N, F\)"):
        DirectionBank.fit(features[0], labels[:1])
    with pytest.raises(EmogenError, match=r"neutral_features must have shape \(M, 16\)"):
        DirectionBank.fit(features, labels, neutral_features=torch.zeros(3, 5))
    with pytest.raises(EmogenError, match="raw VAD with no category"):
        DirectionBank.fit(features[:2], ["neutral", "v=0.5 a=0.5"])
    with pytest.raises(EmogenError, match="cannot separate"):
        DirectionBank.fit(features[:3], ["neutral", "0.5 happy + 0.5 sad", "0.5 happy + 0.5 sad"])
    with pytest.raises(EmogenError, match="feature_names must be 16 distinct names"):
        DirectionBank.fit(features, labels, feature_names=["a", "b"])

    bank = DirectionBank.fit(features, labels)
    with pytest.raises(EmotionError, match="no direction for 'calm'; fitted categories: happy"):
        bank.apply(np.zeros(FEATURES), "calm")
    with pytest.raises(EmotionError, match="no direction for 'calm'"):
        bank.offset("0.5 happy + 0.5 calm")
    # Asked to, an unfitted category adds nothing, like neutral's share.
    np.testing.assert_allclose(
        bank.offset("0.5 happy + 0.5 calm", unfitted="ignore"), bank.offset("happy:0.5")
    )
    assert not bank.offset("calm", unfitted="ignore").any()
    # Or through its families (a bank of family profiles): lonely counts as sad.
    assert "sad" in bank and "lonely" not in bank
    np.testing.assert_allclose(bank.offset("lonely", unfitted="family"), bank.offset("sad"))
    np.testing.assert_allclose(
        bank.offset("0.5 happy + 0.5 lonely", unfitted="family"),
        bank.offset("0.5 happy + 0.5 sad"),
    )
    with pytest.raises(EmogenError, match="unfitted must be 'raise', 'ignore' or 'family'"):
        bank.weights("happy", unfitted="skip")
    with pytest.raises(EmotionError, match="unknown emotion category"):
        bank.apply(np.zeros(FEATURES), "hapy")
    with pytest.raises(EmotionError, match=r"intensity must be in \[0.0, 1.0\]"):
        bank.apply(np.zeros(FEATURES), "happy", intensity=1.5)
    with pytest.raises(EmogenError, match=r"features must have shape \(\.\.\., 16\)"):
        bank.apply(np.zeros(FEATURES + 1), "happy")
    with pytest.raises(EmogenError, match="floating point"):
        bank.apply(np.zeros(FEATURES, dtype=np.int64), "happy")
