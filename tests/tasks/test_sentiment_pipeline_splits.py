"""Which documents the sentiment pipeline reads for train, dev and test, with and without cross-validation."""

import gzip
import json

import pytest

from nlp_apps.config import load_config
from nlp_apps.tasks.sentiment.task import read_split


def _write_corpus(tmp_path, with_fold=True):
    """40 documents in the review_polarity layout: fold = index // 4, 2 positives and 2 negatives per fold."""
    lines = []
    for index in range(40):
        record = {"id": f"doc{index}", "label": index % 2, "sentences": [f"doc{index} first .", "second ."]}
        if with_fold:
            record["fold"] = index // 4
        lines.append(json.dumps(record))
    (tmp_path / "corpus.jsonl.gz").write_bytes(gzip.compress(("\n".join(lines) + "\n").encode("utf-8")))
    (tmp_path / "pipeline.yaml").write_text(
        "task: sentiment\n"
        "data:\n"
        f"  data_dir: {tmp_path}\n"
        "  format: jsonl\n"
        "  train: corpus.jsonl.gz\n"
        "  text_column: sentences\n"
        "  labels: [0, 1]\n"
        "  dev_fraction: 0.25\n"
    )
    return tmp_path / "pipeline.yaml"


def _documents(config, split):
    return {text.split(" ")[0] for text in read_split(config, split)["text"]}


def test_standard_folds_from_fold_column(tmp_path):
    pipeline = _write_corpus(tmp_path)
    config = load_config([pipeline], ["data.cv_folds=10", "data.cv_fold=3", "data.fold_column=fold"])
    test = _documents(config, "test")
    train, dev = _documents(config, "train"), _documents(config, "dev")
    assert test == {f"doc{index}" for index in range(12, 16)}
    assert (len(train), len(dev)) == (27, 9)
    assert train | dev | test == {f"doc{index}" for index in range(40)}
    assert not (train & dev) and not (train & test) and not (dev & test)
    # The dev split is seeded: the same config gives the same documents.
    assert _documents(config, "dev") == dev


def test_seeded_stratified_folds_without_fold_column(tmp_path):
    pipeline = _write_corpus(tmp_path, with_fold=False)
    held_out = []
    for fold in range(5):
        config = load_config([pipeline], ["data.cv_folds=5", f"data.cv_fold={fold}"])
        test = read_split(config, "test")
        assert sorted(test["label"]) == ["0"] * 4 + ["1"] * 4
        held_out.append({text.split(" ")[0] for text in test["text"]})
        assert not held_out[-1] & (_documents(config, "train") | _documents(config, "dev"))
    assert set().union(*held_out) == {f"doc{index}" for index in range(40)}


def test_without_cross_validation_dev_still_comes_out_of_train(tmp_path):
    config = load_config([_write_corpus(tmp_path)])
    assert (len(read_split(config, "train")), len(read_split(config, "dev"))) == (30, 10)
    with pytest.raises(ValueError, match="data.test: no file given"):
        read_split(config, "test")


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["data.cv_folds=10", "data.cv_fold=10"], r"data.cv_fold: expected an integer from 0 to 9 \(data.cv_folds=10\), got 10"),
        (["data.cv_folds=10", "data.cv_fold=-1"], "data.cv_fold: expected an integer from 0 to 9"),
        (["data.cv_folds=1"], "data.cv_folds: expected 0 .* or an integer >= 2, got 1"),
        (["data.cv_folds=-3"], "data.cv_folds: expected 0"),
        (["data.cv_fold=2"], "data.cv_fold: set to 2, but data.cv_folds is 0"),
        (["data.cv_folds=10", "data.test=corpus.jsonl.gz"], "data.test: must be empty with data.cv_folds=10"),
        (["data.cv_folds=10", "data.dev=corpus.jsonl.gz"], "data.dev: must be empty with data.cv_folds=10"),
        (["data.cv_folds=5", "data.fold_column=fold"], "data.fold_column 'fold' and data.cv_folds=5: .*holds 10 distinct values"),
    ],
)
def test_bad_cross_validation_settings_name_the_field(tmp_path, overrides, message):
    config = load_config([_write_corpus(tmp_path)], overrides)
    with pytest.raises(ValueError, match=message):
        read_split(config, "train")
