"""Starts TensorFlow without the C++ start-up lines a command-line user cannot act on.

TensorFlow's native libraries print "All log messages before
absl::InitializeLog()", oneDNN and CUDA-probing lines (`failed call to
cuInit ... (303)` on a machine without a GPU) straight to the process's
stderr while loading, before `TF_CPP_MIN_LOG_LEVEL` or absl logging apply,
so no environment variable hides them. The command line imports TensorFlow
and probes the devices once with file descriptor 2 pointed at /dev/null;
Python errors still surface (they are raised after stderr is restored).
`NLP_APPS_TF_LOGS=1` keeps the lines (e.g. to see why a GPU is not used).
Library users who import nlp_apps get TensorFlow's behaviour unchanged.
"""

import contextlib
import os


@contextlib.contextmanager
def _stderr_to_devnull():
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def start_tensorflow_quietly() -> None:
    if os.environ.get("NLP_APPS_TF_LOGS"):
        return
    with _stderr_to_devnull():
        import tensorflow as tf

        # Device discovery (the CUDA probe) without creating the runtime, so
        # `tf.config.set_logical_device_configuration` still applies later.
        tf.config.list_physical_devices()
