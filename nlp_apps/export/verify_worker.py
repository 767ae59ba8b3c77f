"""Runs an exported model on saved inputs, in a process that knows nothing of nlp_apps.

This file is both a library module and a script. As a module it provides
`run_tflite_model`, which `nlp_apps.export.exporter.run_tflite` reuses. As a
script it is what `nlp_apps.export.verify` starts in a fresh interpreter:

    python -P verify_worker.py saved_model PATH INPUTS.npz OUTPUTS.npz --signature serving_default
    python -P verify_worker.py tflite PATH INPUTS.npz OUTPUTS.npz [--signature NAME] [--custom-text-ops]

It reads named input arrays from `INPUTS.npz`, runs one signature of the model
and writes the named output arrays to `OUTPUTS.npz`, plus `OUTPUTS.npz.json`
with which top-level packages were loaded. It is run by file path with `-P`, so
neither `nlp_apps` nor this directory is importable: the SavedModel must load
with `tensorflow` and `tensorflow_text` alone, and the TFLite model with
`ai_edge_litert` (plus `tensorflow_text` for the custom text ops). Note that
`import tensorflow` itself loads the `keras` package (TensorFlow's `tf.keras`
machinery does), so the worker can promise not to import keras *itself*, not
that keras stays out of `sys.modules`.

Only numpy is imported at module level; TensorFlow and LiteRT are imported
inside the functions that need them, so that importing this module is cheap and
a TFLite run without custom ops never loads TensorFlow at all.
"""

import argparse
import json
import os
import sys
import time

import numpy as np


def to_numpy_for_npz(value):
    """Converts one array to something `np.savez` stores without pickling.

    Args:
        value: array-like. Object arrays of `bytes`/`str` (what TensorFlow and
            LiteRT return for string tensors) become fixed-width bytes (`S`)
            arrays; everything else goes through `np.asarray`.

    Returns:
        A numpy array with a non-object dtype.
    """
    array = np.asarray(value)
    if array.dtype == object:
        flat = [
            item.encode("utf-8") if isinstance(item, str) else bytes(item)
            for item in array.reshape(-1)
        ]
        # An empty object array has no item to size the bytes dtype from.
        array = np.array(flat, dtype=bytes if flat else "S1").reshape(array.shape)
    return array


def _as_string_input(array):
    """Returns a bytes (`S`) array for a string input; unicode is UTF-8 encoded."""
    if array.dtype.kind == "U":
        return np.char.encode(array, "utf-8")
    if array.dtype == object:
        return to_numpy_for_npz(array)
    return array


def _cast_input(name, array, dtype):
    """Casts a numpy input to the dtype the model declares for it.

    Callers often hold int64 token ids or float64 features while the model takes
    int32/float32; casting here keeps that a non-event. A string input must be
    given as strings and a numeric one as numbers.
    """
    array = np.asarray(array)
    wants_string = dtype in (np.bytes_, np.str_, object) or np.dtype(dtype).kind in "SUO"
    is_string = array.dtype.kind in "SUO"
    if wants_string != is_string:
        raise ValueError(
            f"Input '{name}': the model takes {np.dtype(dtype).name} but got an "
            f"array of dtype {array.dtype}."
        )
    if wants_string:
        return _as_string_input(array)
    return array.astype(dtype, copy=False)


