"""Shared machinery of the weight-dropped (DropConnect) recurrent cells."""

import keras
from keras import ops


def _masked_matmul(inputs, kernel, mask):
    """`inputs @ kernel`, with Keras dropout `mask` on `inputs`.

    `mask` is None, one mask, or a list of one mask per gate (Keras cells use
    per-gate masks with `implementation=1`), in which case `kernel` is split
    into as many column blocks.
    """
    if mask is None:
        return ops.matmul(inputs, kernel)
    if isinstance(mask, (list, tuple)):
        blocks = ops.split(kernel, len(mask), axis=1)
        return ops.concatenate([ops.matmul(inputs * m, block) for m, block in zip(mask, blocks)], axis=-1)
    return ops.matmul(inputs * mask, kernel)


class WeightDropMixin:
    """DropConnect on `recurrent_kernel`, sampled once per forward pass.

    For Keras cells that mix in `DropoutRNNCell` (`LSTMCell`, `GRUCell`).
    `keras.layers.RNN.call` asks its cell for the recurrent dropout mask once
    before the time loop and resets it after the loop, so that every step of
    one call shares a mask. The dropped recurrent kernel is created and
    discarded at those same two points, so every time step of one call (one
    batch) sees the same dropped weights and the next call draws a new mask.
    The kernel is scaled by `1 / (1 - weight_drop)` in training (inverted
    dropout), so inference uses the weights unchanged.
    """

    def _init_weight_drop(self, weight_drop):
        if (
            isinstance(weight_drop, bool)
            or not isinstance(weight_drop, (int, float))
            or not 0.0 <= weight_drop < 1.0
        ):
            raise ValueError(f"weight_drop: expected a rate in [0, 1), got {weight_drop!r}")
        self.weight_drop = float(weight_drop)
        self._dropped_recurrent_kernel = None

    def _uses_weight_drop(self, training):
        return bool(training) and self.weight_drop > 0.0

    def get_dropped_recurrent_kernel(self):
        """The recurrent kernel with this forward pass's DropConnect mask applied."""
        if self._dropped_recurrent_kernel is None:
            self._dropped_recurrent_kernel = keras.random.dropout(
                ops.convert_to_tensor(self.recurrent_kernel), self.weight_drop, seed=self.seed_generator
            )
        return self._dropped_recurrent_kernel

    def get_recurrent_dropout_mask(self, step_input):
        # Called by `keras.layers.RNN` once before the time loop (whether or
        # not in training, as for Keras's own masks): drawing the dropped
        # kernel here keeps it out of the loop body, hence shared by all steps.
        if self.weight_drop > 0.0:
            self.get_dropped_recurrent_kernel()
        return super().get_recurrent_dropout_mask(step_input)

    def reset_recurrent_dropout_mask(self):
        super().reset_recurrent_dropout_mask()
        self._dropped_recurrent_kernel = None

    def _step_masks(self, inputs, h_tm1, training):
        """The Keras input and recurrent dropout masks for this step (None when unused)."""
        input_mask = self.get_dropout_mask(inputs) if training and 0.0 < self.dropout < 1.0 else None
        recurrent_mask = (
            self.get_recurrent_dropout_mask(h_tm1) if training and 0.0 < self.recurrent_dropout < 1.0 else None
        )
        return input_mask, recurrent_mask
