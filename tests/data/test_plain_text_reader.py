import re

import pytest

from nlp_apps.data.plain_text_reader import read_plain_text, read_token_stream

# WikiText-2 shape: blank lines holding one space, headings, running text.
WIKI = " \n = Title = \n \n the cat sat . \n"


def test_read_plain_text_drops_blank_lines_and_strips(write_file):
    dataset = read_plain_text(write_file("wiki.valid.tokens", WIKI))
    assert dataset.column_names == ["text"]
    assert dataset["text"] == ["= Title =", "the cat sat ."]


def test_read_plain_text_keep_empty_lines(write_file):
    dataset = read_plain_text(write_file("wiki.valid.tokens", WIKI), keep_empty_lines=True)
    assert dataset["text"] == ["", "= Title =", "", "the cat sat ."]


def test_read_token_stream_adds_eos_after_every_line(write_file):
    # Blank lines contribute a lone <eos>: the convention behind the published counts.
    for name in ("wiki.train.tokens", "wiki.train.tokens.gz"):
        tokens = read_token_stream(write_file(name, WIKI))
        assert tokens == ["<eos>", "=", "Title", "=", "<eos>", "<eos>", "the", "cat", "sat", ".", "<eos>"]
    assert read_token_stream(write_file("ptb.txt", " a b \n c \n"), eos_token=None) == ["a", "b", "c"]


def test_not_utf8_names_file_and_line(write_file):
    path = write_file("bad.txt", b"fine\nok\n\x80oops\n")
    for reader in (read_plain_text, read_token_stream):
        with pytest.raises(ValueError, match=re.escape(f"{path}:3: not valid UTF-8 (byte 0x80 at column 1)")):
            reader(path)


def test_empty_file(write_file):
    with pytest.raises(ValueError, match="no non-blank lines"):
        read_plain_text(write_file("blank.txt", "\n \n"))


def test_sample_data(sample_data_dir):
    path = sample_data_dir / "lm_sample" / "train.txt"
    lines = path.read_text(encoding="utf-8").splitlines()
    tokens = read_token_stream(path)
    assert len(tokens) == sum(len(line.split()) for line in lines) + len(lines)
    assert tokens.count("<eos>") == len(lines) == 300
    # PTB style: lower case, numbers replaced by "N".
    assert all(token == token.lower() or token == "N" for token in tokens)
    assert read_plain_text(path).num_rows == 300
