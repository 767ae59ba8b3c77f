"""Recurrent language model over the shared encoder, with optional weight tying."""

import keras
import tensorflow as tf
from keras import ops
from nlp_apps.training.distribution import scale_loss_for_replicas, unscale_loss_for_replicas
from nlp_apps.encoders.serialization import BuildShapeSerialization, InjectedLayersSerialization
from nlp_apps.metrics.token_losses import masked_token_losses


@keras.saving.register_keras_serializable(package="nlp_apps")
class LanguageModel(InjectedLayersSerialization, BuildShapeSerialization, keras.Model):
    """Predicts the next token at every position, on top of a unidirectional encoder.

    Inputs: int `token_ids` `(batch, time)`, 0 = padding (masked; padding must
    be on the right). `call` returns float32 logits `(batch, time,
    vocabulary_size)`; `call_with_state` also returns the encoder's final
    states (a flat list, `RNNStack` layout), and both take `initial_state` in
    that layout, so a stream can be processed window by window (truncated
    backpropagation through time) or one token at a time (generation).

    Training minimises the per-token cross-entropy of `y` (the inputs shifted
    by one), ignoring target id 0.

    Stateful training over a continuous stream: `start_streaming(batch_size)`
    creates one untracked `tf.Variable` per encoder state. While streaming,
    `train_step` starts each batch from those variables and stores the final
    states (without gradient) back into them, so the hidden state runs on
    across windows; `reset_stream_state()` zeroes them (at every epoch start,
    see `nlp_apps.tasks.language_model.task.ResetStreamState`). The
    variables are kept out of Keras' tracking on purpose: they depend on the
    batch size, are not weights, and must not land in `.keras` files or
    exports. This keeps `model.fit` (and so every standard callback) usable:
    `train_step` runs inside Keras' `tf.function` and only reads and assigns
    variables created outside it.

    Args:
        encoder: an `RNNEncoder` (unidirectional) built with
            `return_state=True`. Its `token_embedding.vocabulary_size` is the
            output vocabulary.
        tie_weights: bool. Use the input embedding matrix (transposed) as the
            output projection (Press & Wolf 2017; Inan et al. 2017). When the
            encoder output size differs from the embedding size, a linear
            projection to the embedding size is added first.
        dropout: float. Locked (variational) dropout on the encoder outputs:
            one mask per sequence, shared over time (Gal & Ghahramani 2016).
        num_sampled: int. 0 trains with the full softmax; N > 0 trains with a
            sampled softmax over N sampled classes (Jean et al. 2015), much
            cheaper for large vocabularies. Evaluation, scoring and
            generation always use the exact softmax (`call`).
    """

    config_arguments = ("tie_weights", "dropout", "num_sampled")

    def __init__(self, encoder, tie_weights=True, dropout=0.0, num_sampled=0, **kwargs):
        super().__init__(**kwargs)
        if getattr(encoder, "bidirectional", False):
            raise ValueError("model.encoder.bidirectional: a language model needs a unidirectional encoder")
        if not getattr(encoder, "return_state", False):
            raise ValueError("encoder: build it with return_state=True (build_encoder(..., return_state=True))")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout: expected a rate in [0, 1), got {dropout!r}")
        if isinstance(num_sampled, bool) or not isinstance(num_sampled, int) or num_sampled < 0:
            raise ValueError(f"num_sampled: expected an integer >= 0, got {num_sampled!r}")
        self.encoder = encoder
        self.tie_weights = bool(tie_weights)
        self.dropout = float(dropout)
        self.num_sampled = num_sampled
        self.vocabulary_size = encoder.token_embedding.vocabulary_size
        self.embedding_dim = encoder.token_embedding.embedding_dim
        self.output_dropout = keras.layers.Dropout(dropout, noise_shape=(None, 1, None), name="locked_dropout")
        self.projection = None
        self.output_layer = None
        if self.tie_weights:
            if encoder.output_dim != self.embedding_dim:
                self.projection = keras.layers.Dense(self.embedding_dim, name="tied_projection")
        else:
            self.output_layer = keras.layers.Dense(self.vocabulary_size, dtype="float32", name="output_projection")
        self._stream_states = None

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        if not self.encoder.built:
            self.encoder.build(input_shape)
        features_shape = input_shape + (self.encoder.output_dim,)
        self.output_dropout.build(features_shape)
        if self.projection is not None:
            self.projection.build(features_shape)
        if self.output_layer is not None:
            self.output_layer.build(features_shape)
        else:
            self.output_bias = self.add_weight(
                shape=(self.vocabulary_size,), initializer="zeros", dtype="float32", name="output_bias"
            )
        self._input_shape_for_build = input_shape
        self.built = True

    @property
    def state_sizes(self):
        """Size of each state in the flat state list (batch dimension excluded)."""
        stack = self.encoder.rnn_stack
        return [stack.units] * stack.num_states

    def zero_state(self, batch_size):
        return [tf.zeros([batch_size, size]) for size in self.state_sizes]

    def _features_with_state(self, token_ids, initial_state=None, training=None):
        """The float32 vectors the output layer scores `(batch, time, dim)`, and the final states."""
        if initial_state is not None:
            # Carried states may be float32 while the RNN computes in float16 (mixed precision).
            initial_state = [ops.cast(state, self.encoder.compute_dtype) for state in initial_state]
        features, states = self.encoder(token_ids, training=training, initial_state=initial_state)
        features = self.output_dropout(features, training=training)
        if self.projection is not None:
            features = self.projection(features)
        return ops.cast(features, "float32"), list(states)

    def _output_weights(self):
        """`(weights (vocabulary_size, dim), biases (vocabulary_size,))` of the output layer, float32."""
        # Explicit casts: Keras autocasts variable reads inside `call` under mixed precision.
        if self.output_layer is not None:
            return (
                ops.transpose(ops.cast(self.output_layer.kernel, "float32")),
                ops.cast(self.output_layer.bias, "float32"),
            )
        return ops.cast(self.encoder.token_embedding.embeddings, "float32"), ops.cast(self.output_bias, "float32")

    def call_with_state(self, token_ids, initial_state=None, training=None):
        """Returns `(logits, states)`: float32 logits and the final encoder states."""
        features, states = self._features_with_state(token_ids, initial_state=initial_state, training=training)
        weights, biases = self._output_weights()
        return ops.matmul(features, ops.transpose(weights)) + biases, states

    def call(self, token_ids, initial_state=None, training=None):
        logits, _ = self.call_with_state(token_ids, initial_state=initial_state, training=training)
        return logits

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        losses, weights = masked_token_losses(y, y_pred)
        loss = ops.sum(losses) / ops.maximum(ops.sum(weights), 1.0)
        if self.losses:
            loss = loss + ops.sum(self.losses)
        # Per-replica mean: scaled like Keras' own losses under tf.distribute.
        return scale_loss_for_replicas(loss)

    # ------------------------------------------------------------ streaming (TBPTT)

    def start_streaming(self, batch_size):
        """Carries the hidden state across training batches of `batch_size` parallel streams."""
        self._stream_states = [
            tf.Variable(tf.zeros([batch_size, size]), trainable=False, name=f"stream_state_{index}")
            for index, size in enumerate(self.state_sizes)
        ]

    def stop_streaming(self):
        self._stream_states = None

    def reset_stream_state(self):
        if self._stream_states is not None:
            for variable in self._stream_states:
                variable.assign(tf.zeros_like(variable))

    def sampled_loss(self, features, targets):
        """Mean sampled-softmax loss over the real target tokens (training only).

        Uses `tf.nn.sampled_softmax_loss` with the log-uniform (Zipfian)
        sampler, which assumes ids sorted by decreasing frequency, as
        `Vocabulary.build` sorts them.
        """
        weights, biases = self._output_weights()
        labels = tf.reshape(tf.cast(targets, tf.int64), [-1, 1])
        losses = tf.nn.sampled_softmax_loss(
            weights, biases, labels, tf.reshape(features, [-1, tf.shape(features)[-1]]),
            num_sampled=self.num_sampled, num_classes=self.vocabulary_size,
        )
        mask = tf.cast(tf.not_equal(labels[:, 0], 0), tf.float32)
        loss = tf.reduce_sum(losses * mask) / tf.maximum(tf.reduce_sum(mask), 1.0)
        if self.losses:
            loss = loss + ops.sum(self.losses)
        return scale_loss_for_replicas(loss)

    def train_step(self, data):
        streaming = self._stream_states is not None
        if not streaming and not self.num_sampled:
            return super().train_step(data)
        x, y = data[0], data[1]
        initial_state = [variable.read_value() for variable in self._stream_states] if streaming else None
        logits = None
        with tf.GradientTape() as tape:
            if self.num_sampled:
                features, states = self._features_with_state(x, initial_state=initial_state, training=True)
                loss = self.sampled_loss(features, y)
            else:
                logits, states = self.call_with_state(x, initial_state=initial_state, training=True)
                loss = self.compute_loss(x, y, logits)
            scaled_loss = self.optimizer.scale_loss(loss)
        gradients = tape.gradient(scaled_loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_weights))
        if streaming:
            # Truncation: the next window starts from these values, not from this graph.
            for variable, state in zip(self._stream_states, states):
                variable.assign(tf.stop_gradient(ops.cast(state, variable.dtype)))
        self._loss_tracker.update_state(unscale_loss_for_replicas(loss), sample_weight=tf.shape(x)[0])
        if logits is None:
            return self.get_metrics_result()
        return self.compute_metrics(x, y, logits)


