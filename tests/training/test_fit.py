"""The batching rule every pipeline shares: config batch size, seed and bucket boundaries."""

import numpy as np
import tensorflow as tf

from nlp_apps.config import TrainConfig
from nlp_apps.training.fit import bucketed_batches


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
