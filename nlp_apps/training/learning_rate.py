"""Learning-rate schedules chosen by `train.lr_schedule`.

- "constant": the configured rate, optionally halved on a dev-score plateau
  (`train.lr_decay_patience`, handled by Keras' ReduceLROnPlateau).
- "linear": decays linearly from `train.learning_rate` to
  `train.lr_final_fraction` of it over the training budget. When a run is cut
  off by a time budget rather than trained to convergence, a schedule that
  reaches its smallest rate exactly when the budget ends beats plateau decay,
  which may fire late or never (Li, Yumer & Ramanan, "Budgeted Training",
  ICLR 2020, found linear decay to the budget best across tasks). The budget
  is wall time (`train.max_train_minutes`) when set, otherwise `train.epochs`.
"""

import time

import keras

from nlp_apps.config import TrainConfig

LR_SCHEDULES = ("constant", "linear")


def validate_schedule(train_config: TrainConfig) -> None:
    """Raises a ValueError naming the field when the schedule settings conflict."""
    if train_config.lr_schedule not in LR_SCHEDULES:
        raise ValueError(
            f"train.lr_schedule: unknown schedule {train_config.lr_schedule!r}; choose one of {', '.join(LR_SCHEDULES)}"
        )
    if not 0.0 <= train_config.lr_final_fraction <= 1.0:
        raise ValueError(f"train.lr_final_fraction must be in [0, 1], got {train_config.lr_final_fraction!r}")
    if train_config.lr_schedule == "linear" and train_config.lr_decay_patience > 0:
        # Both would write the optimizer's rate; the later one would silently win.
        raise ValueError(
            "train.lr_schedule 'linear' and train.lr_decay_patience > 0 both set the learning rate; "
            "set train.lr_decay_patience: 0 or train.lr_schedule: constant"
        )


def schedule_callbacks(train_config: TrainConfig) -> list:
    """Returns the callback that runs the configured schedule ([] for "constant")."""
    validate_schedule(train_config)
    if train_config.lr_schedule == "linear":
        return [
            LinearLearningRateDecay(
                train_config.learning_rate,
                train_config.lr_final_fraction,
                budget_seconds=60.0 * train_config.max_train_minutes,
                epochs=train_config.epochs,
            )
        ]
    return []


class LinearLearningRateDecay(keras.callbacks.Callback):
    """Sets the rate before every batch to `initial × (1 − (1 − final_fraction) × progress)`.

    `progress` is the elapsed share of `budget_seconds` when it is positive,
    else the share of `epochs` done (batches within an epoch count when Keras
    knows the steps per epoch). It is clamped to [0, 1]. Wall time restarts
    with `--resume`, as the time budget itself does. `clock` is injectable so
    tests do not have to sleep.
    """

    def __init__(self, initial_learning_rate: float, final_fraction: float, budget_seconds: float = 0.0,
                 epochs: int = 0, clock=time.perf_counter):
        super().__init__()
        if budget_seconds <= 0 and epochs <= 0:
            raise ValueError("LinearLearningRateDecay needs a positive budget_seconds or epochs")
        self.initial_learning_rate = float(initial_learning_rate)
        self.final_fraction = float(final_fraction)
        self.budget_seconds = float(budget_seconds)
        self.epochs = int(epochs)
        self.clock = clock
        self.started = None
        self.epoch = 0

    def learning_rate_at(self, progress: float) -> float:
        progress = min(max(progress, 0.0), 1.0)
        return self.initial_learning_rate * (1.0 - (1.0 - self.final_fraction) * progress)

    def progress(self, batch: int) -> float:
        if self.budget_seconds > 0:
            return (self.clock() - self.started) / self.budget_seconds
        steps = self.params.get("steps") if self.params else None
        within_epoch = batch / steps if steps else 0.0
        return (self.epoch + within_epoch) / self.epochs

    def on_train_begin(self, logs=None):
        self.started = self.clock()

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        self.model.optimizer.learning_rate = self.learning_rate_at(self.progress(batch))

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            # Recorded in history.csv / TensorBoard so the schedule is visible.
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
