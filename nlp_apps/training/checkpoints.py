"""The run's checkpoints: written atomically, resumed exactly, never lost.

`RunCheckpoint` replaces Keras' `BackupAndRestore` + `CSVLogger`, which
write in place: a kill during the write left `latest.weights.h5`
truncated and `--resume` died on it, and the resumed run forgot its best
score, data order and random state. Here every epoch checkpoint is a folder
`backup/epoch-NNNN/` built under a hidden temporary name and renamed into
place once complete; the previous checkpoint is deleted only after that, so
there is always one complete checkpoint. A checkpoint holds

- `model.weights.h5`: model and optimizer variables (Keras' own format);
- `random_state.npz`: the random state Keras does not save: the dropout
  layers' seed generators;
- `training_state.json`: the epochs done, the whole history so far, the
  training seconds, and the state of every resumable callback (the best
  score of `best.keras`, plateau and early-stopping counters, schedules).

With that, a resumed run replays the uninterrupted one (the data order and
word dropout are functions of the seed and the epoch number,
`nlp_apps.data.epochs`).

`BestModelCheckpoint` writes `best.keras` the same way (temporary file,
then rename) and keeps its best score in the checkpoint. `NonFiniteLossGuard`
stops a run whose loss is NaN or infinite before anything is saved from it.
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import time
import warnings
from pathlib import Path

import keras
import numpy as np

from nlp_apps.export.atomic import atomic_output_dir, atomic_output_file

CHECKPOINT_PREFIX = "epoch-"
WEIGHTS_NAME = "model.weights.h5"
RANDOM_STATE_NAME = "random_state.npz"
STATE_NAME = "training_state.json"
# Attributes of Keras' own callbacks that a resumed run must get back.
KERAS_CALLBACK_STATE = {
    keras.callbacks.EarlyStopping: ("wait", "best", "stopped_epoch", "best_epoch"),
    keras.callbacks.ReduceLROnPlateau: ("wait", "best", "cooldown_counter"),
}


class NonFiniteLoss(RuntimeError):
    """Training produced a NaN or infinite loss; the message says where and what was kept."""


def callback_state(callback) -> dict | None:
    """The JSON state of a callback that must survive a resume, or None when it has none."""
    if hasattr(callback, "resumable_state"):
        return callback.resumable_state()
    for callback_class, names in KERAS_CALLBACK_STATE.items():
        if isinstance(callback, callback_class):
            return {name: _json_number(getattr(callback, name)) for name in names if hasattr(callback, name)}
    return None


def restore_callback_state(callback, state: dict) -> None:
    if hasattr(callback, "restore_state"):
        callback.restore_state(state)
        return
    for name, value in state.items():
        setattr(callback, name, value)


def _json_number(value):
    if isinstance(value, (np.generic,)):
        return value.item()
    return value


def _state_key(index: int, callback) -> str:
    return f"{index}:{type(callback).__name__}"


class RunCheckpoint(keras.callbacks.Callback):
    """Saves the whole training state at every epoch end; `restore` brings it back.

    Must be the last callback, so the state it saves includes what the
    others did at that epoch's end (a new `best.keras`, a lowered rate).

    Args:
        backup_dir: the run's `backup/` folder.
        history_path: `history.csv`, rewritten from the checkpoint's history
            after each save (one row per epoch of the whole run).
        callbacks: the run's other callbacks; those with state are saved.
    """

    def __init__(self, backup_dir: Path, history_path: Path, callbacks: list):
        super().__init__()
        self.backup_dir = Path(backup_dir)
        self.history_path = Path(history_path)
        self.callbacks = [callback for callback in callbacks if callback is not self]
        self.epochs_done = 0
        self.history: dict[str, list] = {}
        self.epoch_end_seconds: list[float] = []
        self.seconds_before = 0.0
        self.started = None

    # ------------------------------------------------------------------ state

    def _random_variables(self) -> list:
        # Keras keeps the seed generators' states out of `weights` (and so out of save_weights).
        weight_ids = {id(variable) for variable in self.model.weights}
        model_seeds = [variable for variable in self.model.variables if id(variable) not in weight_ids]
        return model_seeds

    def train_seconds(self) -> float:
        return self.seconds_before + (time.perf_counter() - self.started if self.started is not None else 0.0)

    def _training_state(self) -> dict:
        states = {}
        for index, callback in enumerate(self.callbacks):
            state = callback_state(callback)
            if state is not None:
                states[_state_key(index, callback)] = state
        return {
            "epochs_done": self.epochs_done,
            "history": self.history,
            "epoch_end_seconds": self.epoch_end_seconds,
            "train_seconds": self.train_seconds(),
            "callbacks": states,
        }

    def save(self) -> Path:
        """Writes the checkpoint of `epochs_done` atomically, then removes the older ones."""
        final = self.backup_dir / f"{CHECKPOINT_PREFIX}{self.epochs_done:04d}"
        with atomic_output_dir(final) as temporary:
            temporary = Path(temporary)
            self.model.save_weights(str(temporary / WEIGHTS_NAME))
            np.savez(temporary / RANDOM_STATE_NAME,
                     *[keras.ops.convert_to_numpy(variable) for variable in self._random_variables()])
            # The state file last: a folder holding it was written completely.
            _write_json_synced(temporary / STATE_NAME, self._training_state())
        for older in complete_checkpoints(self.backup_dir)[:-1]:
            shutil.rmtree(older, ignore_errors=True)
        self.write_history()
        return final

    def restore(self, model) -> int:
        """Loads the newest complete checkpoint into `model` and the callbacks; returns the epochs done.

        A checkpoint that fails to load (disk damage) is reported and the
        one before it, if any, is used.
        """
        self.set_model(model)
        candidates = complete_checkpoints(self.backup_dir)
        if not candidates:
            raise ValueError(
                f"--resume: no complete checkpoint in {self.backup_dir} (the run was stopped before its first "
                "epoch ended); start it again without --resume"
            )
        if model.optimizer is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        errors = []
        for checkpoint in reversed(candidates):
            try:
                self._load(checkpoint)
            except (OSError, ValueError, KeyError, json.JSONDecodeError) as error:
                errors.append(f"{checkpoint.name}: {error}")
                print(f"--resume: checkpoint {checkpoint} cannot be read ({error}); trying the one before")
                continue
            print(f"--resume: continuing after epoch {self.epochs_done} from {checkpoint}")
            self.write_history()
            return self.epochs_done
        raise ValueError(f"--resume: no readable checkpoint in {self.backup_dir}: {'; '.join(errors)}")

    def _load(self, checkpoint: Path) -> None:
        state = json.loads((checkpoint / STATE_NAME).read_text(encoding="utf-8"))
        self.model.load_weights(str(checkpoint / WEIGHTS_NAME))
        random_variables = self._random_variables()
        with np.load(checkpoint / RANDOM_STATE_NAME) as saved:
            values = [saved[f"arr_{index}"] for index in range(len(saved.files))]
        if len(values) != len(random_variables):
            raise ValueError(f"{len(values)} random states saved, the model and data have {len(random_variables)}")
        for variable, value in zip(random_variables, values):
            variable.assign(value)
        for index, callback in enumerate(self.callbacks):
            saved_state = state["callbacks"].get(_state_key(index, callback))
            if saved_state is not None:
                restore_callback_state(callback, saved_state)
        self.epochs_done = int(state["epochs_done"])
        self.history = {key: list(values) for key, values in state["history"].items()}
        self.epoch_end_seconds = list(state["epoch_end_seconds"])
        self.seconds_before = float(state["train_seconds"])

    # ------------------------------------------------------------------ history

    def write_history(self) -> None:
        """`history.csv` of the whole run from the checkpoint's history (atomically)."""
        keys = sorted(self.history)
        rows = [[epoch] + [self.history[key][epoch] if epoch < len(self.history[key]) else "" for key in keys]
                for epoch in range(self.epochs_done)]
        with atomic_output_file(self.history_path) as temporary:
            with open(temporary, "w", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle)
                writer.writerow(["epoch"] + keys)
                writer.writerows(rows)

    def full_history(self) -> keras.callbacks.History:
        """A Keras `History` of the whole run (the epochs before a resume included)."""
        history = keras.callbacks.History()
        history.epoch = list(range(self.epochs_done))
        history.history = {key: list(values) for key, values in self.history.items()}
        return history

    # ------------------------------------------------------------------ callback hooks

    def on_train_begin(self, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            column = self.history.setdefault(key, [None] * self.epochs_done)
            column.extend([None] * (self.epochs_done - len(column)))
            column.append(float(value))
        self.epochs_done = epoch + 1
        self.epoch_end_seconds.append(round(self.train_seconds(), 2))
        self.save()

    def on_train_end(self, logs=None):
        self.seconds_before = self.train_seconds()
        self.started = None


def complete_checkpoints(backup_dir: Path) -> list[Path]:
    """The complete epoch checkpoints of a run, oldest first (hidden temporary folders are not)."""
    backup_dir = Path(backup_dir)
    if not backup_dir.is_dir():
        return []
    return sorted(
        path for path in backup_dir.iterdir()
        if path.is_dir() and path.name.startswith(CHECKPOINT_PREFIX) and (path / STATE_NAME).is_file()
    )


class BestModelCheckpoint(keras.callbacks.Callback):
    """Keeps `best.keras`: the model of the epoch with the best `monitor` (every epoch's without one).

    Written to a temporary file beside it and renamed, so a kill while
    saving leaves the previous best model whole; the best score is part of
    the resumable state, so a resumed run does not overwrite a better model
    with its first epoch.
    """

    def __init__(self, path: Path, monitor: str | None = None, mode: str = "max"):
        super().__init__()
        self.path = Path(path)
        self.monitor = monitor
        self.mode = mode
        self.best = -math.inf if mode == "max" else math.inf
        self.best_epoch = None

    def resumable_state(self) -> dict:
        return {"best": self.best, "best_epoch": self.best_epoch}

    def restore_state(self, state: dict) -> None:
        self.best = float(state["best"])
        self.best_epoch = state["best_epoch"]

    def _improved(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        return value > self.best if self.mode == "max" else value < self.best

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor is not None:
            if self.monitor not in (logs or {}):
                warnings.warn(f"best.keras: the dev metric {self.monitor!r} was not logged at epoch {epoch + 1}; "
                              "the model of that epoch was not considered", stacklevel=2)
                return
            value = float(logs[self.monitor])
            if not self._improved(value):
                return
            self.best = value
        self.best_epoch = epoch + 1
        self.save()

    def save(self) -> None:
        with atomic_output_file(self.path) as temporary:
            self.model.save(temporary, overwrite=True)


class NonFiniteLossGuard(keras.callbacks.Callback):
    """Stops training at the first NaN / infinite loss, before that epoch saves anything.

    Raising from the batch hook ends `fit` without the epoch-end hooks, so
    the last epoch checkpoint and `best.keras` stay those of the last good
    epoch. Must be the first callback.
    """

    def __init__(self):
        super().__init__()
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise NonFiniteLoss(
                f"training stopped: the loss is {float(loss)} at epoch {self.epoch + 1}, step {batch + 1}. "
                f"Kept: the checkpoint after epoch {self.epoch} (resume with --resume, e.g. with a lower "
                "train.learning_rate or train.clipnorm) and best.keras as it was."
            )

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            if key.endswith("loss") and not math.isfinite(float(value)):
                raise NonFiniteLoss(
                    f"training stopped: {key} is {float(value)} at the end of epoch {epoch + 1}. Kept: the checkpoint "
                    f"after epoch {epoch} and best.keras as it was."
                )


def _write_json_synced(path: Path, value) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(value, handle, indent=1)
        handle.flush()
        os.fsync(handle.fileno())


__all__ = [
    "BestModelCheckpoint",
    "NonFiniteLoss",
    "NonFiniteLossGuard",
    "RunCheckpoint",
    "complete_checkpoints",
]
