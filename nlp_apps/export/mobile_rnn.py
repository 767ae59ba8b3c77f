"""Recurrent layers as graphs TFLite runs with builtin ops only: fused LSTM ops, dynamic-length loops.

A Keras 3 RNN traced for TFLite either needs TensorList (Flex) ops (dynamic
shapes) or becomes a WHILE loop over a fixed padded length. While
`mobile_rnn_kernels(model)` is active, every `RNNStack` and character BiLSTM
in `model` runs its recurrent layers through `run_recurrent_layer` instead,
so a `tf.function` traced inside the block converts to:

* one fused `UNIDIRECTIONAL_SEQUENCE_LSTM` op per LSTM direction
  (`fused_lstm_function`), whenever the batch size is static (batch 1 on a
  phone), the layer's final states are not needed and no initial state is
  given. The time axis stays dynamic: any length runs, nothing is padded;
* otherwise (GRU, SimpleRNN, echo-state cells, a dynamic batch, or final
  LSTM states a caller needs, as translation's bridge does) a `tf.while_loop`
  over the cell that collects outputs by concatenation instead of a
  TensorArray: TensorArrays become TensorList ops, which the converter can
  lower to builtins only for a static batch.

Masks are honoured exactly for right-padded inputs (the layout `RNNStack`
requires): a forward direction's real steps come before the padding, so they
do not see it; a backward direction reverses each row's real steps
(a slice or per-row gather: REVERSE_SEQUENCE has no int8 kernel), runs
forward, and reverses back. A loop holds its
states at padded steps, so final states are those of each row's last real
step. Outputs at padded steps are unspecified (`RNNStack` zeroes them).

The graph computes the same function as the Keras layers (to float32
rounding); only inference is supported (dropout is off).
"""

import contextlib

import keras
import tensorflow as tf

from nlp_apps.export.fused_lstm import fused_lstm_function
from nlp_apps.export.fused_lstm import is_lstm_layer


def _state_sizes(cell):
    sizes = cell.state_size
    return list(sizes) if isinstance(sizes, (list, tuple)) else [sizes]


def _lengths(mask):
    if mask is None:
        return None
    return tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)


def _reverse(inputs, lengths):
    """Reverses each row's first `lengths` steps (all steps when None), padding left in place."""
    if lengths is None:
        return tf.reverse(inputs, [1])
    if inputs.shape[0] == 1:
        # Batch 1: slice, reverse, concatenate; REVERSE_SEQUENCE has no int8
        # kernel, so a full-integer model could not run it.
        length = lengths[0]
        return tf.concat([tf.reverse(inputs[:, :length], [1]), inputs[:, length:]], axis=1)
    # Any batch: a per-row gather (step t reads step length-1-t within the
    # real steps), again because REVERSE_SEQUENCE has no int8 kernel.
    steps = tf.range(tf.shape(inputs)[1])[None, :]
    lengths = lengths[:, None]
    indices = tf.where(steps < lengths, lengths - 1 - steps, steps)
    return tf.gather(inputs, indices, axis=1, batch_dims=1)


def _last_step(sequences, lengths):
    if lengths is None:
        return sequences[:, -1]
    return tf.gather(sequences, tf.maximum(lengths - 1, 0), axis=1, batch_dims=1)


def _loop(cell, inputs, lengths, initial_state):
    """Runs `cell` over time; returns (sequences, final states). Inputs `(batch, time, features)`."""
    batch_size = tf.shape(inputs)[0]
    time_steps = tf.shape(inputs)[1]
    sizes = _state_sizes(cell)
    if initial_state is None:
        states = [tf.zeros([batch_size, size], inputs.dtype) for size in sizes]
    else:
        states = [tf.cast(state, inputs.dtype) for state in initial_state]
    output_size = cell.output_size if hasattr(cell, "output_size") else sizes[0]
    if inputs.shape[1] == 1:
        # One step (a language model's step function): no loop at all.
        output, new_states = cell(inputs[:, 0], states, training=False)
        new_states = list(new_states) if isinstance(new_states, (list, tuple)) else [new_states]
        new_states = [tf.cast(state, inputs.dtype) for state in new_states]
        if lengths is not None:
            is_real = tf.expand_dims(lengths > 0, -1)
            new_states = [tf.where(is_real, new, old) for new, old in zip(new_states, states)]
        return tf.expand_dims(tf.cast(output, inputs.dtype), 1), new_states
    time_major = tf.transpose(inputs, [1, 0, 2])

    def body(step, outputs, *states):
        output, new_states = cell(time_major[step], list(states), training=False)
        new_states = list(new_states) if isinstance(new_states, (list, tuple)) else [new_states]
        output = tf.cast(output, inputs.dtype)
        new_states = [tf.cast(state, inputs.dtype) for state in new_states]
        if lengths is not None:
            # Padded steps keep the state of the last real one.
            is_real = tf.expand_dims(step < lengths, -1)
            new_states = [tf.where(is_real, new, old) for new, old in zip(new_states, states)]
        return (step + 1, tf.concat([outputs, tf.expand_dims(output, 0)], axis=0), *new_states)

    outputs = tf.zeros([0, batch_size, output_size], inputs.dtype)
    shape_invariants = (
        tf.TensorShape([]),
        tf.TensorShape([None, None, output_size]),
        *[tf.TensorShape([None, size]) for size in sizes],
    )
    _, outputs, *states = tf.while_loop(
        lambda step, *_: step < time_steps,
        body,
        (tf.constant(0), outputs, *states),
        shape_invariants=shape_invariants,
    )
    return tf.transpose(outputs, [1, 0, 2]), states


