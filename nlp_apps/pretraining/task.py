"""`nlp-apps pretrain`: the shared encoder trained as a language model, written as an encoder artifact.

The flow is the Task flow (run directory, checkpoints, `--resume`, time
budget, learning-rate schedule, mixed precision, strategies):

1. the corpora of `pretrain.corpora` are read and tokenized by the tasks'
   word tokenizer; a seeded `held_out_fraction` of each one's documents is
   held out (the validation data: the best epoch is the one with the lowest
   held-out loss);
2. the word vocabulary (normalised as the tasks look words up: lower-cased
   if `text.lowercase`, digits folded if `text.normalize_digits`) and the
   character alphabet come from the training documents (or, with
   `--from ARTIFACT`, from that artifact, whose weights are the start);
3. the documents run on as one stream, cut into windows of
   `train.bptt_length` words; every window starts from a zero state (the
   tasks run the encoder from a zero state on each sentence or document, so
   this is the condition the encoder is fine-tuned in) and its features are
   computed by the same in-graph lookup as NER's (words, characters, casing);
4. the best encoder is written as an artifact (`nlp_apps.encoders.artifact`)
   with its card.
"""

from __future__ import annotations

import collections
import datetime
import json
import math
import platform
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from nlp_apps.data.epochs import epoch_shuffle
from nlp_apps.encoders.artifact import EncoderArtifact, apply_artifact, initialize_encoder, write_encoder_artifact
from nlp_apps.encoders.registry import build_encoder, encoder_input_shape
from nlp_apps.pretraining.corpora import read_corpora, weighted_documents
from nlp_apps.pretraining.model import BACKWARD, FORWARD, EncoderLanguageModel
from nlp_apps.tasks.base import Task, TrainingInputs
from nlp_apps.tasks.language_model.preprocessor import LanguageModelPreprocessor
from nlp_apps.tasks.ner.preprocessor import NERPreprocessor, to_dense_features
from nlp_apps.text.case_features import CASE_VOCABULARY_SIZE
from nlp_apps.text.char_lookup import build_alphabet
from nlp_apps.training.run_directory import TRAIN_SUMMARY_NAME

DIRECTIONS = ("bidirectional", "forward")
# Word level (the NER / sentiment / LM lookup) or SentencePiece pieces (a translation source encoder).
TOKENIZERS = ("word", "sentencepiece")
# Distinct surface forms are normalised for the vocabulary in chunks of this many.
NORMALIZE_CHUNK = 50000


def surface_stream(documents: list[list[str]]) -> tuple[list[str], np.ndarray, collections.Counter]:
    """(distinct word forms as written, the running text as int32 ids into them, their counts)."""
    counts = collections.Counter(word for document in documents for word in document)
    forms = sorted(counts, key=lambda word: (-counts[word], word))
    index = {word: position for position, word in enumerate(forms)}
    stream = np.fromiter((index[word] for document in documents for word in document), dtype=np.int32)
    return forms, stream, counts


def normalized_vocabulary(probe: NERPreprocessor, counts: collections.Counter, max_size: int, min_frequency: int) -> list[str]:
    """The word vocabulary ([PAD], [UNK] first) of normalised forms, most frequent first, ties by code point."""
    forms = list(counts)
    normalized = collections.Counter()
    for start in range(0, len(forms), NORMALIZE_CHUNK):
        chunk = forms[start : start + NORMALIZE_CHUNK]
        for form, word in zip(chunk, probe.normalize_words(tf.constant(chunk)).numpy()):
            normalized[word.decode("utf-8")] += counts[form]
    specials = {"[PAD]", "[UNK]"}
    words = sorted((word for word, count in normalized.items() if count >= min_frequency and word not in specials),
                   key=lambda word: (-normalized[word], word))
    if max_size:
        words = words[: max(max_size - 2, 0)]
    return ["[PAD]", "[UNK]", *words]


def window_matrix(stream: np.ndarray, window: int) -> np.ndarray:
    """Windows of `window` words with one word of context each side: `(windows, window + 2)`.

    Window `i` covers words `1 + i * window .. (i + 1) * window`; column 0 is
    the word before it (the backward target of its first word), the last
    column the word after it (the forward target of its last word).
    """
    count = (len(stream) - 2) // window
    if count < 1:
        raise ValueError(f"pretrain: the text has {len(stream)} words, fewer than one window of train.bptt_length={window} + 2")
    starts = 1 + window * np.arange(count)
    return np.stack([stream[start - 1 : start + window + 1] for start in starts]).astype(np.int32)


