import numpy as np
import pytest
import tensorflow as tf

import keras
from nlp_apps.text import CharLookup, build_alphabet

ALPHABET = ["a", "b", "c", "é", "東", "😀"]


def char_ids(token, max_chars):
    ids = [ALPHABET.index(c) + 2 if c in ALPHABET else 1 for c in token][:max_chars]
    return ids + [0] * (max_chars - len(ids))


def test_build_alphabet_is_frequency_sorted_and_deterministic():
    assert build_alphabet(["abc", "ba", "a"]) == ["a", "b", "c"]
    assert build_alphabet([["cab"], ["bb"]]) == ["b", "a", "c"]
    assert build_alphabet(["zz", "ay", "x"], min_frequency=2) == ["z"]
    assert build_alphabet(["東京", "京"], max_size=1) == ["京"]
    assert build_alphabet(["ba", "ab"]) == build_alphabet(["ab", "ba"])
    with pytest.raises(ValueError, match=r"tokens\[1\]"):
        build_alphabet(["ok", 3])


def test_dense_shape_padding_and_truncation():
    layer = CharLookup(ALPHABET, max_chars_per_token=4)
    tokens = [["abc", "abcabc", ""], ["é東😀x", "zz", "a"]]
    ids = layer(tf.constant(tokens))
    assert ids.shape == (2, 3, 4) and ids.dtype == tf.int64
    expected = [[char_ids(token, 4) for token in row] for row in tokens]
    np.testing.assert_array_equal(ids.numpy(), expected)
    # Truncation keeps the first max_chars_per_token characters.
    assert ids[0, 1].numpy().tolist() == [2, 3, 4, 2]
    # Padding tokens are all zeros; real tokens never are.
    assert ids[0, 2].numpy().tolist() == [0, 0, 0, 0]
    assert ids[1, 1].numpy().tolist() == [1, 1, 0, 0]


def test_ragged_input_and_unicode():
    layer = CharLookup(ALPHABET, max_chars_per_token=3)
    tokens = tf.ragged.constant([["東京", "😀😀"], [], ["é" * 50]])
    ids = layer(tokens)
    assert isinstance(ids, tf.RaggedTensor)
    assert ids.row_lengths().numpy().tolist() == [2, 0, 1]
    assert ids.to_list() == [[[6, 1, 0], [7, 7, 0]], [], [[5, 5, 5]]]
    assert ids.to_tensor().shape == (3, 2, 3)
    broken = layer(tf.constant([b"a\xffb"]))
    assert broken.numpy().tolist() == [[2, 1, 3]]


def test_special_like_characters_are_plain_characters():
    layer = CharLookup(["[", "#"], max_chars_per_token=6)
    assert layer(["[PAD]", "##"]).numpy().tolist() == [[2, 1, 1, 1, 1, 0], [3, 3, 0, 0, 0, 0]]


def test_validation():
    with pytest.raises(ValueError, match=r"alphabet\[1\]: each entry must be one Unicode character"):
        CharLookup(["a", "bc"])
    with pytest.raises(ValueError, match=r"alphabet\[2\]: duplicate character 'a' \(also at index 0\)"):
        CharLookup(["a", "b", "a"])
    with pytest.raises(ValueError, match="max_chars_per_token"):
        CharLookup(["a"], max_chars_per_token=0)


def test_config_round_trip(assert_config_round_trip):
    clone = assert_config_round_trip(CharLookup(["x", "y"], max_chars_per_token=7, name="chars"))
    assert clone.alphabet == ["x", "y"] and clone.max_chars_per_token == 7
    assert clone.vocabulary_size == 4


def test_keras_file_and_saved_model_round_trip(reload_keras_model, reload_saved_model):
    layer = CharLookup(ALPHABET, max_chars_per_token=5, name="chars")
    inputs = keras.Input(shape=(None,), dtype="string")
    model = keras.Model(inputs, layer(inputs))
    assert model.output.shape == (None, None, 5)
    tokens = tf.constant([["abc", "", "東😀"]])
    np.testing.assert_array_equal(reload_keras_model(model)(tokens), model(tokens))
    run = reload_saved_model(layer, [tf.RaggedTensorSpec([None, None], tf.string)])
    ragged = tf.ragged.constant([["abcabc", "z"], []])
    assert run(ragged).to_list() == layer(ragged).to_list()
