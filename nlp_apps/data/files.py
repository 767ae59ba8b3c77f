"""Finding and opening data files: plain or gzipped, always UTF-8.

The shared data sets gzip every file larger than 5 MB and keep the original
name plus `.gz`, so a config may name `ptb.train.txt` while the disk holds
`ptb.train.txt.gz`. These helpers hide that difference from the readers.
"""

from __future__ import annotations

import gzip
import io
import os
from pathlib import Path
from typing import BinaryIO, TextIO

DATA_DIR_ENVIRONMENT_VARIABLE = "NLP_APPS_DATA"

_GZIP_MAGIC = b"\x1f\x8b"
# check_utf8 decodes this many bytes of whole lines at once: fast for big
# files while keeping memory bounded.
_CHECK_CHUNK_BYTES = 1 << 22


def resolve_data_path(name: str | os.PathLike, data_dir: str | os.PathLike | None = None) -> Path:
    """Finds a data file (or folder) by name.

    Args:
        name: absolute path, or path relative to the data directory.
        data_dir: the data directory. When empty or None, the `NLP_APPS_DATA`
            environment variable is used, and when that is unset too, the
            current working directory.

    Returns:
        The existing path. If `name` does not exist but `name + ".gz"` does
        (or `name` ends in `.gz` and only the uncompressed file exists), that
        file is returned instead.

    Raises:
        ValueError: nothing exists under any of the candidate names; the
            message lists every path that was tried.
    """
    if name is None or str(name).strip() == "":
        raise ValueError("resolve_data_path: the file name is empty")
    path = Path(name).expanduser()
    if path.is_absolute():
        base = None
        where = "an absolute path"
    else:
        data_dir = data_dir or os.environ.get(DATA_DIR_ENVIRONMENT_VARIABLE, "")
        if data_dir:
            base = Path(data_dir).expanduser()
            where = f"data_dir {base}"
        else:
            base = Path.cwd()
            where = (
                f"the current directory {base} (neither data_dir nor the "
                f"{DATA_DIR_ENVIRONMENT_VARIABLE} environment variable is set)"
            )
        path = base / path
    candidates = [path]
    if path.suffix == ".gz":
        candidates.append(path.with_suffix(""))
    else:
        candidates.append(path.with_name(path.name + ".gz"))
    for candidate in candidates:
        if candidate.exists():
            return candidate
    tried = ", ".join(str(candidate) for candidate in candidates)
    raise ValueError(f"data file {str(name)!r} not found relative to {where}; tried: {tried}")


def _open_binary(path: str | os.PathLike) -> BinaryIO:
    """Opens `path` for reading bytes, decompressing it if it is gzipped."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path}: is a directory, expected a data file")
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    # The gzip magic number, not the suffix, decides: some copies of data
    # sets are gzipped without a `.gz` name, or named `.gz` but plain.
    with open(path, "rb") as handle:
        is_gzip = handle.read(2) == _GZIP_MAGIC
    return _NamedGzipFile(path) if is_gzip else open(path, "rb")


class _NamedGzipFile(gzip.GzipFile):
    """A gzip reader whose errors name the file: a truncated download raised a bare `EOFError`."""

    def __init__(self, path: Path):
        super().__init__(filename=str(path), mode="rb")
        self.path = path


def _naming_the_file(method_name: str):
    method = getattr(gzip.GzipFile, method_name)

    def read(self, *arguments):
        try:
            return method(self, *arguments)
        except EOFError:
            raise ValueError(f"{self.path}: the compressed file ends early (truncated download or copy?)") from None
        except (gzip.BadGzipFile, OSError) as error:
            raise ValueError(f"{self.path}: not a readable gzip file ({error})") from None

    read.__name__ = method_name
    return read


for _method_name in ("read", "read1", "readinto", "readinto1", "readline", "peek"):
    setattr(_NamedGzipFile, _method_name, _naming_the_file(_method_name))


def open_text(path: str | os.PathLike) -> TextIO:
    """Opens a plain or gzipped file as UTF-8 text for reading.

    Lines are split on `\\n` only and are not translated, so line numbers
    agree with `check_utf8`, `wc -l` and editors; a CRLF file's lines keep
    their `\\r`, which the readers strip. A leading byte-order mark is dropped
    (spreadsheet programs write one before CSV headers).

    Args:
        path: file path; gzip is detected from the file's first bytes.

    Returns:
        A text file object; use it as a context manager.

    Raises:
        ValueError: the file does not exist. Decoding errors surface as
            `UnicodeDecodeError` while reading; call `check_utf8` first to get
            a message with the line and column.
    """
    return io.TextIOWrapper(_open_binary(path), encoding="utf-8-sig", newline="\n")


def check_utf8(path: str | os.PathLike) -> None:
    """Raises a ValueError naming the first byte that is not valid UTF-8.

    Args:
        path: plain or gzipped file.

    Raises:
        ValueError: `"FILE:LINE: not valid UTF-8 (byte 0xNN at column N)"`,
            with the line and the column (in characters, counting the valid
            characters before the bad byte) both 1-based.
    """
    first_line_of_chunk = 1
    with _open_binary(path) as handle:
        while True:
            # readlines(hint) returns whole lines, so no multi-byte character
            # is ever cut between two chunks.
            lines = handle.readlines(_CHECK_CHUNK_BYTES)
            if not lines:
                return
            chunk = b"".join(lines)
            try:
                chunk.decode("utf-8")
            except UnicodeDecodeError as error:
                line_start = chunk.rfind(b"\n", 0, error.start) + 1
                line_number = first_line_of_chunk + chunk.count(b"\n", 0, error.start)
                # The bytes before the error on this line are valid UTF-8.
                column = len(chunk[line_start : error.start].decode("utf-8")) + 1
                bad_byte = chunk[error.start]
                raise ValueError(
                    f"{path}:{line_number}: not valid UTF-8 (byte 0x{bad_byte:02x} at column {column})"
                ) from None
            first_line_of_chunk += len(lines)
