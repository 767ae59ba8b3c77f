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
- "wsd" (warmup-stable-decay): the configured rate, then a linear cooldown to
  `train.lr_final_fraction` of it over the last `train.lr_cooldown_fraction`
  of the budget (Hägele et al., "Scaling Laws and Compute-Optimal Training
  Beyond Fixed Training Durations", NeurIPS 2024: a short cooldown matches
  cosine/linear decay). It keeps the high rate for most of the budget: on
  Multi30k and PTB here, linear decay from Adam's 0.002 learned slower per
  epoch than the constant rate, so the rate's early level matters more than
  its decay's length.

`train.lr_warmup_steps` > 0 ramps the rate linearly from rate/steps up to
the rate over the first steps, with any schedule: Adam at the rates that
train fastest here (0.003 on PTB) diverged in the first epoch without it.
"""

import time

import keras

from nlp_apps.config import TrainConfig

LR_SCHEDULES = ("constant", "linear", "wsd")
# Schedules that set the rate on every batch (so plateau decay would fight them).
BUDGET_SCHEDULES = ("linear", "wsd")


def validate_schedule(train_config: TrainConfig) -> None:
    """Raises a ValueError naming the field when the schedule settings conflict."""
    if train_config.lr_schedule not in LR_SCHEDULES:
        raise ValueError(
            f"train.lr_schedule: unknown schedule {train_config.lr_schedule!r}; choose one of {', '.join(LR_SCHEDULES)}"
        )
    if not 0.0 <= train_config.lr_final_fraction <= 1.0:
        raise ValueError(f"train.lr_final_fraction must be in [0, 1], got {train_config.lr_final_fraction!r}")
    if not 0.0 < train_config.lr_cooldown_fraction <= 1.0:
        raise ValueError(f"train.lr_cooldown_fraction must be in (0, 1], got {train_config.lr_cooldown_fraction!r}")
    if train_config.lr_warmup_steps < 0:
        raise ValueError(f"train.lr_warmup_steps must be >= 0, got {train_config.lr_warmup_steps!r}")
    if train_config.lr_schedule in BUDGET_SCHEDULES and train_config.lr_decay_patience > 0:
        # Both would write the optimizer's rate; the later one would silently win.
        raise ValueError(
            f"train.lr_schedule {train_config.lr_schedule!r} and train.lr_decay_patience > 0 both set the learning "
            "rate; set train.lr_decay_patience: 0 or train.lr_schedule: constant"
        )


def schedule_callbacks(train_config: TrainConfig) -> list:
    """Returns the callback that runs the configured schedule ([] for "constant" without warmup)."""
    validate_schedule(train_config)
    if train_config.lr_schedule in BUDGET_SCHEDULES:
        return [
            BudgetLearningRateSchedule(
                train_config.learning_rate,
                train_config.lr_final_fraction,
                budget_seconds=60.0 * train_config.max_train_minutes,
                epochs=train_config.epochs,
                cooldown_fraction=1.0 if train_config.lr_schedule == "linear" else train_config.lr_cooldown_fraction,
                warmup_steps=train_config.lr_warmup_steps,
            )
        ]
    if train_config.lr_warmup_steps > 0:
        return [LearningRateWarmup(train_config.learning_rate, train_config.lr_warmup_steps)]
    return []


def warmup_factor(step: int, warmup_steps: int) -> float:
    """The share of the rate that step `step` (0-based) trains with during a linear warmup."""
    return 1.0 if warmup_steps <= 0 else min(1.0, (step + 1) / warmup_steps)


class LearningRateWarmup(keras.callbacks.Callback):
    """Ramps the rate up over the first `warmup_steps` batches, then leaves it alone.

    After the warmup it no longer writes the rate, so plateau decay
    (ReduceLROnPlateau) stays in charge. The step count is resumable state
    (`nlp_apps.training.checkpoints`), so `--resume` continues the ramp.
    """

    def __init__(self, learning_rate: float, warmup_steps: int):
        super().__init__()
        self.learning_rate = float(learning_rate)
        self.warmup_steps = int(warmup_steps)
        self.step = 0

    def resumable_state(self) -> dict:
        return {"step": self.step}

    def restore_state(self, state: dict) -> None:
        self.step = int(state["step"])

    def on_train_batch_begin(self, batch, logs=None):
        if self.step < self.warmup_steps:
            self.model.optimizer.learning_rate = self.learning_rate * warmup_factor(self.step, self.warmup_steps)
        self.step += 1


class BudgetLearningRateSchedule(keras.callbacks.Callback):
    """Sets the rate before every batch from the share of the budget used.

    The rate is `initial` until the last `cooldown_fraction` of the budget,
    then falls linearly to `initial × final_fraction` at its end
    (`cooldown_fraction` 1 = linear decay from the start, the "linear"
    schedule), times the warmup ramp over the first `warmup_steps` batches.
    `progress` is the elapsed share of `budget_seconds` when it is positive,
    else the share of `epochs` done (batches within an epoch count when Keras
    knows the steps per epoch). It is clamped to [0, 1]. Steps and elapsed
    time are resumable state, so `--resume` continues the schedule where it
    stopped (as the time budget does). `clock` is
    injectable so tests do not have to sleep.

    With a time budget, training stops at an epoch end (`TimeBudget`: the
    last epoch that fits, judged by the longest so far), so measured against
    the whole budget the cooldown would be cut short by up to one epoch (on
    WikiText-2 it was skipped). After each epoch the budget the schedule
    aims at is therefore shortened to the end of the last epoch that will
    fit: `longest epoch × floor(budget / longest epoch)`.
    """

    def __init__(self, initial_learning_rate: float, final_fraction: float, budget_seconds: float = 0.0,
                 epochs: int = 0, clock=time.perf_counter, cooldown_fraction: float = 1.0, warmup_steps: int = 0):
        super().__init__()
        if budget_seconds <= 0 and epochs <= 0:
            raise ValueError("BudgetLearningRateSchedule needs a positive budget_seconds or epochs")
        self.initial_learning_rate = float(initial_learning_rate)
        self.final_fraction = float(final_fraction)
        self.budget_seconds = float(budget_seconds)
        self.epochs = int(epochs)
        self.clock = clock
        self.cooldown_fraction = float(cooldown_fraction)
        self.warmup_steps = int(warmup_steps)
        self.started = None
        self.epoch = 0
        self.step = 0
        self.epoch_started = None
        self.longest_epoch = 0.0
        self.target_seconds = self.budget_seconds
        # Seconds of the budget used before a resume.
        self.elapsed_before = 0.0

    def resumable_state(self) -> dict:
        elapsed = self.clock() - self.started if self.started is not None else self.elapsed_before
        return {"step": self.step, "elapsed": elapsed, "longest_epoch": self.longest_epoch, "target_seconds": self.target_seconds}

    def restore_state(self, state: dict) -> None:
        self.step = int(state["step"])
        self.elapsed_before = float(state["elapsed"])
        self.longest_epoch = float(state["longest_epoch"])
        self.target_seconds = float(state["target_seconds"])

    def learning_rate_at(self, progress: float, step: int | None = None) -> float:
        """The rate at `progress` through the budget, and at global batch `step` when warming up."""
        progress = min(max(progress, 0.0), 1.0)
        cooldown_progress = max(0.0, progress - (1.0 - self.cooldown_fraction)) / self.cooldown_fraction
        rate = self.initial_learning_rate * (1.0 - (1.0 - self.final_fraction) * cooldown_progress)
        return rate if step is None else rate * warmup_factor(step, self.warmup_steps)

    def progress(self, batch: int) -> float:
        if self.budget_seconds > 0:
            return (self.clock() - self.started) / self.target_seconds
        steps = self.params.get("steps") if self.params else None
        within_epoch = batch / steps if steps else 0.0
        return (self.epoch + within_epoch) / self.epochs

    def on_train_begin(self, logs=None):
        self.started = self.clock() - self.elapsed_before

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        self.epoch_started = self.clock()

    def on_train_batch_begin(self, batch, logs=None):
        self.model.optimizer.learning_rate = self.learning_rate_at(self.progress(batch), self.step)
        self.step += 1

    def on_epoch_end(self, epoch, logs=None):
        if self.budget_seconds > 0 and self.epoch_started is not None:
            now = self.clock()
            self.longest_epoch = max(self.longest_epoch, now - self.epoch_started)
            epochs_that_fit = max(1, int(self.budget_seconds // self.longest_epoch)) if self.longest_epoch > 0 else 0
            if epochs_that_fit:
                # Never aim before now: an overrun epoch ends the cooldown at once.
                self.target_seconds = max(self.longest_epoch * epochs_that_fit, now - self.started, 1e-9)
        if logs is not None:
            # Recorded in history.csv / TensorBoard so the schedule is visible.
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
