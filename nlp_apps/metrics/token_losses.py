"""Per-token losses over padded id sequences, shared by language-model training and perplexity."""

import keras
from keras import ops


def masked_token_losses(targets, logits):
    """Per-token negative log-likelihood and the real-token weights.

    Returns `(losses, weights)`, both float32 `(batch, time)`; target id 0 is
    padding and gets weight 0.
    """
    targets = ops.cast(targets, "int32")
    losses = keras.losses.sparse_categorical_crossentropy(targets, ops.cast(logits, "float32"), from_logits=True)
    weights = ops.cast(ops.not_equal(targets, 0), "float32")
    return losses * weights, weights
