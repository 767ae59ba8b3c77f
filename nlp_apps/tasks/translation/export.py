"""Export of a trained translator: `.keras`, a string-to-string SavedModel and a fixed-length TFLite model.

Every artifact goes through `nlp_apps.export.exporter` and is verified in a
fresh process against the Keras model.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import tensorflow as tf

from nlp_apps.config import PipelineConfig
from nlp_apps.export.atomic import atomic_output_file
from nlp_apps.export.exporter import export_keras, export_saved_model, export_tflite, prepare_export_dir, write_export_manifest
from nlp_apps.export.verify import verify_saved_model, verify_tflite
from nlp_apps.tasks.translation_inference import TranslationInference

VERIFICATION_TEXTS = [
    "A man is riding a bicycle.",
    "",
    "   ",
    "Zürich 🙂 東京 qwxzv!",
    " ".join(["word"] * 500),
]
# TFLite takes one sentence of at most this many source pieces and returns at most
# TFLITE_MAX_TARGET pieces (fixed shapes convert the RNNs to builtin ops).
TFLITE_MAX_SOURCE = 64
TFLITE_MAX_TARGET = 80


class TranslationServing(TranslationInference):
    """SavedModel endpoints (raw strings in and out; search options fixed at export time).

    * `translate(text: string[batch])` → `translation` string `(batch,)`,
      `score` float32 `(batch,)`, `ids` int32 `(batch, L)`, `attention`
      float32 `(batch, L, S)`: beam search with the configured beam size and
      length penalty. Also the default signature.
    * `translate_greedy(text)`: the same outputs with greedy search (faster).
    """

    def __init__(self, model, preprocessor, max_decode_length=0, beam_size=5, length_penalty=0.6):
        super().__init__(model, preprocessor, max_decode_length)
        self.beam_size = int(beam_size)
        self.length_penalty = float(length_penalty)

    def _outputs(self, text, **options):
        outputs = self.translate(text, **options)
        return {"translation": outputs["translations"], "score": outputs["scores"], "ids": outputs["ids"], "attention": outputs["attention"]}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def translate_signature(self, text):
        method = "greedy" if self.beam_size == 1 else "beam"
        return self._outputs(text, beam_size=self.beam_size, length_penalty=self.length_penalty, method=method)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def translate_greedy_signature(self, text):
        return self._outputs(text, beam_size=1, method="greedy")


def tflite_translate_function(inference: TranslationInference, max_source: int = TFLITE_MAX_SOURCE, max_target: int = TFLITE_MAX_TARGET):
    """Greedy translation of one sentence with fixed maximum lengths, for mobile.

    Input `source_ids` int32 `(1, max_source)`: the source SentencePiece ids
    followed by `</s>` (3), padded with 0 (the app tokenizes with
    `assets/source.model`). Output `ids` int32 `(1, max_target)`: target
    pieces, 0 after the end; the app detokenizes with `assets/target.model`.
    (The tensorflow-text SentencePiece detokenize kernel does not run in
    LiteRT, see `SubwordTokenizer`, so both ends stay in the app.)
    """

    @tf.function(input_signature=[tf.TensorSpec([1, max_source], tf.int32, name="source_ids")])
    def translate(source_ids):
        outputs = inference.model.translate_ids(source_ids, max_length=tf.constant(max_target), beam_size=1, method="greedy")
        ids = outputs["ids"][:, :max_target]
        ids = tf.pad(ids, [[0, 0], [0, max_target - tf.shape(ids)[1]]])
        # A reshape, not tf.ensure_shape: EnsureShape has no TFLite kernel.
        return {"ids": tf.reshape(ids, [1, max_target])}

    return translate


def tflite_source_ids(inference: TranslationInference, text: str, max_source: int = TFLITE_MAX_SOURCE) -> np.ndarray:
    ids = inference.preprocessor.encode_source(tf.constant([text])).to_tensor().numpy()[:, :max_source]
    ids[0, -1] = 3 if ids.shape[1] == max_source else ids[0, -1]  # a cut sentence still ends with </s>
    return np.pad(ids, [(0, 0), (0, max_source - ids.shape[1])]).astype(np.int32)


def export_translator(config: PipelineConfig, inference: TranslationInference) -> dict:
    """Writes every configured format into the export directory and verifies each one."""
    formats = config.export.formats
    export_dir = prepare_export_dir(config.export_dir(), formats, config.export.tflite_quantization)
    model, preprocessor = inference.model, inference.preprocessor
    manifest = {
        "task": "translation",
        "source_language": config.data.source_language,
        "target_language": config.data.target_language,
        "beam_size": config.model.beam_size,
        "length_penalty": config.model.length_penalty,
        "artifacts": {},
    }
    # The SentencePiece models, for apps that tokenize outside the graph (TFLite).
    for name, model_bytes in (("source.model", preprocessor.source_model), ("target.model", preprocessor.target_model)):
        with atomic_output_file(export_dir / name) as temporary:
            Path(temporary).write_bytes(model_bytes)
        manifest["artifacts"][name.replace(".", "_")] = name
    if "keras" in formats:
        export_keras(model, export_dir / "model.keras")
        manifest["artifacts"]["keras"] = "model.keras"
    if "saved_model" in formats:
        module = TranslationServing(model, preprocessor, config.model.max_decode_length, config.model.beam_size, config.model.length_penalty)
        path = export_dir / "saved_model"
        signatures = {
            "serving_default": module.translate_signature,
            "translate": module.translate_signature,
            "translate_greedy": module.translate_greedy_signature,
        }
        export_saved_model(module, path, signatures=signatures)
        manifest["artifacts"]["saved_model"] = "saved_model"
        if config.export.verify:
            texts = np.array(VERIFICATION_TEXTS, dtype=object)
            for signature in ("translate", "translate_greedy"):
                expected = {key: value.numpy() for key, value in signatures[signature](tf.constant(VERIFICATION_TEXTS)).items()}
                manifest[f"saved_model_{signature}_verification"] = verify_saved_model(
                    path, {"text": texts}, expected, signature=signature, atol=1e-4
                )
    if "tflite" in formats:
        function = tflite_translate_function(inference)
        manifest["tflite_max_source_pieces"] = TFLITE_MAX_SOURCE
        manifest["tflite_max_target_pieces"] = TFLITE_MAX_TARGET
        inputs = {"source_ids": tflite_source_ids(inference, VERIFICATION_TEXTS[0])}
        expected = {key: value.numpy() for key, value in function(tf.constant(inputs["source_ids"])).items()}
        for quantization in config.export.tflite_quantization:
            path = export_dir / f"translate_{quantization}.tflite"
            export_tflite(function, path, quantization=quantization, trackable_obj=model)
            manifest["artifacts"][f"tflite_{quantization}"] = path.name
            # The float model must give the same pieces; a quantized one may choose differently.
            if config.export.verify and quantization == "float32":
                manifest[f"tflite_{quantization}_verification"] = verify_tflite(path, inputs, expected, atol=0)
    write_export_manifest(export_dir, manifest)
    print(f"exported to {export_dir}: {', '.join(manifest['artifacts'].values())}")
    print(json.dumps({key: value for key, value in manifest.items() if key.endswith("verification")}, indent=2, default=str))
    return manifest
