"""What every pipeline shares for training: the batching rule (batch size, seed, buckets) and the timed fit call."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from nlp_apps.config import TrainConfig
from nlp_apps.training.fit import bucketed_batches, fit_timed


def ragged_features(lengths):
    ids = tf.ragged.constant([[1] * length for length in lengths], dtype=tf.int32)
    return {"token_ids": ids, "label": np.arange(len(lengths), dtype=np.int32)}


def test_buckets_keep_short_and_long_examples_apart_and_every_example_once():
    lengths = [2] * 8 + [30] * 8
    config = TrainConfig(batch_size=4, bucket_boundaries=[10], seed=3)
    batches = list(bucketed_batches(config, ragged_features(lengths), "token_ids", shuffle=True))
    widths = sorted(int(batch["token_ids"].shape[1]) for batch in batches)
    assert widths == [2, 2, 30, 30]
    labels = np.concatenate([batch["label"].numpy() for batch in batches])
    assert sorted(labels.tolist()) == list(range(16))


def test_no_boundaries_pads_each_batch_to_its_longest_in_input_order():
    config = TrainConfig(batch_size=4, bucket_boundaries=[])
    batches = list(bucketed_batches(config, ragged_features([2, 30, 2, 2]), "token_ids", shuffle=False))
    assert len(batches) == 1 and batches[0]["token_ids"].shape == (4, 30)
    np.testing.assert_array_equal(batches[0]["label"], [0, 1, 2, 3])


def tiny_regression_model():
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    return model


def unknown_cardinality_batches():
    # filter() hides the length from tf.data, as bucketing does.
    features = tf.data.Dataset.from_tensor_slices((np.ones((8, 1), "float32"), np.ones((8, 1), "float32")))
    return features.filter(lambda x, y: True).batch(4)


def test_fit_timed_hides_the_spurious_ran_out_of_data_warning_of_unknown_length_datasets(recwarn):
    batches = unknown_cardinality_batches()
    assert int(batches.cardinality()) == int(tf.data.UNKNOWN_CARDINALITY)
    history, seconds = fit_timed(tiny_regression_model(), TrainConfig(epochs=2, verbose=0), batches, callbacks=[])
    assert len(history.history["loss"]) == 2 and seconds > 0
    assert not [w for w in recwarn if "ran out of data" in str(w.message)]


def test_fit_timed_keeps_the_warning_when_steps_per_epoch_asks_for_more_than_the_data():
    with pytest.warns(UserWarning, match="ran out of data"):
        fit_timed(tiny_regression_model(), TrainConfig(epochs=2, steps_per_epoch=5, verbose=0),
                  unknown_cardinality_batches(), callbacks=[])
