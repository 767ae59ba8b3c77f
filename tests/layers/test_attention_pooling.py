"""Tests for nlp_apps.layers.attention_pooling."""

import inspect

import keras
import numpy as np
import pytest
import tensorflow as tf

from nlp_apps.layers import AttentionPooling

BATCH, TIME, FEATURES = 3, 5, 4
# Row 2 is fully masked, like a padding sentence in a hierarchical model.
MASK = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [0, 0, 0, 0, 0]], dtype=bool)


def non_default_config_check(cls, config):
    """Every constructor argument is in `config` with a non-default value."""
    for name, parameter in inspect.signature(cls.__init__).parameters.items():
        if name in ("self", "kwargs"):
            continue
        assert name in config, f"get_config() misses constructor argument {name!r}"
        if parameter.default is not inspect.Parameter.empty:
            assert config[name] != parameter.default, name


def random_inputs():
    return np.random.default_rng(0).normal(size=(BATCH, TIME, FEATURES)).astype("float32")


def test_shapes():
    inputs = random_inputs()
    assert tuple(AttentionPooling(6)(inputs).shape) == (BATCH, FEATURES)
    layer = AttentionPooling(6, return_attention_scores=True)
    pooled, weights = layer(inputs)
    assert tuple(pooled.shape) == (BATCH, FEATURES)
    assert tuple(weights.shape) == (BATCH, TIME)
    assert layer.compute_output_shape(inputs.shape) == ((BATCH, FEATURES), (BATCH, TIME))


def test_masking_and_fully_masked_rows():
    inputs = random_inputs()
    pooled, weights = AttentionPooling(6, return_attention_scores=True)(inputs, mask=MASK)
    pooled, weights = np.asarray(pooled), np.asarray(weights)
    assert np.isfinite(pooled).all() and np.isfinite(weights).all()
    assert (weights[~MASK] == 0.0).all()
    np.testing.assert_allclose(weights[:2].sum(-1), 1.0, rtol=1e-6)
    assert (weights[2] == 0.0).all() and (pooled[2] == 0.0).all()
    np.testing.assert_allclose(pooled, np.einsum("bt,btd->bd", weights, inputs), rtol=1e-5, atol=1e-6)


def test_formula_matches_numpy():
    inputs = random_inputs()
    layer = AttentionPooling(6, return_attention_scores=True)
    _, weights = layer(inputs)
    kernel, bias = np.asarray(layer.projection.kernel), np.asarray(layer.projection.bias)
    scores = np.tanh(inputs @ kernel + bias) @ np.asarray(layer.context_vector)
    expected = np.exp(scores) / np.exp(scores).sum(-1, keepdims=True)
    np.testing.assert_allclose(np.asarray(weights), expected, rtol=1e-5)


def test_keras_mask_is_used_and_not_passed_on():
    ids = np.array([[3, 1, 0, 0], [0, 0, 0, 0]], dtype="int32")
    embedded = keras.layers.Embedding(10, FEATURES, mask_zero=True)(ids)
    pooled, weights = AttentionPooling(6, return_attention_scores=True)(embedded)
    weights = np.asarray(weights)
    assert (weights[ids == 0] == 0.0).all()
    np.testing.assert_allclose(weights[0].sum(), 1.0, rtol=1e-6)
    assert (np.asarray(pooled)[1] == 0.0).all()
    assert getattr(pooled, "_keras_mask", None) is None
    assert AttentionPooling(6).compute_mask(embedded, MASK) is None


def test_no_nan_gradient_for_fully_masked_rows():
    inputs = tf.constant(random_inputs())
    layer = AttentionPooling(6)
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        loss = tf.reduce_sum(layer(inputs, mask=MASK))
    gradients = tape.gradient(loss, [inputs] + layer.trainable_weights)
    assert all(np.isfinite(np.asarray(g)).all() for g in gradients)


def test_invalid_arguments():
    with pytest.raises(ValueError, match="units"):
        AttentionPooling(0)
    with pytest.raises(ValueError, match="return_attention_scores"):
        AttentionPooling(3, return_attention_scores="yes")
    with pytest.raises(ValueError, match="inputs"):
        AttentionPooling(3)(np.ones((2, 4), "float32"))


def test_config_round_trip():
    layer = AttentionPooling(7, return_attention_scores=True, name="word_attention")
    config = layer.get_config()
    non_default_config_check(AttentionPooling, config)
    assert AttentionPooling.from_config(config).get_config() == config


def test_save_and_load_in_a_hierarchical_model(tmp_path):
    # (documents, sentences, words) -> sentence vectors -> document vector.
    word_ids = keras.Input((None, None), dtype="int32")
    embedded = keras.layers.Embedding(20, FEATURES)(word_ids)
    word_mask = keras.ops.not_equal(word_ids, 0)
    sentence_vectors = keras.layers.TimeDistributed(AttentionPooling(5))(embedded, mask=word_mask)
    document_vector, weights = AttentionPooling(3, return_attention_scores=True)(
        sentence_vectors, mask=keras.ops.any(word_mask, axis=-1)
    )
    model = keras.Model(word_ids, [document_vector, weights])
    ids = np.array([[[1, 2, 0], [3, 0, 0], [0, 0, 0]], [[4, 5, 6], [7, 8, 9], [1, 0, 0]]], dtype="int32")
    expected = model.predict(ids, verbose=0)
    assert np.isfinite(expected[0]).all()
    assert expected[1][0, 2] == 0.0
    path = tmp_path / "pooling.keras"
    model.save(path)
    actual = keras.models.load_model(path).predict(ids, verbose=0)
    for a, e in zip(actual, expected):
        np.testing.assert_allclose(a, e, rtol=1e-6)
