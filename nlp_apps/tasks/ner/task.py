"""Named-entity recognition pipeline: train, evaluate, predict and export a BiLSTM-CRF tagger."""

import json
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from nlp_apps.config import PipelineConfig
from nlp_apps.data.batching import make_batches
from nlp_apps.data.columns import column, ragged_rows
from nlp_apps.data.conll_reader import load_conll_hub, read_conll
from nlp_apps.data.files import resolve_data_path
from nlp_apps.data.sample_data import resolve_data_dir
from nlp_apps.data.tag_schemes import convert_tags
from nlp_apps.encoders.registry import build_encoder
from nlp_apps.layers.crf_constraints import allowed_transitions
from nlp_apps.metrics.entity_scores import entity_scores
from nlp_apps.tasks.ner_preprocessor import NERPreprocessor
from nlp_apps.tasks.sequence_tagger import SequenceTagger
from nlp_apps.text.case_features import CASE_VOCABULARY_SIZE
from nlp_apps.text.char_lookup import build_alphabet
from nlp_apps.text.vocabulary import Vocabulary
from nlp_apps.training.callbacks import build_callbacks
from nlp_apps.training.distribution import get_strategy, set_precision_policy
from nlp_apps.training.fit import bucketed_batches, fit_timed
from nlp_apps.training.optimizers import build_optimizer
from nlp_apps.training.run_directory import prepare_run_dir, require_trained_model

ASSETS_DIR = "assets"
SPLITS = ("train", "dev", "test")


# ----------------------------------------------------------------------------- data


def read_split(config: PipelineConfig, split: str):
    """The `datasets.Dataset` (tokens, tags in the data's own scheme) of one split."""
    data = config.data
    if data.hub_name:
        return load_conll_hub(
            data.hub_name, {"dev": "validation"}.get(split, split), config=data.hub_config or None,
            scheme=data.tag_scheme, target_scheme=data.tag_scheme,
        )
    name = getattr(data, split)
    if not name:
        raise ValueError(f"data.{split}: no file given for the {split} split")
    path = resolve_data_path(name, resolve_data_dir(data.data_dir))
    return read_conll(
        path, token_column=data.token_column, tag_column=data.tag_column, scheme=data.tag_scheme, target_scheme=data.tag_scheme
    )


