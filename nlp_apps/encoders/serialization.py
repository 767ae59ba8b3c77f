"""(De)serialization of task models that are built around injected layers (the shared encoder, a decoder).

Every task model takes its encoder (and the translator its decoder) as a
constructor argument. Keras serializes such arguments as nested layer
configs: `get_config` must emit `keras.layers.serialize(layer)` and
`from_config` must turn it back into a layer before calling the
constructor. That, and the rest of `get_config` (the constructor arguments
stored under the same attribute names), is written once here instead of in
each model.
"""

import keras


class InjectedLayersSerialization:
    """Mixin for a `keras.Model` whose constructor takes layers.

    Subclasses list the constructor arguments that are layers in
    `injected_layers` (default: the encoder) and the other constructor
    arguments in `config_arguments`; each must be stored on the model under
    its own name. `get_config` returns exactly those arguments (plus Keras'
    own), and `from_config` rebuilds the injected layers before calling the
    constructor.
    """

    injected_layers = ("encoder",)
    config_arguments = ()

    def get_config(self):
        config = super().get_config()
        config.update({name: keras.layers.serialize(getattr(self, name)) for name in self.injected_layers})
        config.update({name: getattr(self, name) for name in self.config_arguments})
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for name in cls.injected_layers:
            config[name] = keras.layers.deserialize(config[name])
        return cls(**config)


class BuildShapeSerialization:
    """Mixin for a layer whose `build(input_shape)` stores the shape in `_input_shape_for_build`.

    A `.keras` reload then rebuilds it with the same shape before loading
    the weights (its sublayers are created in `build`).
    """

    def get_build_config(self):
        return {"input_shape": self._input_shape_for_build} if self.built else None

    def build_from_config(self, config):
        if config:
            self.build(tuple(config["input_shape"]))
