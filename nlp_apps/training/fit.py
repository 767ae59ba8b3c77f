"""The `model.fit` call every pipeline makes, timed, with the batching conventions they share."""

from __future__ import annotations

import time

from nlp_apps.config import TrainConfig
from nlp_apps.data.batching import bucket_boundaries_from_lengths


def resolve_bucket_boundaries(train_config: TrainConfig, lengths) -> list[int]:
    """`train.bucket_boundaries`: "auto" = from the length quantiles (`train.num_buckets`), a list as given, [] = none."""
    boundaries = train_config.bucket_boundaries
    if boundaries == "auto":
        return bucket_boundaries_from_lengths(lengths, train_config.num_buckets)
    return list(boundaries or [])


def fit_timed(model, train_config: TrainConfig, train_batches, callbacks: list, validation_batches=None):
    """Runs `model.fit` with the config's epochs, steps and verbosity; returns `(history, wall seconds)`.

    `shuffle=False` because every pipeline's tf.data already shuffles (and
    buckets) — or, for stream language models, must keep the stream order.
    """
    started = time.perf_counter()
    history = model.fit(
        train_batches,
        validation_data=validation_batches,
        epochs=train_config.epochs,
        steps_per_epoch=train_config.steps_per_epoch or None,
        callbacks=callbacks,
        shuffle=False,
        verbose=train_config.verbose,
    )
    return history, time.perf_counter() - started
