"""Tests for nlp_apps.layers.weight_drop_lstm_cell / weight_drop_gru_cell (DropConnect weight drop)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from nlp_apps.layers.weight_drop_gru_cell import WeightDropGRUCell
from nlp_apps.layers.weight_drop_lstm_cell import WeightDropLSTMCell

# (weight-drop cell, plain Keras cell, extra cell arguments)
CELLS = [
    (WeightDropLSTMCell, keras.layers.LSTMCell, {}),
    (WeightDropGRUCell, keras.layers.GRUCell, {"reset_after": True}),
    (WeightDropGRUCell, keras.layers.GRUCell, {"reset_after": False}),
]
CELL_IDS = ["lstm", "gru_reset_after", "gru_reset_before"]


def numpy(structure):
    return keras.tree.map_structure(keras.ops.convert_to_numpy, structure)


def sequences(batch=3, time=6, features=4, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, time, features)).astype("float32")


def built_pair(cell_class, plain_class, extra, weight_drop=0.5, units=5):
    """A weight-drop RNN and a plain-cell RNN with the same weights."""
    inputs = sequences()
    dropped = keras.layers.RNN(cell_class(units, weight_drop=weight_drop, **extra), return_sequences=True)
    plain = keras.layers.RNN(plain_class(units, **extra), return_sequences=True)
    dropped.build(inputs.shape)
    plain.build(inputs.shape)
    plain.set_weights(dropped.get_weights())
    return dropped, plain, inputs


def record_dropped_kernels(monkeypatch, cell):
    """Records every dropped recurrent kernel the cell hands out."""
    recorded = []
    original = cell.get_dropped_recurrent_kernel

    def recording():
        kernel = original()
        recorded.append(kernel)
        return kernel

    monkeypatch.setattr(cell, "get_dropped_recurrent_kernel", recording)
    return recorded


@pytest.mark.parametrize("cell_class, plain_class, extra", CELLS, ids=CELL_IDS)
def test_one_mask_shared_by_all_time_steps(monkeypatch, cell_class, plain_class, extra):
    dropped, plain, inputs = built_pair(cell_class, plain_class, extra)
    recorded = record_dropped_kernels(monkeypatch, dropped.cell)
    outputs = numpy(dropped(inputs, training=True))
    # Drawn before the time loop, then reused by every step.
    assert len(recorded) > inputs.shape[1]
    assert all(kernel is recorded[0] for kernel in recorded)
    dropped_kernel = numpy(recorded[0])
    kernel = numpy(dropped.cell.recurrent_kernel)
    # Inverted dropout: dropped entries are 0, the others scaled by 1 / (1 - 0.5).
    kept = dropped_kernel != 0
    assert 0 < kept.mean() < 1
    np.testing.assert_allclose(dropped_kernel[kept], kernel[kept] * 2.0, rtol=1e-6)
    # A plain cell whose recurrent kernel *is* that dropped kernel gives the same
    # outputs at every time step, so no step used another mask.
    plain.cell.recurrent_kernel.assign(dropped_kernel)
    np.testing.assert_allclose(outputs, numpy(plain(inputs)), rtol=1e-5, atol=1e-6)
    # The cached kernel is discarded after the call.
    assert dropped.cell._dropped_recurrent_kernel is None


@pytest.mark.parametrize("cell_class, plain_class, extra", CELLS, ids=CELL_IDS)
def test_new_mask_per_call_and_none_at_inference(monkeypatch, cell_class, plain_class, extra):
    dropped, plain, inputs = built_pair(cell_class, plain_class, extra)
    recorded = record_dropped_kernels(monkeypatch, dropped.cell)
    first = numpy(dropped(inputs, training=True))
    first_kernel = numpy(recorded[-1])
    second = numpy(dropped(inputs, training=True))
    assert not np.array_equal(first_kernel, numpy(recorded[-1]))
    assert not np.allclose(first, second)
    # Inference: the plain cell with the same weights, exactly.
    np.testing.assert_array_equal(numpy(dropped(inputs)), numpy(plain(inputs)))
    np.testing.assert_array_equal(numpy(dropped(inputs, training=False)), numpy(plain(inputs)))


@pytest.mark.parametrize("cell_class, plain_class, extra", CELLS, ids=CELL_IDS)
def test_with_input_and_recurrent_dropout_and_gradients(cell_class, plain_class, extra):
    cell = cell_class(5, weight_drop=0.3, dropout=0.2, recurrent_dropout=0.2, **extra)
    rnn = keras.layers.RNN(cell, return_sequences=True)
    inputs = sequences()
    outputs = numpy(rnn(inputs, training=True))
    assert outputs.shape == (3, 6, 5) and np.all(np.isfinite(outputs))
    # Gradients reach the recurrent kernel through the dropped copy.
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(rnn(inputs, training=True) ** 2)
    gradient = tape.gradient(loss, cell.recurrent_kernel.value)
    assert gradient is not None and np.abs(gradient.numpy()).sum() > 0


@pytest.mark.parametrize("cell_class, plain_class, extra", CELLS, ids=CELL_IDS)
def test_config_round_trip_and_save_load(tmp_path, cell_class, plain_class, extra):
    cell = cell_class(5, weight_drop=0.4, recurrent_dropout=0.1, **extra)
    config = cell.get_config()
    assert config["weight_drop"] == 0.4
    restored = cell_class.from_config(config)
    assert restored.get_config() == config

    inputs = keras.Input(shape=(None, 4))
    rnn = keras.layers.RNN(cell_class(5, weight_drop=0.4, **extra), return_sequences=True)
    model = keras.Model(inputs, rnn(inputs))
    data = sequences()
    expected = numpy(model(data))
    path = tmp_path / "weight_drop.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.layers[1].cell, cell_class) and loaded.layers[1].cell.weight_drop == 0.4
    np.testing.assert_allclose(numpy(loaded(data)), expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("cell_class", [WeightDropLSTMCell, WeightDropGRUCell])
@pytest.mark.parametrize("value", [1.0, 1.5, -0.1, True, "0.2"])
def test_bad_weight_drop_names_the_argument(cell_class, value):
    with pytest.raises(ValueError, match="weight_drop"):
        cell_class(4, weight_drop=value)
