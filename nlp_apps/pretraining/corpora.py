"""Pretraining text: the corpora named in `pretrain.corpora`, as tokenized documents.

Each source is a file (plain text, the text column of a CSV / JSONL file,
the token column of a CoNLL file) or a Hugging Face hub data set. Labels are
never read. Raw text is split into words by the same `WordTokenizer` the
tasks use on raw strings (with `<br />` markup as a line break, as the
sentiment preprocessor does), so the pretrained vocabulary sees the words a
task will look up; CoNLL tokens are taken as they are.

Pretraining must never read a test split: a file whose name contains "test"
(eng.testb, test.csv, wiki.test.tokens) or a hub split named "test..." is
refused with an error naming the corpus entry.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import tensorflow as tf

from nlp_apps.config import CorpusConfig, from_dict
from nlp_apps.data.files import check_utf8, open_text, resolve_data_path
from nlp_apps.data.sample_data import SAMPLE_PREFIX, resolve_data_dir
from nlp_apps.data.text_classification_reader import _csv_records, _file_format, _jsonl_records
from nlp_apps.tasks.sentiment.preprocessor import LINE_BREAK_MARKUP
from nlp_apps.text.word_tokenizer import WordTokenizer

# "tokens": text already split into words by spaces (PTB, WikiText-2), kept as it is.
FORMATS = ("text", "tokens", "csv", "jsonl", "conll")
# Raw text is tokenized this many lines per graph call.
TOKENIZE_CHUNK = 2000


@dataclasses.dataclass
class Corpus:
    """One source's documents (lists of word strings), split into training and held-out documents."""

    name: str
    train: list
    held_out: list
    weight: float

    def token_count(self, documents=None) -> int:
        """Words (word documents) or whitespace-separated words (text documents)."""
        documents = self.train if documents is None else documents
        return sum(len(document.split()) if isinstance(document, str) else len(document) for document in documents)

    def describe(self) -> dict:
        return {
            "source": self.name,
            "weight": self.weight,
            "documents": len(self.train) + len(self.held_out),
            "train_tokens": self.token_count(),
            "held_out_tokens": self.token_count(self.held_out),
        }


def corpus_configs(entries: list) -> list[CorpusConfig]:
    """`pretrain.corpora` entries as `CorpusConfig`s; an unknown key names the entry."""
    if not entries:
        raise ValueError("pretrain.corpora: name at least one text source (path or hub_name)")
    configs = []
    for index, entry in enumerate(entries):
        where = f"pretrain.corpora[{index}]"
        if isinstance(entry, str):
            entry = {"path": entry}
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: expected a mapping with path or hub_name, got {entry!r}")
        config = from_dict(CorpusConfig, entry, {f"{where}.{key}": where for key in entry}, f"{where}.")
        if bool(config.path) == bool(config.hub_name):
            raise ValueError(f"{where}: give exactly one of path and hub_name")
        if not config.weight > 0:
            raise ValueError(f"{where}.weight: expected a number > 0, got {config.weight!r}")
        if config.format and config.format not in FORMATS:
            raise ValueError(f"{where}.format: unknown {config.format!r}; choose one of {', '.join(FORMATS)}")
        _refuse_test_split(config, where)
        configs.append(config)
    return configs


def _refuse_test_split(config: CorpusConfig, where: str) -> None:
    if config.path and "test" in Path(config.path).name.lower():
        raise ValueError(
            f"{where}.path: {config.path} looks like a test split; pretraining never reads test data "
            "(name a training file)"
        )
    if config.hub_name and config.split.lower().startswith("test"):
        raise ValueError(f"{where}.split: {config.split!r} is a test split; pretraining never reads test data")


def source_path(config: CorpusConfig, data_dir: str) -> Path:
    """The file of a corpus entry: `sample:NAME/FILE` for bundled samples, else under the data directory."""
    if config.path.startswith(SAMPLE_PREFIX):
        folder, _, name = config.path.partition("/")
        return resolve_data_path(name, resolve_data_dir(folder))
    return resolve_data_path(config.path, resolve_data_dir(data_dir))


def _format_of(config: CorpusConfig, path: Path) -> str:
    if config.format:
        return config.format
    name = path.name.lower().removesuffix(".gz")
    if name.endswith((".conll", ".train", ".testa", ".bio", ".iob")):
        return "conll"
    if name.endswith((".csv", ".tsv", ".jsonl", ".json", ".ndjson")):
        return "jsonl" if not name.endswith((".csv", ".tsv")) else "csv"
    return "text"


def _conll_tokens(path: Path, column: int) -> list[list[str]]:
    """The token column of a CoNLL file, one list per sentence; `-DOCSTART-` lines are skipped."""
    check_utf8(path)
    sentences, current = [], []
    with open_text(path) as handle:
        for line_number, line in enumerate(handle, start=1):
            fields = line.split()
            if not fields:
                if current:
                    sentences.append(current)
                current = []
                continue
            if fields[0] == "-DOCSTART-":
                continue
            try:
                current.append(fields[column])
            except IndexError:
                raise ValueError(f"{path}:{line_number}: no column {column} (the line has {len(fields)})") from None
    if current:
        sentences.append(current)
    return sentences


