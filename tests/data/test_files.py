import gzip
import re

import pytest

from nlp_apps.data import files
from nlp_apps.data.files import check_utf8, open_text, resolve_data_path


def test_resolve_against_data_dir(tmp_path, write_file):
    path = write_file("ptb/ptb.valid.txt", "a b\n")
    assert resolve_data_path("ptb/ptb.valid.txt", tmp_path) == path


def test_resolve_against_environment_variable(tmp_path, write_file, monkeypatch):
    path = write_file("corpus.txt", "a\n")
    monkeypatch.setenv("NLP_APPS_DATA", str(tmp_path))
    assert resolve_data_path("corpus.txt") == path
    # An empty data_dir (the DataConfig default) also falls back to the variable.
    assert resolve_data_path("corpus.txt", data_dir="") == path


def test_resolve_against_current_directory(tmp_path, write_file, monkeypatch):
    path = write_file("corpus.txt", "a\n")
    monkeypatch.delenv("NLP_APPS_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    assert resolve_data_path("corpus.txt").resolve() == path.resolve()


def test_resolve_accepts_gz_either_way(tmp_path, write_file):
    gzipped = write_file("ptb.train.txt.gz", "a\n")
    plain = write_file("valid.txt", "a\n")
    assert resolve_data_path("ptb.train.txt", tmp_path) == gzipped
    assert resolve_data_path("valid.txt.gz", tmp_path) == plain


def test_resolve_absolute_path(write_file):
    path = write_file("x.txt", "a\n")
    assert resolve_data_path(str(path), data_dir="/nonexistent") == path


def test_resolve_missing_lists_where_it_looked(tmp_path):
    with pytest.raises(ValueError) as error:
        resolve_data_path("missing.txt", tmp_path)
    message = str(error.value)
    assert str(tmp_path / "missing.txt") in message
    assert str(tmp_path / "missing.txt.gz") in message


def test_resolve_empty_name():
    with pytest.raises(ValueError, match="empty"):
        resolve_data_path("")


def test_open_text_plain_gz_and_bom(write_file):
    plain = write_file("a.txt", "één\ntwee\n")
    gzipped = write_file("a.txt.gz", "één\ntwee\n")
    # A gzipped file without the .gz suffix is detected from its magic bytes.
    disguised = write_file("b.txt", gzip.compress("één\n".encode()))
    with_bom = write_file("bom.csv", "\ufeffid,text\n")
    for path in (plain, gzipped):
        with open_text(path) as handle:
            assert handle.read() == "één\ntwee\n"
    with open_text(disguised) as handle:
        assert handle.read() == "één\n"
    with open_text(with_bom) as handle:
        assert handle.readline() == "id,text\n"


def test_open_text_missing_file(tmp_path):
    with pytest.raises(ValueError, match="no such file"):
        open_text(tmp_path / "nope.txt")


def test_check_utf8_accepts_valid(write_file):
    check_utf8(write_file("ok.txt", "Grüße 戦場\n"))


@pytest.mark.parametrize("name", ["bad.txt", "bad.txt.gz"])
def test_check_utf8_names_line_and_column(write_file, name):
    # Line 3: two characters (one of them two bytes long), then the bad byte.
    path = write_file(name, b"ok\nfine\n\xc3\xa9x\xff rest\n")
    with pytest.raises(ValueError, match=re.escape(f"{path}:3: not valid UTF-8 (byte 0xff at column 3)")):
        check_utf8(path)


def test_check_utf8_counts_lines_across_chunks(write_file, monkeypatch):
    monkeypatch.setattr(files, "_CHECK_CHUNK_BYTES", 8)
    path = write_file("bad.txt", b"line one\nline two\nline three\n\xfe\n")
    with pytest.raises(ValueError, match=re.escape(f"{path}:4: not valid UTF-8 (byte 0xfe at column 1)")):
        check_utf8(path)
