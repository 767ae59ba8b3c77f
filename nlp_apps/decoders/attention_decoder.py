"""RNN decoder with attention over an encoder memory (Luong et al. 2015)."""

import keras
import tensorflow as tf
from keras import ops

from nlp_apps.layers.bahdanau_attention import BahdanauAttention
from nlp_apps.layers.luong_attention import LuongAttention
from nlp_apps.layers.token_embedding import TokenEmbedding

CELL_TYPES = ("lstm", "gru")
ATTENTIONS = ("bahdanau", "luong_dot", "luong_general")
PROJECTION_DTYPES = ("float32", "bfloat16")


def _check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name}: expected a positive integer, got {value!r}")


@keras.saving.register_keras_serializable(package="nlp_apps")
class AttentionDecoder(keras.layers.Layer):
    """Stacked LSTM/GRU decoder attending over an encoder memory.

    At step `t`, with `y` the previous target token:

        x_t = [embed(y); h~_{t-1}]       (h~_{t-1} only with input feeding)
        h_t = RNN stack(x_t, states)     (`num_layers` cells)
        c_t, a_t = attention(h_t, memory)
        h~_t = tanh(W_c [c_t; h_t])      (the attentional vector)
        logits_t = output(dropout(h~_t))

    Inputs of `call` (teacher forcing):
        target_in_ids: int `(batch, target_time)`, the target shifted right
            (starting with bos), 0 = padding. Padding must be on the right:
            it is not masked, so outputs at padded positions are garbage and
            must be ignored by the loss (target id 0); real positions never
            depend on later ones.
        memory: float `(batch, source_time, memory_dim)`, the encoder outputs.
        memory_mask: bool `(batch, source_time)`, True at real source
            positions; None attends everywhere. Masked positions get
            attention weight exactly 0; a fully masked row gives zero weights
            and a zero context (no NaN).
        initial_states: flat list of state tensors (layout below), e.g. from
            `initial_states(...)`; None starts from zeros.
    Outputs of `call`: `(logits, attention_weights)`, float32 `(batch,
    target_time, vocabulary_size)` and `(batch, target_time, source_time)`.

    `step(token_ids, states, memory, memory_mask, keys)` runs one step for
    search (see `nlp_apps.decoders.beam_search`); feeding the teacher-forced
    inputs one at a time gives the logits of `call`.

    State layout (flat list, each `(batch, units)`): per layer, LSTM `[h, c]`
    or GRU `[h]`, bottom layer first; then, with input feeding, the previous
    attentional vector `h~`.

    Args:
        vocabulary_size: int. Target vocabulary size, including 0 (padding).
        embedding_dim: int. Target token embedding size.
        units: int. Size of every RNN layer and of `h~`.
        cell_type: "lstm" or "gru" (GRU uses `reset_after=True`).
        num_layers: int. Number of stacked RNN layers.
        attention: "bahdanau" (additive), "luong_dot" (needs `memory_dim ==
            units`) or "luong_general". The query is the top layer's current
            output `h_t` in every case (Luong-style placement).
        attention_units: int or None. Hidden size of Bahdanau attention; None
            uses `units`. Ignored by the Luong attentions.
        input_feeding: bool. Feed `h~_{t-1}` with the next input (Luong et
            al. 2015, section 3.3). Teacher forcing then runs step by step in
            a `tf.while_loop`; without it the RNN runs over the whole target
            at once (cuDNN-eligible) and attention is computed for all steps
            in one go.
        dropout: float. Dropout on the input embeddings, between RNN layers
            and on `h~` before the output projection.
        tie_embeddings: bool. Output projection = target embedding matrix,
            transposed, plus a bias; `h~` is first projected linearly to
            `embedding_dim` when `units != embedding_dim`.
    """

    def __init__(
        self,
        vocabulary_size,
        embedding_dim,
        units,
        cell_type="lstm",
        num_layers=1,
        attention="luong_general",
        attention_units=None,
        input_feeding=True,
        dropout=0.0,
        tie_embeddings=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        _check_positive_int("vocabulary_size", vocabulary_size)
        _check_positive_int("embedding_dim", embedding_dim)
        _check_positive_int("units", units)
        _check_positive_int("num_layers", num_layers)
        if cell_type not in CELL_TYPES:
            raise ValueError(f"cell_type: unknown {cell_type!r}; choose one of {', '.join(CELL_TYPES)}")
        if attention not in ATTENTIONS:
            raise ValueError(f"attention: unknown {attention!r}; choose one of {', '.join(ATTENTIONS)}")
        if attention_units is not None:
            _check_positive_int("attention_units", attention_units)
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout: expected a rate in [0, 1), got {dropout!r}")
        self.vocabulary_size = vocabulary_size
        self.embedding_dim = embedding_dim
        self.units = units
        self.cell_type = cell_type
        self.num_layers = num_layers
        self.attention = attention
        self.attention_units = attention_units
        self.input_feeding = bool(input_feeding)
        self.dropout = float(dropout)
        self.tie_embeddings = bool(tie_embeddings)

        self.states_per_layer = 2 if cell_type == "lstm" else 1
        self.num_states = self.states_per_layer * num_layers + (1 if self.input_feeding else 0)

        # Padding is not masked (see the class docstring), so no Keras mask
        # reaches the RNN layers and both call paths compute the same thing.
        self.token_embedding = TokenEmbedding(
            vocabulary_size, embedding_dim, mask_zero=False, dtype=self.dtype_policy, name="token_embedding"
        )
        # RNN layers for the whole-sequence path; `step` uses their cells, so
        # the weights are shared.
        self.rnn_layers = [self._make_rnn(index) for index in range(num_layers)]
        if attention == "bahdanau":
            self.attention_layer = BahdanauAttention(
                attention_units or units, dtype=self.dtype_policy, name="attention"
            )
        else:
            self.attention_layer = LuongAttention(
                score="dot" if attention == "luong_dot" else "general", dtype=self.dtype_policy, name="attention"
            )
        self.attention_combine = keras.layers.Dense(
            units, activation="tanh", use_bias=False, dtype=self.dtype_policy, name="attention_combine"
        )
        self.dropout_layer = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy, name="dropout")
        self.tied_projection = None
        self.output_layer = None
        if self.tie_embeddings:
            if units != embedding_dim:
                self.tied_projection = keras.layers.Dense(
                    embedding_dim, use_bias=False, dtype=self.dtype_policy, name="tied_projection"
                )
        else:
            self.output_layer = keras.layers.Dense(vocabulary_size, dtype="float32", name="output_projection")

    def _make_rnn(self, index):
        common = dict(
            return_sequences=True,
            return_state=True,
            activation="tanh",
            recurrent_activation="sigmoid",
            use_bias=True,
            unroll=False,
            dtype=self.dtype_policy,
            name=f"{self.cell_type}_{index}",
        )
        if self.cell_type == "lstm":
            return keras.layers.LSTM(self.units, **common)
        return keras.layers.GRU(self.units, reset_after=True, **common)

    # ------------------------------------------------------------------ build

    def build(self, target_in_ids_shape, memory_shape, memory_mask_shape=None, initial_states_shape=None):
        memory_dim = memory_shape[-1]
        if memory_dim is None:
            raise ValueError("memory: the last dimension (features) must be known at build time")
        if self.attention == "luong_dot" and memory_dim != self.units:
            raise ValueError(
                f"attention: 'luong_dot' needs the memory size ({memory_dim}) to equal units ({self.units}); "
                "use 'luong_general' or 'bahdanau'"
            )
        self.memory_dim = memory_dim
        self.token_embedding.build((None, None))
        input_dim = self.embedding_dim + (self.units if self.input_feeding else 0)
        for layer in self.rnn_layers:
            layer.build((None, None, input_dim))
            input_dim = self.units
        self.attention_layer.build((None, self.units), (None, None, memory_dim))
        self.attention_combine.build((None, memory_dim + self.units))
        self.dropout_layer.build((None, self.units))
        if self.output_layer is not None:
            self.output_layer.build((None, self.units))
        else:
            if self.tied_projection is not None:
                self.tied_projection.build((None, self.units))
            self.output_bias = self.add_weight(
                shape=(self.vocabulary_size,), initializer="zeros", dtype="float32", name="output_bias"
            )

    # `call` takes several tensors; rebuilding only needs the memory size.
    def get_build_config(self):
        if not self.built:
            return None
        return {"memory_dim": self.memory_dim}

    def build_from_config(self, config):
        if config:
            self.build((None, None), (None, None, config["memory_dim"]))

    # ----------------------------------------------------------------- states

    @property
    def state_sizes(self):
        """Size of each state in the flat state list (batch dimension excluded)."""
        return [self.units] * self.num_states

    def initial_states(self, batch_size, layer_states=None):
        """The full initial state list.

        Args:
            batch_size: int or scalar tensor.
            layer_states: optional flat list of the RNN layers' states
                (`states_per_layer * num_layers` tensors, e.g. from an encoder
                bridge); None uses zeros. The attentional vector (input
                feeding) always starts at zero.
        """
        zeros = ops.zeros((batch_size, self.units), dtype=self.compute_dtype)
        if layer_states is None:
            states = [zeros] * (self.states_per_layer * self.num_layers)
        else:
            states = [ops.cast(state, self.compute_dtype) for state in layer_states]
            if len(states) != self.states_per_layer * self.num_layers:
                raise ValueError(
                    f"layer_states: expected {self.states_per_layer * self.num_layers} tensors "
                    f"({self.states_per_layer} per layer x {self.num_layers} layers), got {len(states)}"
                )
        if self.input_feeding:
            states = states + [zeros]
        return states

    def _check_states(self, states):
        states = list(states)
        if len(states) != self.num_states:
            raise ValueError(
                f"initial_states: expected a flat list of {self.num_states} tensors "
                f"({self.states_per_layer} per layer x {self.num_layers} layers"
                f"{' + the attentional vector' if self.input_feeding else ''}), got {len(states)}"
            )
        return states

    # ------------------------------------------------------------ computation

    def precompute_keys(self, memory):
        """Attention keys for `memory`, computed once per source sentence; pass them to `step`."""
        return self.attention_layer.precompute_keys(memory)

    def _attend(self, top_outputs, memory, memory_mask, keys):
        """`h~` and the weights for `top_outputs` `(batch, [time,] units)`."""
        context, weights = self.attention_layer(top_outputs, memory, values_mask=memory_mask, keys=keys)
        context = ops.cast(context, top_outputs.dtype)
        attentional = self.attention_combine(ops.concatenate([context, top_outputs], axis=-1))
        return attentional, weights

    def output_projection(self, dtype="float32"):
        """The output layer as `(kernel, bias)` tensors, for `step(..., output_projection=...)`.

        A search calls this once, outside its loop: the tied kernel is the
        transposed embedding matrix, and transposing or casting it inside
        `step` would repeat that work (a pass over `vocabulary_size x
        embedding_dim` values) at every token.

        Args:
            dtype: "float32" (the same logits as `call`) or "bfloat16": the
                kernel and the features are rounded to bfloat16 and multiplied
                (TensorFlow's CPU kernel accumulates in float32 and rounds its
                output to bfloat16), which CPUs with AMX or AVX512-BF16 run
                several times faster; logits of magnitude ~10 then move by up
                to ~0.03, so near-tied hypotheses may rank differently.

        Returns:
            `(kernel, bias)`: `dtype` `(features, vocabulary_size)` and
            float32 `(vocabulary_size,)`.
        """
        if dtype not in PROJECTION_DTYPES:
            raise ValueError(f"output projection dtype: unknown {dtype!r}; choose one of {', '.join(PROJECTION_DTYPES)}")
        if self.output_layer is not None:
            kernel, bias = self.output_layer.kernel, self.output_layer.bias
        else:
            kernel, bias = ops.transpose(self.token_embedding.embeddings), self.output_bias
        # Explicit casts: variable reads outside `__call__` are not autocast.
        return tf.cast(kernel, dtype), tf.cast(bias, "float32")

    def _logits(self, attentional, training=None, output_projection=None):
        features = self.dropout_layer(attentional, training=training)
        if output_projection is not None:
            if self.tied_projection is not None:
                features = self.tied_projection(features)
            kernel, bias = output_projection
            logits = tf.matmul(tf.cast(features, kernel.dtype), kernel)
            # `bias_add` right after a float32 `matmul` fuses into it (one pass fewer).
            return tf.nn.bias_add(tf.cast(logits, "float32"), bias)
        if self.output_layer is not None:
            return ops.cast(self.output_layer(features), "float32")
        if self.tied_projection is not None:
            features = self.tied_projection(features)
        # Explicit casts: variable reads outside `__call__` are not autocast.
        embeddings = ops.cast(self.token_embedding.embeddings, "float32")
        return ops.matmul(ops.cast(features, "float32"), ops.transpose(embeddings)) + ops.cast(
            self.output_bias, "float32"
        )

    def _cell_step(self, inputs, states, memory, memory_mask, keys, training=None):
        """One step from embedded `inputs` `(batch, embedding_dim)`: `(h~, weights, new_states)`."""
        per_layer = self.states_per_layer
        outputs = inputs
        if self.input_feeding:
            outputs = ops.concatenate([outputs, ops.cast(states[-1], outputs.dtype)], axis=-1)
        new_states = []
        for index, layer in enumerate(self.rnn_layers):
            if index > 0:
                outputs = self.dropout_layer(outputs, training=training)
            layer_states = states[index * per_layer : (index + 1) * per_layer]
            outputs, layer_new_states = layer.cell(outputs, layer_states, training=training)
            new_states.extend(list(layer_new_states))
        attentional, weights = self._attend(outputs, memory, memory_mask, keys)
        if self.input_feeding:
            new_states.append(attentional)
        return attentional, weights, new_states

    def step(self, token_ids, states, memory, memory_mask=None, keys=None, output_projection=None):
        """One inference step.

        Args:
            token_ids: int `(batch,)`, the previous tokens (bos first).
            states: flat state list (see the class docstring).
            memory, memory_mask: as in `call`.
            keys: `precompute_keys(memory)`, or None to compute them here.
            output_projection: `output_projection(dtype)`, or None to read
                the output layer here.

        Returns:
            `(logits, new_states, attention_weights)`: float32 `(batch,
            vocabulary_size)`, the new flat state list, `(batch, source_time)`.
        """
        states = self._check_states(states)
        if keys is None:
            keys = self.precompute_keys(memory)
        inputs = self.token_embedding(token_ids, training=False)
        inputs = self.dropout_layer(inputs, training=False)
        attentional, weights, new_states = self._cell_step(inputs, states, memory, memory_mask, keys, training=False)
        return self._logits(attentional, training=False, output_projection=output_projection), new_states, weights

    def call(self, target_in_ids, memory, memory_mask=None, initial_states=None, training=None):
        batch_size = ops.shape(target_in_ids)[0]
        if initial_states is None:
            states = self.initial_states(batch_size)
        else:
            states = [ops.cast(state, self.compute_dtype) for state in self._check_states(initial_states)]
        keys = self.precompute_keys(memory)
        inputs = self.token_embedding(target_in_ids, training=training)
        inputs = self.dropout_layer(inputs, training=training)
        if self.input_feeding:
            attentional, weights = self._teacher_forcing_loop(inputs, states, memory, memory_mask, keys, training)
        else:
            outputs = inputs
            for index, layer in enumerate(self.rnn_layers):
                if index > 0:
                    outputs = self.dropout_layer(outputs, training=training)
                layer_states = states[index * self.states_per_layer : (index + 1) * self.states_per_layer]
                outputs = layer(outputs, initial_state=layer_states, training=training)[0]
            attentional, weights = self._attend(outputs, memory, memory_mask, keys)
        return self._logits(attentional, training=training), weights

    def _teacher_forcing_loop(self, inputs, states, memory, memory_mask, keys, training):
        """Runs `_cell_step` over time in a `tf.while_loop`: `(h~ (b, t, units), weights (b, t, s))`."""
        time = tf.shape(inputs)[1]
        inputs_by_time = tf.TensorArray(inputs.dtype, size=time).unstack(tf.transpose(inputs, [1, 0, 2]))
        attentional_by_time = tf.TensorArray(self.compute_dtype, size=time)
        weights_by_time = tf.TensorArray(self.compute_dtype, size=time)

        def body(step, states, attentional_by_time, weights_by_time):
            attentional, weights, states = self._cell_step(
                inputs_by_time.read(step), states, memory, memory_mask, keys, training=training
            )
            return (
                step + 1,
                states,
                attentional_by_time.write(step, attentional),
                weights_by_time.write(step, ops.cast(weights, self.compute_dtype)),
            )

        _, _, attentional_by_time, weights_by_time = tf.while_loop(
            lambda step, *_: step < time,
            body,
            (tf.constant(0), list(states), attentional_by_time, weights_by_time),
            shape_invariants=(
                tf.TensorShape([]),
                [tf.TensorShape([None, self.units])] * len(states),
                tf.TensorShape(None),
                tf.TensorShape(None),
            ),
            maximum_iterations=time,
        )
        attentional = tf.transpose(attentional_by_time.stack(), [1, 0, 2])
        weights = tf.transpose(weights_by_time.stack(), [1, 0, 2])
        return attentional, weights

    def compute_output_shape(self, target_in_ids_shape, memory_shape, memory_mask_shape=None, initial_states_shape=None):
        batch, time = target_in_ids_shape[0], target_in_ids_shape[1]
        return (batch, time, self.vocabulary_size), (batch, time, memory_shape[1])

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary_size": self.vocabulary_size,
                "embedding_dim": self.embedding_dim,
                "units": self.units,
                "cell_type": self.cell_type,
                "num_layers": self.num_layers,
                "attention": self.attention,
                "attention_units": self.attention_units,
                "input_feeding": self.input_feeding,
                "dropout": self.dropout,
                "tie_embeddings": self.tie_embeddings,
            }
        )
        return config
