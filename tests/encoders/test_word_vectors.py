"""Word vectors (GloVe / word2vec / fastText text files) into the token embedding."""

import gzip

import numpy as np
import pytest

from nlp_apps.config import load_config
from nlp_apps.encoders.rnn_encoder import RNNEncoder
from nlp_apps.encoders.word_vectors import load_word_vectors, read_word_vectors
from nlp_apps.tasks.registry import get_task

VOCABULARY = ["[PAD]", "[UNK]", "the", "Paris", "boat", "zebra"]


def write(path, text, compress=False):
    if compress:
        with gzip.open(path, "wt", encoding="utf-8") as handle:
            handle.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("name,header,compress", [("glove.txt", "", False), ("wiki.vec", "4 3\n", False), ("glove.txt.gz", "", True)])
def test_vectors_fill_the_rows_of_the_words_found(tmp_path, name, header, compress):
    path = write(tmp_path / name, header + "the 1 2 3\nparis 4 5 6\nboat 7 8 9\nunrelated 0 0 1\n", compress)
    vectors, found, coverage = read_word_vectors(path, VOCABULARY, 3)
    assert found.tolist() == [False, False, True, True, True, False]
    # "Paris" is found under its lower-cased form.
    np.testing.assert_array_equal(vectors[3], [4, 5, 6])
    assert (coverage.found, coverage.vocabulary_words, coverage.vectors_read) == (3, 4, 4)
    assert "3 of 4 vocabulary words (75.0 %)" in coverage.describe()


def test_an_exact_match_beats_a_lower_cased_one(tmp_path):
    path = write(tmp_path / "v.txt", "paris 1 1 1\nParis 2 2 2\n")
    vectors, _, _ = read_word_vectors(path, VOCABULARY, 3)
    np.testing.assert_array_equal(vectors[3], [2, 2, 2])
    path = write(tmp_path / "w.txt", "Paris 2 2 2\nparis 1 1 1\n")
    vectors, _, _ = read_word_vectors(path, VOCABULARY, 3)
    np.testing.assert_array_equal(vectors[3], [2, 2, 2])


def test_a_dimension_mismatch_names_file_and_line(tmp_path):
    path = write(tmp_path / "v.txt", "the 1 2 3\nboat 1 2\n")
    with pytest.raises(ValueError, match=rf"{path}:2: expected a word and 3 numbers \(model.encoder.embedding_dim\), found 2"):
        read_word_vectors(path, VOCABULARY, 3)
    path = write(tmp_path / "h.vec", "2 5\nthe 1 2 3 4 5\n")
    with pytest.raises(ValueError, match=rf"{path}:1: the header says dimension 5, but model.encoder.embedding_dim is 3"):
        read_word_vectors(path, VOCABULARY, 3)


def test_a_malformed_value_names_file_and_line(tmp_path):
    path = write(tmp_path / "v.txt", "the 1 2 3\nboat 1 x 3\n")
    with pytest.raises(ValueError, match=rf"{path}:2: 'x' is not a number"):
        read_word_vectors(path, VOCABULARY, 3)


def test_missing_and_empty_files_are_errors(tmp_path):
    with pytest.raises(ValueError, match="model.encoder.word_vectors: file not found"):
        read_word_vectors(tmp_path / "none.txt", VOCABULARY, 3)
    with pytest.raises(ValueError, match="no vectors found"):
        read_word_vectors(write(tmp_path / "e.txt", "\n"), VOCABULARY, 3)


def test_loading_into_an_encoder_keeps_the_rows_of_words_without_vectors(tmp_path, capsys):
    encoder = RNNEncoder(len(VOCABULARY), 3, units=4)
    encoder.build((None, None))
    before = encoder.token_embedding.embeddings.numpy().copy()
    load_word_vectors(encoder, VOCABULARY, write(tmp_path / "v.txt", "the 1 2 3\n"))
    after = encoder.token_embedding.embeddings.numpy()
    np.testing.assert_array_equal(after[2], [1, 2, 3])
    np.testing.assert_array_equal(np.delete(after, 2, axis=0), np.delete(before, 2, axis=0))
    assert "1 of 4 vocabulary words (25.0 %)" in capsys.readouterr().out


def test_a_task_trains_from_word_vectors(tmp_path, capsys):
    lines = [f"{word} {' '.join(['0.5'] * 32)}" for word in ("the", "greyfield", "united", "beat")]
    path = write(tmp_path / "vectors.txt", "\n".join(lines) + "\n")
    config = load_config(
        ["pipelines/ner_sample.yaml"],
        [f"model.encoder.word_vectors={path}", f"output_dir={tmp_path / 'run'}", "train.epochs=1", "train.verbose=0"],
    )
    task = get_task(config)
    task.train()
    assert "model.encoder.word_vectors: 4 of" in capsys.readouterr().out
