"""Distribution strategies and precision policies, both chosen by config.

Multi-device and multi-machine training goes through `tf.distribute` only.
"""

import keras
import tensorflow as tf

from nlp_apps.config import TrainConfig

STRATEGIES = ("default", "mirrored", "multi_worker_mirrored")


def get_strategy(name: str) -> tf.distribute.Strategy:
    """Returns the `tf.distribute` strategy named in `train.distribution_strategy`.

    `multi_worker_mirrored` reads the cluster from the `TF_CONFIG` environment
    variable, as every tf.distribute multi-worker job does.
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker_mirrored":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"train.distribution_strategy: unknown {name!r}; choose one of {', '.join(STRATEGIES)}")


def set_precision_policy(train_config: TrainConfig) -> str:
    """Sets the global Keras dtype policy and returns its name.

    Mixed float16 only pays off on GPUs with tensor cores; layers that need
    float32 (softmax outputs, the CRF) cast explicitly.
    """
    policy = "mixed_float16" if train_config.mixed_precision else "float32"
    keras.mixed_precision.set_global_policy(policy)
    return policy
