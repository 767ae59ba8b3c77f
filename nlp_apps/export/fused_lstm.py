"""A Keras 3 LSTM layer as one fused TFLite `UNIDIRECTIONAL_SEQUENCE_LSTM` op.

Keras 3 no longer marks its LSTM for the TFLite converter, so a converted
`keras.layers.LSTM` becomes a WHILE loop (fixed batch) or needs Flex TensorList
ops (dynamic batch). The converter still fuses any function that looks like the
old Keras 2 "standard_lstm": a `tf.function` whose attributes say
`api_implements="lstm_<unique>"`, whose arguments are exactly
`(inputs, init_h, init_c, kernel, recurrent_kernel, bias)` and which returns five
tensors `(last_output, outputs, final_h, final_c, runtime)`. Checked on TF 2.21,
the fusion additionally needs:

* the weights passed as tensors (`tf.convert_to_tensor(variable)`), not as
  resource variables;
* initial states with a static shape, i.e. a fixed batch size (1 for mobile);
  the time axis may stay dynamic;
* only `last_output` and `outputs` used by the caller: the converter refuses to
  fuse when `final_h`, `final_c` or `runtime` have users (its
  `CheckFusableKerasLstm`), so this helper does not expose the final cell state.

With these, the converted model holds a single builtin `UNIDIRECTIONAL_SEQUENCE_LSTM`
op and matches Keras to ~1e-7 (float32 rounding). In TensorFlow (SavedModel,
eager) the function body below runs instead; it is an exact re-implementation of
the Keras LSTM step (gate order i, f, c, o).
"""

import uuid

import keras
import tensorflow as tf


def is_lstm_layer(layer):
    """True for a `keras.layers.LSTM` or a `keras.layers.RNN` over an `LSTMCell` (subclass)."""
    return isinstance(layer, keras.layers.RNN) and isinstance(layer.cell, keras.layers.LSTMCell)


def fused_lstm_function(lstm_layer, batch_size=1, go_backwards=None):
    """Wraps a built `keras.layers.LSTM` so that TFLite converts it to one fused op.

    Use the returned function inside the `tf.function` you export, in place of
    calling the layer:

        run_lstm = fused_lstm_function(model.get_layer("lstm"), batch_size=1)

        @tf.function(input_signature=[tf.TensorSpec([1, None], tf.int32)])
        def serving_default(token_ids):
            sequence, last = run_lstm(embedding(token_ids))
            return {"logits": head(last)}

    Args:
        lstm_layer: a built `keras.layers.LSTM` (or a `keras.layers.RNN` over
            an `LSTMCell` subclass, e.g. `WeightDropLSTMCell`) with tanh
            activation, sigmoid recurrent activation, and not stateful.
            Dropout does not matter (inference only).
        batch_size: int. Static batch size of the inputs the returned function
            will see; the converter only fuses with static initial states.
        go_backwards: bool or None. Direction to run; None: the layer's own.

    Returns:
        A function `run(inputs) -> (sequence_outputs, last_output)`:
        `inputs` float32 `(batch_size, time, input_dim)`, time may be dynamic;
        `sequence_outputs` `(batch_size, time, units)`; `last_output`
        `(batch_size, units)` (also the final hidden state). With
        `go_backwards=True` the sequence is processed and returned in reverse
        time order, exactly like Keras. There is no mask: padding steps are
        processed like tokens, so feed unpadded sequences (natural for
        batch size 1), unlike a masked Keras LSTM which skips them.

    Raises:
        ValueError: the layer is not a built, supported LSTM, or batch_size < 1.
    """
    if not is_lstm_layer(lstm_layer):
        raise ValueError(
            f"fused_lstm_function: lstm_layer must be a keras.layers.LSTM, got {type(lstm_layer).__name__}."
        )
    name = lstm_layer.name
    if not lstm_layer.built:
        raise ValueError(f"fused_lstm_function: LSTM layer '{name}' is not built; call it on data first.")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"fused_lstm_function: batch_size must be a positive int, got {batch_size!r}.")
    cell = lstm_layer.cell
    if keras.activations.serialize(cell.activation) != "tanh":
        raise ValueError(f"fused_lstm_function: LSTM '{name}' must use activation='tanh' for the fused op.")
    if keras.activations.serialize(cell.recurrent_activation) != "sigmoid":
        raise ValueError(
            f"fused_lstm_function: LSTM '{name}' must use recurrent_activation='sigmoid' for the fused op."
        )
    if lstm_layer.stateful:
        raise ValueError(f"fused_lstm_function: LSTM '{name}' is stateful, which the fused op does not support.")

    units = cell.units
    go_backwards = bool(lstm_layer.go_backwards if go_backwards is None else go_backwards)
    attributes = {
        # A fresh suffix per function: the converter keys the fusion on the
        # "lstm_" prefix, and distinct names keep two LSTMs from being merged.
        "api_implements": "lstm_" + str(uuid.uuid4()),
        "api_preferred_device": "CPU",
        "time_major": False,
        "go_backwards": go_backwards,
    }

    @tf.function(experimental_attributes=attributes, autograph=False)
    def standard_lstm(inputs, init_h, init_c, kernel, recurrent_kernel, bias):
        # The converter replaces this whole function; the body is what runs in
        # TensorFlow and must equal the Keras LSTM step.
        time_major_inputs = tf.transpose(inputs, [1, 0, 2])
        if go_backwards:
            time_major_inputs = tf.reverse(time_major_inputs, [0])

        def step(state, x_t):
            h, c = state
            z = tf.matmul(x_t, kernel) + tf.matmul(h, recurrent_kernel) + bias
            z_i, z_f, z_c, z_o = tf.split(z, 4, axis=1)
            c = tf.sigmoid(z_f) * c + tf.sigmoid(z_i) * tf.tanh(z_c)
            h = tf.sigmoid(z_o) * tf.tanh(c)
            return h, c

        hidden, cells = tf.scan(step, time_major_inputs, initializer=(init_h, init_c))
        outputs = tf.transpose(hidden, [1, 0, 2])
        runtime = tf.constant(0.0)
        return hidden[-1], outputs, hidden[-1], cells[-1], runtime

    def run(inputs):
        inputs = tf.convert_to_tensor(inputs, tf.float32)
        # Static-shape zeros: the converter only fuses with static initial states.
        init_h = tf.zeros([batch_size, units], tf.float32)
        init_c = tf.zeros([batch_size, units], tf.float32)
        kernel = tf.convert_to_tensor(cell.kernel)
        recurrent_kernel = tf.convert_to_tensor(cell.recurrent_kernel)
        if cell.use_bias:
            bias = tf.convert_to_tensor(cell.bias)
        else:
            bias = tf.zeros([4 * units], tf.float32)
        last_output, outputs, _, _, _ = standard_lstm(
            inputs, init_h, init_c, kernel, recurrent_kernel, bias
        )
        return outputs, last_output

    return run