def run_tflite_model(
    model_path=None,
    model_content=None,
    inputs=None,
    signature=None,
    custom_text_ops=False,
    num_threads=None,
):
    """Runs a TFLite flatbuffer once with `ai_edge_litert`.

    Args:
        model_path: str. Path of a `.tflite` file. Give this or `model_content`.
        model_content: bytes. The flatbuffer itself.
        inputs: dict mapping input name to numpy array, or a list of arrays in
            the model's input order. Shapes may differ from the ones stored in
            the model (e.g. another sequence length): inputs are resized.
        signature: str or None. Signature key to run. None picks the only
            signature (or `serving_default` when there are several); models
            without signatures run their plain input/output tensors.
        custom_text_ops: bool. Register the tensorflow-text TFLite custom ops
            (FastWordpieceTokenizer, WhitespaceTokenizer, ...). Imports
            tensorflow_text, hence tensorflow.
        num_threads: int or None. Interpreter threads.

    Returns:
        dict mapping output name to numpy array. With a signature the names are
        the signature's output names (e.g. `logits`, `output_0`); without one
        they are the output tensor names.
    """
    from ai_edge_litert import interpreter as litert

    if (model_path is None) == (model_content is None):
        raise ValueError("run_tflite_model: give exactly one of model_path and model_content.")
    source = {"model_path": model_path} if model_path is not None else {"model_content": model_content}
    where = model_path if model_path is not None else "<tflite bytes>"
    if custom_text_ops:
        import tensorflow_text

        # The registrar module exposes a list of registration functions; the
        # interpreter wants that list itself, not a list wrapping it.
        interpreter = litert.InterpreterWithCustomOps(
            custom_op_registerers=tensorflow_text.tflite_registrar.SELECT_TFTEXT_OPS,
            num_threads=num_threads,
            **source,
        )
    else:
        interpreter = litert.Interpreter(num_threads=num_threads, **source)
    inputs = {} if inputs is None else inputs

    signatures = interpreter.get_signature_list()
    if signatures:
        if signature is None:
            if len(signatures) == 1:
                signature = next(iter(signatures))
            elif "serving_default" in signatures:
                signature = "serving_default"
            else:
                raise ValueError(
                    f"{where}: the model has signatures {sorted(signatures)}; pass `signature`."
                )
        if signature not in signatures:
            raise ValueError(
                f"{where}: no signature '{signature}'; the model has {sorted(signatures)}."
            )
        runner = interpreter.get_signature_runner(signature)
        details = runner.get_input_details()
        if isinstance(inputs, dict):
            named = dict(inputs)
        else:
            # Positional inputs follow the order of the model's input tensors,
            # which is the order of the traced function's arguments.
            order = sorted(details, key=lambda name: details[name]["index"])
            if len(inputs) != len(order):
                raise ValueError(
                    f"{where}: signature '{signature}' takes {len(order)} inputs "
                    f"{order}, got {len(inputs)}."
                )
            named = dict(zip(order, inputs))
        unknown = sorted(set(named) - set(details))
        missing = sorted(set(details) - set(named))
        if unknown or missing:
            raise ValueError(
                f"{where}: signature '{signature}' takes inputs {sorted(details)}; "
                f"missing {missing}, unexpected {unknown}."
            )
        feed = {
            name: _cast_input(name, array, details[name]["dtype"])
            for name, array in named.items()
        }
        # The signature runner resizes every input to the fed shape and
        # re-allocates, which is what dynamic (None) dimensions need.
        outputs = runner(**feed)
        return {name: np.asarray(value) for name, value in outputs.items()}

    if signature is not None:
        raise ValueError(f"{where}: the model has no signatures, so signature='{signature}' cannot be run.")
    details = interpreter.get_input_details()
    if isinstance(inputs, dict):
        by_name = {detail["name"]: detail for detail in details}
        unknown = sorted(set(inputs) - set(by_name))
        if unknown or len(inputs) != len(details):
            raise ValueError(
                f"{where}: the model takes inputs {sorted(by_name)}; got {sorted(inputs)}."
            )
        pairs = [(by_name[name], array) for name, array in inputs.items()]
    else:
        if len(inputs) != len(details):
            raise ValueError(f"{where}: the model takes {len(details)} inputs, got {len(inputs)}.")
        pairs = list(zip(details, inputs))
    pairs = [(detail, _cast_input(detail["name"], array, detail["dtype"])) for detail, array in pairs]
    for detail, array in pairs:
        interpreter.resize_tensor_input(detail["index"], list(array.shape), strict=False)
    interpreter.allocate_tensors()
    for detail, array in pairs:
        interpreter.set_tensor(detail["index"], array)
    interpreter.invoke()
    return {
        detail["name"]: np.asarray(interpreter.get_tensor(detail["index"]))
        for detail in interpreter.get_output_details()
    }


def run_saved_model(path, inputs, signature="serving_default"):
    """Loads a SavedModel with plain TensorFlow and calls one signature.

    Args:
        path: str. SavedModel directory.
        inputs: dict mapping the signature's argument names to numpy arrays.
        signature: str. Signature key.

    Returns:
        dict mapping output name to numpy array.
    """
    import tensorflow as tf

    # Importing tensorflow_text registers its custom ops (tokenizers, ...) so
    # that a SavedModel using them can be loaded.
    import tensorflow_text  # noqa: F401

    loaded = tf.saved_model.load(path)
    if signature not in loaded.signatures:
        raise ValueError(
            f"{path}: no signature '{signature}'; the SavedModel has {sorted(loaded.signatures.keys())}."
        )
    function = loaded.signatures[signature]
    specs = function.structured_input_signature[1]
    unknown = sorted(set(inputs) - set(specs))
    missing = sorted(set(specs) - set(inputs))
    if unknown or missing:
        raise ValueError(
            f"{path}: signature '{signature}' takes inputs {sorted(specs)}; "
            f"missing {missing}, unexpected {unknown}."
        )
    feed = {}
    for name, array in inputs.items():
        spec = specs[name]
        array = np.asarray(array)
        if spec.dtype == tf.string:
            feed[name] = tf.constant(_as_string_input(array), dtype=tf.string)
        else:
            feed[name] = tf.constant(array.astype(spec.dtype.as_numpy_dtype, copy=False))
    outputs = function(**feed)
    return {name: value.numpy() for name, value in outputs.items()}


def _main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("format", choices=["saved_model", "tflite"])
    parser.add_argument("model")
    parser.add_argument("inputs")
    parser.add_argument("outputs")
    parser.add_argument("--signature", default=None)
    parser.add_argument("--custom-text-ops", action="store_true")
    args = parser.parse_args(argv)

    start = time.time()
    with np.load(args.inputs, allow_pickle=False) as data:
        inputs = {name: data[name] for name in data.files}
    if args.format == "saved_model":
        outputs = run_saved_model(args.model, inputs, signature=args.signature or "serving_default")
    else:
        outputs = run_tflite_model(
            model_path=args.model,
            inputs=inputs,
            signature=args.signature,
            custom_text_ops=args.custom_text_ops,
        )
    np.savez(args.outputs, **{name: to_numpy_for_npz(value) for name, value in outputs.items()})
    loaded_packages = sorted({name.split(".")[0] for name in sys.modules})
    meta = {
        "seconds": time.time() - start,
        "imported": {
            package: package in loaded_packages
            for package in ("nlp_apps", "keras", "tensorflow", "tensorflow_text", "ai_edge_litert")
        },
        "python": sys.executable,
        "pid": os.getpid(),
    }
    with open(args.outputs + ".json", "w", encoding="utf-8") as handle:
        json.dump(meta, handle)
    return 0


if __name__ == "__main__":
    sys.exit(_main())
