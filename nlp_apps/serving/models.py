"""The exported models a server serves: discovery under a folder, loading, signature calls.

A model is a folder `<name>/` holding integer version folders (what
`nlp-apps export` writes). As TF Serving does by default, the highest
version is the one served; a request for another version gets 404.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from pathlib import Path

import tensorflow as tf
import tensorflow_text  # noqa: F401 - registers the text ops our SavedModels use (RegexSplitWithOffsets, ...)

from nlp_apps.export.model_card import MODEL_CARD_NAME
from nlp_apps.export.versions import existing_versions


class ModelNotFound(LookupError):
    """A model or version the server does not serve (HTTP 404)."""


@dataclasses.dataclass
class ServedSignature:
    """One signature of a loaded version, with what the REST layer and the batcher need.

    Attributes:
        inputs / outputs: name -> `tf.TensorSpec` (outputs: the traced shapes).
        padding: output name -> the value that pads it along its inner axes
            (from the model card); a batched answer is cut back to each
            request's own extent by it.
        batchable: every input has a leading dynamic batch dimension and
            every output of rank >= 2 has a padding value: requests can be
            concatenated and their answers split again exactly.
    """

    name: str
    function: object
    inputs: dict
    outputs: dict
    padding: dict
    batchable: bool

    def __call__(self, arrays: dict) -> dict:
        tensors = {name: tf.constant(arrays[name], dtype=spec.dtype) for name, spec in self.inputs.items()}
        return {name: value.numpy() for name, value in self.function(**tensors).items()}


@dataclasses.dataclass
class ServedVersion:
    name: str
    version: int
    path: Path
    task: str
    signatures: dict
    card: dict


def _signature(name, function, card_outputs):
    _, keyword_specs = function.structured_input_signature
    inputs = dict(sorted(keyword_specs.items()))
    outputs = {key: tf.TensorSpec(value.shape, value.dtype) for key, value in sorted(function.structured_outputs.items())}
    padding = {key: description["padding"] for key, description in card_outputs.items() if "padding" in description}
    batched_inputs = all(spec.shape.rank and spec.shape[0] is None for spec in inputs.values())
    splittable = all((spec.shape.rank or 0) <= 1 or key in padding for key, spec in outputs.items())
    return ServedSignature(name, function, inputs, outputs, padding, bool(batched_inputs and splittable))


def load_version(name: str, path: Path) -> ServedVersion:
    """Loads one version folder (a SavedModel) with its model card."""
    card_path = path / MODEL_CARD_NAME
    card = json.loads(card_path.read_text(encoding="utf-8")) if card_path.is_file() else {}
    loaded = tf.saved_model.load(str(path))
    signatures = {}
    for signature_name, function in loaded.signatures.items():
        card_outputs = card.get("signatures", {}).get(signature_name, {}).get("outputs", {})
        signatures[signature_name] = _signature(signature_name, function, card_outputs)
    version = ServedVersion(name, int(path.name), path, card.get("task", ""), signatures, card)
    version.loaded = loaded  # keeps the variables alive
    return version


def discover(model_base: Path) -> dict:
    """`{name: folder}` of the models under `model_base`: the folder itself if it holds versions, else its subfolders that do."""
    model_base = Path(model_base)
    if not model_base.is_dir():
        raise ValueError(f"--model-base {model_base}: no such folder")
    if existing_versions(model_base):
        return {model_base.name: model_base}
    models = {path.name: path for path in sorted(model_base.iterdir()) if path.is_dir() and existing_versions(path)}
    if not models:
        raise ValueError(
            f"--model-base {model_base}: no exported model (a folder of integer versions, as `nlp-apps export` writes) here or one level down"
        )
    return models


class ModelRepository:
    """The latest version of each discovered model, loaded at start."""

    def __init__(self, model_bases, names=None):
        bases = [model_bases] if isinstance(model_bases, (str, Path)) else list(model_bases)
        found = {}
        for model_base in bases:
            for name, folder in discover(model_base).items():
                if name in found:
                    raise ValueError(f"--model-base: two models named {name!r}: {found[name]} and {folder}")
                found[name] = folder
        model_base = ", ".join(map(str, bases))
        if names:
            unknown = sorted(set(names) - set(found))
            if unknown:
                raise ValueError(f"--model {', '.join(unknown)}: not under {model_base} (found: {', '.join(found) or 'none'})")
            found = {name: found[name] for name in names}
        self._lock = threading.Lock()
        self.models = {}
        for name, folder in found.items():
            version = existing_versions(folder)[-1]
            self.models[name] = load_version(name, folder / str(version))

    def get(self, name: str, version: int | None = None) -> ServedVersion:
        served = self.models.get(name)
        if served is None:
            raise ModelNotFound(f"Servable not found for request: Latest({name})")
        if version is not None and version != served.version:
            raise ModelNotFound(f"Servable not found for request: Specific({name}, {version})")
        return served

    def signature(self, served: ServedVersion, signature_name: str) -> ServedSignature:
        key = signature_name or "serving_default"
        if key not in served.signatures:
            raise KeyError(
                f"Serving signature name: \"{key}\" not found in signature def; model {served.name} has {', '.join(sorted(served.signatures))}"
            )
        return served.signatures[key]

