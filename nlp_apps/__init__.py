"""nlp_apps: Keras 3 / TensorFlow NLP applications on one shared RNN encoder library."""

import os

# Keras 3 picks its backend at import time; this suite is built on TensorFlow.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# TensorFlow's C++ start-up chatter (CUDA probing, oneDNN notes) hides real messages.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
