import numpy as np
import pytest
import tensorflow as tf

from nlp_apps.text import CharTokenizer, build_alphabet

TEXT = ["hello world\n", "", "naïve 東京 😀"]


def test_round_trip_and_ids():
    tokenizer = CharTokenizer(build_alphabet(TEXT))
    ids = tokenizer(tf.constant(TEXT))
    assert isinstance(ids, tf.RaggedTensor) and ids.dtype == tf.int64
    assert ids.row_lengths().numpy().tolist() == [len(text) for text in TEXT]
    assert min(ids.flat_values.numpy()) >= 2
    assert [s.decode("utf-8") for s in tokenizer.detokenize(ids).numpy()] == TEXT
    # Dense, zero-padded ids decode to the same strings.
    assert [s.decode("utf-8") for s in tokenizer.detokenize(ids.to_tensor()).numpy()] == TEXT
    assert tokenizer.vocabulary_size == len(build_alphabet(TEXT)) + 2


def test_unknown_characters_and_padding():
    tokenizer = CharTokenizer("ab ")
    ids = tokenizer(["ab x", "\xff"])
    assert ids.to_list() == [[2, 3, 4, 1], [1]]
    assert tokenizer.detokenize([[2, 0, 1, 3, 0]]).numpy().tolist() == ["a\ufffdb".encode()]
    assert tokenizer.detokenize(tf.constant([2, 3])).numpy() == b"ab"
    broken = tokenizer(tf.constant([b"a\xffb"]))
    assert broken.to_list() == [[2, 1, 3]]


def test_validation_and_config(assert_config_round_trip):
    with pytest.raises(ValueError, match=r"alphabet\[0\]"):
        CharTokenizer(["ab"])
    with pytest.raises(ValueError, match="integer"):
        CharTokenizer("ab").detokenize(tf.constant([[0.5]]))
    clone = assert_config_round_trip(CharTokenizer(["q", "\n"], name="chars"))
    assert clone.alphabet == ["q", "\n"]


def test_saved_model_round_trip(reload_saved_model):
    tokenizer = CharTokenizer(build_alphabet(TEXT))
    run = reload_saved_model(
        tokenizer,
        [tf.TensorSpec([None], tf.string)],
        lambda layer, strings: {"ids": layer(strings), "text": layer.detokenize(layer(strings))},
    )
    output = run(tf.constant(TEXT + ["zzz"]))
    assert output["ids"].to_list() == tokenizer(tf.constant(TEXT + ["zzz"])).to_list()
    np.testing.assert_array_equal(output["text"].numpy()[:3], [t.encode() for t in TEXT])
