"""GRU cell with DropConnect on the hidden-to-hidden weights (AWD-LSTM weight drop)."""

import keras
from keras import ops

from nlp_apps.layers.weight_drop_mixin import WeightDropMixin, _masked_matmul


@keras.saving.register_keras_serializable(package="nlp_apps")
class WeightDropGRUCell(WeightDropMixin, keras.layers.GRUCell):
    """`keras.layers.GRUCell` with weight drop (Merity et al., 2017).

    In training, each entry of `recurrent_kernel` is dropped with probability
    `weight_drop` (and the rest scaled by `1 / (1 - weight_drop)`). One mask
    is drawn per call of the wrapping `keras.layers.RNN` (i.e. per batch) and
    shared by all time steps; `recurrent_dropout`, by contrast, masks the
    hidden state. At inference the cell is exactly a `keras.layers.GRUCell`,
    with the same variables (`kernel`, `recurrent_kernel`, `bias`).

    Use it in `keras.layers.RNN(cell)`, not `keras.layers.GRU`: the plain RNN
    layer never takes the cuDNN path, which would read the undropped
    `recurrent_kernel`.

    Inputs / outputs: as `keras.layers.GRUCell` (`(batch, features)` and
    state `[h]`; returns `(h, [h])`). Both `reset_after` variants work.

    Args:
        units: int. As `keras.layers.GRUCell`.
        weight_drop: float in [0, 1). DropConnect rate on `recurrent_kernel`.
        **kwargs: any other `keras.layers.GRUCell` argument.
    """

    def __init__(self, units, weight_drop=0.0, **kwargs):
        super().__init__(units, **kwargs)
        self._init_weight_drop(weight_drop)

    def call(self, inputs, states, training=False):
        if not self._uses_weight_drop(training):
            return super().call(inputs, states, training=training)
        nested = keras.tree.is_nested(states)
        h_tm1 = states[0] if nested else states
        input_mask, recurrent_mask = self._step_masks(inputs, h_tm1, training)
        recurrent_kernel = self.get_dropped_recurrent_kernel()

        input_bias = recurrent_bias = None
        if self.use_bias:
            if self.reset_after:
                input_bias, recurrent_bias = self.bias[0], self.bias[1]
            else:
                input_bias = self.bias
        x = _masked_matmul(inputs, self.kernel, input_mask)
        if input_bias is not None:
            x = x + input_bias
        # Keras gate order: update, reset, candidate.
        x_z, x_r, x_h = ops.split(x, 3, axis=-1)

        if self.reset_after:
            inner = _masked_matmul(h_tm1, recurrent_kernel, recurrent_mask)
            if recurrent_bias is not None:
                inner = inner + recurrent_bias
            inner_z, inner_r, inner_h = ops.split(inner, 3, axis=-1)
            z = self.recurrent_activation(x_z + inner_z)
            r = self.recurrent_activation(x_r + inner_r)
            hh = self.activation(x_h + r * inner_h)
        else:
            # The reset gate applies before the candidate's matmul, so the
            # three blocks are computed separately.
            masks = recurrent_mask if isinstance(recurrent_mask, (list, tuple)) else [recurrent_mask] * 3
            h_z, h_r, h_h = (h_tm1 if mask is None else h_tm1 * mask for mask in masks)
            kernel_z, kernel_r, kernel_h = ops.split(recurrent_kernel, 3, axis=1)
            z = self.recurrent_activation(x_z + ops.matmul(h_z, kernel_z))
            r = self.recurrent_activation(x_r + ops.matmul(h_r, kernel_r))
            hh = self.activation(x_h + ops.matmul(r * h_h, kernel_h))

        h = z * h_tm1 + (1 - z) * hh
        return h, ([h] if nested else h)

    def get_config(self):
        config = super().get_config()
        config["weight_drop"] = self.weight_drop
        return config
