"""TF Serving's REST predict format ↔ numpy arrays, with the limits a server needs.

https://www.tensorflow.org/tfx/serving/api_rest: a request has either
`instances` (row format: a list with one entry per example; an entry is the
value of the single input, or `{input name: value}`) or `inputs` (columnar:
the value of the single input, or `{input name: batched value}`), plus an
optional `signature_name`. Binary strings may be given as `{"b64": "..."}`.
Row requests are answered with `{"predictions": [...]}` (one entry per
example: the value of the single output, or `{output name: value}`),
columnar ones with `{"outputs": ...}`.

Everything that is not a well-formed request for the signature raises
`RequestError` with a message naming the field or instance, which the server
returns as TF Serving does: HTTP 400 with `{"error": message}`.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import math

import numpy as np
import tensorflow as tf


class RequestError(ValueError):
    """A request the server cannot take; `status` is the HTTP status (400, or 503 when busy)."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclasses.dataclass
class Limits:
    """What one request may hold; larger requests get a 400 naming the limit (README, "Serving")."""

    max_body_bytes: int = 4 * 1024 * 1024
    max_instances: int = 256
    max_text_chars: int = 10_000


@dataclasses.dataclass
class PredictRequest:
    signature_name: str
    arrays: dict
    batch_size: int
    row_format: bool


def parse_body(body: bytes, limits: Limits) -> dict:
    if len(body) > limits.max_body_bytes:
        raise RequestError(f"request body of {len(body)} bytes is over the limit of {limits.max_body_bytes} bytes")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise RequestError(f"request body is not valid UTF-8 (byte {error.start})") from error
    try:
        request = json.loads(text)
    except json.JSONDecodeError as error:
        raise RequestError(f"JSON Parse error: {error.msg} at line {error.lineno} column {error.colno}") from error
    if not isinstance(request, dict):
        raise RequestError("request body must be a JSON object with \"instances\" or \"inputs\"")
    return request


def signature_name_of(request: dict) -> str:
    name = request.get("signature_name", "")
    if not isinstance(name, str):
        raise RequestError("\"signature_name\" must be a string")
    return name


def parse_predict(request: dict, signature, limits: Limits) -> PredictRequest:
    """The signature's input arrays from a parsed predict request."""
    unknown = sorted(set(request) - {"signature_name", "instances", "inputs"})
    if unknown:
        raise RequestError(f"unknown field(s) {', '.join(map(repr, unknown))}; a predict request has \"instances\" or \"inputs\" and optionally \"signature_name\"")
    has_instances, has_inputs = "instances" in request, "inputs" in request
    if has_instances == has_inputs:
        raise RequestError("a predict request needs exactly one of \"instances\" (row format) or \"inputs\" (columnar format)")
    specs = signature.inputs
    if has_instances:
        columns = _columns_from_instances(request["instances"], specs, limits)
    else:
        columns = _columns_from_inputs(request["inputs"], specs)
    def item_label(name, index):
        if has_instances:
            return f"instances[{index}]" + (f"[{name!r}]" if len(specs) > 1 else "")
        return f"inputs[{name!r}][{index}]"

    arrays = {name: _array(columns[name], spec, name, limits, item_label) for name, spec in specs.items()}
    sizes = {name: array.shape[0] for name, array in arrays.items() if array.ndim >= 1}
    if len(set(sizes.values())) > 1:
        raise RequestError(f"inputs have different batch sizes: {', '.join(f'{name}: {size}' for name, size in sizes.items())}")
    batch_size = next(iter(sizes.values()), 1)
    if batch_size == 0:
        raise RequestError("the request has no examples (an empty batch); send at least one")
    if batch_size > limits.max_instances:
        raise RequestError(f"the request has {batch_size} examples, over the limit of {limits.max_instances} per request")
    return PredictRequest(signature.name, arrays, batch_size, has_instances)


