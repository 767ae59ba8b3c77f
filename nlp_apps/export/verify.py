"""Checks exported models in a fresh Python process against expected outputs.

A SavedModel that only works in the process that wrote it (because a Python
class, a registered Keras object or a live variable was silently needed) is the
classic export bug. `verify_saved_model` and `verify_tflite` therefore write the
inputs to a temporary `.npz`, start `python -P verify_worker.py ...` (see
`nlp_apps.export.verify_worker`: it imports only tensorflow + tensorflow_text,
or ai_edge_litert, never nlp_apps), read the outputs back and compare them here:
numbers with an absolute tolerance, strings exactly.
"""

import json
import math
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from nlp_apps.export.verify_worker import to_numpy_for_npz

_WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "verify_worker.py")

# Inputs every task's exports are verified on besides its own sentences: empty,
# whitespace only, and scripts and emoji outside any training vocabulary.
EDGE_CASE_TEXTS = ("", "   ", "Zürich 🙂 東京 مرحبا")


class ExportVerificationError(ValueError):
    """An exported model's outputs differ from the expected ones, or it failed to run.

    Attributes:
        path: str. The exported artifact.
        key: str or None. First output that differs (None if the model did not run).
        max_abs_diff: float or None. Largest absolute difference for `key`
            (`inf` for a shape or string mismatch).
        report: dict. Per-output maximum absolute differences computed so far.
    """

    def __init__(self, message, path=None, key=None, max_abs_diff=None, report=None):
        super().__init__(message)
        self.path = path
        self.key = key
        self.max_abs_diff = max_abs_diff
        self.report = report or {}


def _normalize_strings(array):
    array = np.asarray(array)
    if array.dtype.kind == "U":
        return np.char.encode(array, "utf-8")
    if array.dtype == object:
        return to_numpy_for_npz(array)
    return array


def compare_outputs(actual, expected, atol=1e-5, where="exported model"):
    """Compares named outputs with expected values.

    Args:
        actual: dict mapping output name to array, as the exported model produced.
        expected: dict mapping output name to array. Only these keys are
            compared; `actual` may hold more.
        atol: float. Numeric outputs pass when `max |actual - expected| <= atol`
            (no relative term, so the reported number is the criterion). NaN
            only matches NaN. Integer and bool outputs go through the same check.
        where: str. Names the artifact in error messages.

    Returns:
        dict mapping each expected key to its maximum absolute difference
        (0.0 for equal strings).

    Raises:
        ExportVerificationError: naming the first output that is missing, has
            another shape, or differs by more than `atol`.
    """
    report = {}
    failures = []
    for key in expected:
        if key not in actual:
            raise ExportVerificationError(
                f"{where}: expected output '{key}' is missing; the model returned {sorted(actual)}.",
                path=where, key=key, max_abs_diff=float("inf"), report=report,
            )
        got = _normalize_strings(actual[key])
        want = _normalize_strings(expected[key])
        if got.shape != want.shape:
            raise ExportVerificationError(
                f"{where}: output '{key}' has shape {got.shape}, expected {want.shape}.",
                path=where, key=key, max_abs_diff=float("inf"), report=report,
            )
        if want.dtype.kind == "S" or got.dtype.kind == "S":
            if got.dtype.kind != want.dtype.kind:
                raise ExportVerificationError(
                    f"{where}: output '{key}' has dtype {got.dtype}, expected {want.dtype}.",
                    path=where, key=key, max_abs_diff=float("inf"), report=report,
                )
            differs = got != want
            if differs.any():
                index = tuple(int(i) for i in np.argwhere(differs)[0])
                failures.append(
                    (key, float("inf"),
                     f"output '{key}': {int(differs.sum())} of {differs.size} strings differ, "
                     f"first at {index}: {got[index]!r} != {want[index]!r}")
                )
                report[key] = float("inf")
            else:
                report[key] = 0.0
            continue
        got64 = got.astype(np.float64)
        want64 = want.astype(np.float64)
        both_nan = np.isnan(got64) & np.isnan(want64)
        difference = np.where(both_nan, 0.0, np.abs(got64 - want64))
        # A NaN on one side only makes the difference NaN; count it as infinite.
        difference = np.where(np.isnan(difference), np.inf, difference)
        max_diff = float(difference.max()) if difference.size else 0.0
        report[key] = max_diff
        if max_diff > atol:
            failures.append(
                (key, max_diff, f"output '{key}': max abs diff {max_diff:.3g} > atol {atol:g}")
            )
    if failures:
        key, max_diff, _ = failures[0]
        raise ExportVerificationError(
            f"{where}: " + "; ".join(message for _, _, message in failures),
            path=where, key=key, max_abs_diff=max_diff, report=report,
        )
    return report


