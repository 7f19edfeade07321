"""EmotionEncoder: real tiny encoders with a fixed seed, checked for behaviour, not just shapes."""

from __future__ import annotations

import pytest
import torch

from emogen.emotion import Emotion, load_taxonomy
from emogen.emotion.encoder import EmotionEncoder, EmotionEncoderOutput
from emogen.errors import EmogenError, EmotionError

HIDDEN = 16


def tiny_encoder(**overrides) -> EmotionEncoder:
    torch.manual_seed(0)
    config = {"hidden_size": HIDDEN, "num_fourier_features": 4, **overrides}
    return EmotionEncoder(**config).eval()


def test_output_shapes_and_categories_default_to_taxonomy():
    encoder = tiny_encoder()
    out = encoder.encode(["happy", "angry:0.5", "0.6 sad + 0.4 afraid", "v=0.3 a=-0.2"])
    assert isinstance(out, EmotionEncoderOutput)
    assert out.pooled.shape == (4, HIDDEN)
    assert out.tokens.shape == (4, 3, HIDDEN)
    assert encoder.categories == load_taxonomy().names
    assert encoder.category_embedding.num_embeddings == len(encoder.categories) + 1


def test_prepare_builds_mixture_weights_vad_and_intensity():
    encoder = tiny_encoder(categories=["neutral", "happy", "sad", "mad"])  # synonym resolved
    assert encoder.categories == ("neutral", "happy", "sad", "angry")
    inputs = encoder.prepare(["(0.75 happy + 0.25 sad):0.5", "angry", "neutral"])
    torch.testing.assert_close(
        inputs.category_weights,
        torch.tensor([[0, 0.75, 0.25, 0], [0, 0, 0, 1.0], [1.0, 0, 0, 0]]),
    )
    mixture = Emotion.parse("(0.75 happy + 0.25 sad):0.5")
    torch.testing.assert_close(inputs.vad[0], torch.tensor(mixture.vad, dtype=torch.float32))
    torch.testing.assert_close(inputs.intensity, torch.tensor([0.5, 1.0, 1.0]))
    # One emotion (not in a list) is a batch of one.
    assert encoder.prepare("happy").category_weights.shape == (1, 4)


def test_raw_vad_gets_posterior_at_target_restricted_to_encoder_categories():
    encoder = tiny_encoder(categories=["neutral", "happy", "sad"])
    valence, arousal, dominance = load_taxonomy().vad("happy")
    weak = Emotion.from_vad(valence, arousal, dominance, intensity=0.2)
    weights = encoder.prepare([weak]).category_weights[0]
    assert weights.sum().item() == pytest.approx(1.0, abs=1e-6)
    # Happy's centroid reads as happy even at low intensity: intensity has its own token.
    assert weights.argmax().item() == encoder.categories.index("happy")


def test_different_emotions_give_different_pooled_vectors():
    encoder = tiny_encoder()
    emotions = ["happy", "sad", "angry", "happy:0.3", "calm", "neutral"]
    pooled = encoder.encode(emotions).pooled
    distances = torch.cdist(pooled, pooled)
    off_diagonal = distances[~torch.eye(len(emotions), dtype=torch.bool)]
    assert off_diagonal.min() > 1e-3


def test_intensity_changes_only_vad_and_intensity_tokens():
    encoder = tiny_encoder()
    tokens = encoder.encode(["angry:1", "angry:0.4"]).tokens
    torch.testing.assert_close(tokens[0, 0], tokens[1, 0])
    assert not torch.allclose(tokens[0, 1], tokens[1, 1])
    assert not torch.allclose(tokens[0, 2], tokens[1, 2])


def test_mixture_category_token_is_weighted_sum_of_parts():
    encoder = tiny_encoder()
    tokens = encoder.encode(["0.6 happy + 0.4 surprised", "happy", "surprised"]).tokens
    expected = 0.6 * tokens[1, 0] + 0.4 * tokens[2, 0]
    torch.testing.assert_close(tokens[0, 0], expected)


