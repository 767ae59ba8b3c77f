"""Helpers shared by the nlp_apps.text tests: config, .keras and SavedModel round trips."""

import keras
import pytest
import tensorflow as tf


def to_python(value):
    """Tensors / RaggedTensors / dicts of them → nested Python lists, for comparisons."""
    if isinstance(value, dict):
        return {key: to_python(item) for key, item in value.items()}
    if isinstance(value, tf.RaggedTensor):
        return value.to_list()
    if isinstance(value, (tf.Tensor, tf.Variable)):
        return value.numpy().tolist()
    return value


@pytest.fixture
def assert_config_round_trip():
    def check(layer):
        config = layer.get_config()
        clone = type(layer).from_config(config)
        assert clone.get_config() == config
        # Registered under the package name, so generic deserialization works too.
        serialized = keras.saving.serialize_keras_object(layer)
        assert serialized["registered_name"].startswith("nlp_apps>")
        restored = keras.saving.deserialize_keras_object(serialized)
        assert type(restored) is type(layer)
        assert restored.get_config() == config
        return clone

    return check


@pytest.fixture
def reload_keras_model(tmp_path):
    """Saves a Keras model to .keras and loads it back."""

    def reload(model):
        path = tmp_path / "model.keras"
        model.save(path)
        return keras.saving.load_model(path)

    return reload


@pytest.fixture
def reload_saved_model(tmp_path):
    """Saves `function(layer, inputs)` of a layer as a tf.Module SavedModel; returns the reloaded function."""

    def reload(layer, input_signature, function=lambda layer, inputs: layer(inputs)):
        module = tf.Module()
        module.layer = layer
        module.run = tf.function(
            lambda inputs: function(module.layer, inputs), input_signature=input_signature
        )
        path = str(tmp_path / "saved_model")
        tf.saved_model.save(module, path)
        return tf.saved_model.load(path).run

    return reload
