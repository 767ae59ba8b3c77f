"""Tests for nlp_apps.encoders.rnn_encoder."""

import inspect

import keras
import numpy as np
import pytest
import tensorflow as tf

from nlp_apps.encoders import RNNEncoder
from nlp_apps.layers import RNNStack, TokenEmbedding

TOKEN_IDS = np.array([[3, 4, 5, 0], [2, 7, 0, 0]], dtype="int32")
CHAR_IDS = np.array(
    [
        [[1, 2, 0], [3, 0, 0], [4, 4, 4], [0, 0, 0]],
        [[2, 2, 0], [5, 1, 0], [0, 0, 0], [0, 0, 0]],
    ],
    dtype="int32",
)
CASE_IDS = np.array([[1, 2, 1, 0], [3, 1, 0, 0]], dtype="int32")
FEATURES = {"token_ids": TOKEN_IDS, "char_ids": CHAR_IDS, "case_ids": CASE_IDS}


def non_default_config_check(cls, config, skip=()):
    """Every constructor argument is in `config` with a non-default value."""
    for name, parameter in inspect.signature(cls.__init__).parameters.items():
        if name in ("self", "kwargs") or name in skip:
            continue
        assert name in config, f"get_config() misses constructor argument {name!r}"
        if parameter.default is not inspect.Parameter.empty:
            assert config[name] != parameter.default, f"test should use a non-default value for {name!r}"


def numpy(structure):
    return keras.tree.map_structure(keras.ops.convert_to_numpy, structure)


def feature_encoder(**kwargs):
    return RNNEncoder(
        10,
        4,
        units=5,
        char_alphabet_size=6,
        char_embedding_dim=3,
        char_units=4,
        case_vocabulary_size=4,
        case_embedding_dim=2,
        **kwargs,
    )


def test_token_ids_input_shape_and_mask():
    encoder = RNNEncoder(10, 4, units=5, bidirectional=True)
    outputs = encoder(TOKEN_IDS)
    assert encoder.output_dim == 10
    assert outputs.shape == (2, 4, 10)
    np.testing.assert_array_equal(numpy(outputs._keras_mask), TOKEN_IDS != 0)
    np.testing.assert_array_equal(numpy(outputs)[1, 2:], np.zeros((2, 10)))
    assert isinstance(encoder.token_embedding, TokenEmbedding)
    assert isinstance(encoder.rnn_stack, RNNStack)
    assert tuple(encoder.token_embedding.embeddings.shape) == (10, 4)


@pytest.mark.parametrize("char_encoder", ["cnn", "bilstm"])
def test_dict_input_with_char_and_case_features(char_encoder):
    encoder = feature_encoder(char_encoder=char_encoder, num_layers=2, bidirectional=True, merge_mode="sum")
    outputs = encoder(FEATURES)
    assert outputs.shape == (2, 4, 5)
    assert encoder.feature_dim == 4 + 4 + 2
    np.testing.assert_array_equal(numpy(outputs._keras_mask), TOKEN_IDS != 0)
    # Unconfigured keys are ignored; a plain-token encoder accepts the dict too.
    plain = RNNEncoder(10, 4, units=5)
    assert plain(FEATURES).shape == (2, 4, 5)


def test_right_padding_does_not_change_real_positions():
    encoder = feature_encoder(bidirectional=True, num_layers=2)
    short = {"token_ids": TOKEN_IDS[:, :3], "char_ids": CHAR_IDS[:, :3], "case_ids": CASE_IDS[:, :3]}
    padded = {
        "token_ids": np.pad(TOKEN_IDS[:, :3], ((0, 0), (0, 3))),
        "char_ids": np.pad(CHAR_IDS[:, :3], ((0, 0), (0, 3), (0, 2))),
        "case_ids": np.pad(CASE_IDS[:, :3], ((0, 0), (0, 3))),
    }
    np.testing.assert_allclose(numpy(encoder(padded))[:, :3], numpy(encoder(short)), rtol=1e-5, atol=1e-6)


