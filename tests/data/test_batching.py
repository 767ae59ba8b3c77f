import bisect

import numpy as np
import pytest
import tensorflow as tf

from nlp_apps.data.batching import bucket_boundaries_from_lengths, make_batches, padding_fraction


def _skewed_sequences(num_examples=400, seed=0):
    """Mostly short sequences with a long tail; ids start at 1 (0 is padding).

    The first id of every sequence is its example number + 1, so tests can
    check that each example comes out exactly once.
    """
    rng = np.random.default_rng(seed)
    lengths = np.where(rng.random(num_examples) < 0.85, rng.integers(2, 8, num_examples), rng.integers(30, 60, num_examples))
    return [[index + 1] + [1 + (index + step) % 50 for step in range(length - 1)] for index, length in enumerate(lengths)]


def _lengths(batch, key="ids"):
    return np.count_nonzero(batch[key].numpy(), axis=1)


def test_boundaries_from_lengths():
    assert bucket_boundaries_from_lengths([1, 2, 2, 3, 5, 9, 9, 20], 4) == [3, 4, 10]
    assert bucket_boundaries_from_lengths([5] * 10, 4) == []
    assert bucket_boundaries_from_lengths([1, 2, 3], 1) == []
    boundaries = bucket_boundaries_from_lengths([len(s) for s in _skewed_sequences()], 8)
    assert boundaries == sorted(set(boundaries))


@pytest.mark.parametrize("lengths, num_buckets", [([], 2), ([1, -1], 2), ([1.5, 2], 2), ([1, 2], 0)])
def test_boundaries_errors(lengths, num_buckets):
    with pytest.raises(ValueError):
        bucket_boundaries_from_lengths(lengths, num_buckets)


def test_batches_without_buckets_pad_to_batch_max():
    features = {"ids": [[1, 2, 3], [4], [5, 6], [7, 8, 9, 10]], "label": [0, 1, 0, 1], "words": [["a"], ["b", "c"], ["d"], ["e"]]}
    batches = list(make_batches(features, batch_size=3))
    assert [batch["ids"].shape.as_list() for batch in batches] == [[3, 3], [1, 4]]
    assert batches[0]["ids"].numpy().tolist() == [[1, 2, 3], [4, 0, 0], [5, 6, 0]]
    assert batches[0]["ids"].dtype == tf.int32
    assert batches[0]["label"].numpy().tolist() == [0, 1, 0]
    assert batches[0]["words"].numpy().tolist() == [[b"a", b""], [b"b", b"c"], [b"d", b""]]
    assert [batch["ids"].shape[0] for batch in make_batches(features, 3, drop_remainder=True)] == [3]


def test_nested_char_ids_are_padded_in_time_and_chars():
    features = {
        "ids": [[1, 2], [3, 4, 5]],
        "chars": [[[1, 2, 3], [4]], [[5], [6, 7], [8]]],
    }
    (batch,) = list(make_batches(features, batch_size=2))
    assert batch["chars"].shape.as_list() == [2, 3, 3]
    assert batch["chars"].numpy().tolist() == [
        [[1, 2, 3], [4, 0, 0], [0, 0, 0]],
        [[5, 0, 0], [6, 7, 0], [8, 0, 0]],
    ]


def test_ragged_tensor_input():
    ids = tf.ragged.constant([[1, 2], [3], [4, 5, 6]])
    (batch,) = list(make_batches({"ids": ids}, batch_size=3))
    assert batch["ids"].numpy().tolist() == [[1, 2, 0], [3, 0, 0], [4, 5, 6]]


def test_bucketing_keeps_each_batch_inside_one_bucket():
    sequences = _skewed_sequences()
    lengths = [len(sequence) for sequence in sequences]
    boundaries = bucket_boundaries_from_lengths(lengths, 4)
    assert len(boundaries) >= 2
    labels = [index % 2 for index in range(len(sequences))]
    batches = list(make_batches({"ids": sequences, "label": labels}, 16, boundaries, shuffle=True, seed=5))
    seen = []
    for batch in batches:
        batch_lengths = _lengths(batch)
        assert len({bisect.bisect_right(boundaries, length) for length in batch_lengths}) == 1
        assert batch["ids"].shape[1] == batch_lengths.max()
        first_ids = batch["ids"].numpy()[:, 0]
        seen += list(first_ids)
        # Features stay aligned: the label belongs to the same example.
        assert batch["label"].numpy().tolist() == [(first - 1) % 2 for first in first_ids]
    assert sorted(seen) == list(range(1, len(sequences) + 1))


def test_bucketing_wastes_less_padding_on_skewed_lengths():
    sequences = _skewed_sequences()
    boundaries = bucket_boundaries_from_lengths([len(sequence) for sequence in sequences], 6)
    plain = padding_fraction(make_batches({"ids": sequences}, 16, shuffle=True, seed=1), "ids")
    bucketed = padding_fraction(make_batches({"ids": sequences}, 16, boundaries, shuffle=True, seed=1), "ids")
    assert bucketed < plain / 2


def test_shuffle_is_reproducible_with_seed():
    sequences = _skewed_sequences(60)

    def first_ids(seed):
        return [batch["ids"].numpy()[:, 0].tolist() for batch in make_batches({"ids": sequences}, 8, shuffle=True, seed=seed)]

    assert first_ids(11) == first_ids(11)
    assert first_ids(11) != first_ids(12)
    assert sorted(sum(first_ids(11), [])) == list(range(1, 61))


def test_padding_fraction_value():
    batches = [{"ids": np.array([[1, 2, 0, 0], [3, 0, 0, 0]])}, {"ids": np.array([[1, 2]])}]
    assert padding_fraction(batches, "ids") == pytest.approx(5 / 10)
    with pytest.raises(ValueError, match="no feature 'x'"):
        padding_fraction(batches, "x")


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"features": {}}, "at least one feature"),
        ({"features": {"ids": [[1], [2]], "label": [0]}}, "ids=2, label=1"),
        ({"bucket_boundaries": [5, 3]}, "strictly increasing"),
        ({"bucket_boundaries": [0, 3]}, "strictly increasing"),
        ({"length_key": "chars"}, "no feature 'chars'"),
        ({"length_key": "label"}, "scalar"),
        ({"batch_size": 0}, "batch_size"),
        ({"features": {"ids": [[1], [[2]]]}}, "nested equally deep"),
    ],
)
def test_make_batches_errors(kwargs, fragment):
    arguments = {"features": {"ids": [[1, 2], [3]], "label": [0, 1]}, "batch_size": 2, **kwargs}
    with pytest.raises(ValueError, match=fragment):
        make_batches(**arguments)
