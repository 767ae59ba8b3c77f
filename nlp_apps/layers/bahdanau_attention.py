"""Additive (Bahdanau) attention."""

import keras
from keras import ops

from nlp_apps.layers.masked_softmax import masked_softmax


@keras.saving.register_keras_serializable(package="nlp_apps")
class BahdanauAttention(keras.layers.Layer):
    """Additive attention: `score(q, k) = v . tanh(W_q q + W_k k + b)`.

    Bahdanau, Cho & Bengio (2015), "Neural Machine Translation by Jointly
    Learning to Align and Translate".

    Args:
        units: int. Size of the hidden attention space (`W_q`, `W_k`, `v`).
        **kwargs: standard `keras.layers.Layer` arguments (`name`, `dtype`).

    Call arguments:
        query: float tensor `(batch, query_features)` for one decoder step, or
            `(batch, query_time, query_features)` for all steps at once
            (teacher forcing).
        values: float tensor `(batch, value_time, value_features)`, usually the
            encoder outputs.
        values_mask: optional bool/int tensor `(batch, value_time)`, true for
            real (non-padding) source positions. If omitted, the Keras mask
            attached to `values` is used when Keras has one (Keras fills this
            argument automatically from `values`' mask); otherwise every
            position is attended.
        keys: optional float tensor `(batch, value_time, units)` returned by
            `precompute_keys(values)`. A decoder that calls this layer once per
            output step over the same `values` should project the keys once per
            source sentence and pass them here, instead of paying for the
            `values @ W_k` projection at every step.

    Returns:
        `(context, weights)`: `context` is `(batch, value_features)` for a 2-D
        query or `(batch, query_time, value_features)` for a 3-D query;
        `weights` is `(batch, value_time)` or `(batch, query_time, value_time)`.
        Masked source positions get weight exactly 0 and the weights of a row
        sum to 1 over its real positions. A fully-masked row yields all-zero
        weights and an all-zero context (never NaN). For a 3-D query the
        query's Keras mask, if any, is passed on to both outputs.
    """

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        if isinstance(units, bool) or not isinstance(units, int) or units <= 0:
            raise ValueError(
                f"BahdanauAttention: `units` must be a positive int, got {units!r}."
            )
        self.units = units
        # One bias is enough inside the tanh, so only the key projection has it;
        # it is also the projection that `precompute_keys` caches.
        self.query_dense = keras.layers.Dense(
            units, use_bias=False, dtype=self.dtype_policy, name="query_dense"
        )
        self.key_dense = keras.layers.Dense(
            units, use_bias=True, dtype=self.dtype_policy, name="key_dense"
        )
        self.score_dense = keras.layers.Dense(
            1, use_bias=False, dtype=self.dtype_policy, name="score_dense"
        )

    def build(self, query_shape, values_shape, keys_shape=None):
        if len(query_shape) not in (2, 3):
            raise ValueError(
                "BahdanauAttention: `query` must have shape (batch, features) or "
                f"(batch, time, features), got {tuple(query_shape)}."
            )
        if len(values_shape) != 3:
            raise ValueError(
                "BahdanauAttention: `values` must have shape (batch, time, "
                f"features), got {tuple(values_shape)}."
            )
        # `precompute_keys` may already have built the key projection.
        if not self.query_dense.built:
            self.query_dense.build(query_shape)
        if not self.key_dense.built:
            self.key_dense.build(values_shape)
        if not self.score_dense.built:
            self.score_dense.build((None, self.units))
        self.built = True

    def precompute_keys(self, values):
        """Projects `values` `(batch, value_time, value_features)` to keys
        `(batch, value_time, units)`; pass the result as `keys=` to `call`."""
        return self.key_dense(values)

    def call(self, query, values, values_mask=None, keys=None):
        if values_mask is None:
            values_mask = getattr(values, "_keras_mask", None)
        if keys is None:
            keys = self.key_dense(values)
        projected_query = self.query_dense(query)
        single_step = len(query.shape) == 2
        if single_step:
            # (batch, 1, units) broadcasts against keys (batch, value_time, units).
            hidden = ops.expand_dims(projected_query, 1) + keys
        else:
            # (batch, query_time, 1, units) + (batch, 1, value_time, units).
            hidden = ops.expand_dims(projected_query, 2) + ops.expand_dims(keys, 1)
        scores = ops.squeeze(self.score_dense(ops.tanh(hidden)), axis=-1)
        mask = values_mask
        if mask is not None and not single_step:
            mask = ops.expand_dims(mask, 1)
        weights = masked_softmax(scores, mask)
        if single_step:
            context = ops.squeeze(
                ops.matmul(ops.expand_dims(weights, 1), values), axis=1
            )
        else:
            context = ops.matmul(weights, values)
        return context, weights

    def compute_mask(self, query, previous_mask=None):
        # Keras passes the mask of the first argument (the query) here. Only a
        # 3-D query has a time axis whose padding downstream layers need.
        if previous_mask is None:
            return None
        return previous_mask, previous_mask

    def compute_output_shape(
        self, query_shape, values_shape, values_mask_shape=None, keys_shape=None
    ):
        query_shape = tuple(query_shape)
        value_time, value_features = values_shape[1], values_shape[2]
        context_shape = query_shape[:-1] + (value_features,)
        weights_shape = query_shape[:-1] + (value_time,)
        return context_shape, weights_shape

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units})
        return config
