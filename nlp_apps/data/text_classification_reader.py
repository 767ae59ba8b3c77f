"""Reading labelled documents from CSV/TSV or JSON Lines files (plain or gzipped).

The files are parsed with Python's `csv` and `json` modules instead of
`datasets.load_dataset("csv"/"json")`. That builder reads `.gz` files fine,
but it fills a short CSV row with None instead of failing, turns cells such
as "NA" or "null" into None, guesses column types (labels 0/1 become
integers), reports JSON errors by 0-based row and only through a chained
`DatasetGenerationError`, and caches every file under ~/.cache. Here every
problem is reported as FILE:LINE and every value is kept as written.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any, Iterator, Sequence

import datasets

from nlp_apps.data.files import check_utf8, open_text

_FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl"}
# IMDB reviews reach ~14k characters; the csv module's default limit (131,072)
# is close enough to real long documents that it is raised.
_CSV_FIELD_SIZE_LIMIT = 1 << 24


def _file_format(path: str | os.PathLike, file_format: str | None) -> str:
    if file_format is not None:
        if file_format not in set(_FORMATS.values()):
            raise ValueError(f"file_format: expected one of csv, tsv, jsonl, got {file_format!r}")
        return file_format
    name = Path(path).name.lower()
    if name.endswith(".gz"):
        name = name[: -len(".gz")]
    suffix = Path(name).suffix
    if suffix not in _FORMATS:
        raise ValueError(
            f"{path}: cannot tell the format from the name; expected one of "
            f"{', '.join(_FORMATS)} (optionally + .gz), or pass file_format"
        )
    return _FORMATS[suffix]


def _missing_column_error(where: str, column: str, argument: str, present: Sequence[str]) -> ValueError:
    return ValueError(f"{where}: no column {column!r} ({argument}); columns present: {', '.join(present)}")


def _swallowed_record(row: list[str], delimiter: str, width: int, label_index: int, labels_seen: set) -> str | None:
    """The first line inside a multi-line field that reads as a whole record of its own, or None.

    A quote left open swallows the records after it into one field until
    some later quote closes it, and the file still parses: the rows it ate
    would be lost without a word. Such a line has the header's number of
    fields and a label already seen in the file; prose that merely spans
    lines (a review with line breaks) almost never has both.
    """
    for field in row:
        for line in field.split("\n")[1:]:
            line = line.rstrip("\r")
            cells = next(csv.reader([line], delimiter=delimiter), [])
            if len(cells) == width and cells[label_index] in labels_seen:
                return line
    return None


def _csv_records(
    path: str | os.PathLike, delimiter: str, wanted: list[tuple[str, str]], label_column: str | None = None
) -> Iterator[tuple[int, dict[str, str]]]:
    """Yields (first line of the record, {column: value}); blank lines are skipped.

    The header is checked for the `wanted` (column, argument) pairs before
    the first record, so a file with a header only still reports them. A
    quote never closed, or one that swallows later records (see
    `_swallowed_record`), is an error naming the line it opens on.
    """
    csv.field_size_limit(_CSV_FIELD_SIZE_LIMIT)
    labels_seen: set[str] = set()
    with open_text(path) as handle:
        # strict: a quote still open at the end of the file is an error, not a field running to the end.
        reader = csv.reader(handle, delimiter=delimiter, strict=True)
        header = None
        lines_read = 0
        while True:
            # A quoted field may span lines, so a record starts on the line
            # after the previous record ended, not at reader.line_num.
            record_line = lines_read + 1
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as error:
                if reader.line_num > record_line:
                    raise ValueError(
                        f"{path}:{record_line}: a quoted field opened on this line is not closed by line "
                        f"{reader.line_num} ({error}); close the quote or double the quote characters inside it"
                    ) from None
                raise ValueError(f"{path}:{reader.line_num}: not valid CSV: {error}") from None
            lines_read = reader.line_num
            if not row:
                continue
            if header is None:
                header = row
                for column, argument in wanted:
                    if column not in header:
                        raise _missing_column_error(str(path), column, argument, header)
                continue
            if len(row) != len(header):
                raise ValueError(f"{path}:{record_line}: expected {len(header)} fields, found {len(row)}")
            if label_column is not None:
                label_index = header.index(label_column)
                if lines_read > record_line:
                    swallowed = _swallowed_record(row, delimiter, len(header), label_index, labels_seen)
                    if swallowed is not None:
                        raise ValueError(
                            f"{path}:{record_line}: a quoted field opened on this line runs on to line {lines_read} and "
                            f"swallows {swallowed[:60]!r}, which reads as a record of its own: a quote left open? "
                            "(close it, or double the quote characters inside the field)"
                        )
                labels_seen.add(row[label_index])
            yield record_line, dict(zip(header, row))
        if header is None:
            raise ValueError(f"{path}: empty file, expected a header row")


def _jsonl_records(path: str | os.PathLike) -> Iterator[tuple[int, dict[str, Any]]]:
    with open_text(path) as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(
                    f"{path}:{line_number}: not valid JSON ({error.msg} at column {error.colno})"
                ) from None
            if not isinstance(record, dict):
                raise ValueError(f"{path}:{line_number}: expected a JSON object, found {type(record).__name__}")
            yield line_number, record


def _as_written(value: Any) -> str:
    # JSON scalars are rendered as JSON writes them (1, true), so a label
    # reads the same whether it came from a CSV or a JSON Lines file.
    return value if isinstance(value, str) else json.dumps(value)


def read_text_classification(
    path: str | os.PathLike,
    text_column: str = "text",
    label_column: str = "label",
    labels: Sequence[str | int] | None = None,
    keep_columns: Sequence[str] = (),
    sentence_separator: str = "\n",
    file_format: str | None = None,
) -> datasets.Dataset:
    """Reads a text classification file into a `datasets.Dataset`.

    Args:
        path: `.csv`, `.tsv` (with a header row) or `.jsonl`/`.json`/`.ndjson`
            (one JSON object per line), optionally gzipped (`.csv.gz`, ...).
        text_column: column or field holding the text. In JSON Lines it may
            hold a list of strings (review_polarity's `sentences`), which are
            joined with `sentence_separator`.
        label_column: column or field holding the label.
        labels: when given, the allowed labels, compared as written (so
            `[0, 1]` matches "0" and "1"); any other label is an error.
        keep_columns: further columns to copy unchanged (e.g. review_polarity's
            `fold` for `k_folds`).
        sentence_separator: joins a list-valued text.
        file_format: "csv", "tsv" or "jsonl" to override the name-based guess.

    Returns:
        Dataset with string columns `text` and `label` (labels as written;
        JSON numbers and booleans as JSON writes them, e.g. "1", "true"),
        plus `keep_columns`, one row per record in file order.

    Raises:
        ValueError: missing column (names file and column, lists the columns
            present); "FILE:LINE: unknown label 'x'" when `labels` is given;
            "FILE:LINE: expected N fields, found M"; invalid JSON; an empty
            or non-scalar label; a text that is not a string (or list of
            strings); bytes that are not UTF-8; no records; a CSV quote left
            open (never closed, or swallowing later records); every text
            empty. Some empty texts are accepted (the tasks give them a
            documented result).
    """
    file_format = _file_format(path, file_format)
    for column in keep_columns:
        if column in ("text", "label"):
            raise ValueError(f"keep_columns: {column!r} would clash with the returned {column!r} column")
    allowed = None if labels is None else {_as_written(label) for label in labels}
    wanted = [(text_column, "text_column"), (label_column, "label_column")]
    wanted += [(column, "keep_columns") for column in keep_columns]
    check_utf8(path)
    if file_format == "jsonl":
        records = _jsonl_records(path)
    else:
        records = _csv_records(path, "\t" if file_format == "tsv" else ",", wanted, label_column)
    columns: dict[str, list] = {"text": [], "label": [], **{column: [] for column in keep_columns}}
    for line_number, record in records:
        for column, argument in wanted:
            if column not in record:
                # Only JSON Lines gets here (CSV headers are checked up front);
                # its fields may change from line to line, hence the line.
                raise _missing_column_error(f"{path}:{line_number}", column, argument, list(record))
        text = record[text_column]
        if isinstance(text, list) and all(isinstance(part, str) for part in text):
            text = sentence_separator.join(text)
        if not isinstance(text, str):
            raise ValueError(
                f"{path}:{line_number}: column {text_column!r} holds {type(text).__name__}, "
                f"expected a string or a list of strings"
            )
        label = record[label_column]
        if label is None or isinstance(label, (list, dict)) or _as_written(label) == "":
            raise ValueError(f"{path}:{line_number}: empty or non-scalar label {label!r} in column {label_column!r}")
        label = _as_written(label)
        if allowed is not None and label not in allowed:
            raise ValueError(
                f"{path}:{line_number}: unknown label {label!r} in column {label_column!r}; "
                f"expected one of {', '.join(sorted(allowed))}"
            )
        columns["text"].append(text)
        columns["label"].append(label)
        for column in keep_columns:
            columns[column].append(record[column])
    if not columns["text"]:
        raise ValueError(f"{path}: no records found")
    if not any(text.strip() for text in columns["text"]):
        raise ValueError(
            f"{path}: every text in column {text_column!r} is empty ({len(columns['text'])} records); "
            "is text_column the column that holds the documents?"
        )
    return datasets.Dataset.from_dict(columns)
