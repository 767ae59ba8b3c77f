import re

import pytest

from nlp_apps.data.conll_reader import load_conll_hub, read_conll

# CoNLL-2003 shape: DOCSTART, 4 columns, IOB1, trailing blank lines.
CONLL = """-DOCSTART- -X- -X- O

EU NNP I-NP I-ORG
rejects VBZ I-VP O
German JJ I-NP I-MISC
call NN I-NP O
. . O O

Marta NNP I-NP I-PER
Velloso NNP I-NP I-PER
Ilse NNP I-NP B-PER
met VBD I-VP O
Norvale NNP I-NP I-LOC

-DOCSTART- -X- -X- O

Peter NNP I-NP I-PER


"""


def test_reads_sentences_and_converts_to_iob2(write_file):
    dataset = read_conll(write_file("eng.train", CONLL))
    assert dataset.column_names == ["tokens", "tags"]
    assert dataset["tokens"] == [
        ["EU", "rejects", "German", "call", "."],
        ["Marta", "Velloso", "Ilse", "met", "Norvale"],
        ["Peter"],
    ]
    assert dataset["tags"] == [
        ["B-ORG", "O", "B-MISC", "O", "O"],
        ["B-PER", "I-PER", "B-PER", "O", "B-LOC"],
        ["B-PER"],
    ]


def test_target_schemes(write_file):
    path = write_file("eng.train", CONLL)
    assert read_conll(path, target_scheme=None)["tags"][1] == ["I-PER", "I-PER", "B-PER", "O", "I-LOC"]
    assert read_conll(path, target_scheme="bioes")["tags"][1] == ["B-PER", "E-PER", "S-PER", "O", "S-LOC"]


def test_other_columns_tabs_and_gzip(write_file):
    content = "Anna\tB-PER\tx\nlacht\tO\tx\n\nBerlin\tB-LOC\tx\n"
    for name in ("two.tsv", "two.tsv.gz"):
        dataset = read_conll(write_file(name, content), tag_column=1, scheme="iob2", target_scheme=None)
        assert dataset["tokens"] == [["Anna", "lacht"], ["Berlin"]]
        assert dataset["tags"] == [["B-PER", "O"], ["B-LOC"]]


def test_token_with_non_breaking_space_stays_one_column(write_file):
    dataset = read_conll(write_file("nbsp.conll", "10\u00a0000 O\n"), scheme="iob2")
    assert dataset["tokens"] == [["10\u00a0000"]]


def test_wrong_column_count_names_file_and_line(write_file):
    lines = CONLL.splitlines()
    lines[8] = "Velloso NNP I-PER"  # line 9 of the file
    path = write_file("eng.train", "\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=re.escape(f"{path}:9: expected 4 columns, found 3")):
        read_conll(path)


def test_invalid_tag_names_file_and_line(write_file):
    path = write_file("iob2.conll", "Anna B-PER\nlacht O\n\nin O\nBerlin I-LOC\n")
    with pytest.raises(ValueError, match=re.escape(f"{path}:5: tag 'I-LOC'")):
        read_conll(path, scheme="iob2")


def test_malformed_tag_names_file_and_line(write_file):
    path = write_file("bad.conll", "EU NNP I-NP I-ORG\nrejects VBZ I-VP PER\n")
    with pytest.raises(ValueError, match=re.escape(f"{path}:2: tag 'PER'")):
        read_conll(path)


def test_not_utf8_names_file_and_line(write_file):
    path = write_file("latin1.conll", "EU NNP I-NP I-ORG\n\nM\xfcller NNP I-NP I-PER\n".encode("latin-1"))
    with pytest.raises(ValueError, match=re.escape(f"{path}:3: not valid UTF-8 (byte 0xfc at column 2)")):
        read_conll(path)


def test_column_out_of_range(write_file):
    path = write_file("two.conll", "Anna B-PER\n")
    with pytest.raises(ValueError, match=re.escape(f"{path}:1: tag_column=3")):
        read_conll(path, tag_column=3)


def test_empty_file(write_file):
    path = write_file("empty.conll", "-DOCSTART- -X- -X- O\n\n")
    with pytest.raises(ValueError, match="no sentences"):
        read_conll(path)


def test_unknown_scheme_argument(write_file):
    with pytest.raises(ValueError, match="target_scheme: unknown tag scheme"):
        read_conll(write_file("a.conll", "A O\n"), target_scheme="bilou")


def test_sample_data(sample_data_dir):
    sizes = {}
    for split in ("train", "dev", "test"):
        raw = read_conll(sample_data_dir / "ner_sample" / f"{split}.conll", target_scheme=None)
        sizes[split] = raw.num_rows
        raw_tags = {tag for tags in raw["tags"] for tag in tags}
        assert {"O", "I-PER", "I-LOC", "I-ORG", "I-MISC"} <= raw_tags
        assert all(len(tokens) == len(tags) for tokens, tags in zip(raw["tokens"], raw["tags"]))
    assert sizes == {"train": 300, "dev": 60, "test": 60}
    train = read_conll(sample_data_dir / "ner_sample" / "train.conll", target_scheme=None)
    assert any(tag.startswith("B-") for tags in train["tags"] for tag in tags)


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"name": "", "split": "train"}, "name:"),
        ({"name": "conll2003", "split": ""}, "split:"),
        ({"name": "conll2003", "split": "train", "config": 3}, "config:"),
        ({"name": "conll2003", "split": "train", "target_scheme": "bilou"}, "target_scheme:"),
    ],
)
def test_load_conll_hub_argument_errors(kwargs, fragment):
    # Raised before any network access.
    with pytest.raises(ValueError, match=fragment):
        load_conll_hub(**kwargs)
