"""The shared encoder trained as a language model: forward only (ULMFiT) or forward + backward (ELMo)."""

import keras
import tensorflow as tf
from keras import ops

from nlp_apps.encoders.serialization import InjectedLayersSerialization
from nlp_apps.metrics.token_losses import masked_token_losses
from nlp_apps.training.distribution import scale_loss_for_replicas, unscale_loss_for_replicas

FORWARD = "forward"
BACKWARD = "backward"


@keras.saving.register_keras_serializable(package="nlp_apps")
class EncoderLanguageModel(InjectedLayersSerialization, keras.Model):
    """Predicts the next word from the encoder's forward half and, when bidirectional, the previous word from its backward half.

    Inputs: the encoder's inputs for a window of words (`token_ids` `(batch,
    time)`, plus `char_ids` / `case_ids` when the encoder uses them).
    Targets `y`: `{"forward": (batch, time), "backward": (batch, time)}` word
    ids, 0 = no target. `call` returns `{"forward": logits, "backward":
    logits}` (float32, the exact softmax over the vocabulary; no "backward"
    when forward-only).

    Both directions share the token embedding, which is also the output
    layer (tied softmax, Press & Wolf 2017), with one output bias; when the
    RNN width differs from the embedding width a shared linear projection
    comes first. The loss is the forward LM's mean token cross-entropy plus
    the backward LM's (ELMo's joint objective). With `num_sampled > 0`
    training uses a sampled softmax over that many classes per direction
    (log-uniform sampler: ids must be sorted by frequency, as
    `Vocabulary.build` sorts them); evaluation always uses the exact softmax.

    A stacked bidirectional encoder (num_layers > 1) is refused: its upper
    forward layer reads the lower backward layer, which has seen the word to
    predict.

    Args:
        encoder: an `RNNEncoder` without `return_state` and without a scalar mix.
        dropout: float. Locked dropout on the encoder outputs.
        num_sampled: int. 0 = full softmax in training.
    """

    config_arguments = ("dropout", "num_sampled")

    def __init__(self, encoder, dropout=0.0, num_sampled=0, **kwargs):
        super().__init__(**kwargs)
        if encoder.bidirectional and encoder.num_layers > 1:
            raise ValueError(
                "model.encoder.num_layers: a bidirectional language model needs num_layers: 1 (the upper forward layer "
                "of a stacked BiRNN reads the lower backward layer, which has seen the next word); "
                "or pretrain forward-only (pretrain.direction: forward)"
            )
        if encoder.bidirectional and encoder.merge_mode != "concat":
            raise ValueError("model.encoder.merge_mode: a bidirectional language model needs 'concat' (the directions are scored apart)")
        if encoder.return_state or encoder.scalar_mix:
            raise ValueError("encoder: pretrain an encoder without return_state and scalar_mix")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"model.dropout: expected a rate in [0, 1), got {dropout!r}")
        self.encoder = encoder
        self.dropout = float(dropout)
        self.num_sampled = int(num_sampled)
        self.bidirectional = encoder.bidirectional
        self.directions = (FORWARD, BACKWARD) if self.bidirectional else (FORWARD,)
        self.vocabulary_size = encoder.token_embedding.vocabulary_size
        self.embedding_dim = encoder.token_embedding.embedding_dim
        self.units = encoder.units
        self.output_dropout = keras.layers.Dropout(dropout, noise_shape=(None, 1, None), name="locked_dropout")
        self.projection = None
        if self.units != self.embedding_dim:
            self.projection = keras.layers.Dense(self.embedding_dim, name="tied_projection")
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.direction_trackers = {direction: keras.metrics.Mean(name=f"{direction}_loss") for direction in self.directions}

    def build(self, input_shape):
        if not self.encoder.built:
            self.encoder.build(input_shape)
        self.output_dropout.build((None, None, self.units))
        if self.projection is not None:
            self.projection.build((None, None, self.units))
        self.output_bias = self.add_weight(shape=(self.vocabulary_size,), initializer="zeros", dtype="float32", name="output_bias")
        self._input_shape_for_build = input_shape
        self.built = True

    def get_build_config(self):
        return {"input_shape": self._input_shape_for_build} if self.built else None

    def build_from_config(self, config):
        if config:
            self.build(config["input_shape"])

    @property
    def metrics(self):
        return [self.loss_tracker, *self.direction_trackers.values()]

    def direction_features(self, inputs, training=None) -> dict:
        """{direction: float32 `(batch, time, embedding_dim)`}: what the tied softmax scores."""
        outputs = self.encoder(inputs, training=training)
        halves = {FORWARD: outputs[..., : self.units]}
        if self.bidirectional:
            halves[BACKWARD] = outputs[..., self.units :]
        features = {}
        for direction, values in halves.items():
            values = self.output_dropout(values, training=training)
            if self.projection is not None:
                values = self.projection(values)
            features[direction] = ops.cast(values, "float32")
        return features

    def _output_weights(self):
        return ops.cast(self.encoder.token_embedding.embeddings, "float32"), ops.cast(self.output_bias, "float32")

    def call(self, inputs, training=None):
        weights, biases = self._output_weights()
        return {
            direction: ops.matmul(values, ops.transpose(weights)) + biases
            for direction, values in self.direction_features(inputs, training=training).items()
        }

    def direction_losses(self, inputs, targets, training=False, sampled=False) -> dict:
        """{direction: (mean token loss, number of target tokens)}."""
        features = self.direction_features(inputs, training=training)
        weights, biases = self._output_weights()
        losses = {}
        for direction, values in features.items():
            labels = targets[direction]
            if sampled:
                flat_labels = tf.reshape(tf.cast(labels, tf.int64), [-1, 1])
                token_losses = tf.nn.sampled_softmax_loss(
                    weights, biases, flat_labels, tf.reshape(values, [-1, tf.shape(values)[-1]]),
                    num_sampled=self.num_sampled, num_classes=self.vocabulary_size,
                )
                mask = tf.cast(tf.not_equal(flat_labels[:, 0], 0), tf.float32)
                total, count = tf.reduce_sum(token_losses * mask), tf.reduce_sum(mask)
            else:
                logits = ops.matmul(values, ops.transpose(weights)) + biases
                token_losses, mask = masked_token_losses(labels, logits)
                total, count = ops.sum(token_losses), ops.sum(mask)
            losses[direction] = (total / ops.maximum(count, 1.0), count)
        return losses

    def _update_trackers(self, losses, total):
        self.loss_tracker.update_state(total)
        for direction, (loss, count) in losses.items():
            self.direction_trackers[direction].update_state(loss, sample_weight=count)
        return {metric.name: metric.result() for metric in self.metrics}

    def train_step(self, data):
        inputs, targets = data[0], data[1]
        with tf.GradientTape() as tape:
            losses = self.direction_losses(inputs, targets, training=True, sampled=self.num_sampled > 0)
            loss = sum(value for value, _ in losses.values())
            if self.losses:
                loss = loss + ops.sum(self.losses)
            # Per-replica mean, scaled like Keras' own losses under tf.distribute.
            loss = scale_loss_for_replicas(loss)
            scaled_loss = self.optimizer.scale_loss(loss)
        gradients = tape.gradient(scaled_loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_weights))
        return self._update_trackers(losses, unscale_loss_for_replicas(loss))

    def test_step(self, data):
        inputs, targets = data[0], data[1]
        losses = self.direction_losses(inputs, targets, training=False, sampled=False)
        return self._update_trackers(losses, sum(value for value, _ in losses.values()))