def _run_worker(arguments, inputs, timeout):
    """Runs verify_worker.py in a fresh interpreter; returns (outputs, meta)."""
    if not isinstance(inputs, dict):
        raise ValueError(f"inputs must be a dict of named arrays, got {type(inputs).__name__}.")
    with tempfile.TemporaryDirectory(prefix="nlp_apps_verify_") as scratch:
        inputs_path = os.path.join(scratch, "inputs.npz")
        outputs_path = os.path.join(scratch, "outputs.npz")
        np.savez(inputs_path, **{name: to_numpy_for_npz(value) for name, value in inputs.items()})
        environment = dict(os.environ)
        environment.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        # -P keeps the worker's own directory off sys.path, so it cannot import
        # nlp_apps modules that sit next to it, even by accident.
        command = [sys.executable, "-P", _WORKER, arguments[0], arguments[1], inputs_path, outputs_path]
        command += arguments[2:]
        start = time.time()
        try:
            completed = subprocess.run(
                command, capture_output=True, text=True, timeout=timeout, env=environment,
            )
        except subprocess.TimeoutExpired as error:
            raise ExportVerificationError(
                f"{arguments[1]}: the verification process did not finish in {timeout} s.",
                path=arguments[1],
            ) from error
        if completed.returncode != 0:
            tail = "\n".join(completed.stderr.strip().splitlines()[-25:])
            raise ExportVerificationError(
                f"{arguments[1]}: loading/running the {arguments[0]} in a fresh process failed "
                f"(exit code {completed.returncode}):\n{tail}",
                path=arguments[1],
            )
        with np.load(outputs_path, allow_pickle=False) as data:
            outputs = {name: data[name] for name in data.files}
        with open(outputs_path + ".json", encoding="utf-8") as handle:
            meta = json.load(handle)
        meta["process_seconds"] = time.time() - start
        return outputs, meta


def verify_saved_model(path, inputs, expected, signature="serving_default", atol=1e-5, timeout=600):
    """Loads a SavedModel in a fresh process (tensorflow + tensorflow_text only) and checks it.

    Args:
        path: str. SavedModel directory.
        inputs: dict mapping the signature's argument names to numpy arrays
            (strings as `bytes`/`str` arrays). Numeric arrays are cast to the
            signature's dtypes.
        expected: dict mapping output names to expected arrays, typically the
            Keras model's outputs on the same inputs.
        signature: str. Signature key to call.
        atol: float. Absolute tolerance for numeric outputs.
        timeout: float. Seconds before the fresh process is given up on.

    Returns:
        dict with `format`, `path`, `signature`, `atol`, `max_abs_diff`
        (output name -> float), `worker_imported` (package -> bool) and
        `seconds`.

    Raises:
        ValueError: `path` is not a SavedModel directory.
        ExportVerificationError: the model failed to load/run, or an output
            differs (the message names the output and its max abs difference).
    """
    path = os.fspath(path)
    if not os.path.isfile(os.path.join(path, "saved_model.pb")):
        raise ValueError(f"verify_saved_model: '{path}' is not a SavedModel directory (no saved_model.pb).")
    outputs, meta = _run_worker(["saved_model", path, "--signature", signature], inputs, timeout)
    diffs = compare_outputs(outputs, expected, atol=atol, where=f"{path} [{signature}]")
    return {
        "format": "saved_model",
        "path": path,
        "signature": signature,
        "atol": atol,
        "max_abs_diff": diffs,
        "worker_imported": meta["imported"],
        "seconds": round(meta["process_seconds"], 2),
    }


def verify_tflite(path, inputs, expected, atol=1e-5, custom_text_ops=False, signature=None, timeout=600):
    """Runs a `.tflite` file in a fresh process with `ai_edge_litert` and checks it.

    Args:
        path: str. `.tflite` file.
        inputs: dict mapping the signature's input names to numpy arrays.
        expected: dict mapping output names to expected arrays.
        atol: float. Absolute tolerance for numeric outputs; loosen it for
            float16 / int8 models. None: report the differences only (the
            model must still load and run).
        custom_text_ops: bool. Register the tensorflow-text custom ops
            (the worker then also imports tensorflow_text, hence tensorflow).
        signature: str or None. Signature to run; None picks the only one.
        timeout: float. Seconds before the fresh process is given up on.

    Returns:
        dict like `verify_saved_model`'s, with `format` "tflite".

    Raises:
        ValueError: `path` is not a file.
        ExportVerificationError: the model failed to run, or an output differs.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"verify_tflite: '{path}' is not a file.")
    arguments = ["tflite", path]
    if signature is not None:
        arguments += ["--signature", signature]
    if custom_text_ops:
        arguments.append("--custom-text-ops")
    outputs, meta = _run_worker(arguments, inputs, timeout)
    # atol None: report the differences, never fail on them.
    diffs = compare_outputs(outputs, expected, atol=math.inf if atol is None else atol, where=path)
    return {
        "format": "tflite",
        "path": path,
        "signature": signature,
        "atol": atol,
        "max_abs_diff": diffs,
        "worker_imported": meta["imported"],
        "seconds": round(meta["process_seconds"], 2),
    }
