"""Named-entity recognition: a BiLSTM(-CRF) tagger with character and casing features, scored with seqeval.

Training data is CoNLL (tokens and tags in `data.tag_scheme`); the model is
trained in `model.train_tag_scheme` (BIOES by default, with CRF transition
constraints) and reported in `model.report_tag_scheme` (IOB2) with seqeval's
strict entity F1. Predictions and exports give IOB2 tags and entity spans
with character offsets into the raw input.
"""

import keras
import numpy as np
import tensorflow as tf

from nlp_apps.data.batching import make_batches
from nlp_apps.data.columns import column, ragged_rows
from nlp_apps.data.conll_reader import load_conll_hub, read_conll
from nlp_apps.data.files import resolve_data_path
from nlp_apps.data.sample_data import resolve_data_dir
from nlp_apps.data.tag_schemes import convert_tags
from nlp_apps.data.unknown_word_dropout import add_word_dropout
from nlp_apps.encoders.registry import build_encoder
from nlp_apps.layers.crf_constraints import allowed_transitions
from nlp_apps.metrics.entity_scores import entity_scores
from nlp_apps.tasks.base import Task, TFLiteExport, TrainingInputs, limit_examples
from nlp_apps.tasks.ner import export as ner_export
from nlp_apps.tasks.ner.model import SequenceTagger
from nlp_apps.tasks.ner.preprocessor import FEATURE_KEYS, NERPreprocessor
from nlp_apps.text.case_features import CASE_VOCABULARY_SIZE
from nlp_apps.training.fit import bucketed_batches

# ----------------------------------------------------------------------------- data

def encode_examples(preprocessor: NERPreprocessor, tokens: list[list[str]], tags: list[list[str]] | None = None):
    """Features (ragged) for whole splits at once: one vectorized pass, not a loop per sentence."""
    features = preprocessor.features_from_tokens(ragged_rows(tokens))
    if tags is not None:
        tag_index = {name: index for index, name in enumerate(preprocessor.tag_names)}
        unknown = sorted({tag for sentence in tags for tag in sentence} - set(tag_index))
        if unknown:
            raise ValueError(f"tags not seen in training data: {', '.join(unknown)}")
        features["tags"] = ragged_rows([[tag_index[tag] for tag in sentence] for sentence in tags], dtype=tf.int32)
    return features


def split_inputs_and_labels(batch):
    labels = batch.pop("tags")
    return batch, labels


def ordered_batches(features: dict, batch_size: int):
    """Batches sorted by length (little padding) plus the order to undo the sort."""
    lengths = features["token_ids"].row_lengths().numpy()
    order = np.argsort(lengths, kind="stable")
    sorted_features = {key: tf.gather(value, order) for key, value in features.items() if key != "tags"}
    batches = make_batches(sorted_features, batch_size=batch_size, bucket_boundaries=None, shuffle=False, length_key="token_ids")
    return batches, order, lengths


def compiled_decode(model: SequenceTagger):
    """The model's `decode` as one `tf.function` per model, kept on the model.

    A new `tf.function` per call (once per epoch by the dev-F1 callback, once
    per `predict`) traced again each time, and TensorFlow warned "triggered
    tf.function retracing" during every NER training. `object.__setattr__`
    keeps the function out of Keras' attribute tracking (and the saved model).
    """
    decode = model.__dict__.get("_compiled_decode")
    if decode is None:
        decode = tf.function(model.decode, reduce_retracing=True)
        object.__setattr__(model, "_compiled_decode", decode)
    return decode


def predict_tag_ids(model: SequenceTagger, features: dict, batch_size: int = 64) -> list[np.ndarray]:
    """Decoded tag ids per sentence, in the input order."""
    batches, order, lengths = ordered_batches(features, batch_size)
    decode = compiled_decode(model)
    predictions = []
    for batch in batches:
        predictions.extend(decode(batch).numpy())
    unsorted = [None] * len(order)
    for position, index in enumerate(order):
        unsorted[index] = predictions[position][: lengths[index]]
    return unsorted


