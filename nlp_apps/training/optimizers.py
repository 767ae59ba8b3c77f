"""Builds the optimizer named in `TrainConfig`."""

import keras

from nlp_apps.config import TrainConfig
from nlp_apps.training.fine_tuning import GROUP_SCALED_OPTIMIZERS

OPTIMIZERS = {
    "adam": keras.optimizers.Adam,
    "adamw": keras.optimizers.AdamW,
    "nadam": keras.optimizers.Nadam,
    "rmsprop": keras.optimizers.RMSprop,
    "sgd": keras.optimizers.SGD,
}


def build_optimizer(train_config: TrainConfig, learning_rate=None, group_scales=None) -> keras.optimizers.Optimizer:
    """Returns the configured optimizer with global-norm gradient clipping.

    Clipping by the global norm (not per tensor) keeps the update direction,
    which is what tames exploding gradients in RNNs. `group_scales`
    (`{"variable_groups", "num_groups", "initial_scales"}`, see
    `nlp_apps.training.fine_tuning`) gives layer groups their own rates.
    """
    name = train_config.optimizer.lower()
    if name not in OPTIMIZERS:
        raise ValueError(f"train.optimizer: unknown optimizer {train_config.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
    kwargs = {"learning_rate": learning_rate if learning_rate is not None else train_config.learning_rate}
    if train_config.clipnorm and train_config.clipnorm > 0:
        kwargs["global_clipnorm"] = train_config.clipnorm
    if group_scales:
        return GROUP_SCALED_OPTIMIZERS[name](**kwargs, **group_scales)
    return OPTIMIZERS[name](**kwargs)
