"""One exporter for every task: `.keras`, SavedModel (string in), TFLite (float32, float16, int8).

Pipelines call these functions and nothing else; no pipeline touches a
converter. Every writer is atomic (see `nlp_apps.export.atomic`): an export
either fully replaces the previous one or leaves it untouched.

    export_keras(model, "out/model.keras")
    export_saved_model(module, "out/saved_model")              # tf.Module or Keras model
    export_tflite(module.serving_default, "out/model.tflite", quantization="float16",
                  trackable_obj=module)
    verify_saved_model("out/saved_model", inputs, expected)      # fresh process
    verify_tflite("out/model.tflite", inputs, expected, atol=1e-3)
    write_export_manifest("out", {...})

How a task builds its serving module
------------------------------------
String-to-anything endpoints (classify raw text, translate, tag) are a
`tf.Module` whose attributes hold everything the endpoint uses, and whose
endpoints are `tf.function`s with an `input_signature`, closing over those
attributes:

    class SentimentServing(tf.Module):
        def __init__(self, model, tokenizer):
            super().__init__()
            self.model = model          # Keras model: its variables get tracked
            self.tokenizer = tokenizer  # tensorflow-text tokenizer / tf.Module / lookup layer

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
        def serving_default(self, text):
            token_ids = self.tokenizer(text)
            return {"probabilities": self.model(token_ids, training=False)}

    export_saved_model(module, path)   # picks up `module.serving_default`

Return a dict: its keys become the signature's output names.
`export_saved_model` additionally attaches the raw `tf.Variable`s the endpoints
read (attribute `_exported_variables`), see the second finding below.

Platform findings (checked on TF 2.21.0, Keras 3.15, tensorflow-text 2.21,
ai-edge-litert 2.3; the tests in tests/export re-check them)
---------------------------------------------------------------
* Keras 3 RNNs (LSTM and GRU) with a dynamic *batch* dimension do not convert
  builtin-only: the converter emits TensorList ops (`TensorListReserve`, ...)
  and fails unless `select_tf_ops=True`. With Flex the conversion succeeds, but
  the pip `ai_edge_litert` interpreter (and the deprecated `tf.lite.Interpreter`)
  ship no Flex delegate, so such a model cannot be run or verified from Python
  here; it needs an app linked with `tensorflow-lite-select-tf-ops`.
* With a *fixed batch* (the time axis may stay dynamic) LSTM and GRU convert
  builtin-only to a WHILE loop and match Keras to ~1e-8. Pass
  `input_signature=[tf.TensorSpec([1, None], tf.int32, name="token_ids")]` to
  `export_tflite` to fix the batch of a Keras model without rebuilding it.
* For a single fused `UNIDIRECTIONAL_SEQUENCE_LSTM` op use
  `nlp_apps.export.fused_lstm.fused_lstm_function` (fixed batch, no mask, only
  sequence outputs / last output). GRU has no fused builtin: use the loop.
* Trap: a SavedModel (or a `from_concrete_functions(..., trackable_obj)`
  conversion, which goes through one) of a `tf.Module` that holds a Keras 3
  model converts to a TFLite model whose weights are *uninitialized*
  `VAR_HANDLE`/`READ_VARIABLE` ops: it runs and returns garbage (~1e30).
  Keras wraps each `tf.Variable` in its own trackable, and the converter only
  freezes variables it finds as such in the object graph. Tracking the raw
  `tf.Variable`s captured by the endpoint functions on the saved object (what
  `keras.export.ExportArchive` does internally) fixes it; `export_saved_model`
  and `export_tflite` do this automatically. `TFLiteConverter.from_keras_model`
  freezes variables and is not affected.
* tensorflow-text: `FastWordpieceTokenizer` (and the other ops listed in
  STYLE.md) converts with `allow_custom_ops=True` and runs with
  `run_tflite(..., custom_text_ops=True)`. Plain TF string ops such as
  `tf.strings.length` also convert as custom ops but have no kernel in LiteRT,
  and `x[..., None]` (StridedSlice with `new_axis_mask`) becomes an unresolved
  custom op next to ragged tensors: use `tf.expand_dims`.
* Keras models are converted by tracing `keras_serving_function(model)` and
  using `from_concrete_functions`, not `from_keras_model`: the latter names
  inputs after auto-generated `keras_tensor_<n>` names and cannot fix the batch.
"""

