"""TF Serving warm-up requests: `assets.extra/tf_serving_warmup_requests` in a SavedModel.

TF Serving (and Triton's TensorFlow backend) replays the `PredictionLog`
records of this TFRecord file once when it loads a version, before it
takes traffic, so the first real request does not pay for tracing, graph
optimization and memory allocation. The records are built with the
`tensorflow-serving-api` protos, as TF Serving's own documentation does
(https://www.tensorflow.org/tfx/serving/saved_model_warmup).
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

WARMUP_RELATIVE_PATH = os.path.join("assets.extra", "tf_serving_warmup_requests")


def write_warmup_requests(saved_model_dir, model_name: str, requests: list) -> str:
    """Writes one PredictRequest per `(signature_name, inputs)` of `requests`.

    Args:
        saved_model_dir: the SavedModel folder (the version folder).
        model_name: the name the server knows the model by (`model_spec.name`).
        requests: list of `(signature_name, {input name: array})`; the
            arrays are converted with `tf.make_tensor_proto` (strings as
            bytes, scalars as rank-0 tensors).

    Returns:
        str. Path of the written file.
    """
    if not requests:
        raise ValueError("write_warmup_requests: no requests given")
    path = os.path.join(os.fspath(saved_model_dir), WARMUP_RELATIVE_PATH)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tf.io.TFRecordWriter(path) as writer:
        for signature_name, inputs in requests:
            request = predict_pb2.PredictRequest(
                model_spec=model_pb2.ModelSpec(name=model_name, signature_name=signature_name)
            )
            for name, value in inputs.items():
                request.inputs[name].CopyFrom(tf.make_tensor_proto(_as_array(value)))
            log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
            writer.write(log.SerializeToString())
    return path


def read_warmup_requests(path) -> list:
    """The `(signature_name, {input name: numpy array})` of each record, in file order."""
    requests = []
    for record in tf.data.TFRecordDataset(os.fspath(path)):
        log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
        request = log.predict_log.request
        inputs = {name: tf.make_ndarray(proto) for name, proto in request.inputs.items()}
        requests.append((request.model_spec.signature_name, inputs))
    return requests


def _as_array(value):
    array = np.asarray(value)
    if array.dtype.kind == "U":
        array = np.char.encode(array, "utf-8")
    elif array.dtype == object:
        array = np.vectorize(lambda item: item.encode("utf-8") if isinstance(item, str) else item, otypes=[object])(array)
    return array
