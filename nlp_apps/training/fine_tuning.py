"""Fine-tuning recipes for a pretrained encoder: frozen, full, gradual unfreezing, discriminative rates.

The encoder's weights are cut into layer groups, top down (ULMFiT, Howard &
Ruder 2018): group 1 is the top RNN layer, group `num_layers` the bottom
one, group `num_layers + 1` the token / character / casing embeddings.
Everything else (the task head, the scalar-mix weights) is group 0.

- "frozen": the encoder groups are not trainable at all (no gradients are
  computed for them, so it is also the cheapest recipe).
- "full": every weight trains.
- "gradual": epoch 1 trains group 0 only; epoch e + 1 also trains groups
  1 .. e. Groups are switched on through per-variable learning-rate scales
  (0 = frozen), not `trainable`, so the compiled train step, the optimizer's
  slots and `--resume` stay valid across epochs: `GradualUnfreezing` sets the
  scales from the epoch number at every epoch start.
- `layer_lr_decay` d < 1 (discriminative learning rates): group k trains at
  `learning_rate * d ** k`, with any recipe.

The scales live in the optimizer (`GroupScaledOptimizer` subclasses of the
Keras optimizers): Keras 3 has one learning rate per optimizer, and scaling
gradients instead would not change Adam's steps (Adam is invariant to the
gradient's scale).
"""

import keras
import numpy as np
import tensorflow as tf

FINE_TUNING_RECIPES = ("full", "frozen", "gradual")


def check_fine_tuning(encoder_config) -> None:
    """Raises a ValueError naming the field for an unknown recipe or a decay outside (0, 1]."""
    if encoder_config.fine_tuning not in FINE_TUNING_RECIPES:
        raise ValueError(
            f"model.encoder.fine_tuning: unknown recipe {encoder_config.fine_tuning!r}; "
            f"choose one of {', '.join(FINE_TUNING_RECIPES)}"
        )
    if not 0.0 < encoder_config.layer_lr_decay <= 1.0:
        raise ValueError(f"model.encoder.layer_lr_decay: expected a factor in (0, 1], got {encoder_config.layer_lr_decay!r}")


def encoder_layer_groups(encoder) -> list[list]:
    """The encoder's weights by layer group, top down: [top RNN layer], ..., [bottom RNN layer], [embeddings]."""
    groups = [list(layer.weights) for layer in reversed(encoder.rnn_stack.rnn_layers)]
    embeddings = list(encoder.token_embedding.weights)
    for layer in (encoder.char_embedding, encoder.case_embedding):
        if layer is not None:
            embeddings.extend(layer.weights)
    groups.append(embeddings)
    return groups


def freeze_encoder(encoder) -> None:
    """Makes the encoder's layer groups non-trainable; a scalar mix on top of them keeps training."""
    for layer in (encoder.token_embedding, encoder.char_embedding, encoder.case_embedding, encoder.rnn_stack):
        if layer is not None:
            layer.trainable = False


def group_scales(num_groups: int, layer_lr_decay: float, recipe: str, epoch: int) -> list[float]:
    """Learning-rate scale of groups 0 .. num_groups - 1 (0 = the head) at 0-based `epoch`."""
    scales = []
    for group in range(num_groups):
        unfrozen = recipe != "gradual" or group <= epoch
        scales.append(float(layer_lr_decay**group) if unfrozen else 0.0)
    return scales


