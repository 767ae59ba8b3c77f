"""Epoch checkpoints: atomic, exact on resume, a NaN loss stops the run and keeps the last good state."""

import csv
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from nlp_apps.config import TrainConfig
from nlp_apps.training.callbacks import build_callbacks
from nlp_apps.training.checkpoints import (
    STATE_NAME,
    WEIGHTS_NAME,
    NonFiniteLoss,
    complete_checkpoints,
)
from nlp_apps.data.epochs import epoch_shuffle


def _model(seed=3):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8), keras.layers.Dropout(0.3), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse", metrics=["mae"])
    return model


def _data(seed=0, poison=False):
    generator = np.random.default_rng(seed)
    x = generator.normal(size=(64, 4)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    if poison:
        x[5, 0] = np.nan
    return epoch_shuffle(tf.data.Dataset.from_tensor_slices((x, y)), 64, seed=7).batch(8)


def _train(run_dir, epochs, resume=False, data=None, config=None):
    """Fits the toy model with the run's callbacks the way `Task.train` does; returns (model, checkpoint)."""
    config = config or TrainConfig(epochs=epochs, verbose=0)
    model = _model()
    data = data if data is not None else _data()
    callbacks, checkpoint = build_callbacks(run_dir, config, resume, monitor="val_loss", mode="min")
    initial_epoch = 0
    if resume:
        initial_epoch = checkpoint.restore(model)
    model.fit(data, validation_data=_data(1), epochs=epochs, initial_epoch=initial_epoch, callbacks=callbacks, verbose=0)
    return model, checkpoint


def test_a_resumed_run_ends_with_the_weights_and_history_of_an_uninterrupted_one(tmp_path):
    straight, _ = _train(tmp_path / "straight", epochs=4)
    _train(tmp_path / "resumed", epochs=2)
    resumed, checkpoint = _train(tmp_path / "resumed", epochs=4, resume=True)
    # Dropout seeds, optimizer state and the shuffle order all continue: equal, not close.
    for expected, actual in zip(straight.get_weights(), resumed.get_weights()):
        np.testing.assert_array_equal(expected, actual)
    straight_rows = list(csv.reader((tmp_path / "straight" / "history.csv").open()))
    resumed_rows = list(csv.reader((tmp_path / "resumed" / "history.csv").open()))
    assert resumed_rows == straight_rows and len(resumed_rows) == 5
    assert checkpoint.full_history().epoch == [0, 1, 2, 3]
    # Only the newest checkpoint is kept once it is complete.
    assert [path.name for path in complete_checkpoints(tmp_path / "resumed" / "backup")] == ["epoch-0004"]


def test_the_best_score_survives_a_resume(tmp_path):
    _train(tmp_path, epochs=2)
    state = json.loads((tmp_path / "backup" / "epoch-0002" / STATE_NAME).read_text())
    [best] = [value for key, value in state["callbacks"].items() if key.endswith("BestModelCheckpoint")]
    model = _model()
    callbacks, checkpoint = build_callbacks(tmp_path, TrainConfig(epochs=3), True, monitor="val_loss", mode="min")
    checkpoint.restore(model)
    [restored] = [callback for callback in callbacks if type(callback).__name__ == "BestModelCheckpoint"]
    assert restored.best == best["best"] and restored.best_epoch == best["best_epoch"]
    # A worse first epoch after the resume leaves best.keras alone.
    before = (tmp_path / "best.keras").read_bytes()
    restored.set_model(model)
    restored.on_epoch_end(2, {"val_loss": best["best"] + 1.0})
    assert (tmp_path / "best.keras").read_bytes() == before


def test_a_checkpoint_killed_while_written_is_ignored_and_a_damaged_one_falls_back(tmp_path):
    _train(tmp_path, epochs=2)
    backup = tmp_path / "backup"
    # What a kill -9 during the write of epoch 3 leaves: a hidden, incomplete folder.
    partial = backup / ".epoch-0003.tmp-dead"
    partial.mkdir()
    (partial / WEIGHTS_NAME).write_bytes(b"\x89HDF\r\n")
    model = _model()
    _, checkpoint = build_callbacks(tmp_path, TrainConfig(epochs=3), True, monitor="val_loss", mode="min")
    assert checkpoint.restore(model) == 2
    # Disk damage in the newest complete checkpoint: the one before it is used, and said so.
    (backup / "epoch-0001").mkdir()
    for name in (WEIGHTS_NAME, STATE_NAME, "random_state.npz"):
        (backup / "epoch-0001" / name).write_bytes((backup / "epoch-0002" / name).read_bytes())
    weights = backup / "epoch-0002" / WEIGHTS_NAME
    weights.write_bytes(weights.read_bytes()[:1000])
    _, checkpoint = build_callbacks(tmp_path, TrainConfig(epochs=3), True, monitor="val_loss", mode="min")
    assert checkpoint.restore(_model()) == 2  # epoch-0001 holds a copy of epoch 2's state
    # Nothing readable: a clear error naming the folder.
    (backup / "epoch-0001" / WEIGHTS_NAME).write_bytes(b"")
    _, checkpoint = build_callbacks(tmp_path, TrainConfig(epochs=3), True, monitor="val_loss", mode="min")
    with pytest.raises(ValueError, match="no readable checkpoint in .*backup"):
        checkpoint.restore(_model())


def test_a_nan_loss_stops_training_naming_epoch_and_step_and_keeps_the_last_good_state(tmp_path):
    _train(tmp_path, epochs=1)
    best_before = (tmp_path / "best.keras").read_bytes()
    history_before = (tmp_path / "history.csv").read_text()
    with pytest.raises(NonFiniteLoss, match=r"loss is nan at epoch 2, step \d+.*checkpoint after epoch 1"):
        _train(tmp_path, epochs=3, resume=True, data=_data(poison=True))
    assert (tmp_path / "best.keras").read_bytes() == best_before
    assert (tmp_path / "history.csv").read_text() == history_before
    assert [path.name for path in complete_checkpoints(tmp_path / "backup")] == ["epoch-0001"]
    # The run goes on from the last good epoch once the cause is fixed.
    _, checkpoint = _train(tmp_path, epochs=2, resume=True)
    assert checkpoint.epochs_done == 2


def test_the_time_budget_counts_the_time_before_a_resume(tmp_path):
    config = TrainConfig(epochs=50, verbose=0, max_train_minutes=0.5)
    _train(tmp_path, epochs=1, config=TrainConfig(epochs=1, verbose=0, max_train_minutes=0.5))
    state_path = tmp_path / "backup" / "epoch-0001" / STATE_NAME
    state = json.loads(state_path.read_text())
    [key] = [key for key in state["callbacks"] if key.endswith("TimeBudget")]
    state["callbacks"][key]["used_seconds"] = 29.9  # as if the first process had used the budget
    state_path.write_text(json.dumps(state))
    _, checkpoint = _train(tmp_path, epochs=50, resume=True, config=config)
    assert checkpoint.epochs_done == 2