import collections
import dataclasses
import datetime
import importlib.metadata
import json
import os
import platform
import tempfile
import warnings
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from nlp_apps.export.atomic import atomic_output_dir
from nlp_apps.export.atomic import atomic_output_file
from nlp_apps.export.verify_worker import run_tflite_model

QUANTIZATIONS = ("float32", "float16", "dynamic_int8", "full_int8")
EXPORT_FORMATS = ("keras", "saved_model", "tflite")


def prepare_export_dir(export_dir, formats, quantizations=()):
    """Checks the configured formats before any work is done, then creates the folder.

    Every task's export starts here, so a typo in `export.formats` or
    `export.tflite_quantization` fails fast with the field named.
    """
    unknown = sorted(set(formats) - set(EXPORT_FORMATS))
    if unknown:
        raise ValueError(f"export.formats: unknown format(s) {', '.join(unknown)}; choose from {', '.join(EXPORT_FORMATS)}")
    unknown = sorted(set(quantizations) - set(QUANTIZATIONS))
    if unknown:
        raise ValueError(
            f"export.tflite_quantization: unknown {', '.join(unknown)}; choose from {', '.join(QUANTIZATIONS)}"
        )
    export_dir = Path(export_dir)
    export_dir.mkdir(parents=True, exist_ok=True)
    return export_dir
MANIFEST_NAME = "manifest.json"


# --------------------------------------------------------------------------- #
# Keras
# --------------------------------------------------------------------------- #


def export_keras(model, path):
    """Saves a Keras model as a `.keras` archive, atomically.

    Args:
        model: a built `keras.Model`.
        path: str. Target file; must end with `.keras`.

    Returns:
        str. `path`.

    Raises:
        ValueError: `path` does not end with `.keras` or is a directory.
    """
    path = os.fspath(path)
    if not path.endswith(".keras"):
        raise ValueError(f"export_keras: path '{path}' must end with '.keras'.")
    with atomic_output_file(path) as temporary:
        model.save(temporary)
    return path


def _input_name(keras_tensor, index):
    name = getattr(keras_tensor, "name", None) or ""
    # Unnamed `keras.Input`s get process-global names like keras_tensor_17,
    # which would change from run to run; use the position instead.
    if not name or name.startswith("keras_tensor"):
        return f"input_{index}"
    return name


def _as_output_dict(outputs):
    if isinstance(outputs, dict):
        return dict(outputs)
    if isinstance(outputs, (list, tuple)):
        return {f"output_{index}": value for index, value in enumerate(outputs)}
    return {"output_0": outputs}


def keras_serving_function(model, input_signature=None):
    """Wraps a Keras model's inference call in a `tf.function` with an input signature.

    Args:
        model: a built `keras.Model`.
        input_signature: list of `tf.TensorSpec`, one per model input, or None
            to use the model's own `inputs` (functional models). Give it to fix
            a dimension the model leaves dynamic, e.g. the batch for TFLite.
            Spec names become the signature's input names.

    Returns:
        A `tf.function` taking the inputs positionally and returning a dict:
        the model's dict outputs as they are, otherwise `output_0`,
        `output_1`, ... Inputs named in `keras.Input(name=...)` keep that name;
        unnamed ones become `input_0`, `input_1`, ...

    Raises:
        ValueError: no `input_signature` and the model has no `inputs`.
    """
    if input_signature is None:
        try:
            model_inputs = list(model.inputs)
        except (AttributeError, ValueError):
            model_inputs = []
        if not model_inputs:
            raise ValueError(
                f"keras_serving_function: model '{model.name}' has no `inputs` "
                "(subclassed model?); pass input_signature=[tf.TensorSpec(...), ...]."
            )
        input_signature = [
            tf.TensorSpec(tensor.shape, tensor.dtype, name=_input_name(tensor, index))
            for index, tensor in enumerate(model_inputs)
        ]
    input_signature = list(input_signature)
    for index, spec in enumerate(input_signature):
        if not isinstance(spec, tf.TensorSpec):
            raise ValueError(
                f"keras_serving_function: input_signature[{index}] must be a tf.TensorSpec, "
                f"got {type(spec).__name__}."
            )
    single_input = len(input_signature) == 1

    def serve(*inputs):
        model_inputs = inputs[0] if single_input else list(inputs)
        return _as_output_dict(model(model_inputs, training=False))

    return tf.function(serve, input_signature=input_signature, autograph=False)


