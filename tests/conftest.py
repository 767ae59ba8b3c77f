"""Shared test set-up: quiet TensorFlow, the TensorFlow Keras backend, fixed seeds."""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def fixed_seed():
    keras.utils.set_random_seed(1234)
    yield
