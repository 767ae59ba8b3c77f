"""A corpus as one continuous id stream, cut into parallel streams and BPTT windows.

This is the batching of truncated backpropagation through time (Zaremba et
al. 2014, AWD-LSTM): the id sequence is trimmed to a multiple of
`num_streams`, reshaped so that row `i` holds the i-th contiguous slice, and
read left to right in windows of `window_length` steps. Batch `j` row `i`
continues exactly where batch `j - 1` row `i` stopped, so a model that
carries its hidden state from batch to batch sees every stream as one
unbroken text.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf


def stream_matrix(ids, num_streams: int) -> np.ndarray:
    """`(num_streams, length)` int32: `ids` cut into `num_streams` contiguous rows.

    The last `len(ids) % num_streams` ids are dropped (at most
    `num_streams - 1`), as in the reference implementations.
    """
    ids = np.asarray(ids, dtype=np.int32).reshape(-1)
    if isinstance(num_streams, bool) or not isinstance(num_streams, (int, np.integer)) or num_streams < 1:
        raise ValueError(f"num_streams: expected an integer >= 1, got {num_streams!r}")
    length = len(ids) // num_streams
    if length < 2:
        raise ValueError(
            f"ids: {len(ids)} ids are too few for {num_streams} streams (each stream needs at least 2 ids)"
        )
    return ids[: length * num_streams].reshape(num_streams, length)


def stream_windows(ids, num_streams: int, window_length: int, pad_last: bool = False):
    """Yields `(inputs, targets)` int32 arrays `(num_streams, window_length)`.

    Targets are the inputs shifted by one id. Every id of each stream except
    its first is a target exactly once. The last window is shorter; with
    `pad_last` it is right-padded with 0 (padding, masked by the model and
    the loss) so every window has the same shape (one traced graph),
    otherwise it is dropped when shorter than `window_length`.
    """
    if isinstance(window_length, bool) or not isinstance(window_length, (int, np.integer)) or window_length < 1:
        raise ValueError(f"window_length: expected an integer >= 1, got {window_length!r}")
    matrix = stream_matrix(ids, num_streams)
    num_targets = matrix.shape[1] - 1
    for start in range(0, num_targets, window_length):
        inputs = matrix[:, start : start + window_length]
        targets = matrix[:, start + 1 : start + 1 + window_length]
        size = targets.shape[1]
        inputs = inputs[:, :size]
        if size < window_length:
            if not pad_last:
                return
            padding = ((0, 0), (0, window_length - size))
            inputs, targets = np.pad(inputs, padding), np.pad(targets, padding)
        yield inputs, targets


def stream_dataset(ids, num_streams: int, window_length: int, pad_last: bool = False) -> tf.data.Dataset:
    """`stream_windows` as an (ordered, never shuffled) `tf.data.Dataset` of `(inputs, targets)`."""
    windows = list(stream_windows(ids, num_streams, window_length, pad_last=pad_last))
    if not windows:
        raise ValueError(
            f"ids: too short for one window of {window_length} steps in {num_streams} streams "
            f"({len(np.asarray(ids).reshape(-1))} ids)"
        )
    inputs = np.stack([window[0] for window in windows])
    targets = np.stack([window[1] for window in windows])
    return tf.data.Dataset.from_tensor_slices((inputs, targets))


def contiguous_split(lines: list[str], dev_fraction: float, test_fraction: float, seed: int):
    """Splits a running text (a list of lines) into train / dev / test, each contiguous.

    For corpora shipped without a split (tinyshakespeare): dev and test are
    two adjacent blocks of whole lines holding `dev_fraction` and
    `test_fraction` of the lines, placed at a position drawn with `seed`;
    train is the rest (the text before the held-out block followed by the
    text after it, so it has one seam). The same seed always gives the
    same split; `seed` < 0 puts the held-out block at the end (train,
    dev, test in file order).
    """
    for name, value in (("dev_fraction", dev_fraction), ("test_fraction", test_fraction)):
        if not 0.0 < value < 0.5:
            raise ValueError(f"data.{name}: expected a fraction in (0, 0.5) to split a single file, got {value!r}")
    num_lines = len(lines)
    num_dev = max(1, int(round(num_lines * dev_fraction)))
    num_test = max(1, int(round(num_lines * test_fraction)))
    if num_dev + num_test >= num_lines:
        raise ValueError(f"data: {num_lines} lines are too few to split off dev and test sets")
    held_out = num_dev + num_test
    if seed < 0:
        start = num_lines - held_out
    else:
        start = int(np.random.default_rng(seed).integers(0, num_lines - held_out + 1))
    dev = lines[start : start + num_dev]
    test = lines[start + num_dev : start + held_out]
    train = lines[:start] + lines[start + held_out :]
    return train, dev, test
