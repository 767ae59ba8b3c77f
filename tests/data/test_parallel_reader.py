import re

import pytest

from nlp_apps.data.parallel_reader import read_parallel, read_parallel_tsv


def test_read_parallel(write_file):
    source = write_file("train.en", "A dog runs.\nTwo men talk.\n")
    target = write_file("train.de.gz", "Ein Hund läuft.\nZwei Männer reden.\n")
    dataset = read_parallel(source, target)
    assert dataset.column_names == ["source", "target"]
    assert dataset["source"] == ["A dog runs.", "Two men talk."]
    assert dataset["target"] == ["Ein Hund läuft.", "Zwei Männer reden."]


def test_different_line_counts_name_both_files_and_counts(write_file):
    source = write_file("val.en", "a\nb\nc\n")
    target = write_file("val.de", "a\nb\n")
    with pytest.raises(ValueError) as error:
        read_parallel(source, target)
    message = str(error.value)
    assert f"{source} has 3 lines" in message
    assert f"{target} has 2 lines" in message


def test_empty_target_line_names_file_and_line(write_file):
    source = write_file("val.en", "a\nb\nc\n")
    target = write_file("val.de", "a\nb\n  \n")
    with pytest.raises(ValueError, match=re.escape(f"{target}:3: empty target sentence")):
        read_parallel(source, target)


def test_parallel_not_utf8(write_file):
    source = write_file("val.en", "a\n")
    target = write_file("val.de", b"Gr\xfc\xdfe\n")
    with pytest.raises(ValueError, match=re.escape(f"{target}:1: not valid UTF-8")):
        read_parallel(source, target)


def test_read_parallel_tsv_ignores_extra_columns(write_file):
    path = write_file("spa.txt.gz", "Go.\tVe.\tCC-BY 2.0 (France) Attribution: tatoeba.org\nRun!\t¡Corre!\n")
    dataset = read_parallel_tsv(path)
    assert dataset["source"] == ["Go.", "Run!"]
    assert dataset["target"] == ["Ve.", "¡Corre!"]
    swapped = read_parallel_tsv(path, source_column=1, target_column=0)
    assert swapped["source"] == ["Ve.", "¡Corre!"]


def test_tsv_line_without_tab_names_file_and_line(write_file):
    path = write_file("spa.txt", "Go.\tVe.\nRun! ¡Corre!\n")
    with pytest.raises(ValueError, match=re.escape(f"{path}:2: expected at least 2 tab-separated columns, found 1")):
        read_parallel_tsv(path)


def test_tsv_empty_source_names_file_and_line(write_file):
    path = write_file("spa.txt", "Go.\tVe.\nHi.\tHola.\n\tVaya.\n")
    with pytest.raises(ValueError, match=re.escape(f"{path}:3: empty source sentence")):
        read_parallel_tsv(path)


@pytest.mark.parametrize("kwargs", [{"source_column": -1}, {"target_column": 0}, {"source_column": "0"}])
def test_tsv_column_arguments(write_file, kwargs):
    with pytest.raises(ValueError, match="column"):
        read_parallel_tsv(write_file("spa.txt", "a\tb\n"), **kwargs)


def test_sample_data(sample_data_dir):
    folder = sample_data_dir / "translation_sample"
    sizes = {split: read_parallel(folder / f"{split}.en", folder / f"{split}.de").num_rows for split in ("train", "dev", "test")}
    assert sizes == {"train": 400, "dev": 50, "test": 50}
    train = read_parallel(folder / "train.en", folder / "train.de")
    dev = read_parallel(folder / "dev.en", folder / "dev.de")
    assert not set(train["source"]) & set(dev["source"])
