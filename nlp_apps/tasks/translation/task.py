"""Translation pipeline: train, evaluate (sacrebleu BLEU / chrF), translate (with attention plots) and export.

Training uses teacher forcing with label smoothing and global-norm gradient
clipping (`train.clipnorm`). After every epoch the dev set is translated
greedily in the graph and scored with sacrebleu; `val_bleu` drives the
checkpoint of the best model, learning-rate decay and early stopping (dev
loss under teacher forcing is a poor proxy for translation quality).
"""

from __future__ import annotations

import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from nlp_apps.data.columns import column
from nlp_apps.data.parallel_splits import read_parallel_split
from nlp_apps.decoders.attention_decoder import AttentionDecoder
from nlp_apps.encoders.registry import build_encoder
from nlp_apps.text.sentencepiece_model import train_sentencepiece
from nlp_apps.export.atomic import atomic_output_file
from nlp_apps.metrics.bleu import translation_scores
from nlp_apps.tasks.base import Task, TFLiteExport, TrainingInputs, limit_examples
from nlp_apps.tasks.translation import export as translation_export
from nlp_apps.tasks.translation.inference import TranslationInference, check_method, check_projection_dtype
from nlp_apps.tasks.translation.model import Translator
from nlp_apps.tasks.translation.preprocessor import TranslationPreprocessor
from nlp_apps.training.fit import bucketed_batches

# Sentences per translation batch in evaluate / predict (sorted by length first).
TRANSLATE_BATCH_SIZE = 64


# ----------------------------------------------------------------------------- data


def encode_pairs(preprocessor: TranslationPreprocessor, dataset) -> dict:
    """Ragged int32 `source_ids`, `target_in_ids`, `target_out_ids` of a whole split."""
    chunks = {"source_ids": [], "target_in_ids": [], "target_out_ids": []}
    sources, targets = column(dataset, "source"), column(dataset, "target")
    for start in range(0, len(sources), 5000):
        source_ids = preprocessor.encode_source(tf.constant(sources[start : start + 5000]))
        target_in, target_out = preprocessor.encode_target(tf.constant(targets[start : start + 5000]))
        chunks["source_ids"].append(source_ids)
        chunks["target_in_ids"].append(target_in)
        chunks["target_out_ids"].append(target_out)
    return {name: tf.concat(parts, axis=0) for name, parts in chunks.items()}


def _inputs_and_targets(batch):
    return {"source_ids": batch["source_ids"], "target_in_ids": batch["target_in_ids"]}, batch["target_out_ids"]


def training_batches(config, features: dict, shuffle: bool):
    """Batches bucketed by target length (the decoder loop dominates the cost)."""
    batches = bucketed_batches(
        config.train, features, "target_in_ids", shuffle, shuffle_buffer=config.train.shuffle_buffer
    )
    return batches.map(_inputs_and_targets).prefetch(tf.data.AUTOTUNE)


class DevBLEU(keras.callbacks.Callback):
    """Adds `val_bleu` (greedy, sacrebleu, detokenized) to the epoch logs."""

    def __init__(self, preprocessor: TranslationPreprocessor, sources: list[str], references: list[str], max_decode_length: int):
        super().__init__()
        self.preprocessor = preprocessor
        self.sources = sources
        self.references = references
        self.max_decode_length = max_decode_length
        self.curve = []
        self.seconds_before = 0.0

    def resumable_state(self) -> dict:
        return {"curve": self.curve}

    def restore_state(self, state: dict) -> None:
        self.curve = list(state["curve"])
        self.seconds_before = self.curve[-1]["seconds"] if self.curve else 0.0

    def on_train_begin(self, logs=None):
        self.started = time.perf_counter() - self.seconds_before
        # One inference object for the whole run: its compiled search reads the
        # current weights, so it is traced once, not once per epoch.
        self.inference = TranslationInference(self.model, self.preprocessor, self.max_decode_length)

    def on_epoch_end(self, epoch, logs=None):
        hypotheses = [row["translation"] for row in translate_texts(self.inference, self.sources, method="greedy", beam_size=1)]
        bleu = translation_scores(hypotheses, self.references)["bleu"]
        self.curve.append({"epoch": epoch + 1, "seconds": time.perf_counter() - self.started, "dev_bleu_greedy": bleu})
        if logs is not None:
            logs["val_bleu"] = bleu
        print(f"\nepoch {epoch + 1}: dev BLEU (greedy) {bleu:.2f}")


