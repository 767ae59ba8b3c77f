"""The budget schedules (linear, warmup-stable-decay) and warmup: values, use inside fit, config errors."""

import numpy as np
import pytest

import keras

from nlp_apps.config import TrainConfig
from nlp_apps.training.callbacks import build_callbacks
from nlp_apps.training.learning_rate import (
    LearningRateWarmup,
    BudgetLearningRateSchedule,
    schedule_callbacks,
    validate_schedule,
)


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


class RecordLearningRate(keras.callbacks.Callback):
    """Runs after the schedule (later in the list) and records the rate each batch trains with."""

    def __init__(self):
        super().__init__()
        self.rates = []

    def on_train_batch_begin(self, batch, logs=None):
        self.rates.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))


def tiny_model(learning_rate):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate), loss="mse")
    return model


def test_time_budget_progress_reaches_the_final_fraction_and_clamps():
    clock = FakeClock()
    decay = BudgetLearningRateSchedule(0.01, 0.1, budget_seconds=100.0, clock=clock)
    decay.on_train_begin()
    assert decay.learning_rate_at(decay.progress(0)) == pytest.approx(0.01)
    clock.now += 50.0
    assert decay.learning_rate_at(decay.progress(0)) == pytest.approx(0.01 * (1 - 0.9 * 0.5))
    clock.now += 50.0
    assert decay.learning_rate_at(decay.progress(0)) == pytest.approx(0.001)
    clock.now += 500.0
    assert decay.learning_rate_at(decay.progress(0)) == pytest.approx(0.001)


def test_epoch_budget_sets_the_rate_of_every_batch_inside_fit():
    features = np.ones((8, 3), "float32")
    targets = np.zeros((8, 1), "float32")
    model = tiny_model(0.5)
    recorder = RecordLearningRate()
    history = model.fit(
        features, targets, batch_size=4, epochs=4, verbose=0,
        callbacks=[BudgetLearningRateSchedule(0.5, 0.0, epochs=4), recorder],
    )
    # 2 batches per epoch; progress counts the batches done.
    expected = [0.5 * (1 - (epoch + batch / 2) / 4) for epoch in range(4) for batch in range(2)]
    np.testing.assert_allclose(recorder.rates, expected, rtol=1e-6)
    np.testing.assert_allclose(history.history["learning_rate"], [0.4375, 0.3125, 0.1875, 0.0625], rtol=1e-6)