# --------------------------------------------------------------------------- #
# SavedModel
# --------------------------------------------------------------------------- #


def _concrete(function, where):
    """Returns the concrete function of a tf.function with an input signature."""
    if isinstance(function, tf.types.experimental.ConcreteFunction):
        return function
    if isinstance(function, tf.types.experimental.PolymorphicFunction):
        if function.input_signature is None:
            raise ValueError(
                f"{where}: tf.function '{function.__name__}' has no input_signature; "
                "declare one (e.g. tf.TensorSpec([None], tf.string)) or pass a concrete function."
            )
        return function.get_concrete_function()
    raise ValueError(
        f"{where}: expected a tf.function with an input_signature or a concrete function, "
        f"got {type(function).__name__}."
    )


def _captured_variables(concrete_functions):
    """Returns the distinct `tf.Variable`s the functions read, in first-seen order."""
    seen = set()
    variables = []
    for function in concrete_functions:
        for variable in function.variables:
            if id(variable) not in seen:
                seen.add(id(variable))
                variables.append(variable)
    return variables


def export_saved_model(module_or_model, path, signatures=None, input_signature=None):
    """Saves a `tf.Module` (or a Keras model) as a SavedModel directory, atomically.

    Args:
        module_or_model: a `tf.Module` built as described in this module's
            docstring (Keras model and tokenizers as attributes, endpoints as
            `tf.function`s with input signatures), or a `keras.Model`, which is
            wrapped with `keras_serving_function` as `serving_default`.
        path: str. Target directory (replaced if it exists).
        signatures: which endpoints become SavedModel signatures: a dict
            mapping signature name to a `tf.function` (with input_signature)
            or concrete function; a single such function (saved as
            `serving_default`); or None to use the module's `serving_default`
            attribute. Must be None for a Keras model.
        input_signature: Keras models only: list of `tf.TensorSpec` overriding
            the model's input shapes/names (see `keras_serving_function`).

    Returns:
        str. `path`.

    Raises:
        ValueError: no usable signature, or arguments that do not fit the
            kind of object given.
    """
    path = os.fspath(path)
    where = f"export_saved_model('{path}')"
    if isinstance(module_or_model, keras.Model):
        if signatures is not None:
            raise ValueError(
                f"{where}: `signatures` is for tf.Modules; for a Keras model pass input_signature, "
                "or build a tf.Module for custom endpoints."
            )
        module = tf.Module()
        module.model = module_or_model
        module.serving_default = keras_serving_function(module_or_model, input_signature)
        signatures = None
    elif isinstance(module_or_model, tf.Module):
        if input_signature is not None:
            raise ValueError(
                f"{where}: input_signature is only for Keras models; a tf.Module's "
                "tf.functions carry their own."
            )
        module = module_or_model
    else:
        raise ValueError(
            f"{where}: expected a tf.Module or keras.Model, got {type(module_or_model).__name__}."
        )

    if signatures is None:
        default = getattr(module, "serving_default", None)
        if default is None:
            raise ValueError(
                f"{where}: the module has no `serving_default` tf.function; pass signatures={{name: fn}}."
            )
        signatures = {"serving_default": default}
    elif not isinstance(signatures, dict):
        signatures = {"serving_default": signatures}
    with atomic_output_dir(path) as temporary:
        write_saved_model(module, temporary, signatures)
    return path


