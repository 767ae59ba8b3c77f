"""Attention pooling over time (Yang et al. 2016, hierarchical attention networks)."""

import keras
from keras import ops

from nlp_apps.layers.masked_softmax import masked_softmax


@keras.saving.register_keras_serializable(package="nlp_apps")
class AttentionPooling(keras.layers.Layer):
    """Pools a sequence into one vector with a learned context vector.

    Yang et al. (2016), "Hierarchical Attention Networks for Document
    Classification": `u_t = tanh(W h_t + b)`, `a_t = softmax_t(u_t . c)` over
    the unmasked time steps, output `sum_t a_t h_t`.

    Args:
        units: int. Size of the attention space (`W`, `b` and the context
            vector `c`).
        return_attention_scores: bool. Also return the weights `a`.
        **kwargs: standard `keras.layers.Layer` arguments (`name`, `dtype`).

    Call arguments:
        inputs: float tensor `(batch, time, features)`.
        mask: optional bool/int tensor `(batch, time)`, true for real steps;
            taken from the Keras mask of `inputs` when not given.

    Returns:
        `(batch, features)`, or `(pooled, weights)` with weights `(batch, time)`
        when `return_attention_scores=True`. Masked steps get weight exactly 0.
        A fully-masked row (a padding sentence in a hierarchical model) gives a
        zero vector and zero weights, never NaN. The output carries no mask:
        the time axis is gone.
    """

    def __init__(self, units, return_attention_scores=False, **kwargs):
        super().__init__(**kwargs)
        if isinstance(units, bool) or not isinstance(units, int) or units <= 0:
            raise ValueError(
                f"AttentionPooling: `units` must be a positive int, got {units!r}."
            )
        if not isinstance(return_attention_scores, bool):
            raise ValueError(
                "AttentionPooling: `return_attention_scores` must be a bool, got "
                f"{return_attention_scores!r}."
            )
        self.units = units
        self.return_attention_scores = return_attention_scores
        self.projection = keras.layers.Dense(
            units, activation="tanh", dtype=self.dtype_policy, name="projection"
        )

    def build(self, inputs_shape):
        if len(inputs_shape) != 3:
            raise ValueError(
                "AttentionPooling: `inputs` must have shape (batch, time, "
                f"features), got {tuple(inputs_shape)}."
            )
        self.projection.build(inputs_shape)
        self.context_vector = self.add_weight(
            name="context_vector",
            shape=(self.units,),
            initializer="glorot_uniform",
        )
        self.built = True

    def call(self, inputs, mask=None):
        hidden = self.projection(inputs)
        scores = ops.tensordot(hidden, self.context_vector, axes=[[2], [0]])
        weights = masked_softmax(scores, mask)
        pooled = ops.sum(ops.expand_dims(weights, -1) * inputs, axis=1)
        if self.return_attention_scores:
            return pooled, weights
        return pooled

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, inputs_shape):
        pooled_shape = (inputs_shape[0], inputs_shape[2])
        if self.return_attention_scores:
            return pooled_shape, (inputs_shape[0], inputs_shape[1])
        return pooled_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "return_attention_scores": self.return_attention_scores,
            }
        )
        return config