def _run_direction(layer, inputs, lengths, initial_state, need_states, fused_cache):
    """One direction in time order: returns (aligned sequences, last outputs, final states or None)."""
    backwards = bool(layer.go_backwards)
    ordered = _reverse(inputs, lengths) if backwards else inputs
    static_batch = inputs.shape[0]
    use_fused = is_lstm_layer(layer) and static_batch is not None and not need_states and initial_state is None
    if use_fused:
        key = (id(layer), static_batch)
        if key not in fused_cache:
            fused_cache[key] = fused_lstm_function(layer, batch_size=int(static_batch), go_backwards=False)
        sequences, _ = fused_cache[key](ordered)
        sequences = tf.cast(sequences, inputs.dtype)
        states = None
    else:
        sequences, states = _loop(layer.cell, ordered, lengths, initial_state)
    last = _last_step(sequences, lengths)
    aligned = _reverse(sequences, lengths) if backwards else sequences
    return aligned, last, states


def run_recurrent_layer(layer, inputs, mask=None, initial_state=None, need_states=True, fused_cache=None):
    """What `layer(inputs, mask=mask, initial_state=initial_state)` returns, built from TFLite-friendly ops.

    Args:
        layer: a built `keras.layers.RNN` (LSTM, GRU, SimpleRNN, or an RNN over
            any cell) or a `keras.layers.Bidirectional` of them; not stateful.
        inputs: float `(batch, time, features)`; batch and time may be dynamic.
        mask: optional bool `(batch, time)`, right-padded (True = real step).
        initial_state: optional list of state tensors, Keras layout.
        need_states: bool. False when the caller drops the returned states
            (they are then zeros), which lets LSTMs use the fused op.
        fused_cache: dict reused across calls so each LSTM gets one fused
            function per batch size.

    Returns:
        The Keras layer's output structure: with `return_state`, a list
        `[outputs, *states]` (Bidirectional: forward states then backward
        ones); `outputs` is the sequence with `return_sequences`, else the
        last step.

    Raises:
        ValueError: an unsupported layer.
    """
    fused_cache = {} if fused_cache is None else fused_cache
    inputs = tf.convert_to_tensor(inputs)
    if isinstance(layer, keras.layers.Bidirectional):
        directions = [layer.forward_layer, layer.backward_layer]
        merge_mode, return_sequences, return_state = layer.merge_mode, layer.return_sequences, layer.return_state
    elif isinstance(layer, keras.layers.RNN):
        directions = [layer]
        merge_mode, return_sequences, return_state = None, layer.return_sequences, layer.return_state
    else:
        raise ValueError(f"run_recurrent_layer: expected a keras.layers.RNN or Bidirectional, got {type(layer).__name__}")
    if merge_mode not in (None, "concat", "sum"):
        raise ValueError(f"run_recurrent_layer: merge_mode {merge_mode!r} is not supported; use 'concat' or 'sum'")
    for direction in directions:
        if direction.stateful:
            raise ValueError(f"run_recurrent_layer: layer '{direction.name}' is stateful; export needs stateless RNNs")

    lengths = _lengths(mask)
    need_states = bool(need_states and return_state)
    state_counts = [len(_state_sizes(direction.cell)) for direction in directions]
    outputs, all_states = [], []
    offset = 0
    for direction, count in zip(directions, state_counts):
        direction_state = None if initial_state is None else list(initial_state[offset : offset + count])
        offset += count
        aligned, last, states = _run_direction(direction, inputs, lengths, direction_state, need_states, fused_cache)
        if return_sequences:
            # A lone go_backwards layer returns its sequence in processing order, as Keras does.
            value = aligned if merge_mode is not None or not direction.go_backwards else tf.reverse(aligned, [1])
        else:
            value = last
        outputs.append(value)
        if return_state:
            if states is None:
                batch_size = tf.shape(inputs)[0]
                states = [tf.zeros([batch_size, size], inputs.dtype) for size in _state_sizes(direction.cell)]
            all_states.extend(states)
    if merge_mode == "concat":
        output = tf.concat(outputs, axis=-1)
    elif merge_mode == "sum":
        output = outputs[0] + outputs[1]
    else:
        output = outputs[0]
    return [output, *all_states] if return_state else output


class MobileRecurrentRunner:
    """Callable installed on layers by `mobile_rnn_kernels`: runs their recurrent layers TFLite-style."""

    def __init__(self):
        self.fused_cache = {}

    def __call__(self, layer, inputs, mask=None, initial_state=None, need_states=True):
        return run_recurrent_layer(layer, inputs, mask, initial_state, need_states, self.fused_cache)


@contextlib.contextmanager
def mobile_rnn_kernels(*models):
    """Within the block, the recurrent layers in `models` trace as TFLite-friendly graphs (see module doc).

    Only affects layers that take a `recurrent_runner` (`RNNStack`,
    `CharacterEmbedding`); trace the functions to convert inside the block,
    e.g. with `trace_for_tflite`.
    """
    runner = MobileRecurrentRunner()
    installed = []
    for model in models:
        for layer in model._flatten_layers(include_self=True, recursive=True):
            if hasattr(layer, "recurrent_runner") and all(layer is not seen for seen, _ in installed):
                installed.append((layer, layer.recurrent_runner))
                layer.recurrent_runner = runner
    try:
        yield runner
    finally:
        for layer, previous in installed:
            layer.recurrent_runner = previous


def trace_for_tflite(function, *models):
    """Concrete function of `function` (a `tf.function` with an input_signature) traced under `mobile_rnn_kernels`.

    The trace is always fresh: a `tf.function` reuses an earlier trace for the
    same signature, which would hold the Keras kernels if it was called before.
    """
    fresh = tf.function(function.python_function, input_signature=function.input_signature, autograph=False)
    with mobile_rnn_kernels(*models):
        return fresh.get_concrete_function()
