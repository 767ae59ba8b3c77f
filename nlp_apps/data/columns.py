"""Moves `datasets.Dataset` columns into TensorFlow: plain lists and ragged tensors."""

import tensorflow as tf


def column(dataset, name: str) -> list:
    """A `datasets.Dataset` column as a plain list (datasets 4+ returns lazy Column objects)."""
    return list(dataset[name])


def ragged_rows(rows: list[list], dtype=tf.string) -> tf.RaggedTensor:
    """(rows, None) ragged tensor, built from flat values (far faster than `tf.ragged.constant`)."""
    lengths = [len(row) for row in rows]
    flat = [value for row in rows for value in row]
    return tf.RaggedTensor.from_row_lengths(tf.constant(flat, dtype=dtype, shape=[len(flat)]), tf.constant(lengths, tf.int64))
