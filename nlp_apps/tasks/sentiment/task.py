"""Sentiment pipeline: train, evaluate, predict (with attention explanations) and export a document classifier."""

import json
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from nlp_apps.config import PipelineConfig
from nlp_apps.data.batching import make_batches
from nlp_apps.data.columns import column
from nlp_apps.data.files import resolve_data_path
from nlp_apps.data.sample_data import resolve_data_dir
from nlp_apps.data.splits import cross_validation_fold, train_dev_split
from nlp_apps.data.text_classification_reader import read_text_classification
from nlp_apps.encoders.registry import build_encoder
from nlp_apps.tasks.sentiment_classifier import SentimentClassifier
from nlp_apps.tasks.sentiment_preprocessor import SentimentPreprocessor
from nlp_apps.text.vocabulary import Vocabulary
from nlp_apps.training.callbacks import build_callbacks
from nlp_apps.training.distribution import get_strategy, set_precision_policy
from nlp_apps.training.fit import bucketed_batches, fit_timed
from nlp_apps.training.optimizers import build_optimizer
from nlp_apps.training.run_directory import prepare_run_dir, require_trained_model

ASSETS_DIR = "assets"
# Documents are preprocessed in chunks, so 25k IMDB reviews never sit in one graph call.
PREPROCESS_CHUNK = 1000
# Marks each example's number of words, so batches are bucketed by document length.
LENGTH_KEY = "word_count"


# ----------------------------------------------------------------------------- data


def read_split(config: PipelineConfig, split: str):
    """The `datasets.Dataset` (text, label) of one split.

    Dev comes out of train when `data.dev` is empty. With `data.cv_folds`,
    test is fold `data.cv_fold` of the training file and train/dev share the
    other folds.
    """
    data = config.data
    if data.cv_folds:
        train_and_dev, test = _cross_validation_fold(config)
        if split == "test":
            return test
        if split in ("train", "dev"):
            train, dev = train_dev_split(train_and_dev, data.dev_fraction, data.split_seed)
            return train if split == "train" else dev
    elif data.cv_fold:
        raise ValueError(f"data.cv_fold: set to {data.cv_fold!r}, but data.cv_folds is 0 (no cross-validation)")
    if split == "dev" and not data.dev:
        return _train_and_dev(config)[1]
    if split == "train" and not data.dev:
        return _train_and_dev(config)[0]
    return _read_file(config, split)


def _read_file(config: PipelineConfig, split: str, keep_columns: tuple[str, ...] = ()):
    data = config.data
    name = getattr(data, split)
    if not name:
        raise ValueError(f"data.{split}: no file given for the {split} split")
    path = resolve_data_path(name, resolve_data_dir(data.data_dir))
    return read_text_classification(
        path,
        text_column=data.text_column,
        label_column=data.label_column,
        labels=data.labels or None,
        keep_columns=keep_columns,
    )


def _train_and_dev(config: PipelineConfig):
    """Seeded dev split held out of the training file (IMDB has no official dev set)."""
    return train_dev_split(_read_file(config, "train"), config.data.dev_fraction, config.data.split_seed)


def _cross_validation_fold(config: PipelineConfig):
    """(other folds, held-out fold) of the training file, as `data.cv_folds` / `data.cv_fold` say."""
    data = config.data
    if isinstance(data.cv_folds, bool) or not isinstance(data.cv_folds, int) or data.cv_folds < 2:
        raise ValueError(f"data.cv_folds: expected 0 (no cross-validation) or an integer >= 2, got {data.cv_folds!r}")
    if isinstance(data.cv_fold, bool) or not isinstance(data.cv_fold, int) or not 0 <= data.cv_fold < data.cv_folds:
        raise ValueError(
            f"data.cv_fold: expected an integer from 0 to {data.cv_folds - 1} "
            f"(data.cv_folds={data.cv_folds}), got {data.cv_fold!r}"
        )
    for split in ("dev", "test"):
        if getattr(data, split):
            raise ValueError(
                f"data.{split}: must be empty with data.cv_folds={data.cv_folds}; "
                f"cross-validation takes every split from data.train"
            )
    if data.fold_column:
        dataset = _read_file(config, "train", keep_columns=(data.fold_column,))
        try:
            return cross_validation_fold(dataset, data.cv_folds, data.cv_fold, fold_column=data.fold_column)
        except ValueError as error:
            raise ValueError(f"data.fold_column {data.fold_column!r} and data.cv_folds={data.cv_folds}: {error}") from None
    dataset = _read_file(config, "train")
    return cross_validation_fold(dataset, data.cv_folds, data.cv_fold, seed=data.split_seed, stratify_column="label")


