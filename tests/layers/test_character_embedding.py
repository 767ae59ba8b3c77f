"""Tests for nlp_apps.layers.character_embedding."""

import inspect

import keras
import numpy as np
import pytest
import tensorflow as tf

from nlp_apps.layers import CharacterEmbedding

# (batch=2, time=3, chars=4); the last word of the first sentence is padding,
# characters are right-padded within each word.
CHAR_IDS = np.array(
    [
        [[1, 2, 3, 0], [4, 5, 0, 0], [0, 0, 0, 0]],
        [[6, 1, 1, 2], [3, 0, 0, 0], [2, 2, 0, 0]],
    ],
    dtype="int32",
)
ENCODERS = ["cnn", "bilstm"]


def numpy(structure):
    return keras.tree.map_structure(keras.ops.convert_to_numpy, structure)


def non_default_config_check(cls, config, skip=()):
    """Every constructor argument is in `config` with a non-default value."""
    for name, parameter in inspect.signature(cls.__init__).parameters.items():
        if name in ("self", "kwargs") or name in skip:
            continue
        assert name in config, f"get_config() misses constructor argument {name!r}"
        if parameter.default is not inspect.Parameter.empty:
            assert config[name] != parameter.default, f"test should use a non-default value for {name!r}"


@pytest.mark.parametrize("encoder", ENCODERS)
def test_shape_mask_and_zero_padding_words(encoder):
    layer = CharacterEmbedding(8, char_embedding_dim=3, encoder=encoder, units=6)
    outputs = layer(CHAR_IDS)
    assert outputs.shape == (2, 3, 6)
    expected_mask = (CHAR_IDS != 0).any(axis=-1)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(outputs._keras_mask), expected_mask)
    values = keras.ops.convert_to_numpy(outputs)
    np.testing.assert_array_equal(values[0, 2], np.zeros(6))
    assert np.abs(values[expected_mask]).sum(axis=-1).min() > 0


@pytest.mark.parametrize("encoder", ENCODERS)
def test_all_padding_input_has_finite_values_and_gradients(encoder):
    layer = CharacterEmbedding(8, char_embedding_dim=3, encoder=encoder, units=4)
    padding = np.zeros((2, 3, 4), dtype="int32")
    with tf.GradientTape() as tape:
        outputs = layer(padding, training=True)
        loss = tf.reduce_sum(outputs)
    gradients = tape.gradient(loss, layer.trainable_weights)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(outputs), np.zeros((2, 3, 4)))
    for gradient in gradients:
        if gradient is not None:
            assert np.all(np.isfinite(keras.ops.convert_to_numpy(tf.convert_to_tensor(gradient))))


@pytest.mark.parametrize("encoder", ENCODERS)
def test_extra_character_padding_does_not_change_word_features(encoder):
    layer = CharacterEmbedding(8, char_embedding_dim=3, encoder=encoder, units=4)
    padded = np.concatenate([CHAR_IDS, np.zeros((2, 3, 3), dtype="int32")], axis=-1)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(layer(CHAR_IDS)), keras.ops.convert_to_numpy(layer(padded)), rtol=1e-5, atol=1e-6
    )


def test_bilstm_returns_final_states_of_each_direction():
    layer = CharacterEmbedding(8, char_embedding_dim=3, encoder="bilstm", units=4)
    outputs = keras.ops.convert_to_numpy(layer(CHAR_IDS))
    # The same word alone (no padding at all) must give the same features.
    word = np.array([[[4, 5]]], dtype="int32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(word))[0, 0], outputs[0, 1], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"alphabet_size": 0}, "alphabet_size"),
        ({"alphabet_size": 5, "encoder": "rnn"}, "encoder"),
        ({"alphabet_size": 5, "encoder": "bilstm", "units": 5}, "units"),
        ({"alphabet_size": 5, "kernel_size": 0}, "kernel_size"),
        ({"alphabet_size": 5, "dropout": -0.1}, "dropout"),
        ({"alphabet_size": 5, "char_embedding_dim": 0}, "char_embedding_dim"),
    ],
)
def test_bad_arguments(kwargs, field):
    with pytest.raises(ValueError, match=field):
        CharacterEmbedding(**kwargs)


def test_config_round_trip_with_non_default_values():
    layer = CharacterEmbedding(
        alphabet_size=11, char_embedding_dim=7, encoder="bilstm", units=12, kernel_size=5, dropout=0.2
    )
    config = layer.get_config()
    non_default_config_check(CharacterEmbedding, config)
    assert CharacterEmbedding.from_config(config).get_config() == config


@pytest.mark.parametrize("encoder", ENCODERS)
def test_save_and_load(tmp_path, encoder):
    inputs = keras.Input(shape=(None, None), dtype="int32")
    features = CharacterEmbedding(8, char_embedding_dim=3, encoder=encoder, units=4, dropout=0.1)(inputs)
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling1D()(features))
    expected = numpy(model(CHAR_IDS))
    path = tmp_path / "character_embedding.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    np.testing.assert_allclose(numpy(restored(CHAR_IDS)), expected, rtol=1e-5, atol=1e-6)
