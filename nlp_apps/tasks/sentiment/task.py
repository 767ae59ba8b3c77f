"""Sentiment: a hierarchical attention network (or flat BiLSTM) over documents, with attention explanations.

Documents are split into sentences and words in the graph
(`SentimentPreprocessor`); the model attends over the words of each
sentence, then over the sentences. Dev accuracy after each epoch keeps the
best model; `predict --explain DIR` writes the attention as HTML and PNG.
"""

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
from nlp_apps.data.unknown_word_dropout import add_word_dropout
from nlp_apps.encoders.registry import build_encoder
from nlp_apps.tasks.base import Task, TFLiteExport, TrainingInputs, limit_examples
from nlp_apps.tasks.sentiment import export as sentiment_export
from nlp_apps.tasks.sentiment.model import SentimentClassifier
from nlp_apps.tasks.sentiment.preprocessor import SentimentPreprocessor
from nlp_apps.training.fit import bucketed_batches

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


def encode_documents(preprocessor: SentimentPreprocessor, texts: list[str], labels: list[str] | None) -> dict:
    """Ragged ids `(documents, None, None)`, word counts and (optionally) label ids for whole splits."""
    token_ids = preprocessor.ids_from_words(preprocessor.split_many(texts))
    features = {"token_ids": token_ids}
    if labels is not None:
        index = {name: position for position, name in enumerate(preprocessor.label_names)}
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
    """Batches bucketed by the number of words of each document (shuffled, with word dropout, for training)."""
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
        batches = add_word_dropout(batches, config.model.unknown_word_dropout, config.train.seed)
    return batches.prefetch(tf.data.AUTOTUNE)


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


def classify_texts(model, preprocessor: SentimentPreprocessor, texts: list[str]) -> list[dict]:
    """Label, probabilities and both attention maps for raw texts.

    A text without words gets the neutral result and says so (`empty`
    true, `label` None, uniform probabilities), as the SavedModel does.
    """
    pieces = preprocessor(tf.constant(texts, dtype=tf.string))
    outputs = model.predict_with_attention(pieces["token_ids"])
    probabilities = np.array(keras.ops.convert_to_numpy(outputs["probabilities"]))
    word_attention = keras.ops.convert_to_numpy(outputs["word_attention"])
    sentence_attention = keras.ops.convert_to_numpy(outputs["sentence_attention"])
    results = []
    for row, text in enumerate(texts):
        words = [[word.decode("utf-8") for word in sentence] for sentence in pieces["words"][row].to_list()]
        sentences = [sentence.decode("utf-8") for sentence in pieces["sentences"][row].numpy()]
        best = int(probabilities[row].argmax())
        empty = not any(words)
        if empty:
            probabilities[row] = 1.0 / len(preprocessor.label_names)
        results.append(
            {
                "text": text,
                "label": None if empty else preprocessor.label_names[best],
                "probability": None if empty else float(probabilities[row, best]),
                "empty": empty,
                "probabilities": {name: float(p) for name, p in zip(preprocessor.label_names, probabilities[row])},
                "sentences": sentences,
                "words": words,
                "sentence_attention": [float(sentence_attention[row, s]) for s in range(len(words))],
                "word_attention": [[float(word_attention[row, s, w]) for w in range(len(sentence))] for s, sentence in enumerate(words)],
            }
        )
    return results


# ----------------------------------------------------------------------------- the task


