"""tf.data pipelines of padded batches, optionally bucketed by sequence length.

Padding uses 0 for numbers and "" for strings, so token and character ids
must reserve 0 for padding (the encoders mask it). Variable-length features
are turned into `tf.RaggedTensor`s once, up front; shuffling, bucketing and
padding then run inside tf.data, with no Python code per batch.
"""

from __future__ import annotations

import itertools
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import tensorflow as tf

from nlp_apps.data.epochs import epoch_shuffle

_INT32_MAX = np.iinfo(np.int32).max


def bucket_boundaries_from_lengths(lengths: Sequence[int], num_buckets: int) -> list[int]:
    """Chooses bucket boundaries so that buckets hold about equal numbers of examples.

    Bucket i holds lengths in [boundary[i-1], boundary[i]) (the convention of
    `tf.data.Dataset.bucket_by_sequence_length`); boundary i is one more than
    the i/num_buckets quantile of `lengths`. Duplicate boundaries (many equal
    lengths) and ones that would leave the last bucket empty are dropped, so
    there may be fewer than num_buckets - 1.

    Args:
        lengths: sequence lengths, e.g. tokens per sentence.
        num_buckets: wanted number of buckets, >= 1 (1 gives no boundaries).

    Returns:
        Sorted list of unique int boundaries.

    Raises:
        ValueError: empty or negative lengths, num_buckets < 1.
    """
    if isinstance(num_buckets, bool) or not isinstance(num_buckets, (int, np.integer)) or num_buckets < 1:
        raise ValueError(f"num_buckets: expected an integer >= 1, got {num_buckets!r}")
    lengths = np.asarray(lengths)
    if lengths.ndim != 1 or lengths.size == 0:
        raise ValueError(f"lengths: expected a non-empty 1-D sequence of lengths, got shape {lengths.shape}")
    if not np.issubdtype(lengths.dtype, np.integer) or lengths.min() < 0:
        raise ValueError("lengths: expected non-negative integers")
    quantiles = np.quantile(lengths, np.arange(1, num_buckets) / num_buckets, method="inverted_cdf")
    boundaries = sorted({int(quantile) + 1 for quantile in quantiles})
    return [boundary for boundary in boundaries if boundary <= lengths.max()]


def _nesting_depth(values: Sequence) -> int:
    """Number of list levels, looking past empty lists (1 for a list of scalars)."""
    depth, level = 1, values
    while True:
        items = [item for item in level if isinstance(item, (list, tuple, np.ndarray))]
        if not items:
            return depth
        depth += 1
        level = list(itertools.chain.from_iterable(items))


def _leaf_array(name: str, values: list) -> np.ndarray:
    array = np.asarray(values)
    if array.size == 0:
        return np.zeros([0], dtype=np.int32)
    if array.dtype.kind in "iu":
        # int32 halves memory and is what Keras embeddings take; fall back to
        # int64 for ids that do not fit.
        fits = array.min() >= -_INT32_MAX - 1 and array.max() <= _INT32_MAX
        return array.astype(np.int32 if fits else np.int64)
    if array.dtype.kind == "f":
        return array.astype(np.float32)
    if array.dtype.kind in "UO" and all(isinstance(value, str) for value in values):
        return array.astype(object)
    if array.dtype.kind == "b":
        return array
    raise ValueError(f"feature {name!r}: values must be numbers or strings, nested equally deep")


def _to_tensor(name: str, values: Any) -> tf.Tensor | tf.RaggedTensor:
    """Turns one feature (python lists, numpy, tf tensors) into a (ragged) tensor."""
    if isinstance(values, (tf.Tensor, tf.RaggedTensor)):
        return values
    if isinstance(values, np.ndarray) and values.dtype != object:
        return tf.convert_to_tensor(_leaf_array(name, values.reshape(-1)).reshape(values.shape))
    values = list(values)
    depth = _nesting_depth(values)
    nested_row_lengths = []
    level = values
    for _ in range(depth - 1):
        try:
            nested_row_lengths.append(np.array([len(item) for item in level], dtype=np.int64))
        except TypeError:
            raise ValueError(f"feature {name!r}: sequences must be nested equally deep") from None
        level = list(itertools.chain.from_iterable(level))
    flat = tf.convert_to_tensor(_leaf_array(name, level))
    if not nested_row_lengths:
        return flat
    return tf.RaggedTensor.from_nested_row_lengths(flat, nested_row_lengths, validate=False)


def _num_examples(tensor: tf.Tensor | tf.RaggedTensor) -> int:
    if isinstance(tensor, tf.RaggedTensor):
        return int(tensor.nrows())
    return int(tf.shape(tensor)[0]) if tensor.shape.rank else 0


@tf.autograph.experimental.do_not_convert
def _densify(element: dict) -> dict:
    return {name: value.to_tensor() if isinstance(value, tf.RaggedTensor) else value for name, value in element.items()}