def write_saved_model(module, path, signatures):
    """Saves `module` with `signatures` into the folder `path` as it is (not atomically).

    For a folder that is itself temporary, such as a version being built by
    `nlp_apps.export.versions.new_version_dir`; other files in it stay.
    Arguments as `export_saved_model`'s for a tf.Module.
    """
    path = os.fspath(path)
    where = f"write_saved_model('{path}')"
    if not signatures:
        raise ValueError(f"{where}: signatures is empty.")
    concrete = {name: _concrete(function, f"{where} signature '{name}'") for name, function in signatures.items()}
    # Track the raw tf.Variables next to the Keras wrappers; without them a
    # TFLite conversion of this SavedModel leaves the weights uninitialized.
    module._exported_variables = _captured_variables(concrete.values())
    tf.saved_model.save(module, path, signatures=concrete)
    return path


# --------------------------------------------------------------------------- #
# TFLite
# --------------------------------------------------------------------------- #


def _conversion_hint(message):
    hints = []
    if "TensorList" in message or "Flex ops" in message:
        hints.append(
            "a Keras RNN with a dynamic batch needs TensorList (Flex) ops: fix the batch with "
            "input_signature=[tf.TensorSpec([1, None], ...)] for a builtin-only WHILE loop "
            "(or fused_lstm_function), or pass select_tf_ops=True (runtime then needs the Flex "
            "delegate, which ai_edge_litert's pip interpreter lacks)"
        )
    if "Custom ops" in message or "custom op" in message:
        hints.append(
            "the graph has ops without a TFLite builtin: pass allow_custom_ops=True for the "
            "tensorflow-text tokenizers that have TFLite kernels (then run with custom_text_ops=True)"
        )
    return ("\nHint: " + "\nHint: ".join(hints)) if hints else ""


