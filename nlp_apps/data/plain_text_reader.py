"""Reading plain text for language modelling: lines, or one flat token stream."""

from __future__ import annotations

import os

import datasets

from nlp_apps.data.files import check_utf8, open_text

_FEATURES = datasets.Features({"text": datasets.Value("string")})


def read_plain_text(path: str | os.PathLike, keep_empty_lines: bool = False) -> datasets.Dataset:
    """Reads a text file into a `datasets.Dataset` with one row per line.

    Blank lines are dropped by default: for sentence-level language models
    (one sentence per example) they are separators, not examples. For the
    running-text convention of PTB/WikiText-2 use `read_token_stream`.

    Args:
        path: plain or gzipped UTF-8 file.
        keep_empty_lines: keep blank lines as empty rows.

    Returns:
        Dataset with one string column `text`; surrounding whitespace of each
        line is removed (PTB lines start and end with a space).

    Raises:
        ValueError: "FILE:LINE: not valid UTF-8 ..."; no (non-blank) lines.
    """
    check_utf8(path)
    with open_text(path) as handle:
        lines = [line.strip() for line in handle]
    if not keep_empty_lines:
        lines = [line for line in lines if line]
    if not lines:
        raise ValueError(f"{path}: no {'lines' if keep_empty_lines else 'non-blank lines'} found")
    return datasets.Dataset.from_dict({"text": lines}, features=_FEATURES)


def read_token_stream(path: str | os.PathLike, eos_token: str | None = "<eos>") -> list[str]:
    """Reads a whitespace-tokenized file as one flat list of tokens.

    This is the standard PTB / WikiText-2 convention: every line's tokens are
    followed by `eos_token`, blank lines included (they contribute a lone
    `<eos>`), which reproduces the published token counts (PTB train 929,589,
    WikiText-2 train 2,088,628).

    Args:
        path: plain or gzipped UTF-8 file, tokens separated by whitespace.
        eos_token: appended after each line; None appends nothing.

    Returns:
        list[str] of tokens in file order.

    Raises:
        ValueError: "FILE:LINE: not valid UTF-8 ..."; an empty file.
    """
    check_utf8(path)
    tokens: list[str] = []
    with open_text(path) as handle:
        for line in handle:
            tokens.extend(line.split())
            if eos_token is not None:
                tokens.append(eos_token)
    if not tokens:
        raise ValueError(f"{path}: no tokens found")
    return tokens