def to_report_scheme(tags: list[str], train_scheme: str, report_scheme: str) -> list[str]:
    """Converts predicted tags to the report scheme.

    A CRF with constraints only emits valid sequences, but a softmax head can
    emit invalid ones (I-X after O); they are read the way seqeval reads them:
    such a tag opens a new entity.
    """
    iob2 = []
    for position, tag in enumerate(tags):
        if tag == "O":
            iob2.append(tag)
            continue
        prefix, entity_type = tag.split("-", 1)
        previous = iob2[position - 1] if position else "O"
        continues = prefix in ("I", "E") and previous != "O" and previous[2:] == entity_type
        iob2.append(f"{'I' if continues else 'B'}-{entity_type}")
    return iob2 if report_scheme == "iob2" else convert_tags(iob2, "iob2", report_scheme)


def predicted_tags(model, preprocessor: NERPreprocessor, features: dict, train_scheme: str, report_scheme: str) -> list[list[str]]:
    """Decoded tags of every sentence of `features`, in the report scheme."""
    return [
        to_report_scheme([preprocessor.tag_names[i] for i in ids], train_scheme, report_scheme)
        for ids in predict_tag_ids(model, features)
    ]


class EntityF1Callback(keras.callbacks.Callback):
    """Adds `val_f1` (seqeval entity F1 on the dev set, report scheme) to the epoch logs.

    Listed before the checkpoint and early-stopping callbacks so they can monitor it.
    """

    def __init__(self, preprocessor, features, gold_tags, train_scheme, report_scheme):
        super().__init__()
        self.preprocessor = preprocessor
        self.features = features
        self.gold_tags = gold_tags
        self.train_scheme = train_scheme
        self.report_scheme = report_scheme

    def on_epoch_end(self, epoch, logs=None):
        predicted = predicted_tags(self.model, self.preprocessor, self.features, self.train_scheme, self.report_scheme)
        scores = entity_scores(self.gold_tags, predicted, self.report_scheme)
        if logs is not None:
            logs["val_f1"] = scores["f1"]
        print(f"\nepoch {epoch + 1}: dev entity F1 {scores['f1']:.2f}")


def byte_to_char_offsets(text: str) -> list[int]:
    """Character offset of every byte offset of `text` (one pass, so long texts stay linear)."""
    offsets = []
    for index, character in enumerate(text):
        offsets.extend([index] * len(character.encode("utf-8")))
    offsets.append(len(text))
    return offsets


def tag_texts(model, preprocessor: NERPreprocessor, train_scheme: str, texts: list[str]) -> list[dict]:
    """Tokens, IOB2 tags and entities (with character offsets) for raw texts."""
    from seqeval.metrics.sequence_labeling import get_entities

    pieces = preprocessor(tf.constant(texts, dtype=tf.string))
    # Compiled: eager Viterbi would run its time loop step by step in Python.
    tag_ids = compiled_decode(model)({key: pieces[key] for key in FEATURE_KEYS}).numpy()
    results = []
    for row, text in enumerate(texts):
        tokens = [token.decode("utf-8") for token in pieces["tokens"][row].numpy()]
        starts = pieces["starts"][row].numpy()
        ends = pieces["ends"][row].numpy()
        tags = to_report_scheme([preprocessor.tag_names[i] for i in tag_ids[row][: len(tokens)]], train_scheme, "iob2")
        char_offsets = byte_to_char_offsets(text)
        entities = []
        for entity_type, first, last in get_entities(tags):
            start, end = char_offsets[starts[first]], char_offsets[ends[last]]
            entities.append({"type": entity_type, "start": start, "end": end, "text": text[start:end]})
        results.append({"text": text, "tokens": tokens, "tags": tags, "entities": entities})
    return results


