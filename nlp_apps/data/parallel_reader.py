"""Reading sentence-aligned translation data: two parallel files, or one TSV file.

Lines are read directly rather than through `datasets.load_dataset("text")`:
that builder reports neither which line is empty nor where two files stop
being aligned, and it writes a cache under ~/.cache for every file.
"""

from __future__ import annotations

import os

import datasets

from nlp_apps.data.files import check_utf8, open_text

_FEATURES = datasets.Features({"source": datasets.Value("string"), "target": datasets.Value("string")})


def _read_lines(path: str | os.PathLike) -> list[str]:
    check_utf8(path)
    with open_text(path) as handle:
        return [line.strip() for line in handle]


def _check_not_empty(path: str | os.PathLike, line_number: int, side: str, text: str) -> None:
    if not text:
        raise ValueError(f"{path}:{line_number}: empty {side} sentence")


def read_parallel(source_path: str | os.PathLike, target_path: str | os.PathLike) -> datasets.Dataset:
    """Reads two line-aligned files (line i of one translates line i of the other).

    Args:
        source_path, target_path: plain or gzipped UTF-8 files, one sentence
            per line (e.g. Multi30k's `train.en` and `train.de`).

    Returns:
        Dataset with string columns `source` and `target`; surrounding
        whitespace of each line is removed.

    Raises:
        ValueError: the files have different line counts (the message names
            both files and both counts); "FILE:LINE: empty source/target
            sentence"; bytes that are not UTF-8 (FILE:LINE); no lines at all.
    """
    sources = _read_lines(source_path)
    targets = _read_lines(target_path)
    if len(sources) != len(targets):
        raise ValueError(
            f"parallel files are not aligned: {source_path} has {len(sources)} lines "
            f"but {target_path} has {len(targets)} lines"
        )
    if not sources:
        raise ValueError(f"{source_path}: no lines found")
    for line_number, (source, target) in enumerate(zip(sources, targets), start=1):
        _check_not_empty(source_path, line_number, "source", source)
        _check_not_empty(target_path, line_number, "target", target)
    return datasets.Dataset.from_dict({"source": sources, "target": targets}, features=_FEATURES)


def read_parallel_tsv(
    path: str | os.PathLike, source_column: int = 0, target_column: int = 1
) -> datasets.Dataset:
    """Reads tab-separated sentence pairs, e.g. spa-eng's `spa.txt.gz` (english<TAB>spanish).

    Args:
        path: plain or gzipped UTF-8 file, one pair per line; further columns
            (such as newer manythings.org attribution columns) are ignored.
        source_column, target_column: 0-based column indices.

    Returns:
        Dataset with string columns `source` and `target`; surrounding
        whitespace of each field is removed.

    Raises:
        ValueError: negative or equal column indices; "FILE:LINE: expected at
            least N tab-separated columns, found M"; "FILE:LINE: empty source/
            target sentence"; bytes that are not UTF-8; no lines at all.
    """
    for name, index in (("source_column", source_column), ("target_column", target_column)):
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            raise ValueError(f"{name}: expected a column index >= 0, got {index!r}")
    if source_column == target_column:
        raise ValueError(f"source_column and target_column are both {source_column}")
    needed = max(source_column, target_column) + 1
    check_utf8(path)
    sources, targets = [], []
    with open_text(path) as handle:
        for line_number, line in enumerate(handle, start=1):
            columns = line.rstrip("\r\n").split("\t")
            if len(columns) < needed:
                raise ValueError(
                    f"{path}:{line_number}: expected at least {needed} tab-separated columns, found {len(columns)}"
                )
            source, target = columns[source_column].strip(), columns[target_column].strip()
            _check_not_empty(path, line_number, "source", source)
            _check_not_empty(path, line_number, "target", target)
            sources.append(source)
            targets.append(target)
    if not sources:
        raise ValueError(f"{path}: no lines found")
    return datasets.Dataset.from_dict({"source": sources, "target": targets}, features=_FEATURES)
