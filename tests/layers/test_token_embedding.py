"""Tests for nlp_apps.layers.token_embedding."""

import inspect

import keras
import numpy as np
import pytest

from nlp_apps.layers import TokenEmbedding

TOKEN_IDS = np.array([[3, 1, 4, 0, 0], [5, 9, 2, 6, 0]], dtype="int32")


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


def test_output_shape_and_mask():
    layer = TokenEmbedding(10, 4)
    outputs = layer(TOKEN_IDS)
    assert outputs.shape == (2, 5, 4)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(outputs._keras_mask), TOKEN_IDS != 0)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer.compute_mask(TOKEN_IDS)), TOKEN_IDS != 0)


def test_mask_zero_false_gives_no_mask():
    layer = TokenEmbedding(10, 4, mask_zero=False)
    assert layer.compute_mask(TOKEN_IDS) is None


def test_pretrained_embeddings_initialise_the_matrix():
    matrix = np.arange(30, dtype="float32").reshape(10, 3)
    layer = TokenEmbedding(10, 3, pretrained_embeddings=matrix)
    outputs = keras.ops.convert_to_numpy(layer(TOKEN_IDS))
    np.testing.assert_allclose(outputs, matrix[TOKEN_IDS])
    assert layer.get_config()["pretrained_embeddings"] is None


def test_pretrained_embeddings_shape_is_validated():
    with pytest.raises(ValueError, match="pretrained_embeddings"):
        TokenEmbedding(10, 3, pretrained_embeddings=np.zeros((9, 3)))


def test_frozen_embeddings_and_property():
    layer = TokenEmbedding(10, 3, trainable_embeddings=False)
    layer.build((None, None))
    assert layer.trainable_weights == []
    assert layer.embeddings is layer.embedding.embeddings
    assert tuple(layer.embeddings.shape) == (10, 3)


def test_dropout_drops_whole_token_vectors():
    layer = TokenEmbedding(10, 6, embeddings_initializer="ones", dropout=0.5)
    ids = np.ones((4, 50), dtype="int32")
    outputs = keras.ops.convert_to_numpy(layer(ids, training=True))
    # Each token vector is either entirely dropped or entirely kept (scaled by 2).
    per_token = np.unique(outputs, axis=-1)
    assert per_token.shape[-1] == 1
    assert set(np.unique(per_token)) == {0.0, 2.0}
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(ids, training=False)), np.ones((4, 50, 6)))


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"vocabulary_size": 0, "embedding_dim": 3}, "vocabulary_size"),
        ({"vocabulary_size": 5, "embedding_dim": -1}, "embedding_dim"),
        ({"vocabulary_size": 5, "embedding_dim": 3, "dropout": 1.0}, "dropout"),
    ],
)
def test_bad_arguments(kwargs, field):
    with pytest.raises(ValueError, match=field):
        TokenEmbedding(**kwargs)


def test_config_round_trip_with_non_default_values():
    layer = TokenEmbedding(
        vocabulary_size=7,
        embedding_dim=5,
        mask_zero=False,
        embeddings_initializer="glorot_uniform",
        pretrained_embeddings=np.ones((7, 5)),
        trainable_embeddings=False,
        dropout=0.25,
    )
    config = layer.get_config()
    non_default_config_check(TokenEmbedding, config, skip=("pretrained_embeddings",))
    restored = TokenEmbedding.from_config(config)
    assert restored.get_config() == config


def test_save_and_load(tmp_path):
    inputs = keras.Input(shape=(None,), dtype="int32")
    features = TokenEmbedding(10, 4, dropout=0.1)(inputs)
    outputs = keras.layers.GlobalAveragePooling1D()(features)
    model = keras.Model(inputs, outputs)
    expected = numpy(model(TOKEN_IDS))
    path = tmp_path / "token_embedding.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    np.testing.assert_allclose(numpy(restored(TOKEN_IDS)), expected, rtol=1e-6, atol=1e-6)
