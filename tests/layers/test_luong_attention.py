"""Tests for nlp_apps.layers.luong_attention."""

import inspect

import keras
import numpy as np
import pytest
import tensorflow as tf

from nlp_apps.layers import LuongAttention

BATCH, VALUE_TIME, FEATURES, QUERY_TIME = 3, 5, 4, 2
VALUES_MASK = np.array(
    [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [0, 0, 0, 0, 0]], dtype=bool
)


def non_default_config_check(cls, config):
    """Every constructor argument is in `config` with a non-default value."""
    for name, parameter in inspect.signature(cls.__init__).parameters.items():
        if name in ("self", "kwargs"):
            continue
        assert name in config, f"get_config() misses constructor argument {name!r}"
        if parameter.default is not inspect.Parameter.empty:
            assert config[name] != parameter.default, name


def random_inputs(query_rank=2, query_features=FEATURES, value_features=FEATURES):
    rng = np.random.default_rng(0)
    query_shape = (BATCH, query_features) if query_rank == 2 else (BATCH, QUERY_TIME, query_features)
    query = rng.normal(size=query_shape).astype("float32")
    values = rng.normal(size=(BATCH, VALUE_TIME, value_features)).astype("float32")
    return query, values


def softmax(scores):
    exp = np.exp(scores - scores.max(-1, keepdims=True))
    return exp / exp.sum(-1, keepdims=True)


@pytest.mark.parametrize("score", ["dot", "general"])
@pytest.mark.parametrize("query_rank", [2, 3])
def test_shapes_and_masking(score, query_rank):
    value_features = FEATURES if score == "dot" else FEATURES + 2
    query, values = random_inputs(query_rank, value_features=value_features)
    layer = LuongAttention(score)
    context, weights = layer(query, values, values_mask=VALUES_MASK)
    context, weights = np.asarray(context), np.asarray(weights)
    prefix = (BATCH,) if query_rank == 2 else (BATCH, QUERY_TIME)
    assert context.shape == prefix + (value_features,)
    assert weights.shape == prefix + (VALUE_TIME,)
    assert layer.compute_output_shape(query.shape, values.shape) == (
        prefix + (value_features,),
        prefix + (VALUE_TIME,),
    )
    assert np.isfinite(context).all() and np.isfinite(weights).all()
    mask = VALUES_MASK if query_rank == 2 else VALUES_MASK[:, None, :]
    mask = np.broadcast_to(mask, weights.shape)
    assert (weights[~mask] == 0.0).all()
    np.testing.assert_allclose(weights[:2].sum(-1), 1.0, rtol=1e-6)
    assert (weights[2] == 0.0).all() and (context[2] == 0.0).all()


def test_dot_and_general_scores_match_numpy():
    query, values = random_inputs(3)
    _, weights = LuongAttention("dot")(query, values)
    np.testing.assert_allclose(
        np.asarray(weights), softmax(np.einsum("bqd,btd->bqt", query, values)), rtol=1e-5
    )
    layer = LuongAttention("general")
    _, weights = layer(query, values)
    kernel = np.asarray(layer.kernel)
    expected = softmax(np.einsum("bqd,btd->bqt", query, values @ kernel))
    np.testing.assert_allclose(np.asarray(weights), expected, rtol=1e-5)


@pytest.mark.parametrize("score", ["dot", "general"])
def test_precomputed_keys_give_the_same_result(score):
    query, values = random_inputs(2)
    layer = LuongAttention(score)
    expected = layer(query, values, values_mask=VALUES_MASK)
    keys = layer.precompute_keys(values)
    actual = layer(query, values, values_mask=VALUES_MASK, keys=keys)
    for a, e in zip(actual, expected):
        np.testing.assert_allclose(np.asarray(a), np.asarray(e), rtol=1e-6)


def test_keras_mask_of_values_is_used():
    ids = np.array([[3, 1, 2, 0, 0], [1, 2, 3, 4, 5]], dtype="int32")
    values = keras.layers.Embedding(10, FEATURES, mask_zero=True)(ids)
    _, weights = LuongAttention("dot")(np.ones((2, FEATURES), "float32"), values)
    weights = np.asarray(weights)
    assert (weights[ids == 0] == 0.0).all()
    np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-6)


def test_works_in_tf_function_with_unknown_time():
    layer = LuongAttention("general")
    query, values = random_inputs(3)
    layer(query, values)

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, None, FEATURES]),
            tf.TensorSpec([None, None, FEATURES]),
            tf.TensorSpec([None, None], tf.bool),
        ]
    )
    def attend(query, values, mask):
        return layer(query, values, values_mask=mask)

    context, _ = attend(query, values, VALUES_MASK)
    expected, _ = layer(query, values, values_mask=VALUES_MASK)
    np.testing.assert_allclose(context.numpy(), np.asarray(expected), rtol=1e-5)


def test_invalid_arguments():
    with pytest.raises(ValueError, match="score"):
        LuongAttention("concat")
    with pytest.raises(ValueError, match="units"):
        LuongAttention("dot", units=4)
    with pytest.raises(ValueError, match="units"):
        LuongAttention("general", units=-1)
    query, values = random_inputs(2, value_features=FEATURES + 1)
    with pytest.raises(ValueError, match="dot"):
        LuongAttention("dot")(query, values)
    with pytest.raises(ValueError, match="units"):
        LuongAttention("general", units=FEATURES + 3)(query, values)
    with pytest.raises(ValueError, match="precompute_keys"):
        LuongAttention("general").precompute_keys(values)


def test_config_round_trip():
    layer = LuongAttention("general", units=FEATURES, name="source_attention")
    config = layer.get_config()
    non_default_config_check(LuongAttention, config)
    restored = LuongAttention.from_config(config)
    assert restored.get_config() == config


def test_save_and_load(tmp_path):
    query_input = keras.Input((None, FEATURES))
    source_ids = keras.Input((None,), dtype="int32")
    values = keras.layers.Embedding(10, FEATURES + 2, mask_zero=True)(source_ids)
    context, weights = LuongAttention("general", units=FEATURES)(query_input, values)
    model = keras.Model([query_input, source_ids], [context, weights])
    query = np.random.default_rng(1).normal(size=(2, 3, FEATURES)).astype("float32")
    ids = np.array([[3, 1, 2, 0], [1, 2, 3, 4]], dtype="int32")
    expected = model.predict([query, ids], verbose=0)
    path = tmp_path / "luong.keras"
    model.save(path)
    actual = keras.models.load_model(path).predict([query, ids], verbose=0)
    for a, e in zip(actual, expected):
        np.testing.assert_allclose(a, e, rtol=1e-6)
    assert (expected[1][0, :, 3] == 0.0).all()