class PretrainTask(Task):
    """See the module docstring. With `text.tokenizer: sentencepiece` the units are SentencePiece
    pieces (a model trained on the corpora, `</s>` after every line, no character or casing
    features) instead of words: the encoder a translation source side starts from."""

    name = "pretrain"
    monitor = "val_loss"
    monitor_mode = "min"
    output_formats = ()

    def __init__(self, config):
        super().__init__(config)
        pretrain = config.pretrain
        if pretrain.direction not in DIRECTIONS:
            raise ValueError(f"pretrain.direction: unknown {pretrain.direction!r}; choose one of {', '.join(DIRECTIONS)}")
        for split in ("train", "dev", "test"):
            if getattr(config.data, split):
                raise ValueError(
                    f"data.{split}: pretraining reads only the sources in pretrain.corpora (and never a test split); "
                    f"remove data.{split}"
                )
        bidirectional = pretrain.direction == "bidirectional"
        explicit = getattr(config, "explicit_keys", {})
        if "model.encoder.bidirectional" in explicit and config.model.encoder.bidirectional != bidirectional:
            raise ValueError(
                f"{explicit['model.encoder.bidirectional']}: 'model.encoder.bidirectional' contradicts "
                f"pretrain.direction: {pretrain.direction}; remove it (the direction decides)"
            )
        config.model.encoder.bidirectional = bidirectional
        if config.text.tokenizer not in TOKENIZERS:
            raise ValueError(f"text.tokenizer: pretraining reads {' or '.join(TOKENIZERS)}, got {config.text.tokenizer!r}")
        self.subword = config.text.tokenizer == "sentencepiece"
        if self.subword and (config.model.encoder.char_embedding_dim or config.model.encoder.case_embedding_dim):
            raise ValueError(
                "model.encoder.char_embedding_dim: character and casing features are word features; "
                "a SentencePiece encoder reads piece ids only (set them to 0)"
            )

    @property
    def preprocessor_class(self):
        return LanguageModelPreprocessor if self.subword else NERPreprocessor

    def artifact_dir(self) -> Path:
        return Path(self.config.pretrain.artifact_dir or Path("saved_models") / (self.config.name or "pretrained_encoder"))

    # ------------------------------------------------------------------ data and model

    def load_artifact(self) -> None:
        """`pretrain.from_artifact`: continue from an artifact (its architecture, vocabulary and weights)."""
        path = self.config.pretrain.from_artifact
        if path:
            self.artifact = EncoderArtifact.load(path)
            if self.artifact.encoder_config["bidirectional"] != (self.config.pretrain.direction == "bidirectional"):
                raise ValueError(
                    f"pretrain.direction: {self.config.pretrain.direction!r} but {path} was pretrained "
                    f"{'bidirectional' if self.artifact.encoder_config['bidirectional'] else 'forward'}"
                )
            apply_artifact(self.config, self.artifact)
            print(self.artifact.describe())

    def read_training_data(self):
        pretrain = self.config.pretrain
        corpora = read_corpora(
            pretrain.corpora, self.config.data.data_dir, pretrain.held_out_fraction, self.config.train.seed, words=not self.subword
        )
        limit = self.config.data.max_train_examples
        if limit > 0:
            for corpus in corpora:
                corpus.train = corpus.train[:limit]
        return corpora, None

    def build_preprocessor(self, corpora):
        text = self.config.text
        if self.subword:
            if self.artifact is not None:
                return LanguageModelPreprocessor("sentencepiece", sentencepiece_model=self.artifact.sentencepiece_model)
            texts = [document for corpus in corpora for document in corpus.train]
            return LanguageModelPreprocessor.from_training_data(
                "sentencepiece", texts, sentencepiece_vocabulary_size=text.sentencepiece_vocabulary_size, seed=self.config.train.seed
            )
        if self.artifact is not None:
            return NERPreprocessor(self.artifact.vocabulary, self.artifact.alphabet, **self.artifact.text_options)
        documents = [document for corpus in corpora for document in corpus.train]
        counts = collections.Counter(word for document in documents for word in document)
        options = {"lowercase": text.lowercase, "normalize_digits": text.normalize_digits, "max_chars_per_token": text.max_chars_per_token}
        probe = NERPreprocessor(["[PAD]", "[UNK]"], [], **options)
        vocabulary = normalized_vocabulary(probe, counts, text.max_vocabulary_size, text.min_frequency)
        alphabet = build_alphabet(list(counts.elements())) if self.config.model.encoder.char_embedding_dim else []
        return NERPreprocessor(vocabulary, alphabet, **options)

    def window_batches(self, preprocessor, documents, shuffle: bool):
        """Batches of `(encoder inputs, {"forward", "backward"} targets)` over the running text of `documents`."""
        if self.subword:
            windows = window_matrix(preprocessor.encode_stream(documents), self.config.train.bptt_length)

            def features(ids):
                return {"token_ids": ids[:, 1:-1]}, {FORWARD: ids[:, 2:], BACKWARD: ids[:, :-2]}
        else:
            features, windows = self._word_windows(preprocessor, documents)
        dataset = tf.data.Dataset.from_tensor_slices(windows)
        if shuffle:
            dataset = epoch_shuffle(dataset, len(windows), self.config.train.seed)
        return dataset.batch(self.config.train.batch_size).map(features, num_parallel_calls=tf.data.AUTOTUNE).prefetch(
            tf.data.AUTOTUNE
        ), int(windows.size - 2 * len(windows))

    def _word_windows(self, preprocessor, documents):
        """The word-level window featurizer (in-graph NER lookup of the surface forms) and the windows."""
        forms, stream, _ = surface_stream(documents)
        windows = window_matrix(stream, self.config.train.bptt_length)
        table = tf.constant(forms)
        needed = set(encoder_input_shape_keys(self.config.model.encoder))

        def features(ids):
            words = tf.RaggedTensor.from_tensor(tf.gather(table, ids))
            dense = to_dense_features(preprocessor.features_from_tokens(words))
            token_ids = dense["token_ids"]
            inputs = {key: value[:, 1:-1] for key, value in dense.items() if key in needed}
            targets = {FORWARD: token_ids[:, 2:], BACKWARD: token_ids[:, :-2]}
            return inputs, targets

        return features, windows

    def prepare_training(self, preprocessor, corpora, dev_data) -> TrainingInputs:
        train_documents = weighted_documents(corpora, self.config.train.seed)
        held_out = [document for corpus in corpora for document in corpus.held_out]
        train_batches, train_words = self.window_batches(preprocessor, train_documents, shuffle=True)
        held_out_batches, held_out_words = self.window_batches(preprocessor, held_out, shuffle=False)
        unknown = self.unknown_rate(preprocessor, held_out)
        units = "pieces" if self.subword else "words"
        facts = {
            "corpora": [corpus.describe() for corpus in corpora],
            "unit": units,
            "train_words_per_epoch": train_words,
            "held_out_words": held_out_words,
            "held_out_unknown_rate": unknown,
            "vocabulary_size": self.vocabulary_size(preprocessor),
            "alphabet_size": 0 if self.subword else len(preprocessor.alphabet),
        }
        print(
            f"pretrain: {len(corpora)} corpora, {train_words} training {units} per epoch, {held_out_words} held out "
            f"({100 * unknown:.1f} % unknown); vocabulary {facts['vocabulary_size']}"
        )
        return TrainingInputs(train_batches, validation_batches=held_out_batches, facts=facts)

    def vocabulary_size(self, preprocessor) -> int:
        return preprocessor.vocabulary_size if self.subword else len(preprocessor.vocabulary)

    def unknown_rate(self, preprocessor, documents) -> float:
        if self.subword:
            ids = preprocessor.encode_stream(documents[:20000]) if documents else np.zeros(0)
            return float(np.mean(ids == 1)) if len(ids) else 0.0
        words = [word for document in documents for word in document][:200000]
        if not words:
            return 0.0
        ids = preprocessor.token_lookup(preprocessor.normalize_words(tf.constant(words))).numpy()
        return float(np.mean(ids == 1))

    def build_model(self, preprocessor) -> EncoderLanguageModel:
        model_config = self.config.model
        encoder = build_encoder(
            model_config.encoder,
            vocabulary_size=self.vocabulary_size(preprocessor),
            char_alphabet_size=len(preprocessor.alphabet) + 2 if not self.subword and preprocessor.alphabet else 0,
            case_vocabulary_size=CASE_VOCABULARY_SIZE,
        )
        return EncoderLanguageModel(encoder, dropout=model_config.dropout, num_sampled=model_config.sampled_softmax)

    def build_variables(self, model) -> None:
        model.build(encoder_input_shape(model.encoder))

    def initialize_encoder_weights(self, model, preprocessor, resume: bool) -> None:
        if self.artifact is not None and not resume:
            initialize_encoder(model.encoder, self.artifact)

    def training_summary(self, history, seconds, inputs, preprocessor) -> dict:
        facts = dict(inputs.facts)
        curves = history.history
        best = int(np.argmin(curves["val_loss"])) if curves.get("val_loss") else len(history.epoch) - 1
        perplexity = {
            direction: float(math.exp(curves[f"val_{direction}_loss"][best]))
            for direction in (FORWARD, BACKWARD) if f"val_{direction}_loss" in curves
        }
        words_trained = facts["train_words_per_epoch"] * len(history.epoch)
        facts.update(
            held_out_perplexity=perplexity,
            best_epoch=best + 1,
            held_out_perplexity_per_epoch={
                direction: [float(math.exp(value)) for value in curves.get(f"val_{direction}_loss", [])]
                for direction in (FORWARD, BACKWARD) if f"val_{direction}_loss" in curves
            },
            words_trained=words_trained,
            words_per_second=words_trained / max(seconds, 1e-9),
        )
        return facts

    # ------------------------------------------------------------------ the artifact

    def train(self, resume: bool = False) -> dict:
        summary = super().train(resume=resume)
        self.write_artifact(summary)
        return summary

    def write_artifact(self, summary: dict | None = None) -> Path:
        """Writes the best encoder of the run, its text preprocessing and its card as the artifact."""
        run = self.load_trained()
        if summary is None:
            summary = json.loads((run.run_dir / TRAIN_SUMMARY_NAME).read_text())
        card = self.card(run.model.encoder, summary)
        return write_encoder_artifact(run.model.encoder, run.preprocessor, card, self.artifact_dir())

    def card(self, encoder, summary: dict) -> dict:
        config = self.config
        return {
            "kind": "nlp_apps encoder artifact",
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "pipeline": config.name,
            "objective": (
                "bidirectional language model (forward + backward, shared embedding and tied softmax)"
                if config.pretrain.direction == "bidirectional" else "forward language model"
            ),
            "architecture": {key: value for key, value in encoder.get_config().items() if key not in ("dtype", "trainable", "name")},
            "text": {
                "tokenizer": config.text.tokenizer,
                "unit": summary.get("unit", "words"),
                "lowercase": config.text.lowercase,
                "normalize_digits": config.text.normalize_digits,
                "max_chars_per_token": config.text.max_chars_per_token,
                "vocabulary_size": summary.get("vocabulary_size"),
                "alphabet_size": summary.get("alphabet_size"),
            },
            "corpora": summary.get("corpora"),
            "continued_from": config.pretrain.from_artifact or None,
            "training": {
                "seconds": summary.get("train_seconds"),
                "minutes": round(summary.get("train_seconds", 0.0) / 60.0, 2),
                "epochs": summary.get("epochs_run"),
                "best_epoch": summary.get("best_epoch"),
                "words_per_epoch": summary.get("train_words_per_epoch"),
                "words_trained": summary.get("words_trained"),
                "words_per_second": summary.get("words_per_second"),
                "window": config.train.bptt_length,
                "batch_size": config.train.batch_size,
                "sampled_softmax": config.model.sampled_softmax,
            },
            "held_out": {
                "words": summary.get("held_out_words"),
                "unknown_rate": summary.get("held_out_unknown_rate"),
                "perplexity": summary.get("held_out_perplexity"),
            },
            "versions": {
                "python": platform.python_version(),
                "tensorflow": tf.__version__,
                "keras": keras.__version__,
                "nlp_apps": _package_version(),
            },
        }

    # ------------------------------------------------------------------ evaluate / predict / export

    def evaluate_run(self, run, split: str, **options) -> dict:
        if split == "test":
            raise ValueError("--split test: pretraining has no test split; use --split dev (the held-out text)")
        corpora, _ = self.read_training_data()
        documents = (
            [d for corpus in corpora for d in corpus.held_out] if split == "dev" else [d for corpus in corpora for d in corpus.train]
        )
        batches, words = self.window_batches(run.preprocessor, documents, shuffle=False)
        run.model.compile(optimizer="adam")
        results = run.model.evaluate(batches, return_dict=True, verbose=0)
        scores = {"split": split, "words": words}
        for direction in run.model.directions:
            scores[f"{direction}_perplexity"] = float(math.exp(results[f"{direction}_loss"]))
        print(json.dumps(scores))
        return scores

    def predict_run(self, run, texts, **options):
        raise ValueError("predict: a pretrained encoder is not a task model; fine-tune it with model.encoder.pretrained")

    def export(self) -> dict:
        path = self.write_artifact()
        return {"task": self.name, "artifact": str(path)}


def encoder_input_shape_keys(encoder_config) -> list[str]:
    """The encoder input keys the pretraining batches carry."""
    keys = ["token_ids"]
    if encoder_config.char_embedding_dim:
        keys.append("char_ids")
    if encoder_config.case_embedding_dim:
        keys.append("case_ids")
    return keys


def _package_version() -> str:
    try:
        from importlib.metadata import version

        return version("nlp_apps")
    except Exception:  # noqa: BLE001 - an uninstalled checkout has no version
        return "unknown"
