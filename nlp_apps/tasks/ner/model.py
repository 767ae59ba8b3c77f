"""Sequence tagging model (NER, chunking, POS) over any shared encoder."""

import keras
from keras import ops

from nlp_apps.layers.crf import CRF
from nlp_apps.training.distribution import scale_loss_for_replicas
from nlp_apps.encoders.serialization import InjectedLayersSerialization


def padding_mask(inputs):
    """True at real tokens: token id 0 is padding in every nlp_apps encoder."""
    token_ids = inputs["token_ids"] if isinstance(inputs, dict) else inputs
    return ops.not_equal(token_ids, 0)


@keras.saving.register_keras_serializable(package="nlp_apps")
class SequenceTagger(InjectedLayersSerialization, keras.Model):
    """Tags each token, on top of any `nlp_apps.encoders` encoder.

    Inputs are what the encoder takes: int `token_ids` (batch, time) with
    0 = padding, or a dict with `token_ids` and optional `char_ids`
    (batch, time, chars) and `case_ids` (batch, time). `call` returns float32
    emission scores (batch, time, num_tags); `decode` returns int32 tag ids
    (batch, time), 0 at padding. Training minimises the CRF negative
    log-likelihood, or a masked softmax cross-entropy without CRF.

    Args:
        encoder: layer mapping the inputs to (batch, time, features).
        num_tags: int. Size of the tag vocabulary.
        use_crf: bool. Decode with a linear-chain CRF instead of a softmax.
        dropout: float. Dropout on the encoder output.
        allowed_transitions, allowed_start, allowed_end: optional nested
            lists of bools that forbid invalid tag sequences (see
            `nlp_apps.layers.crf_constraints`); only used with the CRF.
    """

    config_arguments = ("num_tags", "use_crf", "dropout", "allowed_transitions", "allowed_start", "allowed_end")

    def __init__(
        self,
        encoder,
        num_tags,
        use_crf=True,
        dropout=0.0,
        allowed_transitions=None,
        allowed_start=None,
        allowed_end=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if num_tags < 2:
            raise ValueError(f"num_tags must be at least 2, got {num_tags}")
        self.encoder = encoder
        self.num_tags = num_tags
        self.use_crf = use_crf
        self.dropout = dropout
        self.allowed_transitions = allowed_transitions
        self.allowed_start = allowed_start
        self.allowed_end = allowed_end
        self.output_dropout = keras.layers.Dropout(dropout)
        # Emissions and the CRF stay float32 under mixed precision: the
        # forward algorithm's log-sum-exp overflows in float16.
        self.emission_projection = keras.layers.Dense(num_tags, dtype="float32", name="emissions")
        self.crf = (
            CRF(num_tags, allowed_transitions, allowed_start, allowed_end, dtype="float32", name="crf")
            if use_crf
            else None
        )

    def build(self, input_shape):
        self._input_shape_for_build = input_shape
        # A deserialized encoder may already be built (from its own build config).
        if not self.encoder.built:
            self.encoder.build(input_shape)
        feature_dim = self.encoder.output_dim
        token_shape = input_shape["token_ids"] if isinstance(input_shape, dict) else input_shape
        features_shape = tuple(token_shape) + (feature_dim,)
        self.output_dropout.build(features_shape)
        self.emission_projection.build(features_shape)
        if self.crf is not None:
            self.crf.build(tuple(token_shape) + (self.num_tags,))
        self.built = True

    # Keras cannot rebuild a subclassed model with dict inputs by itself; these
    # two make `.keras` reloads create every variable before weights load.
    def get_build_config(self):
        return {"input_shape": self._input_shape_for_build} if self.built else None

    def build_from_config(self, config):
        if config:
            shape = config["input_shape"]
            self.build({key: tuple(value) for key, value in shape.items()} if isinstance(shape, dict) else tuple(shape))

    def call(self, inputs, training=None):
        features = self.encoder(inputs, training=training)
        features = self.output_dropout(features, training=training)
        return self.emission_projection(features)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        mask = padding_mask(x)
        tags = ops.cast(y, "int32")
        if self.crf is not None:
            loss = -ops.mean(self.crf.log_likelihood(y_pred, tags, mask))
        else:
            token_losses = keras.losses.sparse_categorical_crossentropy(tags, y_pred, from_logits=True)
            weights = ops.cast(mask, token_losses.dtype)
            loss = ops.sum(token_losses * weights) / ops.maximum(ops.sum(weights), 1.0)
        if self.losses:
            loss = loss + ops.sum(self.losses)
        # Per-replica mean: scaled like Keras' own losses under tf.distribute.
        return scale_loss_for_replicas(loss)

    def decode(self, inputs, fixed_point_scale=None):
        """Best tag ids (batch, time), int32, 0 at padding; `fixed_point_scale`: see `CRF.decode`."""
        return self.decode_emissions(self(inputs, training=False), padding_mask(inputs), fixed_point_scale)

    def decode_emissions(self, emissions, mask, fixed_point_scale=None):
        """Best tag ids of the model's own outputs `emissions` (batch, time, tags) under `mask`."""
        if self.crf is not None:
            tags, _ = self.crf.decode(emissions, mask, fixed_point_scale=fixed_point_scale)
            return ops.cast(tags, "int32")
        return ops.cast(ops.argmax(emissions, axis=-1), "int32") * ops.cast(mask, "int32")


