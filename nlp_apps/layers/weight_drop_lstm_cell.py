"""LSTM cell with DropConnect on the hidden-to-hidden weights (AWD-LSTM weight drop)."""

import keras
from keras import ops

from nlp_apps.layers.weight_drop_mixin import WeightDropMixin, _masked_matmul


@keras.saving.register_keras_serializable(package="nlp_apps")
class WeightDropLSTMCell(WeightDropMixin, keras.layers.LSTMCell):
    """`keras.layers.LSTMCell` with weight drop (Merity et al., 2017).

    In training, each entry of `recurrent_kernel` is dropped with probability
    `weight_drop` (and the rest scaled by `1 / (1 - weight_drop)`). One mask
    is drawn per call of the wrapping `keras.layers.RNN` (i.e. per batch) and
    shared by all time steps; that is what distinguishes it from
    `recurrent_dropout`, which masks the hidden state. At inference the cell
    is exactly a `keras.layers.LSTMCell`, with the same variables (`kernel`,
    `recurrent_kernel`, `bias`), so weights move freely between the two.

    Use it in `keras.layers.RNN(cell)`, not `keras.layers.LSTM`: the plain
    RNN layer never takes the cuDNN path, which would read the undropped
    `recurrent_kernel`.

    Inputs / outputs: as `keras.layers.LSTMCell` (`(batch, features)` and
    states `[h, c]`; returns `(h, [h, c])`).

    Args:
        units: int. As `keras.layers.LSTMCell`.
        weight_drop: float in [0, 1). DropConnect rate on `recurrent_kernel`.
        **kwargs: any other `keras.layers.LSTMCell` argument.
    """

    def __init__(self, units, weight_drop=0.0, **kwargs):
        super().__init__(units, **kwargs)
        self._init_weight_drop(weight_drop)

    def call(self, inputs, states, training=False):
        if not self._uses_weight_drop(training):
            return super().call(inputs, states, training=training)
        h_tm1, c_tm1 = states[0], states[1]
        input_mask, recurrent_mask = self._step_masks(inputs, h_tm1, training)
        z = _masked_matmul(inputs, self.kernel, input_mask)
        z = z + _masked_matmul(h_tm1, self.get_dropped_recurrent_kernel(), recurrent_mask)
        if self.use_bias:
            z = z + self.bias
        # Keras gate order: input, forget, cell candidate, output.
        z_i, z_f, z_c, z_o = ops.split(z, 4, axis=-1)
        i = self.recurrent_activation(z_i)
        f = self.recurrent_activation(z_f)
        c = f * c_tm1 + i * self.activation(z_c)
        o = self.recurrent_activation(z_o)
        h = o * self.activation(c)
        return h, [h, c]

    def get_config(self):
        config = super().get_config()
        config["weight_drop"] = self.weight_drop
        return config
