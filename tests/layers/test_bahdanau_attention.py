"""Tests for nlp_apps.layers.bahdanau_attention."""

import inspect

import keras
import numpy as np
import pytest
import tensorflow as tf

from nlp_apps.layers import BahdanauAttention

BATCH, VALUE_TIME, VALUE_FEATURES, QUERY_FEATURES, QUERY_TIME = 3, 5, 6, 4, 2
# Row 0: 3 real positions, row 1: all real, row 2: fully masked (padding row).
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


def random_inputs(query_rank=2):
    rng = np.random.default_rng(0)
    query_shape = (BATCH, QUERY_FEATURES) if query_rank == 2 else (BATCH, QUERY_TIME, QUERY_FEATURES)
    query = rng.normal(size=query_shape).astype("float32")
    values = rng.normal(size=(BATCH, VALUE_TIME, VALUE_FEATURES)).astype("float32")
    return query, values


@pytest.mark.parametrize("query_rank", [2, 3])
def test_shapes(query_rank):
    query, values = random_inputs(query_rank)
    layer = BahdanauAttention(7)
    context, weights = layer(query, values)
    prefix = (BATCH,) if query_rank == 2 else (BATCH, QUERY_TIME)
    assert tuple(context.shape) == prefix + (VALUE_FEATURES,)
    assert tuple(weights.shape) == prefix + (VALUE_TIME,)
    context_shape, weights_shape = layer.compute_output_shape(query.shape, values.shape)
    assert context_shape == prefix + (VALUE_FEATURES,)
    assert weights_shape == prefix + (VALUE_TIME,)


@pytest.mark.parametrize("query_rank", [2, 3])
def test_masked_weights_sum_to_one_and_padding_rows_are_zero(query_rank):
    query, values = random_inputs(query_rank)
    context, weights = BahdanauAttention(7)(query, values, values_mask=VALUES_MASK)
    context, weights = np.asarray(context), np.asarray(weights)
    assert np.isfinite(context).all() and np.isfinite(weights).all()
    mask = VALUES_MASK if query_rank == 2 else VALUES_MASK[:, None, :]
    mask = np.broadcast_to(mask, weights.shape)
    assert (weights[~mask] == 0.0).all()
    np.testing.assert_allclose(weights[:2].sum(-1), 1.0, rtol=1e-6)
    # The fully-masked row: zero weights and zero context, not NaN.
    assert (weights[2] == 0.0).all() and (context[2] == 0.0).all()
    # The context is the weighted sum of the values.
    expected = np.einsum("b...t,btd->b...d", weights, values)
    np.testing.assert_allclose(context, expected, rtol=1e-5, atol=1e-6)


def test_score_formula_matches_numpy():
    query, values = random_inputs(2)
    layer = BahdanauAttention(7)
    _, weights = layer(query, values)
    w_query = np.asarray(layer.query_dense.kernel)
    w_key, b_key = np.asarray(layer.key_dense.kernel), np.asarray(layer.key_dense.bias)
    v = np.asarray(layer.score_dense.kernel)[:, 0]
    scores = np.tanh((query @ w_query)[:, None, :] + values @ w_key + b_key) @ v
    expected = np.exp(scores) / np.exp(scores).sum(-1, keepdims=True)
    np.testing.assert_allclose(np.asarray(weights), expected, rtol=1e-5)


def test_precomputed_keys_give_the_same_result():
    query, values = random_inputs(2)
    layer = BahdanauAttention(7)
    expected = layer(query, values, values_mask=VALUES_MASK)
    keys = layer.precompute_keys(values)
    assert tuple(keys.shape) == (BATCH, VALUE_TIME, 7)
    actual = layer(query, values, values_mask=VALUES_MASK, keys=keys)
    for a, e in zip(actual, expected):
        np.testing.assert_allclose(np.asarray(a), np.asarray(e), rtol=1e-6)


def test_precompute_keys_before_first_call():
    query, values = random_inputs(2)
    layer = BahdanauAttention(7)
    keys = layer.precompute_keys(values)
    layer(query, values, keys=keys)
    assert len(layer.weights) == 4  # W_q, W_k, b_k, v: nothing built twice


def test_keras_mask_of_values_is_used():
    ids = np.array([[3, 1, 2, 0, 0], [1, 2, 3, 4, 5]], dtype="int32")
    values = keras.layers.Embedding(10, VALUE_FEATURES, mask_zero=True)(ids)
    query = np.ones((2, QUERY_FEATURES), dtype="float32")
    _, weights = BahdanauAttention(7)(query, values)
    weights = np.asarray(weights)
    assert (weights[ids == 0] == 0.0).all()
    np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-6)


def test_query_mask_is_passed_on_without_warnings():
    decoder_ids = np.array([[1, 2, 0], [3, 0, 0]], dtype="int32")
    query = keras.layers.Embedding(10, QUERY_FEATURES, mask_zero=True)(decoder_ids)
    values = np.ones((2, VALUE_TIME, VALUE_FEATURES), dtype="float32")
    context, weights = BahdanauAttention(7)(query, values)
    np.testing.assert_array_equal(np.asarray(context._keras_mask), decoder_ids != 0)
    np.testing.assert_array_equal(np.asarray(weights._keras_mask), decoder_ids != 0)


def test_works_in_tf_function_with_unknown_time():
    layer = BahdanauAttention(7)
    query, values = random_inputs(3)
    layer(query, values)

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, None, QUERY_FEATURES]),
            tf.TensorSpec([None, None, VALUE_FEATURES]),
            tf.TensorSpec([None, None], tf.bool),
        ]
    )
    def attend(query, values, mask):
        return layer(query, values, values_mask=mask)

    context, weights = attend(query, values, VALUES_MASK)
    expected_context, expected_weights = layer(query, values, values_mask=VALUES_MASK)
    np.testing.assert_allclose(context.numpy(), np.asarray(expected_context), rtol=1e-5)
    np.testing.assert_allclose(weights.numpy(), np.asarray(expected_weights), rtol=1e-5)


def test_invalid_arguments():
    with pytest.raises(ValueError, match="units"):
        BahdanauAttention(0)
    with pytest.raises(ValueError, match="values"):
        BahdanauAttention(3)(np.ones((2, 4), "float32"), np.ones((2, 4), "float32"))


def test_config_round_trip():
    layer = BahdanauAttention(9, name="source_attention")
    config = layer.get_config()
    non_default_config_check(BahdanauAttention, config)
    restored = BahdanauAttention.from_config(config)
    assert restored.get_config() == config


def test_save_and_load(tmp_path):
    query_input = keras.Input((None, QUERY_FEATURES))
    source_ids = keras.Input((None,), dtype="int32")
    values = keras.layers.Embedding(10, VALUE_FEATURES, mask_zero=True)(source_ids)
    context, weights = BahdanauAttention(7)(query_input, values)
    model = keras.Model([query_input, source_ids], [context, weights])
    query = np.random.default_rng(1).normal(size=(2, 3, QUERY_FEATURES)).astype("float32")
    ids = np.array([[3, 1, 2, 0], [1, 2, 3, 4]], dtype="int32")
    expected = model.predict([query, ids], verbose=0)
    path = tmp_path / "bahdanau.keras"
    model.save(path)
    restored = keras.models.load_model(path)
    actual = restored.predict([query, ids], verbose=0)
    for a, e in zip(actual, expected):
        np.testing.assert_allclose(a, e, rtol=1e-6)
    assert (expected[1][0, :, 3] == 0.0).all()
