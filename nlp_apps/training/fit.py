"""The `model.fit` call every pipeline makes, timed, with the batching conventions they share."""

from __future__ import annotations

import time
import warnings

from nlp_apps.config import TrainConfig
from nlp_apps.data.batching import bucket_boundaries_from_lengths, make_batches


def resolve_bucket_boundaries(train_config: TrainConfig, lengths) -> list[int]:
    """`train.bucket_boundaries`: "auto" = from the length quantiles (`train.num_buckets`), a list as given, [] = none."""
    boundaries = train_config.bucket_boundaries
    if boundaries == "auto":
        return bucket_boundaries_from_lengths(lengths, train_config.num_buckets)
    return list(boundaries or [])


def bucketed_batches(train_config: TrainConfig, features: dict, length_key: str, shuffle: bool, lengths=None,
                     shuffle_buffer: int | None = None):
    """`make_batches` with the config's batch size, seed and bucket rule.

    Buckets by `lengths` (default: the row lengths of `features[length_key]`);
    `shuffle_buffer` None shuffles fully (the data is in memory).
    """
    if lengths is None:
        lengths = features[length_key].row_lengths().numpy()
    boundaries = resolve_bucket_boundaries(train_config, lengths)
    return make_batches(
        features,
        batch_size=train_config.batch_size,
        bucket_boundaries=boundaries or None,
        shuffle=shuffle,
        seed=train_config.seed,
        length_key=length_key,
        shuffle_buffer=shuffle_buffer,
    )


def fit_timed(model, train_config: TrainConfig, train_batches, callbacks: list, validation_batches=None, initial_epoch: int = 0):
    """Runs `model.fit` with the config's epochs, steps and verbosity; returns `(history, wall seconds)`.

    `initial_epoch` > 0 continues a resumed run (the epochs before it are done).

    `shuffle=False` because every pipeline's tf.data already shuffles (and
    buckets) — or, for stream language models, must keep the stream order.
    """
    started = time.perf_counter()
    with warnings.catch_warnings():
        if not train_config.steps_per_epoch:
            # Bucketed tf.data pipelines have an unknown cardinality, so Keras
            # learns the epoch length by running out of data once and warns
            # "Your input ran out of data" although nothing is wrong. With
            # `train.steps_per_epoch` set the warning means what it says: keep it.
            warnings.filterwarnings("ignore", message="Your input ran out of data", category=UserWarning)
        history = model.fit(
            train_batches,
            validation_data=validation_batches,
            epochs=train_config.epochs,
            initial_epoch=initial_epoch,
            steps_per_epoch=train_config.steps_per_epoch or None,
            callbacks=callbacks,
            shuffle=False,
            verbose=train_config.verbose,
        )
    return history, time.perf_counter() - started
