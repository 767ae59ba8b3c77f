"""Callbacks every pipeline trains with: checkpoints, resume, TensorBoard, early stopping."""

import shutil
from pathlib import Path

import keras

from nlp_apps.config import TrainConfig


def build_callbacks(run_dir: Path, train_config: TrainConfig, resume: bool, monitor: str | None = None, mode: str = "max") -> list:
    """Returns the standard callbacks for a run directory.

    - `BackupAndRestore` saves the model and optimizer state every epoch under
      `run_dir/backup`; `--resume` continues from it, a fresh run deletes it.
    - `ModelCheckpoint` keeps the best model by `monitor` as `best.keras`
      (or the last one when there is no validation metric).
    - `TensorBoard` logs under `run_dir/tensorboard`.
    """
    backup_dir = run_dir / "backup"
    if not resume and backup_dir.exists():
        shutil.rmtree(backup_dir)
    if resume and not backup_dir.exists():
        raise ValueError(f"--resume: no checkpoint to resume from in {backup_dir}")
    callbacks = [
        keras.callbacks.BackupAndRestore(str(backup_dir), save_freq="epoch", delete_checkpoint=False),
        keras.callbacks.TensorBoard(log_dir=str(run_dir / "tensorboard"), write_graph=False),
        keras.callbacks.CSVLogger(str(run_dir / "history.csv"), append=resume),
    ]
    if monitor:
        callbacks.append(
            keras.callbacks.ModelCheckpoint(str(run_dir / "best.keras"), monitor=monitor, mode=mode, save_best_only=True)
        )
        if train_config.early_stopping_patience > 0:
            callbacks.append(
                keras.callbacks.EarlyStopping(
                    monitor=monitor, mode=mode, patience=train_config.early_stopping_patience, restore_best_weights=True
                )
            )
    else:
        callbacks.append(keras.callbacks.ModelCheckpoint(str(run_dir / "best.keras")))
    return callbacks
