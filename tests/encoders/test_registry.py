"""Tests for nlp_apps.encoders.registry."""

import dataclasses
import itertools

import keras
import numpy as np
import pytest

from nlp_apps.config import EncoderConfig
from nlp_apps.encoders import ENCODERS, RNNEncoder, build_encoder, register_encoder, save_encoder

TOKEN_IDS = np.array([[3, 4, 5], [2, 7, 0]], dtype="int32")
CHAR_IDS = np.array([[[1, 2], [3, 0], [4, 4]], [[2, 2], [5, 1], [0, 0]]], dtype="int32")
CASE_IDS = np.array([[1, 2, 1], [3, 1, 0]], dtype="int32")


def numpy(structure):
    return keras.tree.map_structure(keras.ops.convert_to_numpy, structure)


def small_config(**overrides):
    values = dict(embedding_dim=4, units=3, bidirectional=False)
    values.update(overrides)
    return EncoderConfig(**values)


@pytest.mark.parametrize(
    "cell_type, bidirectional, num_layers, residual",
    list(itertools.product(["lstm", "gru", "simple_rnn", "echo_state"], [False, True], [1, 2], [False, True])),
)
def test_every_rnn_combination(cell_type, bidirectional, num_layers, residual):
    config = small_config(cell_type=cell_type, bidirectional=bidirectional, num_layers=num_layers, residual=residual)
    encoder = build_encoder(config, vocabulary_size=10, return_state=True)
    assert isinstance(encoder, RNNEncoder)
    expected_dim = 6 if bidirectional else 3
    assert encoder.output_dim == expected_dim
    sequences, states = encoder(TOKEN_IDS)
    assert sequences.shape == (2, 3, expected_dim)
    per_direction = 2 if cell_type == "lstm" else 1
    assert len(states) == per_direction * (2 if bidirectional else 1) * num_layers


def test_echo_state_encoder_trains_only_the_embeddings():
    encoder = build_encoder(small_config(cell_type="echo_state", bidirectional=True), vocabulary_size=10)
    encoder(TOKEN_IDS)
    assert [tuple(weight.shape) for weight in encoder.trainable_weights] == [(10, 4)]


def test_merge_mode_sum():
    encoder = build_encoder(small_config(bidirectional=True, merge_mode="sum"), vocabulary_size=10)
    assert encoder.output_dim == 3
    assert encoder(TOKEN_IDS).shape == (2, 3, 3)


def test_config_values_reach_the_encoder():
    config = small_config(
        cell_type="gru",
        num_layers=2,
        dropout=0.1,
        recurrent_dropout=0.2,
        weight_drop=0.25,
        embedding_dropout=0.3,
        seed=9,
        spectral_radius=0.5,
        leak_rate=0.4,
        input_scaling=0.6,
        reservoir_density=0.7,
    )
    encoder_config = build_encoder(config, vocabulary_size=10).get_config()
    for field in dataclasses.fields(EncoderConfig):
        if field.name in encoder_config:
            assert encoder_config[field.name] == getattr(config, field.name), field.name
    assert encoder_config["vocabulary_size"] == 10
    assert encoder_config["weight_drop"] == 0.25


def test_char_and_case_features_need_config_and_data():
    config = small_config(char_embedding_dim=3, char_units=4, case_embedding_dim=2)
    with_features = build_encoder(config, vocabulary_size=10, char_alphabet_size=6, case_vocabulary_size=4)
    assert with_features.char_embedding is not None and with_features.case_embedding is not None
    outputs = with_features({"token_ids": TOKEN_IDS, "char_ids": CHAR_IDS, "case_ids": CASE_IDS})
    assert outputs.shape == (2, 3, 3)
    # No character alphabet / casing classes from the data: features are off.
    without_data = build_encoder(config, vocabulary_size=10)
    assert without_data.char_embedding is None and without_data.case_embedding is None
    # Data has characters, but the config disables them.
    without_config = build_encoder(small_config(), vocabulary_size=10, char_alphabet_size=6, case_vocabulary_size=4)
    assert without_config.char_embedding is None and without_config.case_embedding is None


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"type": "transformer"}, "model.encoder.type"),
        ({"cell_type": "lstmm"}, "model.encoder.cell_type"),
        ({"merge_mode": "mul"}, "model.encoder.merge_mode"),
        ({"char_encoder": "rnn"}, "model.encoder.char_encoder"),
        ({"units": 0}, "model.encoder.units"),
        ({"num_layers": 0}, "model.encoder.num_layers"),
        ({"dropout": 1.0}, "model.encoder.dropout"),
        ({"embedding_dim": 0}, "model.encoder.embedding_dim"),
        ({"char_embedding_dim": 3, "char_encoder": "bilstm", "char_units": 5}, "model.encoder.char_units"),
        ({"cell_type": "echo_state", "spectral_radius": -1.0}, "model.encoder.spectral_radius"),
        ({"cell_type": "echo_state", "recurrent_dropout": 0.1}, "model.encoder.recurrent_dropout"),
        ({"weight_drop": 1.5}, "model.encoder.weight_drop"),
        ({"weight_drop": -0.1}, "model.encoder.weight_drop"),
        ({"cell_type": "simple_rnn", "weight_drop": 0.2}, "model.encoder.weight_drop"),
        ({"cell_type": "echo_state", "weight_drop": 0.2}, "model.encoder.weight_drop"),
    ],
)
def test_bad_config_names_the_field(overrides, field):
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
        build_encoder(small_config(**overrides), vocabulary_size=10, char_alphabet_size=6)


