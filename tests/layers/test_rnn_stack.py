"""Tests for nlp_apps.layers.rnn_stack."""

import inspect
import itertools

import keras
import numpy as np
import pytest

from nlp_apps.layers import EchoStateCell, RNNStack
from nlp_apps.layers.weight_drop_gru_cell import WeightDropGRUCell
from nlp_apps.layers.weight_drop_lstm_cell import WeightDropLSTMCell

CELL_TYPES = ["lstm", "gru", "simple_rnn", "echo_state"]
STATES_PER_DIRECTION = {"lstm": 2, "gru": 1, "simple_rnn": 1, "echo_state": 1}


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


def inputs_and_mask(batch=2, time=5, features=3, lengths=(5, 3)):
    rng = np.random.default_rng(0)
    inputs = rng.normal(size=(batch, time, features)).astype("float32")
    mask = np.arange(time)[None, :] < np.array(lengths)[:, None]
    return inputs, mask


@pytest.mark.parametrize(
    "cell_type, bidirectional", list(itertools.product(CELL_TYPES, [False, True]))
)
def test_shapes_states_and_mask(cell_type, bidirectional):
    stack = RNNStack(4, cell_type=cell_type, num_layers=2, bidirectional=bidirectional, return_state=True)
    inputs, mask = inputs_and_mask()
    sequences, states = stack(inputs, mask=mask)
    output_dim = 8 if bidirectional else 4
    assert stack.output_dim == output_dim
    assert sequences.shape == (2, 5, output_dim)
    expected_states = STATES_PER_DIRECTION[cell_type] * (2 if bidirectional else 1) * 2
    assert len(states) == expected_states == stack.num_states
    assert all(tuple(state.shape) == (2, 4) for state in states)
    np.testing.assert_array_equal(numpy(sequences._keras_mask), mask)
    # Padded steps are zero.
    np.testing.assert_array_equal(numpy(sequences)[1, 3:], np.zeros((2, output_dim)))


def test_echo_state_reservoirs_are_fixed_and_distinct():
    stack = RNNStack(4, cell_type="echo_state", num_layers=2, bidirectional=True)
    stack.build((None, None, 4))
    assert stack.trainable_weights == []
    reservoirs = [
        numpy(direction.cell.recurrent_kernel)
        for layer in stack.rnn_layers
        for direction in (layer.forward_layer, layer.backward_layer)
    ]
    for first, second in itertools.combinations(reservoirs, 2):
        assert not np.allclose(first, second)


def test_sum_merge_mode_keeps_units():
    stack = RNNStack(4, bidirectional=True, merge_mode="sum")
    assert stack(np.zeros((1, 2, 3), "float32")).shape == (1, 2, 4)


@pytest.mark.parametrize(
    "cell_type, bidirectional", list(itertools.product(CELL_TYPES, [False, True]))
)
def test_right_padding_does_not_change_real_positions(cell_type, bidirectional):
    stack = RNNStack(4, cell_type=cell_type, num_layers=2, bidirectional=bidirectional, return_state=True)
    inputs, _ = inputs_and_mask(batch=1, time=3)
    padded = np.concatenate([inputs, np.full((1, 2, 3), 7.0, "float32")], axis=1)
    mask = np.array([[True, True, True, False, False]])
    short_sequences, short_states = stack(inputs)
    long_sequences, long_states = stack(padded, mask=mask)
    np.testing.assert_allclose(numpy(long_sequences)[:, :3], numpy(short_sequences), rtol=1e-5, atol=1e-6)
    for short_state, long_state in zip(short_states, long_states):
        np.testing.assert_allclose(numpy(long_state), numpy(short_state), rtol=1e-5, atol=1e-6)