def test_time_budget_inside_fit_follows_the_clock():
    clock = FakeClock()

    class AdvanceClock(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            clock.now += 10.0

    model = tiny_model(1.0)
    recorder = RecordLearningRate()
    model.fit(
        np.ones((4, 3), "float32"), np.zeros((4, 1), "float32"), batch_size=1, epochs=1, verbose=0,
        callbacks=[BudgetLearningRateSchedule(1.0, 0.0, budget_seconds=40.0, clock=clock), recorder, AdvanceClock()],
    )
    np.testing.assert_allclose(recorder.rates, [1.0, 0.75, 0.5, 0.25], rtol=1e-6)


def test_linear_schedule_uses_the_minutes_budget_when_set(tmp_path):
    config = TrainConfig(lr_schedule="linear", learning_rate=0.002, max_train_minutes=2.0, epochs=7)
    (decay,) = schedule_callbacks(config)
    assert decay.budget_seconds == 120.0 and decay.initial_learning_rate == 0.002
    callbacks, _ = build_callbacks(tmp_path, config, resume=False, monitor="val_loss", mode="min")
    assert any(isinstance(callback, BudgetLearningRateSchedule) for callback in callbacks)
    assert schedule_callbacks(TrainConfig()) == []


def test_wsd_holds_the_rate_then_cools_down_over_the_last_fraction():
    clock = FakeClock()
    schedule = BudgetLearningRateSchedule(0.01, 0.1, budget_seconds=100.0, clock=clock, cooldown_fraction=0.25)
    schedule.on_train_begin()
    rates = []
    for _ in range(5):
        rates.append(schedule.learning_rate_at(schedule.progress(0)))
        clock.now += 25.0
    # Constant through 75 % of the budget, then linear to 10 % at its end.
    np.testing.assert_allclose(rates, [0.01, 0.01, 0.01, 0.01, 0.001], rtol=1e-6)
    clock.now = 100.0 + 87.5
    assert schedule.learning_rate_at(schedule.progress(0)) == pytest.approx(0.0055)


def test_time_budget_cooldown_ends_with_the_last_epoch_that_fits():
    # 30-second epochs in a 100-second budget: TimeBudget stops after epoch 3
    # (90 s), so the cooldown must reach its floor at 90 s, not at 100 s.
    clock = FakeClock()
    schedule = BudgetLearningRateSchedule(0.01, 0.1, budget_seconds=100.0, clock=clock, cooldown_fraction=0.5)
    schedule.on_train_begin()
    schedule.on_epoch_begin(0)
    clock.now += 30.0
    schedule.on_epoch_end(0)
    assert schedule.target_seconds == pytest.approx(90.0)
    clock.now += 15.0  # 45 s: the start of the cooldown over the last half of 90 s
    assert schedule.learning_rate_at(schedule.progress(0)) == pytest.approx(0.01)
    clock.now += 45.0  # 90 s: the end of epoch 3, where training stops
    assert schedule.learning_rate_at(schedule.progress(0)) == pytest.approx(0.001)
    # An epoch that overran the estimate ends the cooldown at once rather than rising again.
    schedule.on_epoch_begin(1)
    clock.now += 70.0
    schedule.on_epoch_end(1)
    assert schedule.target_seconds == pytest.approx(160.0)
    assert schedule.learning_rate_at(schedule.progress(0)) == pytest.approx(0.001)


def test_warmup_ramps_the_first_batches_across_epochs_inside_fit():
    model = tiny_model(0.8)
    recorder = RecordLearningRate()
    model.fit(
        np.ones((6, 3), "float32"), np.zeros((6, 1), "float32"), batch_size=2, epochs=2, verbose=0,
        callbacks=[BudgetLearningRateSchedule(0.8, 0.0, epochs=2, cooldown_fraction=0.5, warmup_steps=4), recorder],
    )
    # 3 batches per epoch. Epoch 1 is the stable half, warming up over its 3
    # batches (and the 4th); epoch 2 is the cooldown, from 0.8 at its start
    # down by a third of it per batch.
    expected = [0.2, 0.4, 0.6, 0.8, 0.8 * 2 / 3, 0.8 / 3]
    np.testing.assert_allclose(recorder.rates, expected, rtol=1e-6)


def test_constant_schedule_with_warmup_hands_the_rate_back_to_plateau_decay():
    model = tiny_model(0.3)
    recorder = RecordLearningRate()

    class HalveAfterFirstEpoch(keras.callbacks.Callback):
        # Stands in for ReduceLROnPlateau: a later writer the warmup must not override.
        def on_epoch_end(self, epoch, logs=None):
            self.model.optimizer.learning_rate = 0.1

    (warmup,) = schedule_callbacks(TrainConfig(learning_rate=0.3, lr_warmup_steps=3))
    assert isinstance(warmup, LearningRateWarmup)
    model.fit(
        np.ones((8, 3), "float32"), np.zeros((8, 1), "float32"), batch_size=2, epochs=2, verbose=0,
        callbacks=[warmup, recorder, HalveAfterFirstEpoch()],
    )
    np.testing.assert_allclose(recorder.rates, [0.1, 0.2, 0.3, 0.3, 0.1, 0.1, 0.1, 0.1], rtol=1e-6)


def test_wsd_schedule_from_config():
    config = TrainConfig(lr_schedule="wsd", learning_rate=0.003, max_train_minutes=10.0, lr_cooldown_fraction=0.3,
                         lr_warmup_steps=200)
    (schedule,) = schedule_callbacks(config)
    assert (schedule.cooldown_fraction, schedule.warmup_steps, schedule.budget_seconds) == (0.3, 200, 600.0)
    (linear,) = schedule_callbacks(TrainConfig(lr_schedule="linear", max_train_minutes=1.0))
    assert linear.cooldown_fraction == 1.0


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"lr_schedule": "cosine"}, "train.lr_schedule"),
        ({"lr_schedule": "linear", "lr_decay_patience": 1}, "train.lr_decay_patience"),
        ({"lr_schedule": "wsd", "lr_decay_patience": 2}, "train.lr_decay_patience"),
        ({"lr_schedule": "linear", "lr_final_fraction": 1.5}, "train.lr_final_fraction"),
        ({"lr_schedule": "wsd", "lr_cooldown_fraction": 0.0}, "train.lr_cooldown_fraction"),
        ({"lr_warmup_steps": -1}, "train.lr_warmup_steps"),
    ],
)
def test_conflicting_or_unknown_schedule_settings_name_the_field(settings, message):
    with pytest.raises(ValueError, match=message):
        validate_schedule(TrainConfig(**settings))
