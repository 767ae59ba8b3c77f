"""Echo-state (reservoir computing) recurrent cell."""

import keras
import numpy as np
from keras import ops

# Sparse reservoirs occasionally come out nilpotent (spectral radius 0), which
# cannot be rescaled; we redraw a few times before giving up.
_MAX_RESERVOIR_DRAWS = 20


@keras.saving.register_keras_serializable(package="nlp_apps")
class EchoStateCell(keras.layers.Layer):
    """Leaky echo-state cell: a fixed random reservoir for `keras.layers.RNN`.

    The input and recurrent weights are drawn once from `seed` at build time
    and never trained (`trainable=False` variables); only a readout placed
    downstream learns. The update is

        h_t = (1 - leak_rate) * h_{t-1}
              + leak_rate * tanh(x_t @ input_kernel + h_{t-1} @ recurrent_kernel)

    `input_kernel` is uniform in `[-input_scaling, input_scaling]`;
    `recurrent_kernel` has a fraction `reservoir_density` of non-zero entries
    (uniform in [-1, 1]) and is rescaled so that its largest absolute
    eigenvalue equals `spectral_radius` (computed with numpy at build time).

    Inputs: `(batch, features)` for one step plus the state list `[h]` of
    shape `(batch, units)`. Outputs: `(h_t, [h_t])`. Masking is handled by the
    wrapping `keras.layers.RNN`, which carries the state over masked steps.

    Args:
        units: int. Reservoir size; also `state_size` and `output_size`.
        spectral_radius: float > 0. Target largest |eigenvalue| of the
            recurrent matrix; values below 1 give the echo-state property for
            most inputs.
        leak_rate: float in (0, 1]. 1 means no leak (plain tanh update).
        input_scaling: float > 0. Range of the input weights.
        reservoir_density: float in (0, 1]. Fraction of non-zero recurrent
            weights.
        seed: int. Seed of the numpy generator that draws the weights, so a
            rebuilt cell gets the same reservoir.
    """

    def __init__(
        self,
        units,
        spectral_radius=0.9,
        leak_rate=1.0,
        input_scaling=1.0,
        reservoir_density=0.1,
        seed=1234,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(units, bool) or not isinstance(units, int) or units <= 0:
            raise ValueError(f"units: expected a positive integer, got {units!r}")
        if not spectral_radius > 0:
            raise ValueError(f"spectral_radius: expected a value > 0, got {spectral_radius!r}")
        if not 0 < leak_rate <= 1:
            raise ValueError(f"leak_rate: expected a value in (0, 1], got {leak_rate!r}")
        if not input_scaling > 0:
            raise ValueError(f"input_scaling: expected a value > 0, got {input_scaling!r}")
        if not 0 < reservoir_density <= 1:
            raise ValueError(f"reservoir_density: expected a value in (0, 1], got {reservoir_density!r}")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed: expected an integer, got {seed!r}")
        self.units = units
        self.spectral_radius = float(spectral_radius)
        self.leak_rate = float(leak_rate)
        self.input_scaling = float(input_scaling)
        self.reservoir_density = float(reservoir_density)
        self.seed = seed
        self.state_size = units
        self.output_size = units

    def _draw_reservoir(self, rng):
        num_weights = self.units * self.units
        num_nonzero = max(1, int(round(self.reservoir_density * num_weights)))
        for _ in range(_MAX_RESERVOIR_DRAWS):
            flat = np.zeros(num_weights)
            positions = rng.choice(num_weights, size=num_nonzero, replace=False)
            flat[positions] = rng.uniform(-1.0, 1.0, size=num_nonzero)
            matrix = flat.reshape(self.units, self.units)
            radius = np.max(np.abs(np.linalg.eigvals(matrix)))
            if radius > 1e-8:
                return matrix * (self.spectral_radius / radius)
        raise ValueError(
            f"reservoir_density: {self.reservoir_density} is too sparse for units={self.units}; "
            f"every reservoir drawn had spectral radius 0"
        )

    def build(self, input_shape):
        input_dim = input_shape[-1]
        if input_dim is None:
            raise ValueError("EchoStateCell: the last input dimension must be known at build time")
        rng = np.random.default_rng(self.seed)
        input_values = rng.uniform(-self.input_scaling, self.input_scaling, size=(input_dim, self.units))
        recurrent_values = self._draw_reservoir(rng)
        # The values come from numpy, so the variables are created empty and
        # assigned; on `.keras` reload the saved values overwrite them anyway.
        self.input_kernel = self.add_weight(
            name="input_kernel", shape=(input_dim, self.units), initializer="zeros", trainable=False
        )
        self.recurrent_kernel = self.add_weight(
            name="recurrent_kernel", shape=(self.units, self.units), initializer="zeros", trainable=False
        )
        self.input_kernel.assign(input_values.astype(self.variable_dtype))
        self.recurrent_kernel.assign(recurrent_values.astype(self.variable_dtype))

    def call(self, inputs, states, training=False):
        previous = states[0] if isinstance(states, (list, tuple)) else states
        pre_activation = ops.matmul(inputs, self.input_kernel) + ops.matmul(previous, self.recurrent_kernel)
        new_state = (1.0 - self.leak_rate) * previous + self.leak_rate * ops.tanh(pre_activation)
        return new_state, [new_state]

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "spectral_radius": self.spectral_radius,
                "leak_rate": self.leak_rate,
                "input_scaling": self.input_scaling,
                "reservoir_density": self.reservoir_density,
                "seed": self.seed,
            }
        )
        return config