def _columns_from_instances(instances, specs, limits):
    if not isinstance(instances, list):
        raise RequestError("\"instances\" must be a list with one entry per example")
    if not instances:
        raise RequestError("\"instances\" is empty; send at least one example")
    if len(instances) > limits.max_instances:
        raise RequestError(f"\"instances\" has {len(instances)} entries, over the limit of {limits.max_instances} per request")
    scalars = [name for name, spec in specs.items() if not spec.shape.rank]
    if scalars:
        raise RequestError(
            f"input(s) {', '.join(scalars)} are scalars, which the row format (\"instances\") cannot carry; use the columnar \"inputs\" format"
        )
    names = list(specs)
    columns = {name: [] for name in names}
    for index, instance in enumerate(instances):
        if isinstance(instance, dict) and not _is_b64(instance):
            missing = sorted(set(names) - set(instance))
            extra = sorted(set(instance) - set(names))
            if missing or extra:
                raise RequestError(
                    f"instances[{index}]: " + "; ".join(
                        part for part in (
                            f"missing input(s) {', '.join(missing)}" if missing else "",
                            f"unknown input(s) {', '.join(extra)}" if extra else "",
                        ) if part
                    ) + f" (the signature takes {', '.join(names)})"
                )
            for name in names:
                columns[name].append(instance[name])
        elif len(names) == 1:
            columns[names[0]].append(instance)
        else:
            raise RequestError(f"instances[{index}]: the signature takes {', '.join(names)}; give each instance as an object with those keys")
    return columns


def _columns_from_inputs(inputs, specs):
    names = list(specs)
    if isinstance(inputs, dict) and not _is_b64(inputs):
        missing = sorted(set(names) - set(inputs))
        extra = sorted(set(inputs) - set(names))
        if missing:
            raise RequestError(f"\"inputs\": missing input(s) {', '.join(missing)} (the signature takes {', '.join(names)})")
        if extra:
            raise RequestError(f"\"inputs\": unknown input(s) {', '.join(extra)} (the signature takes {', '.join(names)})")
        return inputs
    if len(names) != 1:
        raise RequestError(f"\"inputs\": the signature takes {', '.join(names)}; give an object with those keys")
    return {names[0]: inputs}


def _is_b64(value):
    return isinstance(value, dict) and set(value) == {"b64"}


def _string(value, where, limits):
    if _is_b64(value):
        try:
            raw = base64.b64decode(value["b64"], validate=True)
        except (binascii.Error, TypeError) as error:
            raise RequestError(f"{where}: \"b64\" is not valid base64") from error
        try:
            value = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise RequestError(f"{where}: the decoded bytes are not valid UTF-8 text (byte {error.start})") from error
    if not isinstance(value, str):
        raise RequestError(f"{where}: expected a string, got {_json_type(value)}")
    if len(value) > limits.max_text_chars:
        raise RequestError(f"{where}: text of {len(value)} characters is over the limit of {limits.max_text_chars}")
    return value.encode("utf-8")


def _json_type(value):
    return {dict: "an object", list: "a list", bool: "a boolean", type(None): "null", int: "a number", float: "a number"}.get(type(value), type(value).__name__)


def _array(value, spec, name, limits, item_label):
    rank = spec.shape.rank
    if spec.dtype == tf.string:
        array = _string_array(value, rank, name, limits, item_label)
    else:
        array = _numeric_array(value, spec, name)
    if rank is not None and array.ndim != rank:
        raise RequestError(f"input {name!r}: expected rank {rank} (shape {_shape(spec)}), got shape {list(array.shape)}")
    for axis, (got, want) in enumerate(zip(array.shape, spec.shape)):
        if want is not None and got != want:
            raise RequestError(f"input {name!r}: dimension {axis} is {got}, the signature needs {want} (shape {_shape(spec)})")
    return array


def _string_array(value, rank, name, limits, item_label):
    if rank == 0:
        return np.array(_string(value, f"input {name!r}", limits), dtype=object)
    if not isinstance(value, list):
        raise RequestError(f"input {name!r}: expected a list of strings, got {_json_type(value)}")
    if rank != 1:
        raise RequestError(f"input {name!r}: string inputs of rank {rank} are not supported by this server")
    return np.array([_string(item, item_label(name, index), limits) for index, item in enumerate(value)], dtype=object).reshape(-1)


