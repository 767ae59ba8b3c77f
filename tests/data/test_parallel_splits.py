"""Translation splits from parallel files, TSV files and their errors."""

import gzip

import pytest

from nlp_apps.config import DataConfig
from nlp_apps.data.parallel_splits import read_parallel_split


def test_parallel_files_are_found_by_prefix_and_language(tmp_path):
    (tmp_path / "train.en").write_text("A dog.\nTwo cats.\n", encoding="utf-8")
    (tmp_path / "train.de").write_text("Ein Hund.\nZwei Katzen.\n", encoding="utf-8")
    data = DataConfig(format="parallel", data_dir=str(tmp_path), train="train", source_language="en", target_language="de")
    pairs = read_parallel_split(data, "train")
    assert list(pairs["source"]) == ["A dog.", "Two cats."]
    assert list(pairs["target"]) == ["Ein Hund.", "Zwei Katzen."]


def test_tsv_columns_can_be_swapped(tmp_path):
    with gzip.open(tmp_path / "pairs.tsv.gz", "wt", encoding="utf-8") as handle:
        handle.write("Go.\tVe.\nRun!\tCorre.\n")
    data = DataConfig(format="tsv", data_dir=str(tmp_path), test="pairs.tsv.gz", source_column=1, target_column=0)
    pairs = read_parallel_split(data, "test")
    assert list(pairs["source"]) == ["Ve.", "Corre."] and list(pairs["target"]) == ["Go.", "Run!"]


def test_bundled_sample_reads_with_every_split():
    data = DataConfig(format="parallel", data_dir="sample:translation_sample", train="train", dev="dev", test="test",
                      source_language="en", target_language="de")
    sizes = {split: len(read_parallel_split(data, split)) for split in ("train", "dev", "test")}
    assert sizes == {"train": 400, "dev": 50, "test": 50}


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"format": "conll"}, "data.format: 'conll' is not a translation format"),
        ({"source_language": ""}, "data.source_language: required"),
        ({"train": ""}, "data.train: no file given"),
    ],
)
def test_configuration_errors_name_the_field(tmp_path, changes, message):
    fields = dict(format="parallel", data_dir=str(tmp_path), train="train", source_language="en", target_language="de")
    fields.update(changes)
    with pytest.raises(ValueError, match=message):
        read_parallel_split(DataConfig(**fields), "train")


def test_misaligned_files_name_both_files(tmp_path):
    (tmp_path / "train.en").write_text("A dog.\nTwo cats.\n", encoding="utf-8")
    (tmp_path / "train.de").write_text("Ein Hund.\n", encoding="utf-8")
    data = DataConfig(format="parallel", data_dir=str(tmp_path), train="train", source_language="en", target_language="de")
    with pytest.raises(ValueError, match=r"train\.en has 2 lines but .*train\.de has 1 lines"):
        read_parallel_split(data, "train")