def test_null_condition_is_identical_for_any_input():
    encoder = tiny_encoder()
    emotions = ["happy", "sad:0.2", "0.5 angry + 0.5 afraid", "v=-0.9 a=0.9 d=0.1"]
    dropped = encoder.encode(emotions, drop_condition=torch.ones(4, dtype=torch.bool))
    null = encoder.null(4)
    torch.testing.assert_close(dropped.pooled, null.pooled)
    torch.testing.assert_close(dropped.tokens, null.tokens)
    assert torch.equal(null.pooled, null.pooled[:1].expand(4, -1))
    torch.testing.assert_close(
        null.tokens[0, 0], encoder.category_embedding.weight[encoder.null_category_index]
    )
    torch.testing.assert_close(null.tokens[0, 1], encoder.vad_null_embedding)
    torch.testing.assert_close(null.tokens[0, 2], encoder.intensity_null_embedding)


def test_drop_condition_only_touches_chosen_rows():
    encoder = tiny_encoder()
    emotions = ["happy", "sad", "angry"]
    plain = encoder.encode(emotions).pooled
    partly = encoder.encode(emotions, drop_condition=torch.tensor([False, True, False])).pooled
    torch.testing.assert_close(partly[[0, 2]], plain[[0, 2]])
    torch.testing.assert_close(partly[1], encoder.null(1).pooled[0])


def test_dropout_only_in_train_mode():
    encoder = tiny_encoder(condition_dropout_prob=1.0, attribute_dropout_prob=1.0)
    emotions = ["happy", "sad", "angry"]
    evaluated = encoder.encode(emotions).pooled
    assert not torch.allclose(evaluated, encoder.null(3).pooled)

    encoder.train()
    trained = encoder.encode(emotions)
    encoder.eval()
    null = encoder.null(3)
    torch.testing.assert_close(trained.pooled, null.pooled)
    torch.testing.assert_close(trained.tokens, null.tokens)


@pytest.mark.parametrize(
    ("overrides", "dropped_fraction"),
    [
        ({"condition_dropout_prob": 1.0, "attribute_dropout_prob": 0.0}, 1.0),
        ({"condition_dropout_prob": 0.0, "attribute_dropout_prob": 1.0}, 1.0),
        ({"condition_dropout_prob": 0.0, "attribute_dropout_prob": 0.0}, 0.0),
    ],
)
def test_each_dropout_kind_nulls_all_tokens_at_probability_one(overrides, dropped_fraction):
    encoder = tiny_encoder(**overrides)
    null_tokens = encoder.null(1).tokens[0]
    encoder.train()
    torch.manual_seed(1)
    tokens = encoder.encode(["happy", "sad", "angry", "calm"]).tokens
    is_null = torch.isclose(tokens, null_tokens).all(-1)  # (B, 3)
    assert is_null.float().mean().item() == dropped_fraction


def test_attribute_dropout_drops_attributes_independently():
    encoder = tiny_encoder(condition_dropout_prob=0.0, attribute_dropout_prob=0.5)
    null_tokens = encoder.null(1).tokens[0]
    encoder.train()
    torch.manual_seed(2)
    tokens = encoder.encode(["happy"] * 400).tokens
    is_null = torch.isclose(tokens, null_tokens).all(-1).float()  # (B, 3)
    assert is_null.mean(0).sub(0.5).abs().max() < 0.1
    # Independent: some rows drop only some attributes.
    assert ((is_null.sum(1) > 0) & (is_null.sum(1) < 3)).any()


def test_backward_reaches_every_parameter():
    encoder = tiny_encoder(condition_dropout_prob=0.0, attribute_dropout_prob=0.0).train()
    out = encoder.encode(["happy", "(0.5 sad + 0.5 angry):0.7"])
    null = encoder.null(2)
    (out.pooled.square().sum() + null.pooled.square().sum()).backward()
    without_grad = [n for n, p in encoder.named_parameters() if p.grad is None]
    assert not without_grad