def export_tflite(
    model,
    path,
    quantization="float32",
    allow_custom_ops=False,
    select_tf_ops=False,
    representative_dataset=None,
    input_signature=None,
    trackable_obj=None,
):
    """Converts a model to a `.tflite` flatbuffer, atomically.

    Args:
        model: what to convert, one of
            - a `keras.Model` (traced with `keras_serving_function`; signature
              `serving_default`);
            - a concrete function, or a `tf.function` with an input_signature
              (signature `serving_default`), e.g. `module.serving_default`;
            - a dict mapping signature names to such functions (converted
              through a temporary SavedModel, one TFLite signature each).
        path: str. Target file; must end with `.tflite`.
        quantization: "float32" (no optimization), "float16" (weights stored
            as float16: `optimizations=[DEFAULT]` and
            `supported_types=[tf.float16]`), "dynamic_int8" (int8 weights,
            float activations: `optimizations=[DEFAULT]`) or "full_int8"
            (int8 weights and activations calibrated on
            `representative_dataset`, which it requires; ops without an int8
            kernel, such as a CRF's loop, stay float; inputs and outputs keep
            their dtypes).
        allow_custom_ops: bool. Keep ops without a builtin as custom ops; needed
            for tensorflow-text tokenizers.
        select_tf_ops: bool. Allow TensorFlow (Flex) ops. The result needs the
            Flex delegate at runtime, which `run_tflite` does not have.
        representative_dataset: callable yielding lists of sample inputs (in
            input order), typically drawn from the training data; required
            by "full_int8" and refused by the other quantizations.
        input_signature: Keras models only: list of `tf.TensorSpec`, e.g. with
            a fixed batch so that RNNs convert builtin-only.
        trackable_obj: the `tf.Module` the functions belong to (e.g. the serving
            module), so its resources are saved with them. Optional.

    Returns:
        str. `path`.

    Raises:
        ValueError: unknown quantization, bad arguments, or a failed conversion
            (the converter's message plus a hint).
    """
    path = os.fspath(path)
    where = f"export_tflite('{path}')"
    if quantization not in QUANTIZATIONS:
        raise ValueError(
            f"{where}: unknown quantization '{quantization}'; allowed values are {list(QUANTIZATIONS)}."
        )
    if representative_dataset is not None and quantization != "full_int8":
        raise ValueError(f"{where}: representative_dataset is only used with quantization='full_int8'.")
    if representative_dataset is None and quantization == "full_int8":
        raise ValueError(f"{where}: quantization='full_int8' needs a representative_dataset to calibrate activations.")
    if not path.endswith(".tflite"):
        raise ValueError(f"{where}: path must end with '.tflite'.")

    if isinstance(model, keras.Model):
        if trackable_obj is None:
            trackable_obj = model
        functions = {"serving_default": _concrete(keras_serving_function(model, input_signature), where)}
    elif input_signature is not None:
        raise ValueError(f"{where}: input_signature is only for Keras models.")
    elif isinstance(model, dict):
        if not model:
            raise ValueError(f"{where}: the dict of signatures is empty.")
        functions = {name: _concrete(function, f"{where} signature '{name}'") for name, function in model.items()}
    else:
        functions = {"serving_default": _concrete(model, where)}

    # The converter saves what it is given as a SavedModel first; hold the raw
    # tf.Variables on the saved object, or Keras weights end up uninitialized.
    holder = tf.Module()
    if trackable_obj is not None:
        holder.root = trackable_obj
    holder.captured_variables = _captured_variables(functions.values())

    with tempfile.TemporaryDirectory(prefix="nlp_apps_tflite_") as scratch:
        if list(functions) == ["serving_default"]:
            converter = tf.lite.TFLiteConverter.from_concrete_functions(
                [functions["serving_default"]], holder
            )
        else:
            saved_model_dir = os.path.join(scratch, "saved_model")
            tf.saved_model.save(holder, saved_model_dir, signatures=functions)
            converter = tf.lite.TFLiteConverter.from_saved_model(
                saved_model_dir, signature_keys=list(functions)
            )
        supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        if select_tf_ops:
            supported_ops.append(tf.lite.OpsSet.SELECT_TF_OPS)
        converter.target_spec.supported_ops = supported_ops
        converter.allow_custom_ops = bool(allow_custom_ops)
        if quantization in ("float16", "dynamic_int8", "full_int8"):
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if quantization == "float16":
            converter.target_spec.supported_types = [tf.float16]
        if representative_dataset is not None:
            converter.representative_dataset = representative_dataset
        try:
            with warnings.catch_warnings():
                # Calibration (representative_dataset) runs the deprecated
                # tf.lite.Interpreter inside the converter; the warning is
                # about TensorFlow's code, not ours.
                warnings.filterwarnings("ignore", message=r"(?s).*tf\.lite\.Interpreter is deprecated")
                flatbuffer = converter.convert()
        except Exception as error:  # The converter raises its own ConverterError type.
            message = str(error)
            raise ValueError(
                f"{where}: conversion failed ({type(error).__name__}):\n"
                f"...{message[-1500:]}{_conversion_hint(message)}"
            ) from error

    with atomic_output_file(path) as temporary:
        with open(temporary, "wb") as handle:
            handle.write(flatbuffer)
    return path


def _tflite_source(path_or_bytes, where):
    if isinstance(path_or_bytes, (bytes, bytearray)):
        return {"model_content": bytes(path_or_bytes)}
    path = os.fspath(path_or_bytes)
    if not os.path.isfile(path):
        raise ValueError(f"{where}: '{path}' is not a file.")
    return {"model_path": path}


def run_tflite(path_or_bytes, inputs, custom_text_ops=False, signature=None, num_threads=None):
    """Runs a TFLite model in this process with `ai_edge_litert`.

    Args:
        path_or_bytes: str path of a `.tflite` file, or the flatbuffer bytes.
        inputs: dict mapping signature input names to numpy arrays, or a list
            of arrays in input order. Dynamic dimensions are resized to the
            given shapes; numeric arrays are cast to the model's dtypes.
        custom_text_ops: bool. Use `InterpreterWithCustomOps` with the
            tensorflow-text TFLite ops registered.
        signature: str or None. Signature to run (None: the only one).
        num_threads: int or None.

    Returns:
        dict mapping output names to numpy arrays.

    Raises:
        ValueError: missing file, unknown signature or mismatched inputs.
    """
    source = _tflite_source(path_or_bytes, "run_tflite")
    return run_tflite_model(
        inputs=inputs,
        signature=signature,
        custom_text_ops=custom_text_ops,
        num_threads=num_threads,
        **source,
    )


