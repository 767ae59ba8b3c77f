import numpy as np
import pytest
import tensorflow as tf
import tensorflow_text

import keras
from nlp_apps.text import TokenLookup, Vocabulary

TOKENS = ["[PAD]", "[UNK]", "<s>", "the", "cat", ",", "U.N.", "##s", "東京", "😀", "new york"]
ID = {token: index for index, token in enumerate(TOKENS)}

# Tokens chosen to trip a WordPiece model: prefixes of vocabulary words,
# words with a vocabulary word as prefix, the suffix marker, specials,
# whitespace, emoji, very long words.
TRICKY = [
    "the", "cats", "thecat", "th", "##s", "cat##s", "\ue000##s", "the\ue000##",
    "[PAD]", "[UNK]", "<s>", "new york", "new", " ", "\t", "東京都", "東", "😀😀",
    "U.N", "U.N.", "x" * 100, "x" * 101, "the" * 5000, "é" * 300, "\x00",
]


def expected_id(token):
    if token == "":
        return 0
    if token == "[PAD]":
        return 1
    return ID.get(token, 1)


def test_known_unknown_padding_dense():
    layer = TokenLookup(TOKENS)
    ids = layer(tf.constant([["the", "cat", "dog", ""], ["U.N.", "[PAD]", "[UNK]", "東京"]]))
    assert ids.dtype == tf.int64
    np.testing.assert_array_equal(ids.numpy(), [[3, 4, 1, 0], [6, 1, 1, 8]])


def test_one_id_per_token_ragged():
    layer = TokenLookup(TOKENS)
    rows = [TRICKY[:7], [], TRICKY[7:19], TRICKY[19:], [""]]
    ids = layer(tf.ragged.constant(rows))
    assert ids.row_lengths().numpy().tolist() == [len(row) for row in rows]
    assert ids.to_list() == [[expected_id(token) for token in row] for row in rows]


def test_vocabulary_object_python_list_and_scalar():
    vocabulary = Vocabulary(["the", "cat"], extra_special_tokens=["<s>", "</s>"])
    layer = TokenLookup(vocabulary)
    assert layer.vocabulary == vocabulary.tokens
    assert layer.vocabulary_size == len(vocabulary)
    assert layer(["cat", "<s>", "dog"]).numpy().tolist() == [5, 2, 1]
    assert layer([["cat"], ["the", "dog"]]).to_list() == [[5], [4, 1]]
    assert int(layer(tf.constant("the"))) == 4


def test_matches_python_vocabulary_on_random_tokens():
    rng = np.random.default_rng(0)
    words = ["".join(rng.choice(list("abcé東😀."), size=rng.integers(1, 6))) for _ in range(400)]
    vocabulary = Vocabulary.build([words[:200]])
    layer = TokenLookup(vocabulary)
    ids = layer(tf.constant(words)).numpy().tolist()
    assert ids == vocabulary.encode(words)


def test_inside_tf_function_and_dataset():
    layer = TokenLookup(TOKENS)

    @tf.function(input_signature=[tf.RaggedTensorSpec([None, None], tf.string)])
    def lookup(tokens):
        return layer(tokens)

    tokens = tf.ragged.constant([["the", "zebra"], ["cat"]])
    assert lookup(tokens).to_list() == [[3, 1], [4]]
    dataset = tf.data.Dataset.from_tensor_slices(tf.constant([["the", "cat"], ["x", ""]])).map(layer)
    assert [row.tolist() for row in dataset.as_numpy_iterator()] == [[3, 4], [1, 0]]


def test_validation():
    with pytest.raises(ValueError, match=r"vocabulary\[3\]: duplicate token 'a'"):
        TokenLookup(["[PAD]", "[UNK]", "a", "a"])
    with pytest.raises(ValueError, match="reserved suffix indicator"):
        TokenLookup(["[PAD]", "[UNK]", "\ue000##s"])
    with pytest.raises(ValueError, match="at least"):
        TokenLookup(["[PAD]"])
    with pytest.raises(ValueError, match=r"vocabulary\[2\]"):
        TokenLookup(["[PAD]", "[UNK]", ""])
    with pytest.raises(ValueError, match="dtype"):
        TokenLookup(TOKENS)(tf.constant([1, 2]))


def test_config_round_trip(assert_config_round_trip):
    layer = TokenLookup(["<pad>", "<unk>", "a", "b"], name="word_ids")
    clone = assert_config_round_trip(layer)
    assert clone.get_config()["vocabulary"] == ["<pad>", "<unk>", "a", "b"]
    assert clone(["b", "c"]).numpy().tolist() == [3, 1]


def test_keras_file_round_trip(reload_keras_model):
    inputs = keras.Input(shape=(None,), dtype="string")
    model = keras.Model(inputs, TokenLookup(["<pad>", "<unk>", "a", "b"], name="ids")(inputs))
    tokens = tf.constant([["a", "c", "b", ""]])
    restored = reload_keras_model(model)
    np.testing.assert_array_equal(restored(tokens), model(tokens))
    np.testing.assert_array_equal(restored(tokens), [[2, 1, 3, 0]])


def test_saved_model_round_trip(reload_saved_model):
    layer = TokenLookup(TOKENS)
    run = reload_saved_model(layer, [tf.RaggedTensorSpec([None, None], tf.string)])
    tokens = tf.ragged.constant([TRICKY[:10], [], TRICKY[10:]])
    assert run(tokens).to_list() == layer(tokens).to_list()


def test_tflite_conversion_and_interpreter(tmp_path):
    interpreter_module = pytest.importorskip(
        "ai_edge_litert.interpreter", reason="ai_edge_litert is not installed"
    )
    layer = TokenLookup(TOKENS)
    module = tf.Module()
    module.layer = layer
    module.serve = tf.function(
        lambda tokens: {"ids": module.layer(tokens)},
        input_signature=[tf.TensorSpec([None, None], tf.string)],
    )
    path = str(tmp_path / "saved_model")
    tf.saved_model.save(module, path, signatures={"serving_default": module.serve})
    converter = tf.lite.TFLiteConverter.from_saved_model(path)
    converter.allow_custom_ops = True
    tflite_model = converter.convert()
    interpreter = interpreter_module.InterpreterWithCustomOps(
        custom_op_registerers=tensorflow_text.tflite_registrar.SELECT_TFTEXT_OPS,
        model_content=tflite_model,
    )
    runner = interpreter.get_signature_runner("serving_default")
    # A dense (batch, time) batch padded with "" (27 tokens → 3 x 9).
    tokens = TRICKY + ["", "cat"]
    batch = np.array([token.encode("utf-8") for token in tokens], dtype=object).reshape(3, 9)
    tflite_ids = runner(tokens=batch)["ids"]
    np.testing.assert_array_equal(tflite_ids, layer(tf.constant(batch)).numpy())
    np.testing.assert_array_equal(tflite_ids.ravel(), [expected_id(token) for token in tokens])
