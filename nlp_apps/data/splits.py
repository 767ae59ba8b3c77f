"""Seeded dev splits and k-fold cross-validation over `datasets.Dataset` rows."""

from __future__ import annotations

import datasets
import numpy as np


def _check_dataset(dataset: datasets.Dataset) -> None:
    if not isinstance(dataset, datasets.Dataset):
        raise ValueError(f"dataset: expected a datasets.Dataset, got {type(dataset).__name__}")


def _check_column(dataset: datasets.Dataset, column: str, argument: str) -> None:
    if column not in dataset.column_names:
        raise ValueError(f"{argument}: no column {column!r}; columns present: {', '.join(dataset.column_names)}")


def train_dev_split(
    dataset: datasets.Dataset, dev_fraction: float = 0.1, seed: int = 1234
) -> tuple[datasets.Dataset, datasets.Dataset]:
    """Splits off a random dev set, reproducibly for a given seed.

    Args:
        dataset: the examples to split (at least 2 rows).
        dev_fraction: share of rows for dev, 0 < dev_fraction < 1. The dev
            size is round(num_rows * dev_fraction), kept between 1 and
            num_rows - 1.
        seed: the same seed and data always give the same split.

    Returns:
        (train, dev): disjoint, together all rows; each keeps the original
        row order (shuffle when batching).

    Raises:
        ValueError: dev_fraction outside (0, 1), or fewer than 2 rows.
    """
    _check_dataset(dataset)
    if isinstance(dev_fraction, bool) or not isinstance(dev_fraction, (int, float)) or not 0 < dev_fraction < 1:
        raise ValueError(f"dev_fraction: expected a number strictly between 0 and 1, got {dev_fraction!r}")
    num_rows = len(dataset)
    if num_rows < 2:
        raise ValueError(f"dataset: cannot split {num_rows} row(s) into non-empty train and dev sets")
    num_dev = min(max(int(round(num_rows * dev_fraction)), 1), num_rows - 1)
    order = np.random.default_rng(seed).permutation(num_rows)
    dev_indices = np.sort(order[:num_dev])
    train_indices = np.sort(order[num_dev:])
    return dataset.select(train_indices), dataset.select(dev_indices)


def k_folds(
    dataset: datasets.Dataset,
    k: int = 10,
    fold_column: str | None = None,
    seed: int = 1234,
    stratify_column: str | None = None,
) -> list[tuple[datasets.Dataset, datasets.Dataset]]:
    """Builds the k (train, held-out) pairs of k-fold cross-validation.

    Args:
        dataset: the examples.
        k: number of folds, at least 2.
        fold_column: a column that already assigns folds (review_polarity's
            `fold`, 0-9). Its distinct values, sorted, are the folds, and
            there must be exactly k of them. Without it, rows are shuffled
            with `seed` and cut into k folds whose sizes differ by at most 1.
        seed: used only without `fold_column`.
        stratify_column: used only without `fold_column`: each value of this
            column (e.g. the label) is spread evenly over the folds, so every
            fold keeps the class balance of the whole set (its count differs
            by at most 1 between folds).

    Returns:
        A list of k pairs (train, held_out); the held-out parts are disjoint
        and together cover every row once; rows keep their original order.

    Raises:
        ValueError: k < 2, k greater than the number of rows, a missing
            `fold_column` or `stratify_column`, or a number of distinct fold
            values other than k.
    """
    _check_dataset(dataset)
    if isinstance(k, bool) or not isinstance(k, int) or k < 2:
        raise ValueError(f"k: expected an integer >= 2, got {k!r}")
    num_rows = len(dataset)
    if fold_column is None:
        if k > num_rows:
            raise ValueError(f"k: cannot make {k} non-empty folds from {num_rows} rows")
        fold_of_row = np.empty(num_rows, dtype=np.int64)
        if stratify_column is None:
            order = np.random.default_rng(seed).permutation(num_rows)
            for fold, indices in enumerate(np.array_split(order, k)):
                fold_of_row[indices] = fold
        else:
            _check_column(dataset, stratify_column, "stratify_column")
            # Each class is shuffled, the classes are laid end to end and the
            # rows are dealt to the folds in turn, like cards.
            generator = np.random.default_rng(seed)
            values = np.array([str(value) for value in dataset[stratify_column]])
            order = np.concatenate(
                [generator.permutation(np.flatnonzero(values == value)) for value in sorted(set(values))]
            )
            fold_of_row[order] = np.arange(num_rows) % k
        fold_values = list(range(k))
    else:
        _check_column(dataset, fold_column, "fold_column")
        values = list(dataset[fold_column])
        fold_values = sorted(set(values))
        if len(fold_values) != k:
            raise ValueError(
                f"fold_column {fold_column!r} holds {len(fold_values)} distinct values "
                f"({', '.join(map(str, fold_values[:20]))}), but k={k}"
            )
        position = {value: fold for fold, value in enumerate(fold_values)}
        fold_of_row = np.array([position[value] for value in values], dtype=np.int64)
    folds = []
    for fold in range(len(fold_values)):
        held_out = fold_of_row == fold
        folds.append((dataset.select(np.flatnonzero(~held_out)), dataset.select(np.flatnonzero(held_out))))
    return folds


def cross_validation_fold(
    dataset: datasets.Dataset,
    num_folds: int,
    fold: int,
    fold_column: str | None = None,
    seed: int = 1234,
    stratify_column: str | None = None,
) -> tuple[datasets.Dataset, datasets.Dataset]:
    """One (train, held_out) pair of `k_folds(dataset, num_folds, ...)`.

    Args:
        dataset, fold_column, seed, stratify_column: as for `k_folds`.
        num_folds: k, at least 2.
        fold: which fold is held out, 0 <= fold < num_folds (with
            `fold_column`, the position of its value among the sorted
            distinct values, so review_polarity's fold 3 is `cv300`-`cv399`).

    Raises:
        ValueError: as `k_folds`, and "fold: ..." for a fold outside 0..num_folds-1.
    """
    if isinstance(num_folds, bool) or not isinstance(num_folds, int) or num_folds < 2:
        raise ValueError(f"num_folds: expected an integer >= 2, got {num_folds!r}")
    if isinstance(fold, bool) or not isinstance(fold, int) or not 0 <= fold < num_folds:
        raise ValueError(f"fold: expected an integer from 0 to {num_folds - 1} (num_folds={num_folds}), got {fold!r}")
    return k_folds(dataset, num_folds, fold_column=fold_column, seed=seed, stratify_column=stratify_column)[fold]