def tflite_op_names(path_or_bytes):
    """Lists the op names of a TFLite model, e.g. to check what a conversion produced.

    Args:
        path_or_bytes: str path of a `.tflite` file, or the flatbuffer bytes.

    Returns:
        list of str, one per op in the main graph, in execution order (custom
        ops appear under their custom name, Flex ops as `Flex...`).
    """
    from ai_edge_litert.interpreter import Interpreter

    # Creating the interpreter does not prepare kernels, so unresolved custom
    # or Flex ops do not fail here. `_get_ops_details` is LiteRT's only op
    # listing; it is private but stable across TF/LiteRT releases since 2.x.
    interpreter = Interpreter(**_tflite_source(path_or_bytes, "tflite_op_names"))
    return [op["op_name"] for op in interpreter._get_ops_details()]


FUSED_LSTM_OPS = ("UNIDIRECTIONAL_SEQUENCE_LSTM", "BIDIRECTIONAL_SEQUENCE_LSTM")


def tflite_op_census(path_or_bytes):
    """Counts the ops of a TFLite model in every subgraph (loop bodies included).

    Returns:
        dict: `ops` {name: count} (custom ops under their custom name, Flex
        ops as "Flex..."), `flex_ops`, `custom_ops`, `fused_lstm_ops`,
        `while_ops`, `variable_tensors` (ints; > 0 means the model keeps
        state between invocations, see `STATEFUL_TFLITE_NOTE`) and
        `subgraphs`.
    """
    from tensorflow.lite.python import schema_py_generated as schema

    if isinstance(path_or_bytes, (bytes, bytearray)):
        flatbuffer = bytes(path_or_bytes)
    else:
        with open(_tflite_source(path_or_bytes, "tflite_op_census")["model_path"], "rb") as handle:
            flatbuffer = handle.read()
    model = schema.ModelT.InitFromPackedBuf(flatbuffer, 0)
    builtin_names = {value: name for name, value in vars(schema.BuiltinOperator).items() if not name.startswith("_")}
    counts = collections.Counter()
    for subgraph in model.subgraphs:
        for operator in subgraph.operators or []:
            code = model.operatorCodes[operator.opcodeIndex]
            # Old files keep small codes in `deprecatedBuiltinCode` only.
            builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
            name = builtin_names.get(builtin, str(builtin))
            if name == "CUSTOM":
                name = code.customCode.decode() if isinstance(code.customCode, bytes) else str(code.customCode)
            counts[name] += 1
    flex = sum(count for name, count in counts.items() if name.startswith("Flex"))
    custom = sum(count for name, count in counts.items() if name not in builtin_names.values()) - flex
    return {
        "ops": dict(sorted(counts.items())),
        "flex_ops": flex,
        "custom_ops": custom,
        "fused_lstm_ops": sum(counts[name] for name in FUSED_LSTM_OPS),
        "while_ops": counts["WHILE"],
        # Variable tensors (the fused LSTM's states) keep their values from one
        # invocation to the next: an app must reset them between inputs.
        "variable_tensors": sum(1 for subgraph in model.subgraphs for tensor in subgraph.tensors or [] if tensor.isVariable),
        "subgraphs": len(model.subgraphs),
    }


# --------------------------------------------------------------------------- #
# Manifest
# --------------------------------------------------------------------------- #


def _package_version(name):
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _utc_now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _library_versions():
    from nlp_apps import __version__ as nlp_apps_version

    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "tensorflow_text": _package_version("tensorflow-text"),
        "ai_edge_litert": _package_version("ai-edge-litert"),
        "numpy": np.__version__,
        "nlp_apps": nlp_apps_version,
    }


