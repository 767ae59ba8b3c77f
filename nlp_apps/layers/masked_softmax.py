"""Softmax over the real (unmasked) positions only; shared by every attention layer."""

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
    # No large negative fill value: a full-integer TFLite model calibrates one
    # int8 range per tensor, and a -1e9 in it (padding seen in calibration)
    # leaves no resolution for real scores. Masked positions are set to 0
    # after the shift (exp(0) = 1, then multiplied by 0), so nothing overflows,
    # and the shift is the largest *real* score of the row.
    lowest = ops.min(scores, axis=-1, keepdims=True)
    row_max = ops.max(ops.where(mask, scores, lowest), axis=-1, keepdims=True)
    shifted = ops.where(mask, scores - ops.stop_gradient(row_max), ops.zeros_like(scores))
    exponentials = ops.exp(shifted) * ops.cast(mask, scores.dtype)
    # A row with a real position sums to >= 1 (its maximum gives exp(0));
    # a fully-masked row sums to 0 and gets all-zero weights.
    total = ops.sum(exponentials, axis=-1, keepdims=True)
    return exponentials / ops.maximum(total, ops.cast(1.0, scores.dtype))
