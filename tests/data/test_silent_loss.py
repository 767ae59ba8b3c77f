"""Readers never lose data silently: each of these used to train on part of the file, or fail without the file's name."""

import gzip

import pytest

from nlp_apps.data.conll_reader import read_conll
from nlp_apps.data.files import check_utf8, open_text
from nlp_apps.data.text_classification_reader import read_text_classification


def _reviews(count=300):
    return [f"review {index} is fine,{'pos' if index % 2 else 'neg'}" for index in range(1, count + 1)]


def _csv_with_an_open_quote(tmp_path, closed_on_row=None):
    """300 reviews whose 30th (line 31, after the header) opens a quote, closed on `closed_on_row` or never."""
    rows = _reviews()
    rows[29] = '"review 30 opens a quote,neg'
    if closed_on_row is not None:
        rows[closed_on_row - 1] = f'review {closed_on_row} closes it",pos'
    path = tmp_path / "train.csv"
    path.write_text("text,label\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_a_quote_left_open_that_a_later_quote_closes_is_an_error_naming_its_line(tmp_path):
    path = _csv_with_an_open_quote(tmp_path, closed_on_row=121)
    with pytest.raises(ValueError, match=r"train.csv:31: a quoted field opened on this line runs on to line 122 and swallows 'review 31"):
        read_text_classification(path)


def test_a_quote_never_closed_is_an_error_naming_its_line(tmp_path):
    with pytest.raises(ValueError, match=r"train.csv:31: a quoted field opened on this line is not closed by line 301"):
        read_text_classification(_csv_with_an_open_quote(tmp_path))


def test_a_legitimate_multi_line_text_with_commas_is_kept(tmp_path):
    path = tmp_path / "train.csv"
    path.write_text('text,label\ngood,pos\n"First line, with a comma\nSecond, also\nthird",neg\nbad,neg\n', encoding="utf-8")
    data = read_text_classification(path)
    assert data["text"][1] == "First line, with a comma\nSecond, also\nthird" and len(data) == 3


def test_a_file_whose_texts_are_all_empty_is_an_error(tmp_path):
    path = tmp_path / "train.csv"
    path.write_text("text,label\n,pos\n  ,neg\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"train.csv: every text in column 'text' is empty \(2 records\)"):
        read_text_classification(path)
    jsonl = tmp_path / "train.jsonl"
    jsonl.write_text('{"text": "", "label": "pos"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match="every text in column 'text' is empty"):
        read_text_classification(jsonl)


def test_a_truncated_gzip_file_names_the_file(tmp_path):
    payload = gzip.compress("".join(f"line {index} of the text\n" for index in range(20000)).encode())
    path = tmp_path / "train.txt.gz"
    path.write_bytes(payload[: len(payload) // 2])
    with pytest.raises(ValueError, match=r"train.txt.gz: the compressed file ends early"):
        check_utf8(path)
    with pytest.raises(ValueError, match=r"train.txt.gz: the compressed file ends early"):
        with open_text(path) as handle:
            handle.read()


def test_a_directory_named_as_a_data_file_says_so(tmp_path):
    with pytest.raises(ValueError, match=r"is a directory, expected a data file"):
        open_text(tmp_path)


def test_an_unknown_entity_type_is_an_error_naming_file_and_line(tmp_path):
    path = tmp_path / "train.conll"
    path.write_text("EU B-ORG\nrejects O\n\nPeter B-PERSN\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"train.conll:4: unknown entity type 'PERSN' in tag 'B-PERSN'.*extra_entity_types"):
        read_conll(path, scheme="iob2", entity_types=["PER", "LOC", "ORG", "MISC"])
    # Listed types are accepted; without a list any type is (the reader's default).
    assert len(read_conll(path, scheme="iob2", entity_types=["PER", "ORG", "PERSN"])) == 2
    assert len(read_conll(path, scheme="iob2")) == 2