def test_fully_masked_rows_give_zero_outputs_and_states():
    stack = RNNStack(4, num_layers=2, bidirectional=True, return_state=True)
    inputs, mask = inputs_and_mask(lengths=(0, 3))
    sequences, states = stack(inputs, mask=mask)
    values = numpy(sequences)
    assert np.all(np.isfinite(values))
    np.testing.assert_array_equal(values[0], np.zeros_like(values[0]))
    for state in states:
        np.testing.assert_array_equal(numpy(state)[0], np.zeros(4))
    # The real row is unaffected by its fully masked neighbour.
    alone, _ = stack(inputs[1:], mask=mask[1:])
    np.testing.assert_allclose(values[1:], numpy(alone), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cell_type", CELL_TYPES)
def test_initial_state_continues_a_sequence(cell_type):
    # Truncated backpropagation through time: two halves with carried state
    # equal one pass over the whole sequence.
    stack = RNNStack(4, cell_type=cell_type, num_layers=2, return_state=True)
    inputs, _ = inputs_and_mask(batch=2, time=6)
    full, full_states = stack(inputs)
    first, first_states = stack(inputs[:, :3])
    second, second_states = stack(inputs[:, 3:], initial_state=first_states)
    np.testing.assert_allclose(
        np.concatenate([numpy(first), numpy(second)], axis=1), numpy(full), rtol=1e-5, atol=1e-5
    )
    for carried, direct in zip(second_states, full_states):
        np.testing.assert_allclose(numpy(carried), numpy(direct), rtol=1e-5, atol=1e-5)


def test_initial_state_length_is_checked():
    stack = RNNStack(4, bidirectional=True)
    inputs, _ = inputs_and_mask()
    with pytest.raises(ValueError, match="initial_state"):
        stack(inputs, initial_state=[np.zeros((2, 4), "float32")])


def test_residual_adds_the_input_when_widths_match():
    inputs, mask = inputs_and_mask(features=4)
    plain = RNNStack(4, cell_type="gru")
    residual = RNNStack(4, cell_type="gru", residual=True)
    plain.build(inputs.shape)
    residual.build(inputs.shape)
    residual.set_weights(plain.get_weights())
    difference = numpy(residual(inputs, mask=mask)) - numpy(plain(inputs, mask=mask))
    np.testing.assert_allclose(difference, inputs * mask[:, :, None], rtol=1e-5, atol=1e-6)


def test_residual_skips_layers_whose_widths_differ():
    inputs, _ = inputs_and_mask(features=3)
    plain = RNNStack(4, cell_type="gru")
    residual = RNNStack(4, cell_type="gru", residual=True)
    plain.build(inputs.shape)
    residual.build(inputs.shape)
    residual.set_weights(plain.get_weights())
    np.testing.assert_allclose(numpy(residual(inputs)), numpy(plain(inputs)), rtol=1e-6)


def test_dropout_is_only_active_in_training():
    stack = RNNStack(4, num_layers=2, dropout=0.5, recurrent_dropout=0.3)
    inputs, mask = inputs_and_mask()
    first = numpy(stack(inputs, mask=mask))
    np.testing.assert_allclose(numpy(stack(inputs, mask=mask)), first)
    assert not np.allclose(numpy(stack(inputs, mask=mask, training=True)), first)


@pytest.mark.parametrize("cell_type", ["lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_cudnn_eligible_settings(cell_type, bidirectional):
    stack = RNNStack(4, cell_type=cell_type, num_layers=2, bidirectional=bidirectional)
    stack.build((None, None, 3))
    rnn_layers = []
    for layer in stack.rnn_layers:
        if bidirectional:
            assert isinstance(layer, keras.layers.Bidirectional)
            rnn_layers.extend([layer.forward_layer, layer.backward_layer])
        else:
            rnn_layers.append(layer)
    expected_class = keras.layers.LSTM if cell_type == "lstm" else keras.layers.GRU
    for rnn in rnn_layers:
        assert isinstance(rnn, expected_class)
        assert rnn.cell.activation is keras.activations.tanh
        assert rnn.cell.recurrent_activation is keras.activations.sigmoid
        assert rnn.cell.use_bias
        assert not rnn.unroll
        assert rnn.cell.recurrent_dropout == 0
        assert rnn.use_cudnn == "auto"
        if cell_type == "gru":
            assert rnn.cell.reset_after


def test_mixed_float16_policy():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        stack = RNNStack(4, num_layers=2, bidirectional=True, residual=True, return_state=True)
        inputs, mask = inputs_and_mask(features=8)
        sequences, states = stack(inputs, mask=mask)
        assert keras.backend.standardize_dtype(sequences.dtype) == "float16"
        assert np.all(np.isfinite(numpy(sequences)))
        assert all(variable.dtype == "float32" for variable in stack.weights)
        echo = RNNStack(4, cell_type="echo_state")
        assert np.all(np.isfinite(numpy(echo(inputs, mask=mask))))
    finally:
        keras.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"units": 0}, "units"),
        ({"units": 4, "cell_type": "lstmm"}, "cell_type"),
        ({"units": 4, "merge_mode": "mul"}, "merge_mode"),
        ({"units": 4, "num_layers": 0}, "num_layers"),
        ({"units": 4, "dropout": 1.0}, "dropout"),
        ({"units": 4, "recurrent_dropout": -0.5}, "recurrent_dropout"),
        ({"units": 4, "cell_type": "echo_state", "recurrent_dropout": 0.1}, "recurrent_dropout"),
        ({"units": 4, "weight_drop": 1.5}, "weight_drop"),
        ({"units": 4, "weight_drop": -0.1}, "weight_drop"),
        ({"units": 4, "cell_type": "simple_rnn", "weight_drop": 0.2}, "weight_drop"),
        ({"units": 4, "cell_type": "echo_state", "weight_drop": 0.2}, "weight_drop"),
        ({"units": 4, "cell_type": "echo_state", "spectral_radius": 0.0}, "spectral_radius"),
        ({"units": 4, "cell_type": "echo_state", "leak_rate": 1.5}, "leak_rate"),
    ],
)
def test_bad_arguments(kwargs, field):
    with pytest.raises(ValueError, match=field):
        RNNStack(**kwargs)


