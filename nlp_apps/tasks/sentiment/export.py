"""Export of a trained sentiment classifier: `.keras`, string-in SavedModel and TFLite, each verified."""

import json

import numpy as np
import tensorflow as tf

from nlp_apps.config import PipelineConfig
from nlp_apps.export.exporter import (
    export_keras,
    export_saved_model,
    export_tflite,
    prepare_export_dir,
    write_export_manifest,
)
from nlp_apps.export.verify import verify_saved_model, verify_tflite

VERIFICATION_TEXTS = [
    "A wonderful film. The music is lovely and the photography is stunning!",
    "I would never watch it again.<br /><br />A tedious waste of two hours... Avoid it.",
    "",
    "   ",
    "Zürich 🙂 東京 مرحبا. <b>bold</b> & \"quoted\"?",
]
# TFLite shapes when the config sets no truncation limits.
DEFAULT_TFLITE_SENTENCES = 32
DEFAULT_TFLITE_WORDS = 64


class SentimentServingModule(tf.Module):
    """`serving_default`: raw strings in; class probabilities, label and attention maps out.

    Outputs (batch first; S and W are the batch's sentence and word counts
    after truncation, at least 1):
      - `probabilities` float32 (batch, classes), in `label_names` order;
      - `label` string (batch,), `label_id` int32 (batch,);
      - `word_attention` float32 (batch, S, W), `sentence_attention` (batch, S);
      - `words` string (batch, S, W) and `sentences` string (batch, S), the
        text the weights belong to, padded with "" (for rendering highlights).
    Sentence splitting, tokenization, lookup and the model all run in the graph.
    """

    def __init__(self, model, preprocessor, label_names):
        super().__init__()
        self.model = model
        self.preprocessor = preprocessor
        self.label_names = tf.constant(label_names)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="texts")])
    def serving_default(self, texts):
        pieces = self.preprocessor(texts)
        token_ids = pieces["token_ids"]
        outputs = self.model.predict_with_attention(token_ids)
        label_id = tf.argmax(outputs["probabilities"], axis=-1, output_type=tf.int32)
        shape = tf.shape(token_ids, out_type=tf.int64)
        return {
            "probabilities": outputs["probabilities"],
            "label": tf.gather(self.label_names, label_id),
            "label_id": label_id,
            "word_attention": outputs["word_attention"],
            "sentence_attention": outputs["sentence_attention"],
            "words": pieces["words"].to_tensor(default_value="", shape=shape),
            "sentences": pieces["sentences"].to_tensor(default_value="", shape=shape[:2]),
        }


def tflite_shape(config: PipelineConfig) -> tuple[int, int]:
    """(sentences, words) of the TFLite input: the truncation limits, or defaults."""
    return (
        config.text.max_sentences or DEFAULT_TFLITE_SENTENCES,
        config.text.max_words_per_sentence or DEFAULT_TFLITE_WORDS,
    )


def tflite_function(model, num_sentences: int, num_words: int):
    """Token ids (1, sentences, words) in (pad with 0), probabilities and attention maps out.

    Fixed shapes let the converter lower the recurrent layers to builtin ops
    (WHILE loops, no Flex delegate); splitting and lookup happen in the app.
    """

    @tf.function(input_signature=[tf.TensorSpec([1, num_sentences, num_words], tf.int32, name="token_ids")])
    def classify(token_ids):
        return model.predict_with_attention(token_ids)

    return classify


def fixed_size_ids(preprocessor, texts, num_sentences: int, num_words: int) -> np.ndarray:
    """Token ids of `texts`, truncated / padded with 0 to (len(texts), sentences, words)."""
    ids = preprocessor(tf.constant(texts))["token_ids"].numpy()[:, :num_sentences, :num_words]
    return np.pad(ids, [(0, 0), (0, num_sentences - ids.shape[1]), (0, num_words - ids.shape[2])]).astype(np.int32)


def export_classifier(config: PipelineConfig, model, assets, preprocessor) -> dict:
    """Writes every configured format into the export directory and verifies each one."""
    formats = config.export.formats
    export_dir = prepare_export_dir(config.export_dir(), formats, config.export.tflite_quantization)
    manifest = {
        "task": "sentiment",
        "label_names": assets.label_names,
        "hierarchical": config.model.hierarchical,
        "max_sentences": config.text.max_sentences,
        "max_words_per_sentence": config.text.max_words_per_sentence,
        "artifacts": {},
    }
    if "keras" in formats:
        export_keras(model, export_dir / "model.keras")
        manifest["artifacts"]["keras"] = "model.keras"
    if "saved_model" in formats:
        module = SentimentServingModule(model, preprocessor, assets.label_names)
        path = export_dir / "saved_model"
        export_saved_model(module, path, signatures={"serving_default": module.serving_default})
        texts = np.array(VERIFICATION_TEXTS, dtype=object)
        expected = {key: value.numpy() for key, value in module.serving_default(tf.constant(VERIFICATION_TEXTS)).items()}
        if config.export.verify:
            manifest["saved_model_verification"] = verify_saved_model(path, {"texts": texts}, expected, atol=1e-5)
        manifest["artifacts"]["saved_model"] = "saved_model"
    if "tflite" in formats:
        num_sentences, num_words = tflite_shape(config)
        manifest["tflite_input_shape"] = [1, num_sentences, num_words]
        function = tflite_function(model, num_sentences, num_words)
        token_ids = fixed_size_ids(preprocessor, VERIFICATION_TEXTS[:2], num_sentences, num_words)
        for quantization in config.export.tflite_quantization:
            path = export_dir / f"model_{quantization}.tflite"
            export_tflite(function, path, quantization=quantization, trackable_obj=model)
            manifest["artifacts"][f"tflite_{quantization}"] = path.name
            if config.export.verify:
                # Quantized weights move probabilities a little; float32 must match closely.
                atol = 1e-4 if quantization == "float32" else 5e-2
                first = {"token_ids": token_ids[:1]}
                expected = {key: value.numpy() for key, value in function(tf.constant(token_ids[:1])).items()}
                manifest[f"tflite_{quantization}_verification"] = verify_tflite(path, first, expected, atol=atol)
    write_export_manifest(export_dir, manifest)
    print(f"exported to {export_dir}: {', '.join(manifest['artifacts'].values())}")
    print(json.dumps({key: value for key, value in manifest.items() if key.endswith("verification")}, indent=2, default=str))
    return manifest