class SentimentTask(Task):
    name = "sentiment"
    accepts_artifacts = True
    preprocessor_class = SentimentPreprocessor
    monitor = "val_accuracy"
    predict_options = ("explain_dir",)

    # ---------------------------------------------------------------- data and model

    def read_split(self, split: str):
        return read_split(self.config, split)

    def build_preprocessor(self, train_data) -> SentimentPreprocessor:
        text, data = self.config.text, self.config.data
        if self.artifact is not None:
            if self.artifact.encoder_config["char_embedding_dim"] or self.artifact.encoder_config["case_embedding_dim"]:
                raise ValueError(
                    f"model.encoder.pretrained: {self.artifact.path} uses character or casing features, which the "
                    "sentiment task does not compute; pretrain its encoder without them"
                )
            return SentimentPreprocessor.from_artifact(
                self.artifact, column(train_data, "text"), column(train_data, "label"), label_names=data.labels,
                max_sentences=text.max_sentences, max_words_per_sentence=text.max_words_per_sentence,
                new_words=self.config.model.encoder.new_word_embeddings,
                max_vocabulary_size=text.max_vocabulary_size, min_frequency=text.min_frequency,
                label_field=f"data.{data.label_column}",
            )
        return SentimentPreprocessor.from_training_data(
            column(train_data, "text"), column(train_data, "label"), label_names=data.labels,
            lowercase=text.lowercase, max_sentences=text.max_sentences, max_words_per_sentence=text.max_words_per_sentence,
            max_vocabulary_size=text.max_vocabulary_size, min_frequency=text.min_frequency,
            label_field=f"data.{data.label_column}",
        )

    def encoder_vocabulary(self, preprocessor) -> list:
        return preprocessor.vocabulary

    def prepare_training(self, preprocessor, train_data, dev_data) -> TrainingInputs:
        train_features = encode_documents(preprocessor, column(train_data, "text"), column(train_data, "label"))
        dev_features = encode_documents(preprocessor, column(dev_data, "text"), column(dev_data, "label"))
        facts = {"train_documents": len(train_data), "train_words": int(word_counts(train_features["token_ids"]).sum())}
        return TrainingInputs(
            training_batches(self.config, train_features, shuffle=True),
            validation_batches=training_batches(self.config, dev_features, shuffle=False),
            facts=facts,
        )

    def build_model(self, preprocessor) -> SentimentClassifier:
        model_config = self.config.model
        encoder_config = model_config.encoder
        encoder = build_encoder(encoder_config, vocabulary_size=len(preprocessor.vocabulary))
        return SentimentClassifier(
            encoder,
            num_classes=len(preprocessor.label_names),
            hierarchical=model_config.hierarchical,
            sentence_units=model_config.sentence_units or encoder_config.units,
            sentence_cell_type=encoder_config.cell_type,
            sentence_bidirectional=encoder_config.bidirectional,
            attention_units=model_config.attention_units,
            dropout=model_config.dropout,
        )

    def build_variables(self, model) -> None:
        model.build((None, None, None))

    def compile_model(self, model) -> None:
        model.compile(
            optimizer=self.build_optimizer(model),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        )

    def training_summary(self, history, seconds, inputs, preprocessor) -> dict:
        dev_accuracy = [100.0 * value for value in history.history.get("val_accuracy", [])]
        return {
            **inputs.facts,
            "best_dev_accuracy": max(dev_accuracy, default=0.0),
            "dev_accuracy_per_epoch": dev_accuracy,
            # Includes the per-epoch dev evaluation, as a user's training run does.
            "docs_per_s": inputs.facts["train_documents"] * len(history.epoch) / seconds,
        }

    # ---------------------------------------------------------------- inference

    def evaluate_run(self, run, split: str, **options) -> dict:
        data = self.read_split(split)
        features = encode_documents(run.preprocessor, column(data, "text"), column(data, "label"))
        started = time.perf_counter()
        probabilities = predict_probabilities(run.model, features["token_ids"])
        seconds = time.perf_counter() - started
        predicted = probabilities.argmax(axis=-1)
        gold = features["label"]
        per_class = {}
        for index, name in enumerate(run.preprocessor.label_names):
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
        return scores

    def predict_run(self, run, texts: list[str], explain_dir=None) -> list[dict]:
        results = classify_texts(run.model, run.preprocessor, texts)
        if explain_dir:
            from nlp_apps.tasks.sentiment.explain import write_explanations

            # The explanation shows every word, also those cut off by truncation (in grey).
            paths = write_explanations(results, run.preprocessor.without_truncation(), Path(explain_dir))
            for result, (html_path, png_path) in zip(results, paths):
                result["explanation_html"], result["explanation_png"] = str(html_path), str(png_path)
        return results

    def format_prediction(self, result: dict, output_format: str) -> str:
        if output_format == "json":
            return super().format_prediction({key: value for key, value in result.items() if key not in ("words", "word_attention")}, output_format)
        if result["empty"]:
            line = f"(no words)\t-\t{result['text'][:80]}"
        else:
            line = f"{result['label']}\t{result['probability']:.3f}\t{result['text'][:80]}"
        if "explanation_html" in result:
            line += f"\n  explanation: {result['explanation_html']} {result['explanation_png']}"
        return line

    # ---------------------------------------------------------------- export

    def export_info(self, run) -> dict:
        preprocessor = run.preprocessor
        return {
            "label_names": preprocessor.label_names,
            "hierarchical": run.config.model.hierarchical,
            "max_sentences": preprocessor.max_sentences,
            "max_words_per_sentence": preprocessor.max_words_per_sentence,
            # -1: dynamic (the document's sentences, its longest sentence).
            "tflite_input_shape": [1, -1, -1],
        }

    def serving_module(self, run):
        module = sentiment_export.SentimentServingModule(
            run.model, run.preprocessor, run.preprocessor.label_names, self.max_input_chars(run)
        )
        return module, {"serving_default": module.serving_default}

    def output_padding(self) -> dict:
        # Padded words/sentences are "" and get no attention (masked softmax: exactly 0).
        return {"words": "", "sentences": "", "word_attention": 0.0, "sentence_attention": 0.0}

    def saved_model_checks(self) -> dict:
        return {"serving_default": ({"texts": np.array(sentiment_export.VERIFICATION_TEXTS, dtype=object)}, 1e-5)}

    def tflite_export(self, run) -> TFLiteExport:
        def inputs_for_text(text):
            return {"token_ids": sentiment_export.document_ids(run.preprocessor, text)}

        inputs = inputs_for_text(sentiment_export.VERIFICATION_TEXTS[1])
        return TFLiteExport(sentiment_export.tflite_function(run.model), "model", inputs, inputs_for_text)

    def calibration_texts(self, limit: int) -> list[str]:
        return list(limit_examples(self.read_split("train"), limit)["text"])