class TaggingAssets:
    """Vocabulary, alphabet and tag names of a trained tagger, saved beside it."""

    def __init__(self, vocabulary: Vocabulary, alphabet: list[str], tag_names: list[str]):
        self.vocabulary = vocabulary
        self.alphabet = alphabet
        self.tag_names = tag_names

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.vocabulary.save(folder / "vocabulary.txt")
        (folder / "alphabet.json").write_text(json.dumps(self.alphabet, ensure_ascii=False), encoding="utf-8")
        (folder / "tags.json").write_text(json.dumps(self.tag_names), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> "TaggingAssets":
        return cls(
            Vocabulary.load(folder / "vocabulary.txt"),
            json.loads((folder / "alphabet.json").read_text(encoding="utf-8")),
            json.loads((folder / "tags.json").read_text(encoding="utf-8")),
        )


def build_assets(config: PipelineConfig, train_tokens: list[list[str]], train_tags: list[list[str]]) -> TaggingAssets:
    probe = NERPreprocessor(["[PAD]", "[UNK]"], [], lowercase=config.text.lowercase)
    normalized = probe.normalize_words(ragged_rows(train_tokens)).to_list()
    words = [[token.decode("utf-8") for token in sentence] for sentence in normalized]
    vocabulary = Vocabulary.build(words, max_size=config.text.max_vocabulary_size, min_frequency=config.text.min_frequency)
    alphabet = build_alphabet([token for sentence in train_tokens for token in sentence])
    # "O" first, so that tag id 0 (what padding decodes to) is the harmless tag.
    tag_names = ["O"] + sorted({tag for sentence in train_tags for tag in sentence} - {"O"})
    return TaggingAssets(vocabulary, alphabet, tag_names)


def make_preprocessor(config: PipelineConfig, assets: TaggingAssets) -> NERPreprocessor:
    return NERPreprocessor(
        assets.vocabulary.tokens,
        assets.alphabet,
        lowercase=config.text.lowercase,
        max_chars_per_token=config.text.max_chars_per_token,
    )


def encode_examples(preprocessor: NERPreprocessor, tokens: list[list[str]], tags: list[list[str]] | None, tag_names: list[str]):
    """Features (ragged) for whole splits at once: one vectorized pass, not a loop per sentence."""
    features = preprocessor.features_from_tokens(ragged_rows(tokens))
    if tags is not None:
        tag_index = {name: index for index, name in enumerate(tag_names)}
        unknown = sorted({tag for sentence in tags for tag in sentence} - set(tag_index))
        if unknown:
            raise ValueError(f"tags not seen in training data: {', '.join(unknown)}")
        features["tags"] = ragged_rows([[tag_index[tag] for tag in sentence] for sentence in tags], dtype=tf.int32)
    return features


def split_inputs_and_labels(batch):
    labels = batch.pop("tags")
    return batch, labels


def replace_with_unknown(probability: float, seed: int):
    """A tf.data map that swaps real token ids for [UNK] (id 1) at random."""
    generator = tf.random.Generator.from_seed(seed)

    def replace(inputs, labels):
        token_ids = inputs["token_ids"]
        drop = (generator.uniform(tf.shape(token_ids)) < probability) & (token_ids > 1)
        return dict(inputs, token_ids=tf.where(drop, tf.ones_like(token_ids), token_ids)), labels

    return replace


def training_batches(config: PipelineConfig, features: dict, shuffle: bool):
    batches = bucketed_batches(config.train, features, "token_ids", shuffle)
    batches = batches.map(split_inputs_and_labels)
    if shuffle and config.model.unknown_word_dropout > 0:
        batches = batches.map(replace_with_unknown(config.model.unknown_word_dropout, config.train.seed))
    return batches.prefetch(tf.data.AUTOTUNE)


def ordered_batches(features: dict, batch_size: int):
    """Batches sorted by length (little padding) plus the order to undo the sort."""
    lengths = features["token_ids"].row_lengths().numpy()
    order = np.argsort(lengths, kind="stable")
    sorted_features = {key: tf.gather(value, order) for key, value in features.items() if key != "tags"}
    batches = make_batches(sorted_features, batch_size=batch_size, bucket_boundaries=None, shuffle=False, length_key="token_ids")
    return batches, order, lengths


# ----------------------------------------------------------------------------- model


def build_model(config: PipelineConfig, assets: TaggingAssets) -> SequenceTagger:
    encoder = build_encoder(
        config.model.encoder,
        vocabulary_size=len(assets.vocabulary),
        # The character lookup adds ids 0 (padding) and 1 (unknown) to the alphabet.
        char_alphabet_size=len(assets.alphabet) + 2,
        case_vocabulary_size=CASE_VOCABULARY_SIZE,
    )
    constraints = {}
    if config.model.use_crf:
        allowed, allowed_start, allowed_end = allowed_transitions(assets.tag_names, config.model.train_tag_scheme)
        constraints = {"allowed_transitions": allowed, "allowed_start": allowed_start, "allowed_end": allowed_end}
    return SequenceTagger(encoder, num_tags=len(assets.tag_names), use_crf=config.model.use_crf, dropout=config.model.dropout, **constraints)


def predict_tag_ids(model: SequenceTagger, features: dict, batch_size: int = 64) -> list[np.ndarray]:
    """Decoded tag ids per sentence, in the input order."""
    batches, order, lengths = ordered_batches(features, batch_size)
    decode = tf.function(model.decode, reduce_retracing=True)
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


class EntityF1Callback(keras.callbacks.Callback):
    """Adds `val_f1` (seqeval entity F1 on the dev set, report scheme) to the epoch logs.

    Listed before the checkpoint and early-stopping callbacks so they can monitor it.
    """

    def __init__(self, features, gold_tags, tag_names, train_scheme, report_scheme):
        super().__init__()
        self.features = features
        self.gold_tags = gold_tags
        self.tag_names = tag_names
        self.train_scheme = train_scheme
        self.report_scheme = report_scheme

    def on_epoch_end(self, epoch, logs=None):
        predicted = [
            to_report_scheme([self.tag_names[i] for i in ids], self.train_scheme, self.report_scheme)
            for ids in predict_tag_ids(self.model, self.features)
        ]
        scores = entity_scores(self.gold_tags, predicted, self.report_scheme)
        if logs is not None:
            logs["val_f1"] = scores["f1"]
        print(f"\nepoch {epoch + 1}: dev entity F1 {scores['f1']:.2f}")


def _limit(dataset, count):
    return dataset.select(range(min(count, len(dataset)))) if count > 0 else dataset


def train(config: PipelineConfig, resume: bool = False) -> dict:
    set_precision_policy(config.train)
    keras.utils.set_random_seed(config.train.seed)
    run_dir = prepare_run_dir(config, resume)
    train_data = _limit(read_split(config, "train"), config.data.max_train_examples)
    dev_data = read_split(config, "dev")
    train_scheme, report_scheme, data_scheme = config.model.train_tag_scheme, config.model.report_tag_scheme, config.data.tag_scheme
    train_tags = [convert_tags(tags, data_scheme, train_scheme) for tags in column(train_data, "tags")]
    assets_dir = run_dir / ASSETS_DIR
    if resume:
        assets = TaggingAssets.load(assets_dir)
    else:
        assets = build_assets(config, column(train_data, "tokens"), train_tags)
        assets.save(assets_dir)
    preprocessor = make_preprocessor(config, assets)
    train_features = encode_examples(preprocessor, column(train_data, "tokens"), train_tags, assets.tag_names)
    dev_features = encode_examples(preprocessor, column(dev_data, "tokens"), None, assets.tag_names)
    dev_gold = [convert_tags(tags, data_scheme, report_scheme) for tags in column(dev_data, "tags")]

    strategy = get_strategy(config.train.distribution_strategy)
    with strategy.scope():
        model = build_model(config, assets)
        # Built up front: BackupAndRestore needs the variables before fit() starts.
        model.build({"token_ids": (None, None), "char_ids": (None, None, config.text.max_chars_per_token), "case_ids": (None, None)})
        model.compile(optimizer=build_optimizer(config.train))
    callbacks = [EntityF1Callback(dev_features, dev_gold, assets.tag_names, train_scheme, report_scheme)]
    callbacks += build_callbacks(run_dir, config.train, resume, monitor="val_f1", mode="max")
    history, seconds = fit_timed(model, config.train, training_batches(config, train_features, shuffle=True), callbacks)
    train_tokens = int(train_features["token_ids"].row_lengths().numpy().sum())
    epochs_run = len(history.epoch)
    summary = {
        "train_seconds": seconds,
        "train_sentences": len(train_data),
        "train_tokens": train_tokens,
        "epochs_run": epochs_run,
        "best_dev_f1": max(history.history.get("val_f1", [0.0])),
        "dev_f1_per_epoch": history.history.get("val_f1", []),
        # Includes the per-epoch dev decoding, as a user's training run does.
        "tokens_per_s": train_tokens * epochs_run / seconds,
    }
    (run_dir / "train_summary.json").write_text(json.dumps(summary, indent=2))
    print(f"trained in {seconds:.1f} s; best model: {run_dir / 'best.keras'}")
    return summary


# ----------------------------------------------------------------------------- inference


def load_trained(config: PipelineConfig):
    model_path = require_trained_model(config)
    model = keras.saving.load_model(model_path)
    assets = TaggingAssets.load(config.run_dir() / ASSETS_DIR)
    return model, assets, make_preprocessor(config, assets)


def evaluate(config: PipelineConfig, split: str = "test") -> dict:
    model, assets, preprocessor = load_trained(config)
    data = read_split(config, split)
    features = encode_examples(preprocessor, column(data, "tokens"), None, assets.tag_names)
    report_scheme = config.model.report_tag_scheme
    gold = [convert_tags(tags, config.data.tag_scheme, report_scheme) for tags in column(data, "tags")]
    predicted = [
        to_report_scheme([assets.tag_names[i] for i in ids], config.model.train_tag_scheme, report_scheme)
        for ids in predict_tag_ids(model, features)
    ]
    scores = entity_scores(gold, predicted, report_scheme)
    print(scores["report"])
    print(f"{split}: entity F1 {scores['f1']:.2f} (seqeval strict, {report_scheme.upper()})")
    run_dir = config.run_dir()
    (run_dir / f"eval_{split}.json").write_text(json.dumps({key: value for key, value in scores.items() if key != "report"}, indent=2))
    (run_dir / f"eval_{split}_report.txt").write_text(scores["report"])
    return scores


def byte_to_char_offsets(text: str) -> list[int]:
    """Character offset of every byte offset of `text` (one pass, so long texts stay linear)."""
    offsets = []
    for index, character in enumerate(text):
        offsets.extend([index] * len(character.encode("utf-8")))
    offsets.append(len(text))
    return offsets


def tag_texts(model, assets: TaggingAssets, preprocessor: NERPreprocessor, config: PipelineConfig, texts: list[str]) -> list[dict]:
    """Tokens, report-scheme tags and entities (with character offsets) for raw texts."""
    from seqeval.metrics.sequence_labeling import get_entities

    pieces = preprocessor(tf.constant(texts, dtype=tf.string))
    # Compiled: eager Viterbi would run its time loop step by step in Python.
    decode = tf.function(model.decode, reduce_retracing=True)
    tag_ids = decode({key: pieces[key] for key in ("token_ids", "char_ids", "case_ids")}).numpy()
    results = []
    for row, text in enumerate(texts):
        tokens = [token.decode("utf-8") for token in pieces["tokens"][row].numpy()]
        starts = pieces["starts"][row].numpy()
        ends = pieces["ends"][row].numpy()
        tags = to_report_scheme(
            [assets.tag_names[i] for i in tag_ids[row][: len(tokens)]], config.model.train_tag_scheme, "iob2"
        )
        char_offsets = byte_to_char_offsets(text)
        entities = []
        for entity_type, first, last in get_entities(tags):
            start, end = char_offsets[starts[first]], char_offsets[ends[last]]
            entities.append({"type": entity_type, "start": start, "end": end, "text": text[start:end]})
        results.append({"text": text, "tokens": tokens, "tags": tags, "entities": entities})
    return results


def predict(config: PipelineConfig, texts: list[str], output_format: str = "text") -> list[dict]:
    model, assets, preprocessor = load_trained(config)
    results = tag_texts(model, assets, preprocessor, config, texts)
    for result in results:
        if output_format == "json":
            print(json.dumps(result, ensure_ascii=False))
        elif output_format == "conll":
            print("\n".join(f"{token} {tag}" for token, tag in zip(result["tokens"], result["tags"])) + "\n")
        else:
            entities = ", ".join(f"{e['text']} [{e['type']} {e['start']}:{e['end']}]" for e in result["entities"]) or "(no entities)"
            print(f"{result['text']}\n  -> {entities}")
    return results


def export(config: PipelineConfig) -> dict:
    from nlp_apps.tasks.ner_export import export_tagger

    model, assets, preprocessor = load_trained(config)
    return export_tagger(config, model, assets, preprocessor)
