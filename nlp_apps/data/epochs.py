"""The training epoch the data pipeline reads, so each pass's order and word dropout depend on (seed, epoch) only.

tf.data's `shuffle(seed, reshuffle_each_iteration=True)` draws each pass's
order from how many iterators were made from the dataset so far, and Keras
makes one or two per epoch depending on what it knows of the dataset's
length — so a run resumed at epoch k saw a different order than the
uninterrupted run did. Here a pass is built when its first element is
needed, from the epoch number `DataEpoch` sets at every epoch start: the
order of epoch k is a function of the seed and k, and a resumed run draws
exactly what the uninterrupted one drew. (With `train.steps_per_epoch` one
pass may span epochs; the pass then takes the epoch in which it starts.)
"""

import keras
import tensorflow as tf

# Mixes the epoch into a seed (a prime, so neighbouring seeds and epochs do not collide).
EPOCH_SEED_STRIDE = 1_000_003

_epoch_variable = None


def data_epoch() -> tf.Variable:
    """The process's training-epoch variable (created once, outside any distribution scope)."""
    global _epoch_variable
    if _epoch_variable is None:
        with tf.init_scope():
            _epoch_variable = tf.Variable(0, dtype=tf.int64, trainable=False, name="data_epoch")
    return _epoch_variable


def epoch_seed(seed: int) -> tf.Tensor:
    """`seed` mixed with the current data epoch (read when the pass is built)."""
    return tf.constant(int(seed), tf.int64) + data_epoch().read_value() * EPOCH_SEED_STRIDE


def epoch_shuffle(dataset: tf.data.Dataset, buffer_size: int, seed: int) -> tf.data.Dataset:
    """`dataset` shuffled differently in every epoch, the same way for the same (seed, epoch)."""
    return tf.data.Dataset.from_tensors(tf.constant(0, tf.int64)).flat_map(
        lambda _: dataset.shuffle(buffer_size, seed=epoch_seed(seed), reshuffle_each_iteration=False)
    )


class DataEpoch(keras.callbacks.Callback):
    """Sets the data epoch at each epoch start, before Keras makes that epoch's iterator."""

    def on_epoch_begin(self, epoch, logs=None):
        data_epoch().assign(epoch)