def _table_texts(path: Path, column: str, file_format: str) -> list[str]:
    try:
        kind = _file_format(path, None)
    except ValueError:
        kind = file_format
    if kind in ("csv", "tsv"):
        records = _csv_records(path, "\t" if kind == "tsv" else ",", [(column, "column")])
        return [record[column] for _, record in records]
    texts = []
    for line_number, record in _jsonl_records(path):
        if column not in record:
            raise ValueError(f"{path}:{line_number}: no field {column!r} (column); fields: {', '.join(record)}")
        value = record[column]
        texts.append("\n".join(value) if isinstance(value, list) else str(value))
    return texts


def _text_lines(path: Path) -> list[str]:
    check_utf8(path)
    with open_text(path) as handle:
        return [line.strip() for line in handle if line.strip()]


def tokenize_texts(texts: list[str]) -> list[list[str]]:
    """Raw texts → word lists, by the tasks' `WordTokenizer` (`<br />` markup is whitespace)."""
    tokenizer = WordTokenizer()
    documents = []
    for start in range(0, len(texts), TOKENIZE_CHUNK):
        chunk = [re.sub(LINE_BREAK_MARKUP, "\n", text) for text in texts[start : start + TOKENIZE_CHUNK]]
        tokens = tokenizer(tf.constant(chunk, dtype=tf.string, shape=[len(chunk)]))["tokens"].to_list()
        documents.extend([token.decode("utf-8") for token in document] for document in tokens)
    return documents


def _raw(texts: list[str]) -> list[str]:
    """Texts for a subword model: markup line breaks become spaces, blank texts are dropped."""
    texts = [" ".join(re.sub(LINE_BREAK_MARKUP, " ", text).split()) for text in texts]
    return [text for text in texts if text]


def read_source(config: CorpusConfig, data_dir: str, words: bool = True) -> tuple[str, list]:
    """(a name for the card, the source's documents); empty documents are dropped.

    With `words`, documents are word lists (the tasks' word tokenizer, or the
    file's own tokens); without, whitespace-normalised strings for a subword
    model (CoNLL and pre-tokenized lines joined by spaces).
    """
    if config.hub_name:
        import datasets

        dataset = datasets.load_dataset(config.hub_name, config.hub_config or None, split=config.split)
        column = config.column or ("tokens" if "tokens" in dataset.column_names else "text")
        values = dataset[column]
        if values and isinstance(values[0], list):
            documents = values if words else [" ".join(value) for value in values]
        else:
            texts = [str(value) for value in values]
            documents = tokenize_texts(texts) if words else _raw(texts)
        name = f"hub:{config.hub_name}" + (f"/{config.hub_config}" if config.hub_config else "") + f"[{config.split}]"
    else:
        path = source_path(config, data_dir)
        file_format = _format_of(config, path)
        if file_format == "conll":
            documents = _conll_tokens(path, int(config.column or 0))
            documents = documents if words else [" ".join(sentence) for sentence in documents]
        elif file_format in ("csv", "jsonl"):
            texts = _table_texts(path, config.column or "text", file_format)
            documents = tokenize_texts(texts) if words else _raw(texts)
        elif file_format == "tokens":
            documents = [line.split() for line in _text_lines(path)] if words else _text_lines(path)
        else:
            documents = tokenize_texts(_text_lines(path)) if words else _raw(_text_lines(path))
        name = str(path)
    documents = [document for document in documents if document]
    if not documents:
        raise ValueError(f"{name}: no text found")
    return name, documents


def read_corpora(entries: list, data_dir: str, held_out_fraction: float, seed: int, words: bool = True) -> list[Corpus]:
    """Every configured source, with a seeded `held_out_fraction` of its documents held out (see `read_source`)."""
    if not 0.0 < held_out_fraction < 0.5:
        raise ValueError(f"pretrain.held_out_fraction: expected a fraction in (0, 0.5), got {held_out_fraction!r}")
    corpora = []
    for index, config in enumerate(corpus_configs(entries)):
        name, documents = read_source(config, data_dir, words=words)
        order = np.random.default_rng(seed + index).permutation(len(documents))
        held = max(1, int(round(held_out_fraction * len(documents))))
        if held >= len(documents):
            raise ValueError(f"{name}: {len(documents)} document(s) are too few to hold {held_out_fraction:.0%} out")
        held_out = [documents[i] for i in sorted(order[:held])]
        train = [documents[i] for i in sorted(order[held:])]
        corpora.append(Corpus(name, train, held_out, config.weight))
    return corpora


def weighted_documents(corpora: list[Corpus], seed: int) -> list[list[str]]:
    """The training documents of all corpora, each repeated by its weight (a seeded share for the fraction), shuffled."""
    rng = np.random.default_rng(seed)
    documents = []
    for corpus in corpora:
        whole, fraction = divmod(corpus.weight, 1.0)
        documents.extend(corpus.train * int(whole))
        if fraction > 0:
            keep = rng.random(len(corpus.train)) < fraction
            documents.extend(document for document, kept in zip(corpus.train, keep) if kept)
    order = rng.permutation(len(documents))
    return [documents[i] for i in order]