def translate_texts(inference: TranslationInference, texts: list[str], batch_size: int = TRANSLATE_BATCH_SIZE, **options) -> list[dict]:
    """Translations of `texts` in input order, batched by source length, one compiled graph for all batches.

    An empty or whitespace-only text translates to "" with `empty` true
    (as the SavedModel does), never to the model's guess on nothing.
    """
    if not texts:
        return []
    lengths = inference.preprocessor.encode_source(tf.constant(texts)).row_lengths().numpy()
    empty = [not text.strip() for text in texts]
    order = [index for index in np.argsort(lengths, kind="stable") if not empty[index]]
    translate = inference.compiled(**options)
    results: list[dict | None] = [
        {"text": text, "translation": "", "score": 0.0, "ids": [], "attention": np.zeros((0, int(length)), np.float32), "empty": True}
        if is_empty else None
        for text, is_empty, length in zip(texts, empty, lengths)
    ]
    for start in range(0, len(order), batch_size):
        indices = order[start : start + batch_size]
        outputs = translate(tf.constant([texts[i] for i in indices]))
        translations = outputs["translations"].numpy()
        ids = outputs["ids"].numpy()
        attention = outputs["attention"].numpy()
        scores = outputs["scores"].numpy()
        for row, index in enumerate(indices):
            length = int((ids[row] != 0).sum())
            results[index] = {
                "text": texts[index],
                "translation": translations[row].decode("utf-8"),
                "score": float(scores[row]),
                "ids": ids[row, :length].tolist(),
                "attention": attention[row, :length, : int(lengths[index])],
                "empty": False,
            }
    return results


# ----------------------------------------------------------------------------- the task


