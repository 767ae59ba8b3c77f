"""Tests for nlp_apps.layers.echo_state_cell."""

import inspect

import keras
import numpy as np
import pytest

from nlp_apps.layers import EchoStateCell


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


@pytest.mark.parametrize("units, density, radius", [(20, 0.1, 0.9), (30, 0.5, 0.5), (8, 1.0, 1.2), (1, 0.1, 0.7)])
def test_reservoir_spectral_radius_and_density(units, density, radius):
    cell = EchoStateCell(units, spectral_radius=radius, reservoir_density=density)
    cell.build((None, 3))
    recurrent = numpy(cell.recurrent_kernel)
    assert np.max(np.abs(np.linalg.eigvals(recurrent))) == pytest.approx(radius, rel=1e-5)
    expected_nonzero = max(1, round(density * units * units))
    assert np.count_nonzero(recurrent) == expected_nonzero


def test_weights_are_fixed_and_seeded():
    cell = EchoStateCell(10, input_scaling=0.3, seed=5)
    cell.build((None, 4))
    assert cell.trainable_weights == []
    assert len(cell.non_trainable_weights) == 2
    assert np.abs(numpy(cell.input_kernel)).max() <= 0.3
    same = EchoStateCell(10, input_scaling=0.3, seed=5)
    same.build((None, 4))
    other = EchoStateCell(10, input_scaling=0.3, seed=6)
    other.build((None, 4))
    np.testing.assert_array_equal(numpy(same.recurrent_kernel), numpy(cell.recurrent_kernel))
    assert not np.allclose(numpy(other.recurrent_kernel), numpy(cell.recurrent_kernel))


def test_leaky_update():
    cell = EchoStateCell(5, leak_rate=0.4)
    inputs = np.random.default_rng(0).normal(size=(2, 3)).astype("float32")
    previous = np.random.default_rng(1).normal(size=(2, 5)).astype("float32")
    output, states = cell(inputs, [previous])
    expected = 0.6 * previous + 0.4 * np.tanh(
        inputs @ numpy(cell.input_kernel) + previous @ numpy(cell.recurrent_kernel)
    )
    np.testing.assert_allclose(numpy(output), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(numpy(states[0]), expected, rtol=1e-5, atol=1e-6)
    assert cell.state_size == cell.output_size == 5


def test_in_rnn_only_the_readout_trains():
    inputs = keras.Input(shape=(None, 3))
    sequences = keras.layers.RNN(EchoStateCell(8), return_sequences=False)(inputs)
    outputs = keras.layers.Dense(1)(sequences)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    reservoir = [numpy(weight).copy() for weight in model.layers[1].weights]
    assert len(model.trainable_weights) == 2  # the Dense kernel and bias
    data = np.random.default_rng(0).normal(size=(4, 5, 3)).astype("float32")
    model.fit(data, np.ones((4, 1)), epochs=2, verbose=0)
    for before, after in zip(reservoir, model.layers[1].weights):
        np.testing.assert_array_equal(before, numpy(after))


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"units": 0}, "units"),
        ({"units": 4, "spectral_radius": -1.0}, "spectral_radius"),
        ({"units": 4, "leak_rate": 0.0}, "leak_rate"),
        ({"units": 4, "input_scaling": 0.0}, "input_scaling"),
        ({"units": 4, "reservoir_density": 1.5}, "reservoir_density"),
        ({"units": 4, "seed": 1.5}, "seed"),
    ],
)
def test_bad_arguments(kwargs, field):
    with pytest.raises(ValueError, match=field):
        EchoStateCell(**kwargs)


def test_config_round_trip_with_non_default_values():
    cell = EchoStateCell(
        units=7, spectral_radius=0.5, leak_rate=0.2, input_scaling=0.4, reservoir_density=0.3, seed=42
    )
    config = cell.get_config()
    non_default_config_check(EchoStateCell, config)
    assert EchoStateCell.from_config(config).get_config() == config


def test_save_and_load(tmp_path):
    inputs = keras.Input(shape=(None, 3))
    outputs = keras.layers.RNN(EchoStateCell(6, leak_rate=0.5, seed=3), return_sequences=True)(inputs)
    model = keras.Model(inputs, outputs)
    data = np.random.default_rng(0).normal(size=(2, 4, 3)).astype("float32")
    expected = numpy(model(data))
    path = tmp_path / "echo_state.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    np.testing.assert_allclose(numpy(restored(data)), expected, rtol=1e-6, atol=1e-6)