def test_config_round_trip_with_non_default_values():
    stack = RNNStack(
        units=6,
        cell_type="echo_state",
        num_layers=3,
        bidirectional=True,
        merge_mode="sum",
        dropout=0.1,
        recurrent_dropout=0.0,
        residual=True,
        return_state=True,
        spectral_radius=0.5,
        leak_rate=0.3,
        input_scaling=0.7,
        reservoir_density=0.4,
        seed=99,
    )
    config = stack.get_config()
    # Echo-state cells reject recurrent dropout and weight drop, so those
    # arguments are checked separately.
    non_default_config_check(RNNStack, config, skip=("recurrent_dropout", "weight_drop"))
    assert RNNStack.from_config(config).get_config() == config
    gru_config = RNNStack(units=6, cell_type="gru", recurrent_dropout=0.2, weight_drop=0.3).get_config()
    assert gru_config["recurrent_dropout"] == 0.2
    assert gru_config["weight_drop"] == 0.3
    assert RNNStack.from_config(gru_config).get_config() == gru_config


@pytest.mark.parametrize("cell_type", CELL_TYPES)
def test_save_and_load(tmp_path, cell_type):
    inputs = keras.Input(shape=(None, 3))
    masked = keras.layers.Masking(mask_value=0.0)(inputs)
    sequences, states = RNNStack(
        4, cell_type=cell_type, num_layers=2, bidirectional=True, residual=True, return_state=True
    )(masked)
    model = keras.Model(inputs, [sequences, states[-1]])
    data, mask = inputs_and_mask()
    data = data * mask[:, :, None]
    expected = numpy(model(data))
    path = tmp_path / "rnn_stack.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    for got, want in zip(numpy(restored(data)), expected):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    if cell_type == "echo_state":
        rnn = restored.layers[2].rnn_layers[0].forward_layer
        assert isinstance(rnn.cell, EchoStateCell)


def rnn_layers_of(stack):
    layers = []
    for layer in stack.rnn_layers:
        if isinstance(layer, keras.layers.Bidirectional):
            layers.extend([layer.forward_layer, layer.backward_layer])
        else:
            layers.append(layer)
    return layers


