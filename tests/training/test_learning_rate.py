"""The linear budget schedule: values, its use inside fit, and config errors."""

import numpy as np
import pytest

import keras

from nlp_apps.config import TrainConfig
from nlp_apps.training.callbacks import build_callbacks
from nlp_apps.training.learning_rate import LinearLearningRateDecay, schedule_callbacks, validate_schedule


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
    decay = LinearLearningRateDecay(0.01, 0.1, budget_seconds=100.0, clock=clock)
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
        callbacks=[LinearLearningRateDecay(0.5, 0.0, epochs=4), recorder],
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
        callbacks=[LinearLearningRateDecay(1.0, 0.0, budget_seconds=40.0, clock=clock), recorder, AdvanceClock()],
    )
    np.testing.assert_allclose(recorder.rates, [1.0, 0.75, 0.5, 0.25], rtol=1e-6)


def test_linear_schedule_uses_the_minutes_budget_when_set(tmp_path):
    config = TrainConfig(lr_schedule="linear", learning_rate=0.002, max_train_minutes=2.0, epochs=7)
    (decay,) = schedule_callbacks(config)
    assert decay.budget_seconds == 120.0 and decay.initial_learning_rate == 0.002
    callbacks = build_callbacks(tmp_path, config, resume=False, monitor="val_loss", mode="min")
    assert any(isinstance(callback, LinearLearningRateDecay) for callback in callbacks)
    assert schedule_callbacks(TrainConfig()) == []


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"lr_schedule": "cosine"}, "train.lr_schedule"),
        ({"lr_schedule": "linear", "lr_decay_patience": 1}, "train.lr_decay_patience"),
        ({"lr_schedule": "linear", "lr_final_fraction": 1.5}, "train.lr_final_fraction"),
    ],
)
def test_conflicting_or_unknown_schedule_settings_name_the_field(settings, message):
    with pytest.raises(ValueError, match=message):
        validate_schedule(TrainConfig(**settings))
