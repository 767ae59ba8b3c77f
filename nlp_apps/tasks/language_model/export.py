"""Export of a trained language model: `.keras`, a SavedModel with `generate` and `score`, and a TFLite step function.

Every artifact goes through `nlp_apps.export.exporter` and is verified in a
fresh process against the Keras model.
"""

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
from nlp_apps.tasks.language_model_inference import LanguageModelInference

VERIFICATION_TEXTS = ["the old sailor", "", "   ", "Zürich 🙂 東京 unknownword"]
GENERATE_ARGUMENTS = {"max_length": 20, "temperature": 0.8, "top_k": 10, "top_p": 0.95, "seed": 7}


class LanguageModelServing(LanguageModelInference):
    """SavedModel endpoints (see `LanguageModelInference` for the contracts).

    * `generate(prompt: string[batch], max_length: int32, temperature:
      float32, top_k: int32, top_p: float32, seed: int64)` → `text`,
      `token_ids`.
    * `score(text: string[batch])` → `log_probability`, `perplexity`,
      `num_tokens`.
    """

    @tf.function(
        input_signature=[
            tf.TensorSpec([None], tf.string, name="prompt"),
            tf.TensorSpec([], tf.int32, name="max_length"),
            tf.TensorSpec([], tf.float32, name="temperature"),
            tf.TensorSpec([], tf.int32, name="top_k"),
            tf.TensorSpec([], tf.float32, name="top_p"),
            tf.TensorSpec([], tf.int64, name="seed"),
        ]
    )
    def generate_signature(self, prompt, max_length, temperature, top_k, top_p, seed):
        return self.generate(prompt, max_length, temperature, top_k, top_p, seed)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def score_signature(self, text):
        return self.score(text)


def tflite_step_function(model):
    """One step for on-device next-token suggestion: batch 1, fixed shapes.

    Inputs `token_id` int32 `(1, 1)` and `state_<i>` float32 `(1, units)`
    (the encoder states, `RNNStack` layout; zeros at the start of a text);
    outputs `logits` float32 `(1, vocabulary_size)`, `next_token` int32 `(1,)`
    (the most likely token, for a greedy suggestion) and the new `state_<i>`.
    Fixed shapes let the converter lower the LSTM/GRU to builtin ops. The app
    tokenizes (vocabulary / alphabet / SentencePiece model from `assets/`),
    starts from the start id and feeds the states back.
    """
    sizes = model.state_sizes
    signature = [tf.TensorSpec([1, 1], tf.int32, name="token_id")]
    signature += [tf.TensorSpec([1, size], tf.float32, name=f"state_{index}") for index, size in enumerate(sizes)]

    @tf.function(input_signature=signature)
    def step(token_id, *states):
        logits, new_states = model.call_with_state(token_id, initial_state=list(states), training=False)
        outputs = {"logits": logits[:, 0], "next_token": tf.argmax(logits[:, 0], axis=-1, output_type=tf.int32)}
        outputs.update({f"state_{index}": state for index, state in enumerate(new_states)})
        return outputs

    return step


def _step_inputs(model, preprocessor, text):
    """Inputs of the step function after reading `text` (start id + tokens but the last)."""
    ids = [preprocessor.start_id] + preprocessor.tokenize(tf.constant([text])).flat_values.numpy().tolist()
    states = model.zero_state(1)
    if len(ids) > 1:
        _, states = model.call_with_state(tf.constant([ids[:-1]], tf.int32), training=False)
    inputs = {"token_id": np.array([[ids[-1]]], np.int32)}
    inputs.update({f"state_{index}": np.asarray(state, np.float32) for index, state in enumerate(states)})
    return inputs


def export_language_model(config: PipelineConfig, model, preprocessor) -> dict:
    """Writes every configured format into the export directory and verifies each one."""
    formats = config.export.formats
    export_dir = prepare_export_dir(config.export_dir(), formats, config.export.tflite_quantization)
    manifest = {
        "task": "language_model",
        "tokenizer": preprocessor.level,
        "vocabulary_size": preprocessor.vocabulary_size,
        "start_id": preprocessor.start_id,
        "eos_id": preprocessor.eos_id,
        "artifacts": {},
    }
    if "keras" in formats:
        export_keras(model, export_dir / "model.keras")
        manifest["artifacts"]["keras"] = "model.keras"
    if "saved_model" in formats:
        module = LanguageModelServing(model, preprocessor)
        path = export_dir / "saved_model"
        export_saved_model(module, path, signatures={"generate": module.generate_signature, "score": module.score_signature})
        manifest["artifacts"]["saved_model"] = "saved_model"
        if config.export.verify:
            texts = np.array(VERIFICATION_TEXTS, dtype=object)
            score_expected = {key: value.numpy() for key, value in module.score_signature(tf.constant(VERIFICATION_TEXTS)).items()}
            manifest["saved_model_score_verification"] = verify_saved_model(
                path, {"text": texts}, score_expected, signature="score", atol=1e-4
            )
            arguments = {
                "prompt": texts,
                "max_length": np.int32(GENERATE_ARGUMENTS["max_length"]),
                "temperature": np.float32(GENERATE_ARGUMENTS["temperature"]),
                "top_k": np.int32(GENERATE_ARGUMENTS["top_k"]),
                "top_p": np.float32(GENERATE_ARGUMENTS["top_p"]),
                "seed": np.int64(GENERATE_ARGUMENTS["seed"]),
            }
            generated = module.generate_signature(
                **{key: tf.constant(value) for key, value in arguments.items() if key != "prompt"},
                prompt=tf.constant(VERIFICATION_TEXTS),
            )
            manifest["saved_model_generate_verification"] = verify_saved_model(
                path, arguments, {"text": generated["text"].numpy(), "token_ids": generated["token_ids"].numpy()},
                signature="generate", atol=0,
            )
    if "tflite" in formats:
        step = tflite_step_function(model)
        inputs = _step_inputs(model, preprocessor, VERIFICATION_TEXTS[0])
        expected = {key: value.numpy() for key, value in step(*inputs.values()).items()}
        for quantization in config.export.tflite_quantization:
            path = export_dir / f"step_{quantization}.tflite"
            export_tflite(step, path, quantization=quantization, trackable_obj=model)
            manifest["artifacts"][f"tflite_{quantization}"] = path.name
            if config.export.verify:
                # The float model must match closely; quantized ones are checked on their
                # decision (the most likely next token), as their logits move a little.
                if quantization == "float32":
                    checked, atol = expected, 1e-4
                else:
                    checked, atol = {"next_token": expected["next_token"]}, 0
                manifest[f"tflite_{quantization}_verification"] = verify_tflite(path, inputs, checked, atol=atol)
        manifest["tflite_state_inputs"] = [f"state_{index}" for index in range(len(model.state_sizes))]
    write_export_manifest(export_dir, manifest)
    print(f"exported to {export_dir}: {', '.join(manifest['artifacts'].values())}")
    print(json.dumps({key: value for key, value in manifest.items() if key.endswith("verification")}, indent=2, default=str))
    return manifest