def test_missing_configured_features_raise():
    encoder = feature_encoder()
    with pytest.raises(ValueError, match="char_ids"):
        encoder({"token_ids": TOKEN_IDS, "case_ids": CASE_IDS})
    with pytest.raises(ValueError, match="case_ids"):
        encoder({"token_ids": TOKEN_IDS, "char_ids": CHAR_IDS})
    with pytest.raises(ValueError, match="token_ids"):
        encoder({"char_ids": CHAR_IDS, "case_ids": CASE_IDS})


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"char_alphabet_size": 5}, "char_embedding_dim"),
        ({"case_embedding_dim": 3}, "case_embedding_dim"),
        ({"char_alphabet_size": -1}, "char_alphabet_size"),
        ({"char_encoder": "gru"}, "char_encoder"),
        ({"char_units": 0}, "char_units"),
        ({"char_encoder": "bilstm", "char_units": 5}, "char_units"),
        ({"char_kernel_size": 0}, "char_kernel_size"),
        ({"embedding_dropout": 2.0}, "embedding_dropout"),
        ({"cell_type": "transformer"}, "cell_type"),
        ({"units": 0}, "units"),
        ({"embedding_dim": 0}, "embedding_dim"),
        ({"weight_drop": 1.5}, "weight_drop"),
        ({"cell_type": "simple_rnn", "weight_drop": 0.2}, "weight_drop"),
    ],
)
def test_bad_arguments(kwargs, field):
    arguments = {"vocabulary_size": 10, "embedding_dim": 4}
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=field):
        RNNEncoder(**arguments)


def test_return_state_and_initial_state():
    encoder = RNNEncoder(10, 4, cell_type="lstm", units=5, num_layers=2, return_state=True)
    sequences, states = encoder(TOKEN_IDS)
    assert sequences.shape == (2, 4, 5)
    assert len(states) == 4
    # Continuing from the final states differs from starting from zeros.
    continued, _ = encoder(TOKEN_IDS, initial_state=states)
    fresh, _ = encoder(TOKEN_IDS)
    assert not np.allclose(numpy(continued), numpy(fresh))


@pytest.mark.parametrize("char_encoder", ["cnn", "bilstm"])
def test_mixed_float16_policy(char_encoder):
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        encoder = feature_encoder(char_encoder=char_encoder, bidirectional=True, num_layers=2, residual=True)
        outputs = encoder(FEATURES)
        assert keras.backend.standardize_dtype(outputs.dtype) == "float16"
        assert np.all(np.isfinite(numpy(outputs)))
    finally:
        keras.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize("char_encoder", ["cnn", "bilstm"])
def test_graph_mode_with_unknown_dimensions(char_encoder):
    # Exporters trace the encoder with unknown batch, time and word lengths.
    encoder = feature_encoder(char_encoder=char_encoder, bidirectional=True, return_state=True)
    signature = {
        "token_ids": tf.TensorSpec((None, None), tf.int32),
        "char_ids": tf.TensorSpec((None, None, None), tf.int32),
        "case_ids": tf.TensorSpec((None, None), tf.int32),
    }
    traced = tf.function(lambda features: encoder(features)).get_concrete_function(signature)
    sequences, states = traced(FEATURES)
    eager_sequences, eager_states = encoder(FEATURES)
    np.testing.assert_allclose(numpy(sequences), numpy(eager_sequences), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(numpy(states[-1]), numpy(eager_states[-1]), rtol=1e-5, atol=1e-6)


def test_config_round_trip_with_non_default_values():
    encoder = RNNEncoder(
        vocabulary_size=12,
        embedding_dim=6,
        cell_type="echo_state",
        units=7,
        num_layers=2,
        bidirectional=True,
        merge_mode="sum",
        dropout=0.1,
        recurrent_dropout=0.0,
        residual=True,
        spectral_radius=0.6,
        leak_rate=0.5,
        input_scaling=0.8,
        reservoir_density=0.3,
        seed=7,
        embedding_dropout=0.2,
        char_alphabet_size=9,
        char_embedding_dim=4,
        char_encoder="bilstm",
        char_units=8,
        char_kernel_size=5,
        case_vocabulary_size=5,
        case_embedding_dim=3,
        return_state=True,
        scalar_mix=True,
    )
    config = encoder.get_config()
    # Echo-state cells reject recurrent dropout and weight drop; they are
    # checked with a GRU below.
    non_default_config_check(RNNEncoder, config, skip=("recurrent_dropout", "weight_drop"))
    assert RNNEncoder.from_config(config).get_config() == config
    gru_config = RNNEncoder(12, 6, cell_type="gru", recurrent_dropout=0.25, weight_drop=0.35).get_config()
    assert gru_config["recurrent_dropout"] == 0.25
    assert gru_config["weight_drop"] == 0.35
    assert RNNEncoder.from_config(gru_config).get_config() == gru_config


def test_save_and_load_with_dict_inputs(tmp_path):
    inputs = {
        "token_ids": keras.Input(shape=(None,), dtype="int32", name="token_ids"),
        "char_ids": keras.Input(shape=(None, None), dtype="int32", name="char_ids"),
        "case_ids": keras.Input(shape=(None,), dtype="int32", name="case_ids"),
    }
    encoder = feature_encoder(bidirectional=True, num_layers=2, return_state=True)
    sequences, states = encoder(inputs)
    model = keras.Model(inputs, [sequences, states[0]])
    expected = numpy(model(FEATURES))
    path = tmp_path / "rnn_encoder.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    for got, want in zip(numpy(restored(FEATURES)), expected):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_tiny_classifier_overfits_one_batch():
    rng = np.random.default_rng(0)
    lengths = rng.integers(2, 7, size=8)
    token_ids = np.zeros((8, 6), dtype="int32")
    for row, length in enumerate(lengths):
        token_ids[row, :length] = rng.integers(1, 20, size=length)
    labels = np.arange(8) % 3
    inputs = keras.Input(shape=(None,), dtype="int32")
    features = RNNEncoder(20, 8, cell_type="lstm", units=16)(inputs)
    pooled = keras.layers.GlobalAveragePooling1D()(features)
    outputs = keras.layers.Dense(3, activation="softmax")(pooled)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss="sparse_categorical_crossentropy")
    # One epoch over 60 copies of the batch: 60 optimizer steps in a single
    # fit() call, so the training step is traced only once.
    model.fit(np.tile(token_ids, (60, 1)), np.tile(labels, 60), batch_size=8, epochs=1, shuffle=False, verbose=0)
    probabilities = numpy(model(token_ids))
    np.testing.assert_array_equal(probabilities.argmax(axis=-1), labels)