@pytest.mark.parametrize("cell_type", ["lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_weight_drop_layers_keep_the_variables(cell_type, bidirectional):
    dropped = RNNStack(4, cell_type=cell_type, num_layers=2, bidirectional=bidirectional, weight_drop=0.4, name="a")
    plain = RNNStack(4, cell_type=cell_type, num_layers=2, bidirectional=bidirectional, name="a")
    dropped.build((None, None, 3))
    plain.build((None, None, 3))
    # weight_drop = 0 builds exactly the plain (cuDNN-eligible) Keras layers.
    expected_class = keras.layers.LSTM if cell_type == "lstm" else keras.layers.GRU
    assert all(type(rnn) is expected_class for rnn in rnn_layers_of(plain))
    cell_class = WeightDropLSTMCell if cell_type == "lstm" else WeightDropGRUCell
    for rnn in rnn_layers_of(dropped):
        assert type(rnn) is keras.layers.RNN and isinstance(rnn.cell, cell_class)
        assert rnn.cell.weight_drop == 0.4
        if cell_type == "gru":
            assert rnn.cell.reset_after
    # Same variable paths, shapes and order, so weights move both ways.
    assert [(w.path, tuple(w.shape)) for w in dropped.weights] == [(w.path, tuple(w.shape)) for w in plain.weights]
    plain.set_weights(dropped.get_weights())


@pytest.mark.parametrize("cell_type", ["lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_weight_drop_inference_equals_plain_stack_and_training_varies(cell_type, bidirectional):
    dropped = RNNStack(4, cell_type=cell_type, num_layers=2, bidirectional=bidirectional, weight_drop=0.5)
    plain = RNNStack(4, cell_type=cell_type, num_layers=2, bidirectional=bidirectional)
    inputs, mask = inputs_and_mask()
    dropped.build(inputs.shape)
    plain.build(inputs.shape)
    plain.set_weights(dropped.get_weights())
    expected = numpy(plain(inputs, mask=mask))
    np.testing.assert_allclose(numpy(dropped(inputs, mask=mask)), expected, rtol=1e-6, atol=1e-7)
    first = numpy(dropped(inputs, mask=mask, training=True))
    second = numpy(dropped(inputs, mask=mask, training=True))
    assert not np.allclose(first, expected)
    assert not np.allclose(first, second)
    # Masked steps stay zero in training too.
    assert np.all(first[~mask] == 0)


def test_weight_drop_stack_uses_one_kernel_per_call(monkeypatch):
    stack = RNNStack(4, cell_type="lstm", weight_drop=0.5)
    plain = RNNStack(4, cell_type="lstm")
    inputs, _ = inputs_and_mask(lengths=(5, 5))
    stack.build(inputs.shape)
    plain.build(inputs.shape)
    cell = stack.rnn_layers[0].cell
    recorded = []
    original = cell.get_dropped_recurrent_kernel
    monkeypatch.setattr(cell, "get_dropped_recurrent_kernel", lambda: recorded.append(original()) or recorded[-1])
    outputs = numpy(stack(inputs, training=True))
    assert recorded and all(kernel is recorded[0] for kernel in recorded)
    kernel, _, bias = stack.get_weights()
    plain.set_weights([kernel, numpy(recorded[0]), bias])
    np.testing.assert_allclose(outputs, numpy(plain(inputs)), rtol=1e-5, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("cell_type", ["lstm", "gru"])
def test_weight_drop_save_and_load_and_training_step(tmp_path, cell_type):
    inputs = keras.Input(shape=(None, 3))
    masked = keras.layers.Masking(mask_value=0.0)(inputs)
    sequences = RNNStack(4, cell_type=cell_type, num_layers=2, recurrent_dropout=0.1, weight_drop=0.3)(masked)
    model = keras.Model(inputs, keras.layers.Dense(1)(sequences))
    data, mask = inputs_and_mask()
    data = data * mask[:, :, None]
    model.compile(optimizer="adam", loss="mse")
    before = [weight.numpy() for weight in model.weights]
    model.fit(data, np.ones((2, 5, 1), "float32"), epochs=2, verbose=0)
    recurrent_kernels = [(w, b) for w, b in zip(model.weights, before) if "recurrent_kernel" in w.path]
    assert len(recurrent_kernels) == 2
    assert all(not np.allclose(weight.numpy(), old) for weight, old in recurrent_kernels)
    expected = numpy(model(data))
    path = tmp_path / "weight_drop_stack.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    assert restored.layers[2].weight_drop == 0.3
    np.testing.assert_allclose(numpy(restored(data)), expected, rtol=1e-5, atol=1e-6)
