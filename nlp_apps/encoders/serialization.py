"""(De)serialization of task models that are built around injected layers (the shared encoder, a decoder).

Every task model takes its encoder (and the translator its decoder) as a
constructor argument. Keras serializes such arguments as nested layer
configs: `get_config` must emit `keras.layers.serialize(layer)` and
`from_config` must turn it back into a layer before calling the
constructor. That is written once here instead of in each model.
"""

import keras


class InjectedLayersSerialization:
    """Mixin for a `keras.Model` whose constructor takes layers.

    Subclasses list the constructor arguments that are layers in
    `injected_layers` (default: the encoder) and add
    `self.injected_layers_config()` to their `get_config()`; `from_config`
    is provided.
    """

    injected_layers = ("encoder",)

    def injected_layers_config(self) -> dict:
        return {name: keras.layers.serialize(getattr(self, name)) for name in self.injected_layers}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for name in cls.injected_layers:
            config[name] = keras.layers.deserialize(config[name])
        return cls(**config)