def test_weight_drop_reaches_every_layer_and_saves(tmp_path):
    encoder = RNNEncoder(10, 4, cell_type="lstm", units=5, num_layers=2, weight_drop=0.25, return_state=True)
    plain = RNNEncoder(10, 4, cell_type="lstm", units=5, num_layers=2, return_state=True)
    assert encoder.rnn_stack.weight_drop == 0.25
    assert [layer.cell.weight_drop for layer in encoder.rnn_stack.rnn_layers] == [0.25, 0.25]
    inputs = keras.Input(shape=(None,), dtype="int32")
    sequences, states = encoder(inputs)
    model = keras.Model(inputs, [sequences, states[-1]])
    plain.build((None, None))
    plain.set_weights(encoder.get_weights())
    # Inference ignores weight drop; training does not.
    expected = numpy(plain(TOKEN_IDS))
    np.testing.assert_allclose(numpy(encoder(TOKEN_IDS))[0], expected[0], rtol=1e-6, atol=1e-7)
    assert not np.allclose(numpy(encoder(TOKEN_IDS, training=True))[0], expected[0])
    path = tmp_path / "weight_drop_encoder.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    for got, want in zip(numpy(restored(TOKEN_IDS)), numpy(model(TOKEN_IDS))):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_scalar_mix_starts_as_the_even_mix_of_projected_features_and_layers(reload_keras_model):
    encoder = RNNEncoder(12, 6, units=5, num_layers=2, bidirectional=True, scalar_mix=True)
    outputs = encoder(TOKEN_IDS).numpy()
    assert outputs.shape == (2, 4, 10)
    features = encoder.token_embedding(TOKEN_IDS)
    (_, layers) = encoder.rnn_stack.call(features, mask=TOKEN_IDS != 0, return_layer_outputs=True)
    mask = (TOKEN_IDS != 0)[:, :, None]
    expected = (encoder.mix_projection(features).numpy() * mask + layers[0].numpy() + layers[1].numpy()) / 3
    np.testing.assert_allclose(outputs, expected, atol=1e-6)
    # The mix weights train (they get gradients) and survive a save / load.
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(encoder(TOKEN_IDS) ** 2)
    gradients = tape.gradient(loss, [encoder.mix_weights, encoder.mix_gamma])
    assert all(np.any(g.numpy() != 0) for g in gradients)
    encoder.mix_weights.assign([1.0, -1.0, 0.5])
    inputs = keras.Input(shape=(None,), dtype="int32")
    model = keras.Model(inputs, encoder(inputs))
    np.testing.assert_allclose(reload_keras_model(model)(TOKEN_IDS), model(TOKEN_IDS), atol=1e-6)