def tflite_signatures(path):
    """`{signature: {"inputs": {name: {dtype, shape}}, "outputs": {...}}}` of a TFLite file; -1 = dynamic."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=os.fspath(path))

    def describe(details):
        return {
            name: {"dtype": np.dtype(detail["dtype"]).name, "shape": [int(size) for size in detail["shape_signature"]]}
            for name, detail in sorted(details.items())
        }

    signatures = {}
    for name in interpreter.get_signature_list():
        runner = interpreter.get_signature_runner(name)
        signatures[name] = {"inputs": describe(runner.get_input_details()), "outputs": describe(runner.get_output_details())}
    return signatures


def write_tflite_sidecar(path, info):
    """Writes `<path>.json` beside a TFLite file: what an app needs to call it, with `info` (task facts).

    The sidecar holds `model` (the file name), `signatures` (`tflite_signatures`),
    `op_census`, `stateful` (variable tensors: reset them between inputs),
    `created_utc`, `versions`, and `info` (e.g. task, quantization, tag or
    label names, the assets files). Returns the sidecar's path.
    """
    path = os.fspath(path)
    census = tflite_op_census(path)
    sidecar = {
        "model": os.path.basename(path),
        "signatures": tflite_signatures(path),
        "op_census": census,
        "stateful": bool(census["variable_tensors"]),
        **info,
        "created_utc": _utc_now(),
        "versions": _library_versions(),
    }
    if sidecar["stateful"]:
        sidecar.setdefault("notes", []).append(STATEFUL_TFLITE_NOTE)
    target = path + ".json"
    with atomic_output_file(target) as temporary:
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(sidecar, indent=2, ensure_ascii=False, default=_json_default) + "\n")
    return target


def write_export_manifest(export_dir, info):
    """Writes `<export_dir>/manifest.json` describing an export.

    Args:
        export_dir: str. Directory holding the exported artifacts.
        info: dict, JSON-serializable (numpy scalars/arrays are converted).
            Free-form; typically `formats`, `verification` (per artifact
            report with max abs diffs), `task`, `notes`. Must not use the keys
            the writer fills in: `created_utc`, `versions`, `files`,
            `artifact_bytes`.

    Returns:
        str. Path of the manifest. It holds `info` plus: `created_utc`;
        `versions` of python, tensorflow, keras, tensorflow-text,
        ai-edge-litert, numpy and nlp_apps; `files` (every file under
        `export_dir` with its size in bytes, manifest excluded) and
        `artifact_bytes` (total bytes per top-level entry, e.g. a SavedModel
        directory).

    Raises:
        ValueError: `export_dir` is not a directory or `info` uses a reserved key.
    """
    export_dir = os.fspath(export_dir)
    if not os.path.isdir(export_dir):
        raise ValueError(f"write_export_manifest: '{export_dir}' is not a directory.")
    reserved = {"created_utc", "versions", "files", "artifact_bytes"}
    clashes = sorted(reserved & set(info))
    if clashes:
        raise ValueError(f"write_export_manifest: info must not contain the reserved keys {clashes}.")

    files = []
    artifact_bytes = {}
    for root, directories, names in os.walk(export_dir):
        directories.sort()
        # Leftovers of an interrupted atomic write are hidden and not part of the export.
        directories[:] = [name for name in directories if not name.startswith(".")]
        for name in sorted(names):
            relative = os.path.relpath(os.path.join(root, name), export_dir)
            if relative == MANIFEST_NAME or name.startswith("."):
                continue
            size = os.path.getsize(os.path.join(root, name))
            files.append({"path": relative.replace(os.sep, "/"), "bytes": size})
            top = relative.split(os.sep)[0]
            artifact_bytes[top] = artifact_bytes.get(top, 0) + size

    manifest = dict(info)
    manifest["created_utc"] = _utc_now()
    manifest["versions"] = _library_versions()
    manifest["files"] = files
    manifest["artifact_bytes"] = artifact_bytes
    path = os.path.join(export_dir, MANIFEST_NAME)
    text = json.dumps(manifest, indent=2, sort_keys=False, default=_json_default)
    with atomic_output_file(path) as temporary:
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
    return path


STATEFUL_TFLITE_NOTE = (
    "tflite: the fused LSTM ops keep their states in variable tensors, which carry over from one "
    "invocation to the next; call reset_all_variables() (Python ai_edge_litert), "
    "Interpreter.resetVariableTensors() (Java) or TfLiteInterpreterResetVariableTensors (C) between inputs "
    "(after allocating tensors)"
)


@dataclasses.dataclass
class ExportManifest:
    """What one export produced, in the one schema every task writes as manifest.json.

    Attributes:
        export_dir: str. Directory holding the artifacts.
        task: str. The task that exported them ("ner", "translation", ...).
        task_info: dict. What a user of the artifacts needs from the task:
            label or tag names, languages, search settings, TFLite shapes.
        artifacts: dict mapping an artifact name ("keras", "saved_model",
            "tflite/float32", "assets/source.model") to its path.
        verification: dict mapping a checked artifact ("saved_model/translate",
            "tflite/float16") to the report of `verify_saved_model` /
            `verify_tflite`.
        notes: list of str. Anything a reader of the manifest should know
            (e.g. "tflite: fixed batch 1").
        op_census: dict mapping a TFLite artifact to its `tflite_op_census`
            (Flex, fused LSTM and WHILE op counts).
    """

    export_dir: str
    task: str = ""
    task_info: dict = dataclasses.field(default_factory=dict)
    artifacts: dict = dataclasses.field(default_factory=dict)
    verification: dict = dataclasses.field(default_factory=dict)
    notes: list = dataclasses.field(default_factory=list)
    op_census: dict = dataclasses.field(default_factory=dict)
    # Set by a versioned export (`saved_models/<model_name>/<version>/`).
    model_name: str = ""
    version: int | None = None

    def add(self, name, path):
        """Records artifact `name` at `path` (absolute, or relative to export_dir)."""
        self.artifacts[name] = os.fspath(path)

    def _relative(self, path):
        path = os.fspath(path)
        if not os.path.isabs(path):
            return path.replace(os.sep, "/")
        return os.path.relpath(path, self.export_dir).replace(os.sep, "/")

    def to_dict(self):
        """Returns the manifest `info`: task, formats, artifact paths relative to export_dir, verification, notes."""
        formats = []
        for name in self.artifacts:
            kind = name.split("/", 1)[0]
            if kind in EXPORT_FORMATS:
                formats.append(name)
        # Reports name the artifact they checked; relative, so that they stay
        # right after the version folder is renamed into place.
        verification = {
            name: {**report, "path": self._relative(report["path"])} if "path" in report else report
            for name, report in self.verification.items()
        }
        return {
            "task": self.task,
            "model_name": self.model_name,
            "version": self.version,
            "task_info": self.task_info,
            "formats": formats,
            "artifacts": {name: self._relative(path) for name, path in self.artifacts.items()},
            "verification": verification,
            "op_census": self.op_census,
            "notes": list(self.notes),
        }

    def summary_lines(self):
        """One line per verified artifact (what `nlp-apps export` prints; the details stay in the manifest)."""
        lines = []
        for name, report in self.verification.items():
            diffs = [float(value) for value in report.get("max_abs_diff", {}).values() if np.isscalar(value) and not isinstance(value, str)]
            worst = max(diffs, default=0.0)
            lines.append(f"  verified {name} in a fresh process: max abs diff {worst:.2g} (atol {report.get('atol')})")
        for name, census in self.op_census.items():
            lines.append(
                f"  {name}: {sum(census['ops'].values())} ops, {census['fused_lstm_ops']} fused LSTM, "
                f"{census['while_ops']} WHILE, {census['flex_ops']} Flex"
                + (", stateful: reset variables between inputs" if census.get("variable_tensors") else "")
            )
        return lines

    def write_manifest(self):
        """Writes `<export_dir>/manifest.json`; returns its path."""
        return write_export_manifest(self.export_dir, self.to_dict())
