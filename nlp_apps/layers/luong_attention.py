"""Multiplicative (Luong) attention."""

import keras
from keras import ops

from nlp_apps.layers.masked_softmax import masked_softmax

_SCORES = ("dot", "general")


@keras.saving.register_keras_serializable(package="nlp_apps")
class LuongAttention(keras.layers.Layer):
    """Multiplicative attention (Luong, Pham & Manning 2015).

    `score="dot"`: `score(q, k) = q . k`; needs `query_features ==
    value_features` and has no weights. `score="general"`: `score(q, k) =
    q . (W k)` with `W` of shape `(value_features, units)`.

    Args:
        score: `"dot"` or `"general"`.
        units: int or None. Only for `score="general"`: the size of the
            projected keys, which must equal the query feature size. None infers
            it from the query when the layer is built. Must be None for "dot".
        **kwargs: standard `keras.layers.Layer` arguments (`name`, `dtype`).

    Call arguments:
        query: float tensor `(batch, query_features)` for one decoder step, or
            `(batch, query_time, query_features)` for all steps at once.
        values: float tensor `(batch, value_time, value_features)`.
        values_mask: optional bool/int tensor `(batch, value_time)`, true for
            real source positions. If omitted, the Keras mask attached to
            `values` is used when there is one.
        keys: optional float tensor `(batch, value_time, query_features)` from
            `precompute_keys(values)`. A decoder calling this layer once per
            output step should compute the keys once per source sentence and
            pass them here every step.

    Returns:
        `(context, weights)` with `context` `(batch, [query_time,]
        value_features)` and `weights` `(batch, [query_time,] value_time)`.
        Masked source positions get weight exactly 0, weights sum to 1 over the
        real positions, and a fully-masked row gives zero weights and a zero
        context (never NaN). For a 3-D query the query's Keras mask, if any,
        is passed on to both outputs.
    """

    def __init__(self, score="dot", units=None, **kwargs):
        super().__init__(**kwargs)
        if score not in _SCORES:
            raise ValueError(
                f"LuongAttention: `score` must be one of {_SCORES}, got {score!r}."
            )
        if units is not None:
            if score != "general":
                raise ValueError(
                    "LuongAttention: `units` is only used with score='general'; "
                    f"got units={units!r} with score={score!r}."
                )
            if isinstance(units, bool) or not isinstance(units, int) or units <= 0:
                raise ValueError(
                    "LuongAttention: `units` must be a positive int or None, "
                    f"got {units!r}."
                )
        self.score = score
        self.units = units
        self.kernel = None

    def build(self, query_shape, values_shape, keys_shape=None):
        if len(query_shape) not in (2, 3):
            raise ValueError(
                "LuongAttention: `query` must have shape (batch, features) or "
                f"(batch, time, features), got {tuple(query_shape)}."
            )
        if len(values_shape) != 3:
            raise ValueError(
                "LuongAttention: `values` must have shape (batch, time, "
                f"features), got {tuple(values_shape)}."
            )
        query_features, value_features = query_shape[-1], values_shape[-1]
        if self.score == "dot":
            if query_features != value_features:
                raise ValueError(
                    "LuongAttention: score='dot' needs the same feature size in "
                    f"`query` ({query_features}) and `values` ({value_features}); "
                    "use score='general' to learn a projection."
                )
        else:
            if query_features is None or value_features is None:
                raise ValueError(
                    "LuongAttention: the last axis of `query` and `values` must "
                    f"be known, got {tuple(query_shape)} and {tuple(values_shape)}."
                )
            if self.units is not None and self.units != query_features:
                raise ValueError(
                    f"LuongAttention: `units` ({self.units}) must equal the query "
                    f"feature size ({query_features}) for score='general'."
                )
            self.kernel = self.add_weight(
                name="kernel",
                shape=(value_features, query_features),
                initializer="glorot_uniform",
            )
        self.built = True

    def precompute_keys(self, values):
        """Returns the keys for `values` `(batch, value_time, value_features)`:
        `values` itself for "dot", `values @ W` for "general". Pass the result
        as `keys=` to `call`."""
        if self.score == "dot":
            return values
        if self.kernel is None:
            raise ValueError(
                "LuongAttention: call the layer (or build it) before "
                "`precompute_keys`, so the query size of `W` is known."
            )
        # Called directly by decoders, outside `__call__`, so no autocasting
        # happens for us under mixed precision.
        values = ops.cast(values, self.compute_dtype)
        return ops.matmul(values, ops.cast(self.kernel, self.compute_dtype))

    def call(self, query, values, values_mask=None, keys=None):
        if values_mask is None:
            values_mask = getattr(values, "_keras_mask", None)
        if keys is None:
            keys = self.precompute_keys(values)
        single_step = len(query.shape) == 2
        if single_step:
            query = ops.expand_dims(query, 1)
        # (batch, query_time, features) x (batch, features, value_time).
        scores = ops.matmul(query, ops.transpose(keys, (0, 2, 1)))
        mask = values_mask
        if mask is not None:
            mask = ops.expand_dims(mask, 1)
        weights = masked_softmax(scores, mask)
        context = ops.matmul(weights, values)
        if single_step:
            context = ops.squeeze(context, axis=1)
            weights = ops.squeeze(weights, axis=1)
        return context, weights

    def compute_mask(self, query, previous_mask=None):
        # Keras passes the query's mask here; it still describes the query time
        # axis of both outputs.
        if previous_mask is None:
            return None
        return previous_mask, previous_mask

    def compute_output_shape(
        self, query_shape, values_shape, values_mask_shape=None, keys_shape=None
    ):
        query_shape = tuple(query_shape)
        context_shape = query_shape[:-1] + (values_shape[2],)
        weights_shape = query_shape[:-1] + (values_shape[1],)
        return context_shape, weights_shape

    def get_config(self):
        config = super().get_config()
        config.update({"score": self.score, "units": self.units})
        return config