# ----------------------------------------------------------------------------- the task


class NERTask(Task):
    name = "ner"
    accepts_artifacts = True
    preprocessor_class = NERPreprocessor
    monitor = "val_f1"
    output_formats = ("text", "json", "conll")
    evaluation_text_keys = ("report",)

    # ---------------------------------------------------------------- data and model

    def read_split(self, split: str):
        """The `datasets.Dataset` (tokens, tags in the data's own scheme) of one split."""
        data = self.config.data
        if data.hub_name:
            return load_conll_hub(
                data.hub_name, {"dev": "validation"}.get(split, split), config=data.hub_config or None,
                scheme=data.tag_scheme, target_scheme=data.tag_scheme,
            )
        name = getattr(data, split)
        if not name:
            raise ValueError(f"data.{split}: no file given for the {split} split")
        path = resolve_data_path(name, resolve_data_dir(data.data_dir))
        entity_types = [*data.entity_types, *data.extra_entity_types] if data.entity_types else None
        return read_conll(
            path, token_column=data.token_column, tag_column=data.tag_column, scheme=data.tag_scheme,
            target_scheme=data.tag_scheme, entity_types=entity_types,
        )

    def gold_tags(self, dataset, scheme: str) -> list[list[str]]:
        return [convert_tags(tags, self.config.data.tag_scheme, scheme) for tags in column(dataset, "tags")]

    def build_preprocessor(self, train_data) -> NERPreprocessor:
        text = self.config.text
        tokens, tags = column(train_data, "tokens"), self.gold_tags(train_data, self.config.model.train_tag_scheme)
        if self.artifact is not None:
            return NERPreprocessor.from_artifact(
                self.artifact, tokens, tags, new_words=self.config.model.encoder.new_word_embeddings,
                max_vocabulary_size=text.max_vocabulary_size, min_frequency=text.min_frequency,
            )
        return NERPreprocessor.from_training_data(
            tokens, tags, lowercase=text.lowercase, max_chars_per_token=text.max_chars_per_token,
            max_vocabulary_size=text.max_vocabulary_size, min_frequency=text.min_frequency,
        )

    def encoder_vocabulary(self, preprocessor) -> list:
        return preprocessor.vocabulary

    def prepare_training(self, preprocessor, train_data, dev_data) -> TrainingInputs:
        model_config = self.config.model
        features = encode_examples(preprocessor, column(train_data, "tokens"), self.gold_tags(train_data, model_config.train_tag_scheme))
        batches = bucketed_batches(self.config.train, features, "token_ids", shuffle=True).map(split_inputs_and_labels)
        if model_config.unknown_word_dropout > 0:
            batches = add_word_dropout(batches, model_config.unknown_word_dropout, self.config.train.seed, key="token_ids")
        dev_f1 = EntityF1Callback(
            preprocessor, encode_examples(preprocessor, column(dev_data, "tokens")),
            self.gold_tags(dev_data, model_config.report_tag_scheme), model_config.train_tag_scheme, model_config.report_tag_scheme,
        )
        facts = {"train_sentences": len(train_data), "train_tokens": int(features["token_ids"].row_lengths().numpy().sum())}
        return TrainingInputs(batches.prefetch(tf.data.AUTOTUNE), callbacks=[dev_f1], facts=facts)

    def build_model(self, preprocessor) -> SequenceTagger:
        model_config = self.config.model
        encoder = build_encoder(
            model_config.encoder,
            vocabulary_size=len(preprocessor.vocabulary),
            # The character lookup adds ids 0 (padding) and 1 (unknown) to the alphabet.
            char_alphabet_size=len(preprocessor.alphabet) + 2,
            case_vocabulary_size=CASE_VOCABULARY_SIZE,
        )
        constraints = {}
        if model_config.use_crf:
            allowed, allowed_start, allowed_end = allowed_transitions(preprocessor.tag_names, model_config.train_tag_scheme)
            constraints = {"allowed_transitions": allowed, "allowed_start": allowed_start, "allowed_end": allowed_end}
        return SequenceTagger(
            encoder, num_tags=len(preprocessor.tag_names), use_crf=model_config.use_crf, dropout=model_config.dropout, **constraints
        )

    def build_variables(self, model) -> None:
        model.build({"token_ids": (None, None), "char_ids": (None, None, self.config.text.max_chars_per_token), "case_ids": (None, None)})

    def training_summary(self, history, seconds, inputs, preprocessor) -> dict:
        dev_f1 = history.history.get("val_f1", [])
        return {
            **inputs.facts,
            "best_dev_f1": max(dev_f1, default=0.0),
            "dev_f1_per_epoch": dev_f1,
            # Includes the per-epoch dev decoding, as a user's training run does.
            "tokens_per_s": inputs.facts["train_tokens"] * len(history.epoch) / seconds,
        }

    # ---------------------------------------------------------------- inference

    def evaluate_run(self, run, split: str, **options) -> dict:
        data = self.read_split(split)
        report_scheme = self.config.model.report_tag_scheme
        features = encode_examples(run.preprocessor, column(data, "tokens"))
        predicted = predicted_tags(run.model, run.preprocessor, features, run.config.model.train_tag_scheme, report_scheme)
        scores = entity_scores(self.gold_tags(data, report_scheme), predicted, report_scheme)
        print(scores["report"])
        print(f"{split}: entity F1 {scores['f1']:.2f} (seqeval strict, {report_scheme.upper()})")
        return scores

    def predict_run(self, run, texts: list[str], **options) -> list[dict]:
        return tag_texts(run.model, run.preprocessor, run.config.model.train_tag_scheme, texts)

    def format_prediction(self, result: dict, output_format: str) -> str:
        if output_format == "conll":
            return "\n".join(f"{token} {tag}" for token, tag in zip(result["tokens"], result["tags"])) + "\n"
        if output_format == "text":
            entities = ", ".join(f"{e['text']} [{e['type']} {e['start']}:{e['end']}]" for e in result["entities"]) or "(no entities)"
            return f"{result['text']}\n  -> {entities}"
        return super().format_prediction(result, output_format)

    # ---------------------------------------------------------------- export

    def export_info(self, run) -> dict:
        return {"tag_names": ner_export.report_tag_names(run.preprocessor.tag_names, run.config.model.train_tag_scheme)}

    def serving_module(self, run):
        module = ner_export.NERServingModule(
            run.model, run.preprocessor, self.export_info(run)["tag_names"], self.max_input_chars(run)
        )
        return module, {"serving_default": module.serving_default}

    def output_padding(self) -> dict:
        # As NERServingModule pads: "" for strings, -1 for offsets.
        strings = dict.fromkeys(("tokens", "tags", "entity_types", "entity_texts"), "")
        return {**strings, **dict.fromkeys(("token_starts", "token_ends", "entity_starts", "entity_ends"), -1)}

    def saved_model_checks(self) -> dict:
        return {"serving_default": ({"texts": np.array(ner_export.VERIFICATION_TEXTS, dtype=object)}, 1e-5)}

    def tflite_export(self, run) -> TFLiteExport:
        def inputs_for_text(text):
            return ner_export.sentence_features(run.preprocessor, text)

        inputs = inputs_for_text(ner_export.VERIFICATION_TEXTS[1])
        return TFLiteExport(ner_export.tflite_function(run.model), "model", inputs, inputs_for_text)

    def calibration_texts(self, limit: int) -> list[str]:
        return [" ".join(tokens) for tokens in limit_examples(self.read_split("train"), limit)["tokens"]]

    def tflite_check(self, quantization: str, expected: dict):
        # Quantized models are checked on their decisions (tag ids), which should survive quantization.
        return {"tag_ids": expected["tag_ids"]}, 0