def test_unknown_cell_type_message_lists_choices():
    with pytest.raises(ValueError) as error:
        build_encoder(small_config(cell_type="lstmm"), vocabulary_size=10)
    assert str(error.value).startswith("model.encoder.cell_type: unknown 'lstmm'; choose one of lstm, gru")


def test_register_encoder():
    @register_encoder("test_only_encoder")
    def build_test_encoder(config, vocabulary_size, char_alphabet_size=0, case_vocabulary_size=0, return_state=False):
        return keras.layers.Embedding(vocabulary_size, config.embedding_dim)

    try:
        encoder = build_encoder(small_config(type="test_only_encoder"), vocabulary_size=10)
        assert isinstance(encoder, keras.layers.Embedding)
        with pytest.raises(ValueError, match="already registered"):
            register_encoder("test_only_encoder")(build_test_encoder)
    finally:
        del ENCODERS["test_only_encoder"]


@pytest.mark.parametrize("suffix", [".keras", ".weights.h5"])
def test_pretrained_encoder_is_loaded_and_frozen(tmp_path, suffix):
    config = small_config(bidirectional=True, num_layers=2, char_embedding_dim=3, char_units=4)
    source = build_encoder(config, vocabulary_size=10, char_alphabet_size=6)
    features = {"token_ids": TOKEN_IDS, "char_ids": CHAR_IDS}
    expected = numpy(source(features))
    path = tmp_path / f"encoder{suffix}"
    save_encoder(source, path)

    pretrained = dataclasses.replace(config, pretrained=str(path), trainable=False)
    loaded = build_encoder(pretrained, vocabulary_size=10, char_alphabet_size=6)
    np.testing.assert_allclose(numpy(loaded(features)), expected, rtol=1e-6, atol=1e-6)
    assert loaded.trainable_weights == []


def test_pretrained_encoder_inside_a_saved_task_model(tmp_path):
    config = small_config(cell_type="gru")
    source = build_encoder(config, vocabulary_size=10)
    inputs = keras.Input(shape=(None,), dtype="int32")
    outputs = keras.layers.Dense(2)(source(inputs))
    path = tmp_path / "task.keras"
    keras.Model(inputs, outputs).save(path)
    loaded = build_encoder(dataclasses.replace(config, pretrained=str(path)), vocabulary_size=10)
    np.testing.assert_allclose(numpy(loaded(TOKEN_IDS)), numpy(source(TOKEN_IDS)), rtol=1e-6, atol=1e-6)
    assert loaded.trainable_weights


@pytest.mark.parametrize("suffix", [".keras", ".weights.h5"])
def test_pretrained_architecture_mismatch(tmp_path, suffix):
    path = tmp_path / f"encoder{suffix}"
    save_encoder(build_encoder(small_config(), vocabulary_size=10), path)
    with pytest.raises(ValueError, match=r"model\.encoder\.pretrained") as error:
        build_encoder(small_config(units=5, pretrained=str(path)), vocabulary_size=10)
    if suffix == ".keras":
        assert "units: 3 in the file, 5 in the config" in str(error.value)


def test_pretrained_file_errors(tmp_path):
    with pytest.raises(ValueError, match=r"model\.encoder\.pretrained: file not found"):
        build_encoder(small_config(pretrained=str(tmp_path / "missing.keras")), vocabulary_size=10)
    other = tmp_path / "encoder.ckpt"
    other.write_text("not a model")
    with pytest.raises(ValueError, match=r"model\.encoder\.pretrained"):
        build_encoder(small_config(pretrained=str(other)), vocabulary_size=10)
    with pytest.raises(ValueError, match="path"):
        save_encoder(build_encoder(small_config(), vocabulary_size=10), tmp_path / "encoder.h5")


def test_pretrained_encoder_loads_across_weight_drop_values(tmp_path):
    trained = build_encoder(small_config(num_layers=2, weight_drop=0.3), vocabulary_size=10)
    trained(TOKEN_IDS)
    path = tmp_path / "weight_drop_encoder.keras"
    save_encoder(trained, path)
    # Weight drop is a training-time option: its value need not match.
    loaded = build_encoder(small_config(num_layers=2, pretrained=str(path)), vocabulary_size=10)
    np.testing.assert_allclose(numpy(loaded(TOKEN_IDS)), numpy(trained(TOKEN_IDS)), rtol=1e-6, atol=1e-7)
