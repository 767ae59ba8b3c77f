"""A stack of (optionally bidirectional, residual) recurrent layers."""

import keras
from keras import ops

from nlp_apps.layers.echo_state_cell import EchoStateCell
from nlp_apps.layers.weight_drop_gru_cell import WeightDropGRUCell
from nlp_apps.layers.weight_drop_lstm_cell import WeightDropLSTMCell

CELL_TYPES = ("lstm", "gru", "simple_rnn", "echo_state")
MERGE_MODES = ("concat", "sum")
WEIGHT_DROP_CELL_TYPES = ("lstm", "gru")


def _check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name}: expected a positive integer, got {value!r}")


def _check_rate(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ValueError(f"{name}: expected a rate in [0, 1), got {value!r}")


@keras.saving.register_keras_serializable(package="nlp_apps")
class RNNStack(keras.layers.Layer):
    """`num_layers` recurrent layers on top of each other.

    Inputs: float `(batch, time, features)` and an optional boolean mask
    `(batch, time)` (True = real step; padding must be on the right for
    cuDNN). Rows whose mask is all False (e.g. padding sentences in a
    hierarchical model) are allowed: since cuDNN rejects them, their first
    step is unmasked internally and their outputs and states are reset
    afterwards.
    Outputs: `(batch, time, output_dim)`, zero at masked steps, with the input
    mask propagated. With `return_state=True`: `(sequences, states)` where
    `states` is a flat list holding, per layer, the Keras final states (LSTM
    `[h, c]`, GRU / SimpleRNN / echo-state `[h]`; bidirectional: the forward
    states then the backward ones). `call(..., initial_state=...)` takes a
    list with that same layout (e.g. for truncated backpropagation through
    time in a language model).

    `output_dim` is `units`, or `2 * units` when bidirectional with
    `merge_mode="concat"`.

    Args:
        units: int. Units per direction of each layer.
        cell_type: "lstm", "gru", "simple_rnn" or "echo_state" (a fixed
            random reservoir, see `EchoStateCell`).
        num_layers: int. Number of stacked layers.
        bidirectional: bool. Wrap each layer in `keras.layers.Bidirectional`.
        merge_mode: "concat" or "sum": how the two directions are merged.
        dropout: float. Dropout applied to the outputs of every layer except
            the last (i.e. between layers).
        recurrent_dropout: float. Dropout on the recurrent state inside
            each cell. Any value above 0 disables the cuDNN kernels. Not
            supported by "echo_state".
        weight_drop: float. DropConnect on the hidden-to-hidden weights
            (the AWD-LSTM weight drop of Merity et al., 2017), "lstm" and
            "gru" only: in training, one mask on each layer's
            `recurrent_kernel` per call (per batch), shared by all time steps
            (unlike `recurrent_dropout`, which masks the state at each step),
            with inverted-dropout scaling, so inference uses the weights as
            they are. Any value above 0 disables the cuDNN kernels, in
            training and inference (the layers become `keras.layers.RNN` over
            `WeightDropLSTMCell` / `WeightDropGRUCell`, with the same
            variable paths, shapes and order); 0 builds exactly the plain
            `keras.layers.LSTM` / `GRU` layers.
        residual: bool. Add each layer's input to its output, for the layers
            whose input width equals `output_dim` (so usually every layer but
            the first); there is no projection when the widths differ.
        return_state: bool. Also return the final states (see above).
        spectral_radius, leak_rate, input_scaling, reservoir_density, seed:
            echo-state options (see `EchoStateCell`), ignored by the other
            cells. Layer `i` uses seed `seed + 2 * i` forward and
            `seed + 2 * i + 1` backward, so no two reservoirs are equal.

    `recurrent_runner` (not serialized; None by default) replaces each call of
    a recurrent layer with `runner(layer, inputs, mask=..., initial_state=...,
    need_states=...)` returning what the layer would; exporters install one
    while tracing (`nlp_apps.export.mobile_rnn`) so the stack's own logic
    (residuals, masks, states) is written once.

    With `recurrent_dropout == 0` and `weight_drop == 0` the layers keep the
    settings Keras needs to dispatch to cuDNN on GPU: tanh / sigmoid
    activations, `use_bias=True`, `unroll=False` and, for GRU,
    `reset_after=True`.
    """

    def __init__(
        self,
        units,
        cell_type="lstm",
        num_layers=1,
        bidirectional=False,
        merge_mode="concat",
        dropout=0.0,
        recurrent_dropout=0.0,
        weight_drop=0.0,
        residual=False,
        return_state=False,
        spectral_radius=0.9,
        leak_rate=1.0,
        input_scaling=1.0,
        reservoir_density=0.1,
        seed=1234,
        **kwargs,
    ):
        super().__init__(**kwargs)
        _check_positive_int("units", units)
        _check_positive_int("num_layers", num_layers)
        if cell_type not in CELL_TYPES:
            raise ValueError(f"cell_type: unknown {cell_type!r}; choose one of {', '.join(CELL_TYPES)}")
        if merge_mode not in MERGE_MODES:
            raise ValueError(f"merge_mode: unknown {merge_mode!r}; choose one of {', '.join(MERGE_MODES)}")
        _check_rate("dropout", dropout)
        _check_rate("recurrent_dropout", recurrent_dropout)
        if cell_type == "echo_state" and recurrent_dropout:
            raise ValueError("recurrent_dropout: not supported with cell_type 'echo_state'; use 0.0")
        _check_rate("weight_drop", weight_drop)
        if weight_drop and cell_type not in WEIGHT_DROP_CELL_TYPES:
            raise ValueError(
                f"weight_drop: only supported with cell_type {' or '.join(WEIGHT_DROP_CELL_TYPES)}, "
                f"got cell_type {cell_type!r}; use 0.0"
            )
        self.units = units
        self.cell_type = cell_type
        self.num_layers = num_layers
        self.bidirectional = bool(bidirectional)
        self.merge_mode = merge_mode
        self.dropout = float(dropout)
        self.recurrent_dropout = float(recurrent_dropout)
        self.weight_drop = float(weight_drop)
        self.residual = bool(residual)
        self.return_state = bool(return_state)
        self.spectral_radius = spectral_radius
        self.leak_rate = leak_rate
        self.input_scaling = input_scaling
        self.reservoir_density = reservoir_density
        self.seed = seed

        self.output_dim = units * 2 if self.bidirectional and merge_mode == "concat" else units
        self.recurrent_runner = None
        states_per_direction = 2 if cell_type == "lstm" else 1
        self.states_per_layer = states_per_direction * (2 if self.bidirectional else 1)
        self.num_states = self.states_per_layer * num_layers

        self.rnn_layers = []
        for index in range(num_layers):
            forward = self._make_rnn(index, go_backwards=False)
            if self.bidirectional:
                backward = self._make_rnn(index, go_backwards=True)
                layer = keras.layers.Bidirectional(
                    forward,
                    merge_mode=merge_mode,
                    backward_layer=backward,
                    dtype=self.dtype_policy,
                    name=f"bidirectional_{cell_type}_{index}",
                )
            else:
                layer = forward
            self.rnn_layers.append(layer)
        self.dropout_layers = [
            keras.layers.Dropout(self.dropout, dtype=self.dtype_policy, name=f"dropout_{index}")
            for index in range(num_layers - 1)
        ]

    def _make_rnn(self, index, go_backwards):
        direction = "backward" if go_backwards else "forward"
        # Always return full sequences and states; states are dropped in
        # `call` unless requested, which costs nothing.
        common = dict(
            return_sequences=True,
            return_state=True,
            go_backwards=go_backwards,
            dtype=self.dtype_policy,
            name=f"{direction}_{self.cell_type}_{index}",
        )
        if self.weight_drop > 0.0:
            # A plain `keras.layers.RNN`: it never takes the cuDNN path, which
            # would ignore the dropped recurrent kernel. The cells keep the
            # names and variables of the ones `keras.layers.LSTM` / `GRU`
            # create, so variable paths, shapes and order do not depend on
            # `weight_drop` (`.weights.h5` files, which name groups after the
            # layer class, do: "rnn" here, "lstm" / "gru" otherwise).
            if self.cell_type == "lstm":
                cell_class, extra = WeightDropLSTMCell, {}
            else:
                cell_class, extra = WeightDropGRUCell, {"reset_after": True}
            cell = cell_class(
                self.units,
                weight_drop=self.weight_drop,
                activation="tanh",
                recurrent_activation="sigmoid",
                use_bias=True,
                recurrent_dropout=self.recurrent_dropout,
                dtype=self.dtype_policy,
                name=f"{self.cell_type}_cell",
                **extra,
            )
            return keras.layers.RNN(cell, unroll=False, **common)
        if self.cell_type == "lstm":
            return keras.layers.LSTM(
                self.units,
                activation="tanh",
                recurrent_activation="sigmoid",
                use_bias=True,
                unroll=False,
                recurrent_dropout=self.recurrent_dropout,
                **common,
            )
        if self.cell_type == "gru":
            return keras.layers.GRU(
                self.units,
                activation="tanh",
                recurrent_activation="sigmoid",
                use_bias=True,
                unroll=False,
                reset_after=True,
                recurrent_dropout=self.recurrent_dropout,
                **common,
            )
        if self.cell_type == "simple_rnn":
            return keras.layers.SimpleRNN(
                self.units,
                activation="tanh",
                use_bias=True,
                unroll=False,
                recurrent_dropout=self.recurrent_dropout,
                **common,
            )
        cell = EchoStateCell(
            self.units,
            spectral_radius=self.spectral_radius,
            leak_rate=self.leak_rate,
            input_scaling=self.input_scaling,
            reservoir_density=self.reservoir_density,
            seed=self.seed + 2 * index + (1 if go_backwards else 0),
            dtype=self.dtype_policy,
        )
        return keras.layers.RNN(cell, unroll=False, **common)

    def build(self, input_shape):
        feature_dim = input_shape[-1]
        if feature_dim is None:
            raise ValueError("RNNStack: the last input dimension (features) must be known at build time")
        self._input_shape_for_build = tuple(input_shape)
        for layer in self.rnn_layers:
            layer.build((input_shape[0], input_shape[1], feature_dim))
            feature_dim = self.output_dim

    # The call signature has two tensor arguments (inputs, initial_state);
    # only the inputs' shape is needed to rebuild, so we record just that.
    def get_build_config(self):
        if not self.built:
            return None
        return {"input_shape": self._input_shape_for_build}

    def build_from_config(self, config):
        if config:
            self.build(config["input_shape"])

    def call(self, inputs, mask=None, training=None, initial_state=None, return_layer_outputs=False):
        """`return_layer_outputs=True` also returns every layer's (masked) sequences, bottom up (for a scalar mix)."""
        if initial_state is not None:
            initial_state = list(initial_state)
            if len(initial_state) != self.num_states:
                raise ValueError(
                    f"initial_state: expected a flat list of {self.num_states} tensors "
                    f"({self.states_per_layer} per layer x {self.num_layers} layers), got {len(initial_state)}"
                )

        rnn_mask = None
        has_steps = None
        if mask is not None:
            mask = ops.cast(mask, "bool")
            has_steps = ops.any(mask, axis=1)
            # cuDNN fails on rows with no real step; unmask their first step
            # and undo its effect on outputs and states below.
            first_step = ops.expand_dims(ops.equal(ops.arange(ops.shape(mask)[1]), 0), 0)
            rnn_mask = ops.logical_or(mask, ops.logical_and(first_step, ops.expand_dims(ops.logical_not(has_steps), -1)))

        sequences = inputs
        states = []
        layer_sequences = []
        for index, layer in enumerate(self.rnn_layers):
            layer_inputs = sequences
            if index > 0:
                layer_inputs = self.dropout_layers[index - 1](layer_inputs, training=training)
            layer_initial_state = None
            if initial_state is not None:
                start = index * self.states_per_layer
                layer_initial_state = initial_state[start : start + self.states_per_layer]
            if self.recurrent_runner is not None:
                outputs = self.recurrent_runner(
                    layer, layer_inputs, mask=rnn_mask, initial_state=layer_initial_state, need_states=self.return_state
                )
            else:
                outputs = layer(layer_inputs, mask=rnn_mask, training=training, initial_state=layer_initial_state)
            layer_outputs, layer_states = outputs[0], list(outputs[1:])
            if self.residual and sequences.shape[-1] == layer_outputs.shape[-1]:
                layer_outputs = layer_outputs + ops.cast(sequences, layer_outputs.dtype)
            if has_steps is not None:
                # Fully masked rows keep their initial state, as if never run.
                for offset, state in enumerate(layer_states):
                    if layer_initial_state is not None:
                        reset_value = ops.cast(layer_initial_state[offset], state.dtype)
                    else:
                        reset_value = ops.zeros_like(state)
                    layer_states[offset] = ops.where(ops.expand_dims(has_steps, -1), state, reset_value)
            states.extend(layer_states)
            sequences = layer_outputs
            layer_sequences.append(layer_outputs)

        if mask is not None:
            # Keras only zeroes masked outputs in some code paths (cuDNN,
            # Bidirectional); doing it here makes CPU and GPU agree.
            layer_sequences = [values * ops.expand_dims(ops.cast(mask, values.dtype), -1) for values in layer_sequences]
            sequences = layer_sequences[-1]
        outputs = (sequences, states) if self.return_state else sequences
        if return_layer_outputs:
            return outputs, layer_sequences
        return outputs

    def compute_mask(self, inputs, mask=None):
        if self.return_state:
            return mask, [None] * self.num_states
        return mask

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "cell_type": self.cell_type,
                "num_layers": self.num_layers,
                "bidirectional": self.bidirectional,
                "merge_mode": self.merge_mode,
                "dropout": self.dropout,
                "recurrent_dropout": self.recurrent_dropout,
                "weight_drop": self.weight_drop,
                "residual": self.residual,
                "return_state": self.return_state,
                "spectral_radius": self.spectral_radius,
                "leak_rate": self.leak_rate,
                "input_scaling": self.input_scaling,
                "reservoir_density": self.reservoir_density,
                "seed": self.seed,
            }
        )
        return config
