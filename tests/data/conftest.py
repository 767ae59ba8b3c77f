"""Helpers for the data-layer tests: tiny files written into tmp_path."""

import gzip
from pathlib import Path

import pytest

import nlp_apps

SAMPLE_DATA = Path(nlp_apps.__file__).resolve().parent / "sample_data"


@pytest.fixture
def write_file(tmp_path):
    """Returns write(name, content): writes str (UTF-8) or bytes, gzipped when name ends in .gz."""

    def write(name: str, content) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        data = content.encode("utf-8") if isinstance(content, str) else content
        if name.endswith(".gz"):
            data = gzip.compress(data, mtime=0)
        path.write_bytes(data)
        return path

    return write


@pytest.fixture
def sample_data_dir() -> Path:
    """The committed synthetic sample data (nlp_apps/sample_data)."""
    return SAMPLE_DATA
