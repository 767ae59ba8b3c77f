"""`model_card.json` beside each exported version: what a deployer needs without loading the model.

Signatures (input and output names, dtypes, shapes with -1 for a dynamic
dimension, as TF Serving's metadata call reports them), the task's labels or
tag names and vocabulary sizes, the run's evaluation scores and training
data, training time, library versions and the export date.
"""

from __future__ import annotations

import json
import os

import tensorflow as tf

from nlp_apps.export.atomic import atomic_output_file

MODEL_CARD_NAME = "model_card.json"


def _tensor_description(spec) -> dict:
    shape = spec.shape
    dims = [-1 if dim is None else int(dim) for dim in shape] if shape.rank is not None else None
    return {"dtype": spec.dtype.name, "shape": dims}


def describe_signatures(signatures: dict, padding: dict | None = None) -> dict:
    """`{signature: {"inputs": {name: {dtype, shape}}, "outputs": {...}}}` of tf.functions / concrete functions.

    `padding` (output name -> value) adds `"padding"` to the outputs of rank >= 2 it names.
    """
    padding = padding or {}
    described = {}
    for name, function in signatures.items():
        concrete = function if isinstance(function, tf.types.experimental.ConcreteFunction) else function.get_concrete_function()
        _, keyword_specs = concrete.structured_input_signature
        if keyword_specs:
            inputs = {key: _tensor_description(spec) for key, spec in keyword_specs.items()}
        else:
            inputs = {spec.name: _tensor_description(spec) for spec in concrete.structured_input_signature[0]}
        outputs = {key: _tensor_description(tf.TensorSpec(value.shape, value.dtype)) for key, value in concrete.structured_outputs.items()}
        for key, description in outputs.items():
            if key in padding and description["shape"] is not None and len(description["shape"]) >= 2:
                description["padding"] = padding[key]
        described[name] = {"inputs": dict(sorted(inputs.items())), "outputs": dict(sorted(outputs.items()))}
    return described


def write_model_card(version_dir, card: dict) -> str:
    """Writes `<version_dir>/model_card.json` atomically; returns its path."""
    path = os.path.join(os.fspath(version_dir), MODEL_CARD_NAME)
    with atomic_output_file(path) as temporary:
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(card, indent=2, ensure_ascii=False, default=str) + "\n")
    return path
