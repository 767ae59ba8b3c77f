import json
import re

import pytest

from nlp_apps.data.text_classification_reader import read_text_classification

# IMDB shape: id,rating,label,text with RFC 4180 quoting; record 2 spans two lines.
IMDB = 'id,rating,label,text\n0_9,9,1,"Great, ""funny"" film."\n1_2,2,0,"Dull.\nVery dull."\n2_8,8,1,Fine\n'


@pytest.mark.parametrize("name", ["train.csv", "train.csv.gz"])
def test_csv(write_file, name):
    dataset = read_text_classification(write_file(name, IMDB), labels=[0, 1])
    assert dataset.column_names == ["text", "label"]
    assert dataset["text"] == ['Great, "funny" film.', "Dull.\nVery dull.", "Fine"]
    # Labels are strings, as written.
    assert dataset["label"] == ["1", "0", "1"]


def test_keep_columns(write_file):
    dataset = read_text_classification(write_file("train.csv", IMDB), keep_columns=["rating"])
    assert dataset["rating"] == ["9", "2", "8"]


def test_missing_text_column_lists_columns_present(write_file):
    path = write_file("train.csv", IMDB)
    with pytest.raises(ValueError) as error:
        read_text_classification(path, text_column="review")
    message = str(error.value)
    assert str(path) in message
    assert "'review'" in message
    assert "id, rating, label, text" in message


def test_missing_column_in_header_only_file(write_file):
    path = write_file("empty.csv", "id,label\n")
    with pytest.raises(ValueError, match=re.escape(f"{path}: no column 'text' (text_column); columns present: id, label")):
        read_text_classification(path)


def test_unknown_label_names_file_line_and_label(write_file):
    # The unknown label is on file line 6, after a record that spans lines 3-4.
    path = write_file("train.csv.gz", IMDB + "3_5,5,maybe,Hm\n")
    with pytest.raises(ValueError, match=re.escape(f"{path}:6: unknown label 'maybe'")):
        read_text_classification(path, labels=["0", "1"])


def test_unknown_label_line_after_multiline_record(write_file):
    path = write_file("train.csv", 'id,label,text\n1,pos,"a\nb\nc"\n2,meh,d\n')
    with pytest.raises(ValueError, match=re.escape(f"{path}:5: unknown label 'meh'")):
        read_text_classification(path, labels=["pos", "neg"])


def test_wrong_field_count_names_file_and_line(write_file):
    path = write_file("train.csv", "id,label,text\n1,pos,good\n2,neg\n")
    with pytest.raises(ValueError, match=re.escape(f"{path}:3: expected 3 fields, found 2")):
        read_text_classification(path)


def test_empty_label(write_file):
    path = write_file("train.csv", "id,label,text\n1,,good\n")
    with pytest.raises(ValueError, match=re.escape(f"{path}:2: empty")):
        read_text_classification(path)


def test_not_utf8_names_file_and_line(write_file):
    path = write_file("train.csv", b"id,label,text\n1,pos,good\n2,neg,caf\xe9\n")
    with pytest.raises(ValueError, match=re.escape(f"{path}:3: not valid UTF-8 (byte 0xe9 at column 10)")):
        read_text_classification(path)


def test_tsv(write_file):
    dataset = read_text_classification(write_file("train.tsv", "label\ttext\npos\tgood, really\n"))
    assert dataset["text"] == ["good, really"]


def _jsonl(records):
    return "".join(json.dumps(record) + "\n" for record in records)


# review_polarity shape: sentences is a list, fold assigns CV folds.
POLARITY = [
    {"id": "pos/cv000_1", "label": 1, "fold": 0, "sentences": ["films adapted from comic books . ", "fun . "]},
    {"id": "neg/cv900_2", "label": 0, "fold": 9, "sentences": ["plot is thin . "]},
]


@pytest.mark.parametrize("name", ["review_polarity.jsonl", "review_polarity.jsonl.gz"])
def test_jsonl_list_text_column(write_file, name):
    path = write_file(name, _jsonl(POLARITY))
    dataset = read_text_classification(path, text_column="sentences", keep_columns=["fold"], labels=[0, 1])
    assert dataset["text"] == ["films adapted from comic books . \nfun . ", "plot is thin . "]
    assert dataset["label"] == ["1", "0"]
    assert dataset["fold"] == [0, 9]
    joined = read_text_classification(path, text_column="sentences", sentence_separator=" ")
    assert joined["text"][0] == "films adapted from comic books .  fun . "


def test_jsonl_invalid_json_names_file_and_line(write_file):
    path = write_file("data.jsonl", _jsonl(POLARITY) + '\n{"label": 1 "text": "x"}\n')
    with pytest.raises(ValueError, match=re.escape(f"{path}:4: not valid JSON")):
        read_text_classification(path, text_column="sentences")


def test_jsonl_missing_field_names_file_line_and_fields(write_file):
    path = write_file("data.jsonl", _jsonl(POLARITY))
    with pytest.raises(ValueError, match=re.escape(f"{path}:1: no column 'text' (text_column); columns present: id, label, fold, sentences")):
        read_text_classification(path)


def test_jsonl_unknown_label(write_file):
    path = write_file("data.jsonl", _jsonl(POLARITY + [{"label": True, "sentences": ["x"]}]))
    with pytest.raises(ValueError, match=re.escape(f"{path}:3: unknown label 'true'")):
        read_text_classification(path, text_column="sentences", labels=[0, 1])


def test_unknown_extension(write_file):
    with pytest.raises(ValueError, match="cannot tell the format"):
        read_text_classification(write_file("data.xml", "<x/>"))


def test_sample_data(sample_data_dir):
    sizes = {}
    for split in ("train", "dev", "test"):
        dataset = read_text_classification(sample_data_dir / "sentiment_sample" / f"{split}.csv", labels=["pos", "neg"])
        sizes[split] = dataset.num_rows
        assert set(dataset["label"]) == {"pos", "neg"}
        assert all(text.count(".") >= 2 for text in dataset["text"])
    assert sizes == {"train": 300, "dev": 60, "test": 60}
