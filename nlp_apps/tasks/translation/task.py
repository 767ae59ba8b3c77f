"""Translation pipeline: train, evaluate (sacrebleu BLEU / chrF), translate (with attention plots) and export.

Training uses teacher forcing with label smoothing and global-norm gradient
clipping (`train.clipnorm`). After every epoch the dev set is translated
greedily in the graph and scored with sacrebleu; `val_bleu` drives the
checkpoint of the best model, learning-rate decay and early stopping (dev
loss under teacher forcing is a poor proxy for translation quality).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from nlp_apps.config import PipelineConfig
from nlp_apps.data.columns import column
from nlp_apps.data.parallel_splits import read_parallel_split
from nlp_apps.decoders.attention_decoder import AttentionDecoder
from nlp_apps.encoders.registry import build_rnn_encoder
from nlp_apps.metrics.bleu import translation_scores
from nlp_apps.tasks.translation_inference import TranslationInference, check_method, check_projection_dtype
from nlp_apps.tasks.translation_preprocessor import TranslationPreprocessor
from nlp_apps.tasks.translator import Translator
from nlp_apps.training.callbacks import build_callbacks
from nlp_apps.training.distribution import get_strategy, set_precision_policy
from nlp_apps.training.fit import bucketed_batches, fit_timed
from nlp_apps.training.optimizers import build_optimizer
from nlp_apps.training.run_directory import prepare_run_dir, require_trained_model

ASSETS_DIR = "assets"
# Sentences per translation batch in evaluate / predict (sorted by length first).
TRANSLATE_BATCH_SIZE = 64


# ----------------------------------------------------------------------------- data


def read_split(config: PipelineConfig, split: str):
    return read_parallel_split(config.data, split)


def _limit(dataset, count):
    return dataset.select(range(min(count, len(dataset)))) if count > 0 else dataset


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


def training_batches(config: PipelineConfig, features: dict, shuffle: bool):
    """Batches bucketed by target length (the decoder loop dominates the cost)."""
    batches = bucketed_batches(
        config.train, features, "target_in_ids", shuffle, shuffle_buffer=config.train.shuffle_buffer
    )
    return batches.map(_inputs_and_targets).prefetch(tf.data.AUTOTUNE)


# ----------------------------------------------------------------------------- model


def build_model(config: PipelineConfig, preprocessor: TranslationPreprocessor) -> Translator:
    decoder_config = config.model.decoder
    encoder = build_rnn_encoder(config.model.encoder, preprocessor.source_vocabulary_size, return_state=True)
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
    return Translator(encoder, decoder, label_smoothing=config.model.label_smoothing)


class DevBLEU(keras.callbacks.Callback):
    """Adds `val_bleu` (greedy, sacrebleu, detokenized) to the epoch logs."""

    def __init__(self, preprocessor: TranslationPreprocessor, sources: list[str], references: list[str], max_decode_length: int):
        super().__init__()
        self.preprocessor = preprocessor
        self.sources = sources
        self.references = references
        self.max_decode_length = max_decode_length
        self.curve = []

    def on_train_begin(self, logs=None):
        self.started = time.perf_counter()
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


def train(config: PipelineConfig, resume: bool = False) -> dict:
    set_precision_policy(config.train)
    keras.utils.set_random_seed(config.train.seed)
    run_dir = prepare_run_dir(config, resume)
    train_data = _limit(read_split(config, "train"), config.data.max_train_examples)
    dev_data = read_split(config, "dev")
    assets_dir = run_dir / ASSETS_DIR
    if resume:
        preprocessor = TranslationPreprocessor.load(assets_dir)
    else:
        preprocessor = TranslationPreprocessor.build(
            column(train_data, "source"),
            column(train_data, "target"),
            config.text.sentencepiece_vocabulary_size,
            joint=config.text.joint_vocabulary,
            max_length=config.text.max_length,
            seed=config.train.seed,
        )
        preprocessor.save(assets_dir)
    train_features = encode_pairs(preprocessor, train_data)
    dev_features = encode_pairs(preprocessor, dev_data)

    strategy = get_strategy(config.train.distribution_strategy)
    with strategy.scope():
        model = build_model(config, preprocessor)
        # Built up front: BackupAndRestore needs the variables before fit() starts.
        model({"source_ids": tf.ones([1, 2], tf.int32), "target_in_ids": tf.ones([1, 2], tf.int32)})
        model.compile(optimizer=build_optimizer(config.train))
    dev_bleu = DevBLEU(preprocessor, column(dev_data, "source"), column(dev_data, "target"), config.model.max_decode_length)
    callbacks = [dev_bleu] + build_callbacks(run_dir, config.train, resume, monitor="val_bleu", mode="max")
    history, seconds = fit_timed(
        model, config.train, training_batches(config, train_features, shuffle=True), callbacks,
        validation_batches=training_batches(config, dev_features, shuffle=False),
    )
    epochs_run = len(history.epoch)
    target_tokens = int(train_features["target_out_ids"].row_lengths().numpy().sum())
    summary = {
        "train_seconds": seconds,
        "train_pairs": len(train_data),
        "epochs_run": epochs_run,
        "source_vocabulary_size": preprocessor.source_vocabulary_size,
        "target_vocabulary_size": preprocessor.target_vocabulary_size,
        "best_dev_bleu_greedy": max(history.history.get("val_bleu", [0.0])),
        "dev_bleu_curve": dev_bleu.curve,
        # Includes the per-epoch dev translation, as a user's training run does.
        "target_tokens_per_s": target_tokens * epochs_run / seconds,
    }
    (run_dir / "train_summary.json").write_text(json.dumps(summary, indent=2))
    print(f"trained in {seconds:.1f} s; best model: {run_dir / 'best.keras'}")
    return summary


# ----------------------------------------------------------------------------- inference


def load_trained(config: PipelineConfig) -> TranslationInference:
    model = keras.saving.load_model(require_trained_model(config))
    preprocessor = TranslationPreprocessor.load(config.run_dir() / ASSETS_DIR)
    return TranslationInference(model, preprocessor, config.model.max_decode_length)


def translate_texts(inference: TranslationInference, texts: list[str], batch_size: int = TRANSLATE_BATCH_SIZE, **options) -> list[dict]:
    """Translations of `texts` in input order, batched by source length, one compiled graph for all batches."""
    if not texts:
        return []
    lengths = inference.preprocessor.encode_source(tf.constant(texts)).row_lengths().numpy()
    order = np.argsort(lengths, kind="stable")
    translate = inference.compiled(**options)
    results: list[dict | None] = [None] * len(texts)
    for start in range(0, len(texts), batch_size):
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
            }
    return results


def _search_options(config: PipelineConfig, beam_size: int | None = None, method: str | None = None) -> dict:
    beam_size = config.model.beam_size if beam_size is None else beam_size
    method = method or ("greedy" if beam_size == 1 else "beam")
    check_method(method, beam_size)
    projection_dtype = config.model.output_projection_dtype
    check_projection_dtype(projection_dtype)
    return {
        "beam_size": beam_size,
        "method": method,
        "length_penalty": config.model.length_penalty,
        "projection_dtype": projection_dtype,
    }


def evaluate(config: PipelineConfig, split: str = "test", beam_size: int | None = None, inference=None) -> dict:
    """Corpus BLEU and chrF (sacrebleu) of the translations of a split; writes the hypotheses too."""
    inference = inference or load_trained(config)
    data = read_split(config, split)
    sources, references = column(data, "source"), column(data, "target")
    options = _search_options(config, beam_size)
    started = time.perf_counter()
    results = translate_texts(inference, sources, **options)
    seconds = time.perf_counter() - started
    hypotheses = [result["translation"] for result in results]
    scores = translation_scores(hypotheses, references)
    scores.update({"split": split, "sentences": len(sources), "sentences_per_s": len(sources) / seconds, **options})
    name = f"{split}_{options['method']}{options['beam_size'] if options['method'] == 'beam' else ''}"
    run_dir = config.run_dir()
    (run_dir / f"hypotheses_{name}.txt").write_text("\n".join(hypotheses) + "\n", encoding="utf-8")
    (run_dir / f"eval_{name}.json").write_text(json.dumps(scores, indent=2))
    print(f"{split} ({options['method']}, beam {options['beam_size']}): BLEU {scores['bleu']:.2f} chrF {scores['chrf']:.2f} on {len(sources)} sentences")
    print(f"  sacrebleu signatures: BLEU {scores['bleu_signature']} | chrF {scores['chrf_signature']}")
    return scores


def predict(
    config: PipelineConfig,
    texts: list[str],
    output_format: str = "text",
    plot_attention=None,
    beam_size: int | None = None,
    temperature: float | None = None,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int | None = None,
) -> list[dict]:
    """Translates raw texts; sampling when any of temperature / top-k / top-p is given."""
    inference = load_trained(config)
    sampling = any(option is not None for option in (temperature, top_k, top_p))
    options = _search_options(config, beam_size, "sample" if sampling else None)
    if sampling:
        options.update(temperature=1.0 if temperature is None else temperature, top_k=top_k or 0,
                       top_p=1.0 if top_p is None else top_p, seed=seed or 0)
    results = translate_texts(inference, texts, **options)
    if plot_attention:
        from nlp_apps.tasks.translation_attention_plot import save_attention_plots

        paths = save_attention_plots(results, inference.preprocessor, Path(plot_attention))
        for result, path in zip(results, paths):
            result["attention_plot"] = str(path)
    for result in results:
        if output_format == "json":
            print(json.dumps({key: value for key, value in result.items() if key not in ("attention", "ids")}, ensure_ascii=False))
        else:
            print(result["translation"])
            if "attention_plot" in result:
                print(f"  attention: {result['attention_plot']}")
    return results


def export(config: PipelineConfig) -> dict:
    from nlp_apps.tasks.translation_export import export_translator

    return export_translator(config, load_trained(config))
