import datasets
import pytest

from nlp_apps.data.splits import cross_validation_fold, k_folds, train_dev_split


def _dataset(num_rows=103, num_folds=None):
    columns = {"id": list(range(num_rows))}
    if num_folds:
        columns["fold"] = [row % num_folds for row in range(num_rows)]
    return datasets.Dataset.from_dict(columns)


def test_train_dev_split_sizes_disjoint_and_complete():
    train, dev = train_dev_split(_dataset(), dev_fraction=0.1, seed=7)
    assert (len(train), len(dev)) == (93, 10)
    assert not set(train["id"]) & set(dev["id"])
    assert set(train["id"]) | set(dev["id"]) == set(range(103))
    # Rows keep the file order within each part.
    assert list(train["id"]) == sorted(train["id"])


def test_train_dev_split_reproducible():
    first = train_dev_split(_dataset(), 0.2, seed=1234)[1]["id"]
    again = train_dev_split(_dataset(), 0.2, seed=1234)[1]["id"]
    other = train_dev_split(_dataset(), 0.2, seed=99)[1]["id"]
    assert list(first) == list(again)
    assert list(first) != list(other)


def test_train_dev_split_keeps_both_parts_non_empty():
    train, dev = train_dev_split(_dataset(3), dev_fraction=0.01, seed=1)
    assert (len(train), len(dev)) == (2, 1)


@pytest.mark.parametrize("fraction", [0, 1, -0.1, 1.5, "0.1", True])
def test_train_dev_split_bad_fraction(fraction):
    with pytest.raises(ValueError, match="dev_fraction"):
        train_dev_split(_dataset(), fraction, seed=1)


def test_train_dev_split_too_small():
    with pytest.raises(ValueError, match="1 row"):
        train_dev_split(_dataset(1), 0.5, seed=1)


def test_k_folds_random():
    folds = k_folds(_dataset(), k=10, seed=3)
    assert len(folds) == 10
    held_out = [list(dev["id"]) for _, dev in folds]
    assert sorted(row for fold in held_out for row in fold) == list(range(103))
    assert {len(fold) for fold in held_out} == {10, 11}
    for train, dev in folds:
        assert not set(train["id"]) & set(dev["id"])
        assert len(train) + len(dev) == 103
    assert [list(dev["id"]) for _, dev in k_folds(_dataset(), k=10, seed=3)] == held_out


def test_k_folds_from_fold_column():
    dataset = _dataset(num_folds=10)
    folds = k_folds(dataset, k=10, fold_column="fold")
    for fold, (train, dev) in enumerate(folds):
        assert set(dev["fold"]) == {fold}
        assert fold not in set(train["fold"])
        assert len(train) + len(dev) == 103


def test_k_folds_errors():
    with pytest.raises(ValueError, match="holds 10 distinct values"):
        k_folds(_dataset(num_folds=10), k=5, fold_column="fold")
    with pytest.raises(ValueError, match="no column 'cv'"):
        k_folds(_dataset(), k=10, fold_column="cv")
    with pytest.raises(ValueError, match="k:"):
        k_folds(_dataset(), k=1)
    with pytest.raises(ValueError, match="k:"):
        k_folds(_dataset(5), k=6)


def _labelled_dataset(positives=37, negatives=23):
    return datasets.Dataset.from_dict(
        {"id": list(range(positives + negatives)), "label": ["1"] * positives + ["0"] * negatives}
    )


def test_k_folds_stratified_keeps_class_balance():
    dataset = _labelled_dataset()
    folds = k_folds(dataset, k=5, seed=3, stratify_column="label")
    held_out = [dev for _, dev in folds]
    assert sorted(row for dev in held_out for row in dev["id"]) == list(range(60))
    assert {len(dev) for dev in held_out} == {12}
    # 37 positives over 5 folds: 7 or 8 in each; 23 negatives: 4 or 5.
    assert {list(dev["label"]).count("1") for dev in held_out} == {7, 8}
    assert {list(dev["label"]).count("0") for dev in held_out} == {4, 5}
    again = k_folds(dataset, k=5, seed=3, stratify_column="label")
    assert [list(dev["id"]) for _, dev in again] == [list(dev["id"]) for dev in held_out]
    other = k_folds(dataset, k=5, seed=4, stratify_column="label")
    assert [list(dev["id"]) for _, dev in other] != [list(dev["id"]) for dev in held_out]


def test_k_folds_stratified_missing_column():
    with pytest.raises(ValueError, match="stratify_column: no column 'class'"):
        k_folds(_labelled_dataset(), k=5, stratify_column="class")


def test_cross_validation_fold_is_one_of_k_folds():
    dataset = _dataset(num_folds=10)
    for fold in (0, 3, 9):
        train, held_out = cross_validation_fold(dataset, 10, fold, fold_column="fold")
        assert set(held_out["fold"]) == {fold}
        assert fold not in set(train["fold"])
    train, held_out = cross_validation_fold(_labelled_dataset(), 5, 2, seed=3, stratify_column="label")
    expected_train, expected_held_out = k_folds(_labelled_dataset(), 5, seed=3, stratify_column="label")[2]
    assert list(held_out["id"]) == list(expected_held_out["id"])
    assert list(train["id"]) == list(expected_train["id"])


@pytest.mark.parametrize("fold", [-1, 10, 1.0, True, "2"])
def test_cross_validation_fold_bad_fold(fold):
    with pytest.raises(ValueError, match=r"fold: expected an integer from 0 to 9 \(num_folds=10\)"):
        cross_validation_fold(_dataset(num_folds=10), 10, fold, fold_column="fold")


@pytest.mark.parametrize("num_folds", [0, 1, -2, 2.0])
def test_cross_validation_fold_bad_num_folds(num_folds):
    with pytest.raises(ValueError, match="num_folds: expected an integer >= 2"):
        cross_validation_fold(_dataset(), num_folds, 0)
