"""Reading CoNLL-style token-per-line files (and CoNLL sets from the Hugging Face hub).

Format: one token per line, whitespace-separated columns (CoNLL-2003 has
word, POS, chunk, NER), a blank line between sentences, and `-DOCSTART-`
lines between documents.
"""

from __future__ import annotations

import os
import re

import datasets

from nlp_apps.data.files import check_utf8, open_text
from nlp_apps.data.tag_schemes import convert_tags, first_tag_error, normalize_scheme

DOCUMENT_START = "-DOCSTART-"
# Columns are separated by spaces or tabs only: str.split() would also split
# on Unicode spaces (e.g. U+00A0) that can occur inside a token.
_COLUMN_SEPARATOR = re.compile(r"[ \t]+")

_FEATURES = datasets.Features(
    {"tokens": datasets.List(datasets.Value("string")), "tags": datasets.List(datasets.Value("string"))}
)


def _check_schemes(scheme: str, target_scheme: str | None) -> None:
    # convert_tags checks schemes too, but only once a sentence is read; an
    # argument error should not depend on the file's contents.
    normalize_scheme(scheme, "scheme")
    if target_scheme is not None:
        normalize_scheme(target_scheme, "target_scheme")


def read_conll(
    path: str | os.PathLike,
    token_column: int = 0,
    tag_column: int = -1,
    scheme: str = "iob1",
    target_scheme: str | None = "iob2",
    entity_types=None,
) -> datasets.Dataset:
    """Reads a CoNLL file into a `datasets.Dataset` of sentences.

    Args:
        path: plain or gzipped UTF-8 file.
        token_column: index of the token column (negative counts from the end).
        tag_column: index of the tag column; -1 is the last column.
        scheme: tag scheme written in the file ("iob1" for raw CoNLL-2003).
        target_scheme: scheme of the returned tags; None keeps `scheme`.

    Returns:
        Dataset with columns `tokens` (list[str]) and `tags` (list[str]), one
        row per sentence, in file order.

    Raises:
        ValueError, with "FILE:LINE: ..." (1-based line): bytes that are not
            UTF-8; a line whose column count differs from the first data line
            ("expected N columns, found M"); a column index out of range; a
            tag that is malformed or invalid in `scheme` (the line is that
            tag's line); an entity type not in `entity_types`. Also when the
            file holds no sentence.
    """
    _check_schemes(scheme, target_scheme)
    allowed_types = None if entity_types is None else {str(name) for name in entity_types}
    check_utf8(path)
    sentences_tokens: list[list[str]] = []
    sentences_tags: list[list[str]] = []
    num_columns = None
    tokens: list[str] = []
    tags: list[str] = []
    first_line = 0

    def finish_sentence() -> None:
        if not tokens:
            return
        error = first_tag_error(tags, scheme)
        if error is not None:
            position, message = error
            raise ValueError(f"{path}:{first_line + position}: {message} (tag scheme {scheme})")
        sentences_tokens.append(list(tokens))
        sentences_tags.append(convert_tags(tags, scheme, target_scheme) if target_scheme else list(tags))
        tokens.clear()
        tags.clear()

    with open_text(path) as handle:
        for line_number, line in enumerate(handle, start=1):
            stripped = line.strip(" \t\r\n")
            columns = _COLUMN_SEPARATOR.split(stripped) if stripped else []
            if not columns or columns[0] == DOCUMENT_START:
                finish_sentence()
                continue
            if num_columns is None:
                num_columns = len(columns)
                for name, index in (("token_column", token_column), ("tag_column", tag_column)):
                    if not -num_columns <= index < num_columns:
                        raise ValueError(
                            f"{path}:{line_number}: {name}={index} is out of range for a line with {num_columns} columns"
                        )
            elif len(columns) != num_columns:
                raise ValueError(f"{path}:{line_number}: expected {num_columns} columns, found {len(columns)}")
            if not tokens:
                # Sentence lines are consecutive, so a tag's line is first_line + position.
                first_line = line_number
            tokens.append(columns[token_column])
            tag = columns[tag_column]
            if allowed_types is not None and "-" in tag and tag.split("-", 1)[1] not in allowed_types:
                raise ValueError(
                    f"{path}:{line_number}: unknown entity type {tag.split('-', 1)[1]!r} in tag {tag!r}; known types: "
                    f"{', '.join(sorted(allowed_types))} (list further types in data.extra_entity_types, or all of "
                    "them in data.entity_types)"
                )
            tags.append(tag)
        finish_sentence()
    if not sentences_tokens:
        raise ValueError(f"{path}: no sentences found")
    return datasets.Dataset.from_dict({"tokens": sentences_tokens, "tags": sentences_tags}, features=_FEATURES)


def load_conll_hub(
    name: str,
    split: str,
    config: str | None = None,
    tokens_field: str = "tokens",
    tags_field: str = "ner_tags",
    scheme: str = "iob2",
    target_scheme: str | None = "iob2",
) -> datasets.Dataset:
    """Loads a token-classification set from the Hugging Face hub (needs network).

    Args:
        name: hub data set id, e.g. "conll2003" or "eriktks/conll2003".
        split: "train", "validation" or "test" (whatever the set provides).
        config: optional hub configuration name.
        tokens_field / tags_field: fields holding tokens and tags. Integer tags
            are mapped to names with the `ClassLabel` in the data set features.
        scheme: scheme of the hub tags (the hub's CoNLL-2003 uses IOB2).
        target_scheme: scheme of the returned tags; None keeps `scheme`.

    Returns:
        Dataset with columns `tokens` and `tags` (list[str]), as `read_conll`.

    Raises:
        ValueError: bad arguments, a missing field, or integer tags without
            class names. Network and hub errors propagate from `datasets`.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"name: expected a hub data set id such as 'conll2003', got {name!r}")
    if not isinstance(split, str) or not split.strip():
        raise ValueError(f"split: expected a split name such as 'train', got {split!r}")
    if config is not None and not isinstance(config, str):
        raise ValueError(f"config: expected a configuration name or None, got {config!r}")
    _check_schemes(scheme, target_scheme)

    hub_dataset = datasets.load_dataset(name, config, split=split)
    for field_name in (tokens_field, tags_field):
        if field_name not in hub_dataset.column_names:
            raise ValueError(
                f"{name} ({split}): no field {field_name!r}; fields present: {', '.join(hub_dataset.column_names)}"
            )
    tag_feature = getattr(hub_dataset.features[tags_field], "feature", None)
    tag_names = getattr(tag_feature, "names", None)

    def to_names(example: dict) -> dict:
        tags = example[tags_field]
        if tags and not isinstance(tags[0], str):
            if tag_names is None:
                raise ValueError(f"{name} ({split}): field {tags_field!r} holds integers but no ClassLabel names")
            tags = [tag_names[index] for index in tags]
        tags = convert_tags(tags, scheme, target_scheme) if target_scheme else list(tags)
        return {"tokens": list(example[tokens_field]), "tags": tags}

    return hub_dataset.map(to_names, remove_columns=hub_dataset.column_names, features=_FEATURES)