def test_return_dict_false_matches_output():
    encoder = tiny_encoder()
    inputs = encoder.prepare(["happy", "sad"])
    pooled, tokens = encoder(
        inputs.category_weights, inputs.vad, inputs.intensity, return_dict=False
    )
    out = encoder(inputs.category_weights, inputs.vad, inputs.intensity)
    assert torch.equal(pooled, out.pooled)
    assert torch.equal(tokens, out.tokens)


def test_batch_equals_single():
    encoder = tiny_encoder()
    emotions = ["happy", "angry:0.3", "v=0.1 a=0.5"]
    batch = encoder.encode(emotions).pooled
    for row, emotion in enumerate(emotions):
        torch.testing.assert_close(encoder.encode([emotion]).pooled[0], batch[row])


def test_save_and_load_round_trip(tmp_path):
    encoder = tiny_encoder(categories=["neutral", "happy", "sad", "angry"], fourier_std=2.0)
    encoder.save_pretrained(tmp_path)
    loaded = EmotionEncoder.from_pretrained(tmp_path).eval()
    assert loaded.categories == encoder.categories
    assert loaded.config.fourier_std == 2.0
    emotions = ["happy", "(0.5 sad + 0.5 angry):0.4", "v=0.2 a=0.8 d=-0.1"]
    expected, actual = encoder.encode(emotions), loaded.encode(emotions)
    # the same numbers up to float32 rounding (two module instances need not share kernels)
    exact = {"rtol": 0.0, "atol": 1e-6}
    torch.testing.assert_close(expected.pooled, actual.pooled, **exact)
    torch.testing.assert_close(expected.tokens, actual.tokens, **exact)
    torch.testing.assert_close(encoder.null(1).pooled, loaded.null(1).pooled, **exact)


def test_default_categories_are_pinned_in_config():
    encoder = tiny_encoder()
    assert list(encoder.config.categories) == list(load_taxonomy().names)
    rebuilt = EmotionEncoder.from_config(encoder.config)
    assert rebuilt.categories == encoder.categories


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"hidden_size": 0}, "hidden_size must be an integer >= 1"),
        ({"hidden_size": 8.0}, "hidden_size must be an integer >= 1"),
        ({"num_fourier_features": -1}, "num_fourier_features must be an integer >= 1"),
        ({"fourier_std": 0.0}, "fourier_std must be > 0"),
        ({"fourier_std": float("nan")}, "fourier_std must be a finite number"),
        ({"condition_dropout_prob": 1.5}, r"condition_dropout_prob must be in \[0.0, 1.0\]"),
        ({"attribute_dropout_prob": -0.1}, r"attribute_dropout_prob must be in \[0.0, 1.0\]"),
        ({"categories": []}, "at least one category"),
        ({"categories": "happy"}, "must be a list of category names"),
        ({"categories": ["happy", "glad"]}, "must be distinct"),
        ({"categories": ["happy", "hapy"]}, "unknown emotion category 'hapy'"),
    ],
)
def test_config_validation(overrides, message):
    with pytest.raises(EmotionError, match=message):
        EmotionEncoder(**overrides)


def test_input_errors():
    encoder = tiny_encoder(categories=["neutral", "happy"])
    with pytest.raises(EmotionError, match="no category 'sad'; its categories are: neutral, happy"):
        encoder.prepare(["sad"])
    with pytest.raises(EmotionError, match="unknown emotion category"):
        encoder.prepare(["hapy"])
    with pytest.raises(EmogenError, match="at least one emotion"):
        encoder.prepare([])
    with pytest.raises(EmogenError, match=r"category_weights must have shape \(batch, 2\)"):
        encoder(torch.zeros(1, 3), torch.zeros(1, 3), torch.zeros(1))
    with pytest.raises(EmogenError, match=r"vad must have shape \(2, 3\)"):
        encoder(torch.zeros(2, 2), torch.zeros(2, 2), torch.zeros(2))
    with pytest.raises(EmogenError, match=r"drop_condition must have shape \(2,\)"):
        encoder(torch.zeros(2, 2), torch.zeros(2, 3), torch.zeros(2), torch.ones(3).bool())
    with pytest.raises(EmogenError, match="batch_size must be an integer >= 1"):
        encoder.null(0)