class TranslationTask(Task):
    name = "translation"
    accepts_artifacts = True
    artifact_tokenizer = "sentencepiece"
    preprocessor_class = TranslationPreprocessor
    monitor = "val_bleu"
    # A sentence translator: its source is cut to the model's max_length pieces anyway.
    default_max_input_chars = 2000
    predict_options = ("plot_attention", "beam_size", "temperature", "top_k", "top_p", "seed")

    # ---------------------------------------------------------------- data and model

    def read_split(self, split: str):
        return read_parallel_split(self.config.data, split)

    def build_preprocessor(self, train_data) -> TranslationPreprocessor:
        text = self.config.text
        if self.artifact is not None:
            return self.preprocessor_from_artifact(train_data)
        return TranslationPreprocessor.from_training_data(
            column(train_data, "source"),
            column(train_data, "target"),
            text.sentencepiece_vocabulary_size,
            joint=text.joint_vocabulary,
            max_length=text.max_length,
            seed=self.config.train.seed,
        )

    def preprocessor_from_artifact(self, train_data) -> TranslationPreprocessor:
        """The artifact's SentencePiece model for the source side; a target model of its own, trained on the targets."""
        text = self.config.text
        explicit = getattr(self.config, "explicit_keys", {})
        if text.joint_vocabulary and "text.joint_vocabulary" in explicit:
            raise ValueError(
                f"{explicit['text.joint_vocabulary']}: 'text.joint_vocabulary' is true, but with model.encoder.pretrained "
                f"the source side uses the artifact's SentencePiece model ({self.artifact.path}) and the target side its "
                "own; remove the field"
            )
        text.joint_vocabulary = False
        target_model = train_sentencepiece(list(column(train_data, "target")), text.sentencepiece_vocabulary_size, seed=self.config.train.seed)
        return TranslationPreprocessor(self.artifact.sentencepiece_model, target_model, text.max_length)

    def prepare_training(self, preprocessor, train_data, dev_data) -> TrainingInputs:
        train_features = encode_pairs(preprocessor, train_data)
        dev_features = encode_pairs(preprocessor, dev_data)
        dev_bleu = DevBLEU(preprocessor, column(dev_data, "source"), column(dev_data, "target"), self.config.model.max_decode_length)
        facts = {
            "train_pairs": len(train_data),
            "target_tokens": int(train_features["target_out_ids"].row_lengths().numpy().sum()),
            "dev_bleu": dev_bleu,
        }
        return TrainingInputs(
            training_batches(self.config, train_features, shuffle=True),
            validation_batches=training_batches(self.config, dev_features, shuffle=False),
            callbacks=[dev_bleu],
            facts=facts,
        )

    def build_model(self, preprocessor) -> Translator:
        model_config = self.config.model
        decoder_config = model_config.decoder
        encoder = build_encoder(model_config.encoder, preprocessor.source_vocabulary_size, return_state=True)
        decoder = AttentionDecoder(
            vocabulary_size=preprocessor.target_vocabulary_size,
            embedding_dim=decoder_config.embedding_dim,
            units=decoder_config.units,
            num_layers=decoder_config.num_layers,
            cell_type=decoder_config.cell_type,
            attention=decoder_config.attention,
            attention_units=decoder_config.attention_units,
            input_feeding=decoder_config.input_feeding,
            tie_embeddings=decoder_config.tie_embeddings,
            dropout=decoder_config.dropout,
        )
        return Translator(encoder, decoder, label_smoothing=model_config.label_smoothing)

    def build_variables(self, model) -> None:
        model({"source_ids": tf.ones([1, 2], tf.int32), "target_in_ids": tf.ones([1, 2], tf.int32)})

    def training_summary(self, history, seconds, inputs, preprocessor) -> dict:
        return {
            "train_pairs": inputs.facts["train_pairs"],
            "source_vocabulary_size": preprocessor.source_vocabulary_size,
            "target_vocabulary_size": preprocessor.target_vocabulary_size,
            "best_dev_bleu_greedy": max(history.history.get("val_bleu", [0.0])),
            "dev_bleu_curve": inputs.facts["dev_bleu"].curve,
            # Includes the per-epoch dev translation, as a user's training run does.
            "target_tokens_per_s": inputs.facts["target_tokens"] * len(history.epoch) / seconds,
        }

    # ---------------------------------------------------------------- inference

    def inference(self, model, preprocessor) -> TranslationInference:
        return TranslationInference(model, preprocessor, self.config.model.max_decode_length)

    def search_options(self, beam_size: int | None = None, method: str | None = None) -> dict:
        model_config = self.config.model
        beam_size = model_config.beam_size if beam_size is None else beam_size
        method = method or ("greedy" if beam_size == 1 else "beam")
        check_method(method, beam_size)
        check_projection_dtype(model_config.output_projection_dtype)
        return {
            "beam_size": beam_size,
            "method": method,
            "length_penalty": model_config.length_penalty,
            "projection_dtype": model_config.output_projection_dtype,
        }

    def evaluate_run(self, run, split: str, beam_size: int | None = None) -> dict:
        """Corpus BLEU and chrF (sacrebleu) of the translations of a split; writes the hypotheses too."""
        data = self.read_split(split)
        sources, references = column(data, "source"), column(data, "target")
        options = self.search_options(beam_size)
        started = time.perf_counter()
        results = translate_texts(run.inference, sources, **options)
        seconds = time.perf_counter() - started
        hypotheses = [result["translation"] for result in results]
        scores = translation_scores(hypotheses, references)
        scores.update({"split": split, "sentences": len(sources), "sentences_per_s": len(sources) / seconds, **options})
        name = self.evaluation_name(split, scores)
        (run.run_dir / f"hypotheses_{name}.txt").write_text("\n".join(hypotheses) + "\n", encoding="utf-8")
        print(f"{split} ({options['method']}, beam {options['beam_size']}): BLEU {scores['bleu']:.2f} "
              f"(lowercased {scores['bleu_lowercase']:.2f}) chrF {scores['chrf']:.2f} on {len(sources)} sentences")
        print(f"  sacrebleu signatures: BLEU {scores['bleu_signature']} | chrF {scores['chrf_signature']}")
        return scores

    def evaluation_name(self, split: str, scores: dict) -> str:
        return f"{split}_{scores['method']}{scores['beam_size'] if scores['method'] == 'beam' else ''}"

    def predict_run(self, run, texts: list[str], plot_attention=None, beam_size=None, temperature=None, top_k=None,
                    top_p=None, seed=None) -> list[dict]:
        """Translates raw texts; sampling when any of temperature / top-k / top-p is given."""
        sampling = any(option is not None for option in (temperature, top_k, top_p))
        options = self.search_options(beam_size, "sample" if sampling else None)
        if sampling:
            options.update(temperature=1.0 if temperature is None else temperature, top_k=top_k or 0,
                           top_p=1.0 if top_p is None else top_p, seed=seed or 0)
        results = translate_texts(run.inference, texts, **options)
        if plot_attention:
            from nlp_apps.tasks.translation.attention_plot import save_attention_plots

            plotted = [result for result in results if not result["empty"]]
            paths = save_attention_plots(plotted, run.preprocessor, Path(plot_attention))
            for result, path in zip(plotted, paths):
                result["attention_plot"] = str(path)
        return results

    def format_prediction(self, result: dict, output_format: str) -> str:
        if output_format == "json":
            return super().format_prediction({key: value for key, value in result.items() if key not in ("attention", "ids")}, output_format)
        line = result["translation"]
        if "attention_plot" in result:
            line += f"\n  attention: {result['attention_plot']}"
        return line

    # ---------------------------------------------------------------- export

    def export_info(self, run) -> dict:
        return {
            "source_language": self.config.data.source_language,
            "target_language": self.config.data.target_language,
            "beam_size": self.config.model.beam_size,
            "length_penalty": self.config.model.length_penalty,
            "tflite_max_source_pieces": translation_export.TFLITE_MAX_SOURCE,
            "tflite_max_target_pieces": translation_export.TFLITE_MAX_TARGET,
        }

    def export_assets(self, run, export_dir: Path, manifest) -> None:
        # The SentencePiece models, for apps that tokenize outside the graph (TFLite).
        for name, model_bytes in (("source.model", run.preprocessor.source_model), ("target.model", run.preprocessor.target_model)):
            with atomic_output_file(export_dir / name) as temporary:
                Path(temporary).write_bytes(model_bytes)
            manifest.add(f"assets/{name}", export_dir / name)

    def serving_module(self, run):
        model_config = self.config.model
        module = translation_export.TranslationServing(
            run.model, run.preprocessor, model_config.max_decode_length, model_config.beam_size, model_config.length_penalty,
            self.max_input_chars(run),
        )
        signatures = {
            "serving_default": module.translate_signature,
            "translate": module.translate_signature,
            "translate_greedy": module.translate_greedy_signature,
        }
        return module, signatures

    def output_padding(self) -> dict:
        # Ids after the end are the padding id 0; attention rows/columns beyond a sentence are 0.
        return {"ids": 0, "attention": 0.0, "source_pieces": "", "target_pieces": ""}

    def saved_model_checks(self) -> dict:
        texts = np.array(translation_export.VERIFICATION_TEXTS, dtype=object)
        return {"translate": ({"text": texts}, 1e-4), "translate_greedy": ({"text": texts}, 1e-4)}

    def tflite_export(self, run) -> TFLiteExport:
        def inputs_for_text(text):
            return {"source_ids": translation_export.tflite_source_ids(run.inference, text)}

        inputs = inputs_for_text(translation_export.VERIFICATION_TEXTS[0])
        return TFLiteExport(translation_export.tflite_translate_function(run.inference), "translate", inputs, inputs_for_text)

    def tflite_exports(self, run) -> list:
        # Beside the greedy translator: the encoder + decoder-step pair an app
        # runs its own (beam) search around.
        encode = translation_export.tflite_encoder_function(run.inference)
        step = translation_export.tflite_decoder_step_function(run.inference)

        def encoder_inputs(text):
            return {"source_ids": translation_export.tflite_source_ids(run.inference, text)}

        def step_inputs(text):
            encoded = {name: value.numpy() for name, value in encode(tf.constant(encoder_inputs(text)["source_ids"])).items()}
            inputs = {"token_id": np.array([run.model.bos_id], np.int32), "memory": encoded["memory"], "keys": encoded["keys"]}
            inputs.update({name: value for name, value in encoded.items() if name.startswith("state_")})
            return inputs

        def check(quantization, expected):
            # Float32 must match Keras; quantized variants are reported (their
            # search is checked by benchmarks/deployment.py's BLEU).
            return expected, (1e-4 if quantization == "float32" else None)

        text = translation_export.VERIFICATION_TEXTS[0]
        return super().tflite_exports(run) + [
            TFLiteExport(encode, "translate_encoder", encoder_inputs(text), encoder_inputs, companion=True, check=check),
            TFLiteExport(step, "translate_decoder_step", step_inputs(text), step_inputs, companion=True, check=check),
        ]

    def calibration_texts(self, limit: int) -> list[str]:
        return list(limit_examples(self.read_split("train"), limit)["source"])

    def tflite_check(self, quantization: str, expected: dict):
        # The float model must give the same pieces; a quantized one may choose differently.
        return (expected, 0) if quantization == "float32" else None