class GroupScaledOptimizer:
    """Mixin for a Keras optimizer: each variable's step uses `learning_rate * scale[its group]`.

    Args (besides the optimizer's own):
        variable_groups: {variable path: group}; variables not named are
            group 0 (scale 1 unless set otherwise).
        num_groups: number of groups.
        initial_scales: the scales until `set_group_scales` is called.
    """

    def __init__(self, *args, variable_groups=None, num_groups=1, initial_scales=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.variable_groups = dict(variable_groups or {})
        self.num_groups = int(num_groups)
        self.initial_scales = [float(value) for value in (initial_scales or [1.0] * self.num_groups)]
        self._scales = None
        self._group_of_index = None

    def build(self, variables):
        super().build(variables)
        # A plain tf.Variable, outside Keras' tracking: the scales follow the
        # epoch (GradualUnfreezing), not the saved optimizer state. Keras may
        # build the optimizer inside the traced train step: init_scope
        # creates the variable eagerly all the same.
        with tf.init_scope():
            self._scales = tf.Variable(self.initial_scales, trainable=False, dtype=tf.float32, name="group_scales")
        self._group_of_index = [self.variable_groups.get(variable.path, 0) for variable in variables]

    def set_group_scales(self, scales) -> None:
        self.initial_scales = [float(value) for value in scales]
        if self._scales is not None:
            self._scales.assign(self.initial_scales)

    def update_step(self, gradient, variable, learning_rate):
        group = self._group_of_index[self._get_variable_index(variable)]
        scale = tf.cast(self._scales[group], learning_rate.dtype if hasattr(learning_rate, "dtype") else tf.float32)
        return super().update_step(gradient, variable, learning_rate * scale)

    def _apply_weight_decay(self, variables):
        # AdamW decays weights by learning_rate x weight_decay outside `update_step`:
        # scaled the same way, so a frozen group (scale 0) does not shrink either.
        if self.weight_decay is None:
            return
        scales = {id(variable): self._scales[self._group_of_index[self._get_variable_index(variable)]] for variable in variables}

        def apply(distribution, variables):
            for variable in variables:
                if not self._use_weight_decay(variable):
                    continue
                scale = scales[id(variable)]
                target = variable.value if hasattr(variable, "value") and not isinstance(variable, tf.Variable) else variable

                def decay(value, scale=scale):
                    rate = tf.cast(self.learning_rate, value.dtype) * tf.cast(scale, value.dtype)
                    value.assign_sub(value * tf.cast(self.weight_decay, value.dtype) * rate)

                distribution.extended.update(target, decay, group=False)

        tf.__internal__.distribute.interim.maybe_merge_call(apply, self._distribution_strategy, variables)

    def get_config(self):
        config = super().get_config()
        config.update(
            {"variable_groups": self.variable_groups, "num_groups": self.num_groups, "initial_scales": self.initial_scales}
        )
        return config


def _group_scaled(optimizer_class):
    subclass = type(f"GroupScaled{optimizer_class.__name__}", (GroupScaledOptimizer, optimizer_class), {})
    return keras.saving.register_keras_serializable(package="nlp_apps")(subclass)


GROUP_SCALED_OPTIMIZERS = {
    name: _group_scaled(optimizer_class)
    for name, optimizer_class in {
        "adam": keras.optimizers.Adam,
        "adamw": keras.optimizers.AdamW,
        "nadam": keras.optimizers.Nadam,
        "rmsprop": keras.optimizers.RMSprop,
        "sgd": keras.optimizers.SGD,
    }.items()
}


def needs_group_scales(encoder_config) -> bool:
    return encoder_config.fine_tuning == "gradual" or encoder_config.layer_lr_decay != 1.0


def variable_groups(encoder) -> dict:
    """{variable path: group} for the encoder's layer groups (1 = top RNN layer)."""
    return {
        variable.path: group
        for group, variables in enumerate(encoder_layer_groups(encoder), start=1)
        for variable in variables
    }


class GradualUnfreezing(keras.callbacks.Callback):
    """Sets the optimizer's group scales for each epoch (gradual unfreezing and/or discriminative rates).

    Prints which groups train when they change, so a log shows the schedule.
    """

    def __init__(self, num_groups: int, layer_lr_decay: float, recipe: str):
        super().__init__()
        self.num_groups = num_groups
        self.layer_lr_decay = layer_lr_decay
        self.recipe = recipe
        self.history = []

    def on_epoch_begin(self, epoch, logs=None):
        scales = group_scales(self.num_groups, self.layer_lr_decay, self.recipe, epoch)
        optimizer = self.model.optimizer
        optimizer = getattr(optimizer, "inner_optimizer", optimizer)
        optimizer.set_group_scales(scales)
        trained = [group for group, scale in enumerate(scales) if scale > 0]
        if not self.history or self.history[-1][1] != trained:
            print(f"fine-tuning: epoch {epoch + 1} trains layer groups {trained} (0 = head) at rate scales "
                  f"{np.round(scales, 4).tolist()}")
        self.history.append((epoch, trained))
