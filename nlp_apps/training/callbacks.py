"""Callbacks every pipeline trains with: checkpoints, resume, TensorBoard, early stopping."""

import shutil
import time
from pathlib import Path

import keras

from nlp_apps.config import TrainConfig
from nlp_apps.training.learning_rate import schedule_callbacks
from nlp_apps.training.run_directory import BACKUP_DIR_NAME, BEST_MODEL_NAME, HISTORY_NAME, TENSORBOARD_DIR_NAME


def build_callbacks(run_dir: Path, train_config: TrainConfig, resume: bool, monitor: str | None = None, mode: str = "max") -> list:
    """Returns the standard callbacks for a run directory.

    - `BackupAndRestore` saves the model and optimizer state every epoch under
      `run_dir/backup`; `--resume` continues from it, a fresh run deletes it.
    - `ModelCheckpoint` keeps the best model by `monitor` as `best.keras`
      (or the last one when there is no validation metric).
    - `TensorBoard` logs under `run_dir/tensorboard`.
    - The learning-rate schedule of `train.lr_schedule` (plateau decay when
      `train.lr_decay_patience` > 0).
    """
    backup_dir = run_dir / BACKUP_DIR_NAME
    if not resume and backup_dir.exists():
        shutil.rmtree(backup_dir)
    if resume and not backup_dir.exists():
        raise ValueError(f"--resume: no checkpoint to resume from in {backup_dir}")
    callbacks = schedule_callbacks(train_config) + [
        keras.callbacks.BackupAndRestore(str(backup_dir), save_freq="epoch", delete_checkpoint=False),
        keras.callbacks.TensorBoard(log_dir=str(run_dir / TENSORBOARD_DIR_NAME), write_graph=False),
        keras.callbacks.CSVLogger(str(run_dir / HISTORY_NAME), append=resume),
    ]
    if monitor:
        callbacks.append(
            keras.callbacks.ModelCheckpoint(str(run_dir / BEST_MODEL_NAME), monitor=monitor, mode=mode, save_best_only=True)
        )
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
    else:
        callbacks.append(keras.callbacks.ModelCheckpoint(str(run_dir / BEST_MODEL_NAME)))
    if train_config.max_train_minutes > 0:
        callbacks.append(TimeBudget(train_config.max_train_minutes))
    return callbacks


class EpochClock(keras.callbacks.Callback):
    """Records the seconds since training began at the end of every epoch (the x axis of a learning curve)."""

    def __init__(self):
        super().__init__()
        self.started = None
        self.seconds = []

    def on_train_begin(self, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(round(time.perf_counter() - self.started, 2))


class TimeBudget(keras.callbacks.Callback):
    """Stops training before an epoch that would overrun the time budget.

    Benchmarks state a training budget ("60 minutes of CPU training"). Whole
    epochs keep the dev evaluation and checkpoint of each epoch, so training
    stops when the next epoch, judged by the longest one so far, would not fit.
    """

    def __init__(self, minutes: float):
        super().__init__()
        self.seconds = 60.0 * minutes
        self.started = None
        self.epoch_started = None
        self.longest_epoch = 0.0

    def on_train_begin(self, logs=None):
        self.started = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        now = time.perf_counter()
        self.longest_epoch = max(self.longest_epoch, now - self.epoch_started)
        if now - self.started + self.longest_epoch > self.seconds:
            print(f"\ntime budget of {self.seconds / 60:.1f} min: stopping after epoch {epoch + 1} "
                  f"({(now - self.started) / 60:.1f} min used)")
            self.model.stop_training = True
