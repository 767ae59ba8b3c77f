"""Distribution strategies and precision policies, both chosen by config.

Multi-device and multi-machine training goes through `tf.distribute` only.
"""

import keras
import tensorflow as tf

from nlp_apps.config import TrainConfig

STRATEGIES = ("default", "mirrored", "multi_worker_mirrored")


def configure_logical_cpus(count: int) -> None:
    """Splits the first CPU into `count` logical devices (`train.logical_cpu_devices`; 0 or 1 = leave it whole).

    Must run before TensorFlow creates its runtime (the command line does it
    first thing); later, TensorFlow refuses and the error says so.
    """
    if count <= 1:
        return
    cpu = tf.config.list_physical_devices("CPU")[0]
    configured = tf.config.get_logical_device_configuration(cpu)
    if configured is not None and len(configured) == count:
        return
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)
    except RuntimeError as error:
        raise ValueError(
            f"train.logical_cpu_devices: {count} logical CPUs cannot be made now: TensorFlow is already running in "
            f"this process ({error}). Set it for a fresh process: nlp-apps train --set train.logical_cpu_devices={count}"
        ) from None


def get_strategy(name: str) -> tf.distribute.Strategy:
    """Returns the `tf.distribute` strategy named in `train.distribution_strategy`.

    "mirrored" replicates over the GPUs, or, on a machine without any, over
    the logical CPUs of `train.logical_cpu_devices` (TensorFlow's own default
    would be one CPU replica). `multi_worker_mirrored` reads the cluster from
    the `TF_CONFIG` environment variable, as every tf.distribute multi-worker
    job does.
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        if not tf.config.list_physical_devices("GPU"):
            cpus = [device.name for device in tf.config.list_logical_devices("CPU")]
            if len(cpus) > 1:
                return tf.distribute.MirroredStrategy(cpus)
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker_mirrored":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"train.distribution_strategy: unknown {name!r}; choose one of {', '.join(STRATEGIES)}")


def scale_loss_for_replicas(loss):
    """Divides a loss computed by hand in `compute_loss` by the number of replicas in sync.

    Under `tf.distribute`, Keras sums the gradients of the replicas and
    scales its own `Loss` objects by 1 / replicas to match; a loss a model
    computes itself (the CRF's negative log-likelihood, the translator's
    label-smoothed token loss) is not scaled, so its gradients came out N x
    too large and global-norm clipping acted N x too tightly. Keras unscales
    the value it logs, so the reported loss stays the per-example mean.
    Outside a strategy (one replica) the loss is returned as it is.
    """
    num_replicas = tf.distribute.get_strategy().num_replicas_in_sync
    if num_replicas == 1:
        return loss
    return loss * tf.cast(1.0 / num_replicas, loss.dtype)


def unscale_loss_for_replicas(loss):
    """The per-example loss of a value scaled by `scale_loss_for_replicas` (what a custom train step logs)."""
    num_replicas = tf.distribute.get_strategy().num_replicas_in_sync
    if num_replicas == 1:
        return loss
    return loss * tf.cast(num_replicas, loss.dtype)


def set_precision_policy(train_config: TrainConfig) -> str:
    """Sets the global Keras dtype policy and returns its name.

    Mixed float16 only pays off on GPUs with tensor cores; layers that need
    float32 (softmax outputs, the CRF) cast explicitly.
    """
    policy = "mixed_float16" if train_config.mixed_precision else "float32"
    keras.mixed_precision.set_global_policy(policy)
    return policy