def make_batches(
    features: Mapping[str, Any],
    batch_size: int,
    bucket_boundaries: Sequence[int] | None = None,
    shuffle: bool = False,
    seed: int | None = None,
    drop_remainder: bool = False,
    length_key: str | None = None,
    shuffle_buffer: int | None = None,
) -> tf.data.Dataset:
    """Builds a `tf.data.Dataset` of padded batches.

    Args:
        features: name -> one value per example: scalars (labels), sequences
            (token ids, `(time,)`), or nested sequences (char ids, `(time,
            chars)`), as python lists, numpy arrays or tf (ragged) tensors.
            All features need the same number of examples.
        batch_size: examples per batch.
        bucket_boundaries: None or [] pads each batch to its longest example.
            A sorted list groups examples by the length of `length_key` with
            `tf.data.Dataset.bucket_by_sequence_length` (bucket i holds lengths
            in [b[i-1], b[i])), so batches mix only similar lengths.
        shuffle: shuffle examples (before batching / bucketing), differently
            each epoch: the order is a function of `seed` and the training
            epoch (`nlp_apps.data.epochs`), so a resumed run repeats it.
        seed: shuffle seed.
        drop_remainder: drop incomplete batches (per bucket when bucketing).
        length_key: feature whose first dimension is the bucketing length;
            defaults to the first feature that is a sequence.
        shuffle_buffer: shuffle buffer size; defaults to the number of
            examples (a full shuffle; the data is in memory anyway).

    Returns:
        Dataset of dicts with the same keys; each value is a dense tensor
        `(batch, ...)` padded with 0 ("" for strings) to the batch maximum in
        every variable dimension.

    Raises:
        ValueError: no features, features of different sizes, unsorted or
            non-positive boundaries, unknown `length_key`, bad batch_size.
    """
    if not features:
        raise ValueError("features: expected at least one feature")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size: expected an integer >= 1, got {batch_size!r}")
    boundaries = [int(boundary) for boundary in bucket_boundaries or []]
    if any(boundary < 1 for boundary in boundaries) or any(
        later <= earlier for earlier, later in zip(boundaries, boundaries[1:])
    ):
        raise ValueError(f"bucket_boundaries: expected strictly increasing positive integers, got {boundaries}")

    tensors = {name: _to_tensor(name, values) for name, values in features.items()}
    sizes = {name: _num_examples(tensor) for name, tensor in tensors.items()}
    if len(set(sizes.values())) != 1:
        raise ValueError(
            "features: every feature needs one value per example, got sizes "
            + ", ".join(f"{name}={size}" for name, size in sizes.items())
        )
    num_examples = next(iter(sizes.values()))
    if num_examples == 0:
        raise ValueError("features: no examples")

    dataset = tf.data.Dataset.from_tensor_slices(tensors)
    if any(isinstance(spec, tf.RaggedTensorSpec) for spec in dataset.element_spec.values()):
        # padded_batch only takes dense elements: a (time, chars) example
        # becomes dense here, padded to its own longest token; padded_batch
        # then pads it further to the batch's longest one.
        dataset = dataset.map(_densify, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if length_key is None:
        sequence_keys = [name for name, spec in dataset.element_spec.items() if spec.shape.rank]
        length_key = sequence_keys[0] if sequence_keys else None
    elif length_key not in tensors:
        raise ValueError(f"length_key: no feature {length_key!r}; features: {', '.join(tensors)}")
    elif not dataset.element_spec[length_key].shape.rank:
        raise ValueError(f"length_key: feature {length_key!r} is a scalar per example, not a sequence")
    if boundaries and length_key is None:
        raise ValueError("bucket_boundaries: bucketing needs a sequence feature, but every feature is a scalar")

    if shuffle:
        dataset = epoch_shuffle(dataset, shuffle_buffer or num_examples, seed or 0)
    if boundaries:
        dataset = dataset.bucket_by_sequence_length(
            element_length_func=lambda element: tf.shape(element[length_key])[0],
            bucket_boundaries=boundaries,
            bucket_batch_sizes=[batch_size] * (len(boundaries) + 1),
            drop_remainder=drop_remainder,
        )
    else:
        dataset = dataset.padded_batch(batch_size, drop_remainder=drop_remainder)
    return dataset.prefetch(tf.data.AUTOTUNE)


def padding_fraction(batches: Iterable[Mapping[str, Any]], key: str, pad_value: Any = 0) -> float:
    """Fraction of positions in `key` that are padding, over padded batches.

    Every cell equal to `pad_value` counts as padding, which is exact when
    real ids never take that value (0 is reserved for padding here).

    Args:
        batches: iterable of dicts of padded `(batch, ...)` arrays or tensors,
            e.g. the output of `make_batches`.
        key: the feature to measure.

    Returns:
        padded cells / all cells, from 0 (no waste) towards 1.

    Raises:
        ValueError: `key` missing from a batch, or no cells at all.
    """
    padded, total = 0, 0
    for batch in batches:
        if key not in batch:
            raise ValueError(f"key: no feature {key!r} in batch; features: {', '.join(batch)}")
        values = np.asarray(batch[key])
        padded += int(np.count_nonzero(values == pad_value))
        total += values.size
    if total == 0:
        raise ValueError(f"batches: no values for {key!r}")
    return padded / total