def _numeric_array(value, spec, name):
    def check(item, where):
        if isinstance(item, list):
            for index, inner in enumerate(item):
                check(inner, f"{where}[{index}]")
        elif isinstance(item, bool) or not isinstance(item, (int, float)):
            raise RequestError(f"{where}: expected a number ({spec.dtype.name}), got {_json_type(item)}")
        elif isinstance(item, float) and not math.isfinite(item):
            raise RequestError(f"{where}: not a finite number")
        elif spec.dtype.is_integer and isinstance(item, float) and not item.is_integer():
            raise RequestError(f"{where}: expected an integer ({spec.dtype.name}), got {item}")

    check(value, f"input {name!r}")
    try:
        array = np.array(value, dtype=spec.dtype.as_numpy_dtype)
    except (ValueError, OverflowError) as error:
        raise RequestError(f"input {name!r}: {error} (expected {spec.dtype.name} of shape {_shape(spec)})") from error
    if spec.dtype.is_integer:
        info = np.iinfo(spec.dtype.as_numpy_dtype)
        if np.any(np.array(value, dtype=object) > info.max) or np.any(np.array(value, dtype=object) < info.min):
            raise RequestError(f"input {name!r}: out of range for {spec.dtype.name}")
    return array


def _shape(spec):
    return "unknown" if spec.shape.rank is None else "[" + ", ".join("-1" if dim is None else str(dim) for dim in spec.shape) + "]"


def to_json_value(array: np.ndarray):
    """A numpy output as JSON: strings decoded as UTF-8 (undecodable bytes replaced), NaN as null."""
    if array.dtype == object or array.dtype.kind == "S":
        if not array.size:
            return array.tolist()
        decode = np.vectorize(lambda item: item.decode("utf-8", "replace") if isinstance(item, bytes) else item, otypes=[object])
        return decode(array).tolist()
    if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
        # JSON has no NaN / Infinity: null, as TF Serving's JSON writer does for NaN.
        values = array.astype(object)
        values[~np.isfinite(array)] = None
        return values.tolist()
    return array.tolist()


def predict_response(outputs: dict, row_format: bool, rows: list | None = None) -> dict:
    """TF Serving's predict answer: `predictions` (row format) or `outputs` (columnar).

    `rows` (row format): each example's outputs of batch 1, already cut to
    that example's own extent, so a prediction never carries the padding of
    a longer example sent with it (TF Serving pads it; a client that reads
    past the padding sees no difference).
    """
    names = sorted(outputs)
    if not row_format:
        if len(names) == 1:
            return {"outputs": to_json_value(outputs[names[0]])}
        return {"outputs": {name: to_json_value(outputs[name]) for name in names}}
    rows = rows if rows is not None else [{name: value[index:index + 1] for name, value in outputs.items()} for index in range(len(outputs[names[0]]))]
    predictions = [{name: to_json_value(row[name])[0] if row[name].ndim else to_json_value(row[name]) for name in names} for row in rows]
    if len(names) == 1:
        return {"predictions": [prediction[names[0]] for prediction in predictions]}
    return {"predictions": predictions}


DTYPE_NAMES = {
    tf.string: "DT_STRING", tf.float32: "DT_FLOAT", tf.float64: "DT_DOUBLE", tf.int32: "DT_INT32",
    tf.int64: "DT_INT64", tf.bool: "DT_BOOL", tf.float16: "DT_HALF", tf.bfloat16: "DT_BFLOAT16", tf.int8: "DT_INT8",
}


def tensor_info(spec, tensor_name: str) -> dict:
    """A `TensorInfo` as TF Serving's metadata JSON writes it."""
    shape = spec.shape
    if shape.rank is None:
        tensor_shape = {"dim": [], "unknown_rank": True}
    else:
        tensor_shape = {"dim": [{"size": str(-1 if dim is None else dim), "name": ""} for dim in shape], "unknown_rank": False}
    return {"dtype": DTYPE_NAMES.get(spec.dtype, "DT_" + spec.dtype.name.upper()), "tensor_shape": tensor_shape, "name": tensor_name}
