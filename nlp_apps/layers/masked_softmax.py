"""Softmax over the real (unmasked) positions only; shared by every attention layer."""

import keras
from keras import ops


def masked_softmax(scores, mask):
    """Softmax over the last axis that gives exactly 0 to masked positions.

    `mask` is broadcastable to `scores`. A row whose positions are all masked
    (a padding sentence in a hierarchical model) gets all-zero weights
    instead of a uniform distribution or NaN.
    """
    if mask is None:
        return ops.softmax(scores, axis=-1)
    mask = ops.cast(mask, "bool")
    # -1e9 overflows float16 to -inf, and a row of -inf makes softmax NaN.
    if keras.backend.standardize_dtype(scores.dtype) == "float16":
        large_negative = -65504.0
    else:
        large_negative = -1e9
    scores = ops.where(mask, scores, ops.cast(large_negative, scores.dtype))
    weights = ops.softmax(scores, axis=-1)
    # exp(-1e9 - max) is already exactly 0 when a row has a real position;
    # zeroing again handles fully-masked rows, where softmax would be uniform.
    return ops.where(mask, weights, ops.zeros_like(weights))
