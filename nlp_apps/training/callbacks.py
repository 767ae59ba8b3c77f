"""Callbacks every pipeline trains with: checkpoints, resume, TensorBoard, early stopping."""

import shutil
import time
from pathlib import Path

import keras

from nlp_apps.config import TrainConfig
from nlp_apps.data.epochs import DataEpoch
from nlp_apps.training.checkpoints import BestModelCheckpoint, NonFiniteLossGuard, RunCheckpoint
from nlp_apps.training.learning_rate import schedule_callbacks
from nlp_apps.training.run_directory import BACKUP_DIR_NAME, BEST_MODEL_NAME, HISTORY_NAME, TENSORBOARD_DIR_NAME


def build_callbacks(run_dir: Path, train_config: TrainConfig, resume: bool, monitor: str | None = None, mode: str = "max",
                    task_callbacks=()) -> tuple[list, RunCheckpoint]:
    """Returns `(callbacks, run checkpoint)`: the run's callbacks in the order they must run.

    1. `NonFiniteLossGuard` (first: a NaN loss ends the run before any
       epoch-end hook saves from it) and `DataEpoch` (the epoch the data
       pipeline's shuffle and word dropout are seeded with);
    2. the task's callbacks (dev metrics first: the best-model checkpoint and
       early stopping monitor what they log);
    3. the learning-rate schedule of `train.lr_schedule`, TensorBoard under
       `run_dir/tensorboard`, `best.keras` by `monitor` (every epoch's model
       without one), plateau decay, early stopping, the time budget;
    4. `RunCheckpoint` (last: its epoch checkpoint under `run_dir/backup`
       holds what the others did at that epoch's end; `--resume` continues
       from it, a fresh run deletes it) which also writes `history.csv`.
    """
    backup_dir = run_dir / BACKUP_DIR_NAME
    if not resume and backup_dir.exists():
        shutil.rmtree(backup_dir)
    if resume and not backup_dir.exists():
        raise ValueError(f"--resume: no checkpoint to resume from in {backup_dir}")
    callbacks = [NonFiniteLossGuard(), DataEpoch(), *task_callbacks] + schedule_callbacks(train_config) + [
        keras.callbacks.TensorBoard(log_dir=str(run_dir / TENSORBOARD_DIR_NAME), write_graph=False),
        BestModelCheckpoint(run_dir / BEST_MODEL_NAME, monitor=monitor, mode=mode),
    ]
    if monitor:
        if train_config.lr_decay_patience > 0:
            callbacks.append(
                keras.callbacks.ReduceLROnPlateau(
                    monitor=monitor, mode=mode, factor=train_config.lr_decay_factor,
                    patience=train_config.lr_decay_patience, min_lr=1e-5, verbose=1,
                )
            )
        if train_config.early_stopping_patience > 0:
            callbacks.append(
                keras.callbacks.EarlyStopping(
                    monitor=monitor, mode=mode, patience=train_config.early_stopping_patience, restore_best_weights=True
                )
            )
    if train_config.max_train_minutes > 0:
        callbacks.append(TimeBudget(train_config.max_train_minutes))
    checkpoint = RunCheckpoint(backup_dir, run_dir / HISTORY_NAME, callbacks)
    return callbacks + [checkpoint], checkpoint


class TimeBudget(keras.callbacks.Callback):
    """Stops training before an epoch that would overrun the time budget.

    Benchmarks state a training budget ("60 minutes of CPU training"). Whole
    epochs keep the dev evaluation and checkpoint of each epoch, so training
    stops when the next epoch, judged by the longest one so far, would not fit.
    The budget is the whole run's: the time used before a `--resume` counts.
    """

    def __init__(self, minutes: float):
        super().__init__()
        self.seconds = 60.0 * minutes
        self.started = None
        self.epoch_started = None
        self.longest_epoch = 0.0
        self.used_before = 0.0

    def resumable_state(self) -> dict:
        used = time.perf_counter() - self.started if self.started is not None else self.used_before
        return {"used_seconds": used, "longest_epoch": self.longest_epoch}

    def restore_state(self, state: dict) -> None:
        self.used_before = float(state["used_seconds"])
        self.longest_epoch = float(state["longest_epoch"])

    def on_train_begin(self, logs=None):
        self.started = time.perf_counter() - self.used_before

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        now = time.perf_counter()
        self.longest_epoch = max(self.longest_epoch, now - self.epoch_started)
        if now - self.started + self.longest_epoch > self.seconds:
            print(f"\ntime budget of {self.seconds / 60:.1f} min: stopping after epoch {epoch + 1} "
                  f"({(now - self.started) / 60:.1f} min used)")
            self.model.stop_training = True
