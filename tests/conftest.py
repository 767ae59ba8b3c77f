"""Shared test set-up and helpers, used by layer, encoder, task and text tests alike.

- quiet TensorFlow, the TensorFlow Keras backend, a fixed seed per test;
- `assert_config_round_trip(layer)`: `get_config` → `from_config` gives the same config, and
  the class is registered under `nlp_apps>` for generic deserialization;
- `reload_keras_model(model)`: a `.keras` save → load round trip;
- `reload_saved_model(layer, input_signature, function)`: a `tf.Module` SavedModel round trip;
- `assert_preprocessor_round_trip(preprocessor, probe)`: `save(folder)` → `load(folder)` gives
  the same outputs of `probe(preprocessor)`;
- `run_example_app(script, app_class, export_dir, texts)`: runs a reference app of
  `examples/` in a fresh process and returns its results, asserting it imported no TensorFlow.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402


@pytest.fixture(autouse=True)
def fixed_seed():
    keras.utils.set_random_seed(1234)
    yield



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


def _as_comparable(value):
    if isinstance(value, dict):
        return {key: _as_comparable(item) for key, item in value.items()}
    if isinstance(value, tf.RaggedTensor):
        return value.to_list()
    if isinstance(value, (tf.Tensor, tf.Variable, np.ndarray)):
        return np.asarray(value).tolist()
    return value


@pytest.fixture
def assert_preprocessor_round_trip(tmp_path):
    """Saves a preprocessor, loads it back and checks `probe(loaded) == probe(original)`; returns the loaded one."""

    def check(preprocessor, probe):
        folder = tmp_path / "assets"
        preprocessor.save(folder)
        loaded = type(preprocessor).load(folder)
        assert _as_comparable(probe(loaded)) == _as_comparable(probe(preprocessor))
        return loaded

    return check


EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")


@pytest.fixture
def run_example_app():
    import json
    import subprocess
    import sys

    def run(script, app_class, export_dir, texts):
        program = (
            "import json, sys\n"
            "sys.path.insert(0, sys.argv[1])\n"
            f"from {script} import {app_class}\n"
            "app = " + app_class + "(sys.argv[2])\n"
            "rows = [app(text) for text in json.loads(sys.argv[3])]\n"
            "assert 'tensorflow' not in sys.modules and 'nlp_apps' not in sys.modules, 'imported TensorFlow'\n"
            "print(json.dumps(rows))\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", program, EXAMPLES, str(export_dir), json.dumps(texts)],
            capture_output=True, text=True,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        return json.loads(result.stdout.strip().splitlines()[-1])

    return run