class SentimentAssets:
    """Vocabulary and label names of a trained classifier, saved beside it."""

    def __init__(self, vocabulary: Vocabulary, label_names: list[str]):
        self.vocabulary = vocabulary
        self.label_names = label_names

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.vocabulary.save(folder / "vocabulary.txt")
        (folder / "labels.json").write_text(json.dumps(self.label_names), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> "SentimentAssets":
        return cls(Vocabulary.load(folder / "vocabulary.txt"), json.loads((folder / "labels.json").read_text(encoding="utf-8")))


def make_preprocessor(config: PipelineConfig, vocabulary_tokens: list[str]) -> SentimentPreprocessor:
    return SentimentPreprocessor(
        vocabulary_tokens,
        lowercase=config.text.lowercase,
        max_sentences=config.text.max_sentences,
        max_words_per_sentence=config.text.max_words_per_sentence,
    )


def split_texts(preprocessor: SentimentPreprocessor, texts: list[str]) -> tf.RaggedTensor:
    """Ragged words `(documents, None, None)` of many texts, in chunks."""
    parts = [
        preprocessor.split_documents(tf.constant(texts[start : start + PREPROCESS_CHUNK], dtype=tf.string))[0]
        for start in range(0, len(texts), PREPROCESS_CHUNK)
    ]
    return tf.concat(parts, axis=0) if len(parts) > 1 else parts[0]


def build_assets(config: PipelineConfig, train_texts: list[str], train_labels: list[str]) -> SentimentAssets:
    probe = make_preprocessor(config, ["[PAD]", "[UNK]"])
    words = probe.normalize_words(split_texts(probe, train_texts).flat_values).numpy()
    # One "sentence" per document is enough for counting word frequencies.
    vocabulary = Vocabulary.build(
        [[word.decode("utf-8") for word in words]],
        max_size=config.text.max_vocabulary_size,
        min_frequency=config.text.min_frequency,
    )
    label_names = [str(label) for label in config.data.labels] or sorted(set(train_labels))
    if len(label_names) < 2:
        raise ValueError(f"data.{config.data.label_column}: the training data has only the label(s) {label_names}; need at least 2")
    return SentimentAssets(vocabulary, label_names)


def encode_documents(preprocessor: SentimentPreprocessor, texts: list[str], labels: list[str] | None, label_names: list[str]) -> dict:
    """Ragged ids `(documents, None, None)`, word counts and (optionally) label ids for whole splits."""
    token_ids = preprocessor.ids_from_words(split_texts(preprocessor, texts))
    features = {"token_ids": token_ids}
    if labels is not None:
        index = {name: position for position, name in enumerate(label_names)}
        unknown = sorted(set(labels) - set(index))
        if unknown:
            raise ValueError(f"labels not seen in training data: {', '.join(unknown)}")
        features["label"] = np.array([index[label] for label in labels], dtype=np.int32)
    return features


def word_counts(token_ids: tf.RaggedTensor) -> np.ndarray:
    """Number of words of each document of ragged `(documents, None, None)` ids."""
    return tf.math.unsorted_segment_sum(token_ids.values.row_lengths(), token_ids.value_rowids(), token_ids.nrows()).numpy()


def _inputs_and_labels(batch):
    # A batch of empty documents would have zero sentences or words; recurrent
    # layers need at least one (padding) step.
    token_ids = batch["token_ids"]
    shape = tf.shape(token_ids)
    token_ids = tf.pad(token_ids, [[0, 0], [0, tf.maximum(1 - shape[1], 0)], [0, tf.maximum(1 - shape[2], 0)]])
    return token_ids, batch["label"]


def _length_markers(counts: np.ndarray) -> tf.RaggedTensor:
    """One int8-sized marker per word: `make_batches` buckets by this feature's length."""
    return tf.RaggedTensor.from_row_lengths(tf.zeros([int(counts.sum())], tf.int32), tf.constant(counts, tf.int64))


def training_batches(config: PipelineConfig, features: dict, shuffle: bool):
    """Shuffled batches bucketed by the number of words of each document."""
    counts = word_counts(features["token_ids"])
    batches = bucketed_batches(
        config.train,
        {"token_ids": features["token_ids"], "label": features["label"], LENGTH_KEY: _length_markers(counts)},
        LENGTH_KEY,
        shuffle,
        lengths=counts,
    )
    batches = batches.map(_inputs_and_labels)
    if shuffle and config.model.unknown_word_dropout > 0:
        batches = batches.map(replace_with_unknown(config.model.unknown_word_dropout, config.train.seed))
    return batches.prefetch(tf.data.AUTOTUNE)


def replace_with_unknown(probability: float, seed: int):
    """A tf.data map that swaps real word ids for [UNK] (id 1) at random, so [UNK] gets trained."""
    generator = tf.random.Generator.from_seed(seed)

    def replace(token_ids, labels):
        drop = (generator.uniform(tf.shape(token_ids)) < probability) & (token_ids > 1)
        return tf.where(drop, tf.ones_like(token_ids), token_ids), labels

    return replace


def predict_probabilities(model: SentimentClassifier, token_ids: tf.RaggedTensor, batch_size: int = 64) -> np.ndarray:
    """Class probabilities `(documents, classes)` in input order; documents are batched by length."""
    counts = word_counts(token_ids)
    order = np.argsort(counts, kind="stable")
    batches = make_batches(
        {"token_ids": tf.gather(token_ids, order), "label": np.zeros(len(order), np.int32)},
        batch_size=batch_size, bucket_boundaries=None, shuffle=False, length_key="token_ids",
    ).map(_inputs_and_labels)
    forward = tf.function(lambda ids: model.predict_with_attention(ids)["probabilities"], reduce_retracing=True)
    probabilities = np.concatenate([forward(ids).numpy() for ids, _ in batches], axis=0)
    unsorted = np.empty_like(probabilities)
    unsorted[order] = probabilities
    return unsorted


# ----------------------------------------------------------------------------- model


def build_model(config: PipelineConfig, assets: SentimentAssets) -> SentimentClassifier:
    encoder_config = config.model.encoder
    encoder = build_encoder(encoder_config, vocabulary_size=len(assets.vocabulary))
    return SentimentClassifier(
        encoder,
        num_classes=len(assets.label_names),
        hierarchical=config.model.hierarchical,
        sentence_units=config.model.sentence_units or encoder_config.units,
        sentence_cell_type=encoder_config.cell_type,
        sentence_bidirectional=encoder_config.bidirectional,
        attention_units=config.model.attention_units,
        dropout=config.model.dropout,
    )


def compile_model(model: SentimentClassifier, config: PipelineConfig) -> None:
    model.compile(
        optimizer=build_optimizer(config.train),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )


def _limit(dataset, count):
    return dataset.select(range(min(count, len(dataset)))) if count > 0 else dataset


def train(config: PipelineConfig, resume: bool = False) -> dict:
    set_precision_policy(config.train)
    keras.utils.set_random_seed(config.train.seed)
    run_dir = prepare_run_dir(config, resume)
    train_data = _limit(read_split(config, "train"), config.data.max_train_examples)
    dev_data = read_split(config, "dev")
    train_texts, train_labels = column(train_data, "text"), column(train_data, "label")
    assets_dir = run_dir / ASSETS_DIR
    if resume:
        assets = SentimentAssets.load(assets_dir)
    else:
        assets = build_assets(config, train_texts, train_labels)
        assets.save(assets_dir)
    preprocessor = make_preprocessor(config, assets.vocabulary.tokens)
    train_features = encode_documents(preprocessor, train_texts, train_labels, assets.label_names)
    dev_features = encode_documents(preprocessor, column(dev_data, "text"), column(dev_data, "label"), assets.label_names)

    strategy = get_strategy(config.train.distribution_strategy)
    with strategy.scope():
        model = build_model(config, assets)
        # Built up front: BackupAndRestore needs the variables before fit() starts.
        model.build((None, None, None))
        compile_model(model, config)
    callbacks = build_callbacks(run_dir, config.train, resume, monitor="val_accuracy", mode="max")
    history, seconds = fit_timed(
        model, config.train, training_batches(config, train_features, shuffle=True), callbacks,
        validation_batches=training_batches(config, dev_features, shuffle=False),
    )
    epochs_run = len(history.epoch)
    dev_accuracy = [100.0 * value for value in history.history.get("val_accuracy", [])]
    summary = {
        "train_seconds": seconds,
        "train_documents": len(train_data),
        "train_words": int(word_counts(train_features["token_ids"]).sum()),
        "epochs_run": epochs_run,
        "best_dev_accuracy": max(dev_accuracy, default=0.0),
        "dev_accuracy_per_epoch": dev_accuracy,
        # Includes the per-epoch dev evaluation, as a user's training run does.
        "docs_per_s": len(train_data) * epochs_run / seconds,
    }
    (run_dir / "train_summary.json").write_text(json.dumps(summary, indent=2))
    print(f"trained in {seconds:.1f} s; best model: {run_dir / 'best.keras'}")
    return summary


# ----------------------------------------------------------------------------- inference


def load_trained(config: PipelineConfig):
    model_path = require_trained_model(config)
    model = keras.saving.load_model(model_path)
    assets = SentimentAssets.load(config.run_dir() / ASSETS_DIR)
    return model, assets, make_preprocessor(config, assets.vocabulary.tokens)


def evaluate(config: PipelineConfig, split: str = "test") -> dict:
    model, assets, preprocessor = load_trained(config)
    data = read_split(config, split)
    features = encode_documents(preprocessor, column(data, "text"), column(data, "label"), assets.label_names)
    started = time.perf_counter()
    probabilities = predict_probabilities(model, features["token_ids"])
    seconds = time.perf_counter() - started
    predicted = probabilities.argmax(axis=-1)
    gold = features["label"]
    per_class = {}
    for index, name in enumerate(assets.label_names):
        true_positives = int(((predicted == index) & (gold == index)).sum())
        precision = true_positives / max(int((predicted == index).sum()), 1)
        recall = true_positives / max(int((gold == index).sum()), 1)
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[name] = {"precision": 100 * precision, "recall": 100 * recall, "f1": 100 * f1, "support": int((gold == index).sum())}
    scores = {
        "accuracy": 100.0 * float((predicted == gold).mean()),
        "documents": len(gold),
        "per_class": per_class,
        "docs_per_s": len(gold) / seconds,
    }
    print(f"{split}: accuracy {scores['accuracy']:.2f} on {len(gold)} documents")
    for name, values in per_class.items():
        print(f"  {name}: precision {values['precision']:.2f} recall {values['recall']:.2f} f1 {values['f1']:.2f} ({values['support']})")
    (config.run_dir() / f"eval_{split}.json").write_text(json.dumps(scores, indent=2))
    return scores


def classify_texts(model, assets: SentimentAssets, preprocessor: SentimentPreprocessor, texts: list[str]) -> list[dict]:
    """Label, probabilities and both attention maps for raw texts."""
    pieces = preprocessor(tf.constant(texts, dtype=tf.string))
    outputs = model.predict_with_attention(pieces["token_ids"])
    probabilities = keras.ops.convert_to_numpy(outputs["probabilities"])
    word_attention = keras.ops.convert_to_numpy(outputs["word_attention"])
    sentence_attention = keras.ops.convert_to_numpy(outputs["sentence_attention"])
    results = []
    for row, text in enumerate(texts):
        words = [[word.decode("utf-8") for word in sentence] for sentence in pieces["words"][row].to_list()]
        sentences = [sentence.decode("utf-8") for sentence in pieces["sentences"][row].numpy()]
        best = int(probabilities[row].argmax())
        results.append(
            {
                "text": text,
                "label": assets.label_names[best],
                "probability": float(probabilities[row, best]),
                "probabilities": {name: float(p) for name, p in zip(assets.label_names, probabilities[row])},
                "sentences": sentences,
                "words": words,
                "sentence_attention": [float(sentence_attention[row, s]) for s in range(len(words))],
                "word_attention": [[float(word_attention[row, s, w]) for w in range(len(sentence))] for s, sentence in enumerate(words)],
            }
        )
    return results


def predict(config: PipelineConfig, texts: list[str], output_format: str = "text", explain_dir=None) -> list[dict]:
    model, assets, preprocessor = load_trained(config)
    results = classify_texts(model, assets, preprocessor, texts)
    if explain_dir:
        from nlp_apps.tasks.sentiment_explain import write_explanations

        # The explanation shows every word, also those cut off by truncation (in grey).
        full = make_preprocessor(config, assets.vocabulary.tokens)
        full.max_sentences = full.max_words_per_sentence = 0
        paths = write_explanations(results, full, Path(explain_dir))
        for result, (html_path, png_path) in zip(results, paths):
            result["explanation_html"], result["explanation_png"] = str(html_path), str(png_path)
    for result in results:
        if output_format == "json":
            print(json.dumps({key: value for key, value in result.items() if key not in ("words", "word_attention")}, ensure_ascii=False))
        else:
            print(f"{result['label']}\t{result['probability']:.3f}\t{result['text'][:80]}")
            if "explanation_html" in result:
                print(f"  explanation: {result['explanation_html']} {result['explanation_png']}")
    return results


def export(config: PipelineConfig) -> dict:
    from nlp_apps.tasks.sentiment_export import export_classifier

    model, assets, preprocessor = load_trained(config)
    return export_classifier(config, model, assets, preprocessor)
