import base64

import numpy as np
import pytest
import sentencepiece
import tensorflow as tf
import tensorflow_text

import keras
from nlp_apps.text import SubwordTokenizer, train_sentencepiece

CORPUS = [
    "the quick brown fox jumps over the lazy dog",
    "the cat sat on the mat",
    "hello world, this is a tiny corpus.",
    "naïve café 東京 😀 <sep> markers",
    "",
] * 4
TEXTS = ["the cat sat on the mat", "hello world <sep> the fox", "naïve 東京 😀", "", "unseen zebra qqq"]


@pytest.fixture(scope="module")
def unigram_model():
    return train_sentencepiece(CORPUS, vocabulary_size=80, user_defined_symbols=["<sep>"], seed=7)


@pytest.fixture(scope="module")
def bpe_model():
    return train_sentencepiece(CORPUS, vocabulary_size=60, model_type="bpe", seed=7)


def test_training_ids_and_determinism(unigram_model):
    processor = sentencepiece.SentencePieceProcessor(model_proto=unigram_model)
    assert [processor.id_to_piece(i) for i in range(5)] == ["<pad>", "<unk>", "<s>", "</s>", "<sep>"]
    assert (processor.pad_id(), processor.unk_id(), processor.bos_id(), processor.eos_id()) == (0, 1, 2, 3)
    again = train_sentencepiece(CORPUS, vocabulary_size=80, user_defined_symbols=["<sep>"], seed=7)
    assert again == unigram_model


@pytest.mark.parametrize("model_name", ["unigram_model", "bpe_model"])
def test_tokenize_detokenize_round_trip(model_name, request):
    model = request.getfixturevalue(model_name)
    tokenizer = SubwordTokenizer(model)
    ids = tokenizer(tf.constant(TEXTS))
    assert isinstance(ids, tf.RaggedTensor) and ids.dtype == tf.int64
    assert ids.row_lengths().numpy()[3] == 0
    assert 0 not in ids.flat_values.numpy()
    decoded = [text.decode("utf-8") for text in tokenizer.detokenize(ids).numpy()]
    assert decoded[:4] == TEXTS[:4]
    # Same ids as the sentencepiece library.
    processor = sentencepiece.SentencePieceProcessor(model_proto=model)
    assert ids.to_list() == [processor.encode(text) for text in TEXTS]
    assert tokenizer.vocabulary_size == processor.get_piece_size()
    assert tokenizer.get_vocabulary()[:4] == ["<pad>", "<unk>", "<s>", "</s>"]


def test_bos_eos_and_padded_detokenize(unigram_model):
    tokenizer = SubwordTokenizer(unigram_model, add_bos=True, add_eos=True)
    ids = tokenizer(tf.constant(TEXTS[:2]))
    assert all(row[0] == 2 and row[-1] == 3 for row in ids.to_list())
    padded = ids.to_tensor()
    assert [t.decode() for t in tokenizer.detokenize(padded).numpy()] == TEXTS[:2]
    assert tokenizer.detokenize(ids[0]).numpy().decode() == TEXTS[0]


def test_whitespace_is_normalised(unigram_model):
    tokenizer = SubwordTokenizer(unigram_model)
    text = tokenizer.detokenize(tokenizer(["  the   cat  "])).numpy()[0]
    assert text == b"the cat"


def test_training_validation():
    with pytest.raises(ValueError, match="model_type"):
        train_sentencepiece(CORPUS, 50, model_type="word2vec")
    with pytest.raises(ValueError, match="vocabulary_size"):
        train_sentencepiece(CORPUS, 4)
    with pytest.raises(ValueError, match="no non-empty sentence"):
        train_sentencepiece(["", "  "], 50)
    with pytest.raises(ValueError, match=r"sentences\[1\]"):
        train_sentencepiece(["ok", 3], 50)


def test_layer_validation():
    with pytest.raises(ValueError, match="not a valid SentencePiece model"):
        SubwordTokenizer(b"not a model")
    with pytest.raises(ValueError, match="base64"):
        SubwordTokenizer("not base64 !!")


def test_config_round_trip(unigram_model, assert_config_round_trip):
    layer = SubwordTokenizer(unigram_model, add_bos=True, add_eos=True, name="pieces")
    config = layer.get_config()
    assert base64.b64decode(config["model_bytes"]) == unigram_model
    clone = assert_config_round_trip(layer)
    assert clone.model_bytes == unigram_model and clone.add_bos and clone.add_eos
    assert clone(TEXTS).to_list() == layer(TEXTS).to_list()


@pytest.mark.parametrize("model_name", ["unigram_model", "bpe_model"])
def test_keras_file_and_saved_model_round_trip(model_name, request, reload_keras_model, reload_saved_model):
    layer = SubwordTokenizer(request.getfixturevalue(model_name), add_eos=True)
    assert layer.tflite_compatible == (model_name == "unigram_model")
    inputs = keras.Input(shape=(), dtype="string")
    model = keras.Model(inputs, layer(inputs))
    strings = tf.constant(TEXTS)
    assert reload_keras_model(model)(strings).to_list() == layer(strings).to_list()
    run = reload_saved_model(
        layer,
        [tf.TensorSpec([None], tf.string)],
        lambda layer, strings: {"ids": layer(strings), "text": layer.detokenize(layer(strings))},
    )
    output = run(strings)
    assert output["ids"].to_list() == layer(strings).to_list()
    np.testing.assert_array_equal(output["text"].numpy(), layer.detokenize(layer(strings)).numpy())


def test_tflite_tokenize(unigram_model, tmp_path):
    interpreter_module = pytest.importorskip(
        "ai_edge_litert.interpreter", reason="ai_edge_litert is not installed"
    )
    layer = SubwordTokenizer(unigram_model, add_bos=True)
    module = tf.Module()
    module.layer = layer

    def serve(strings):
        ids = module.layer(strings)
        return {"ids": ids.flat_values, "row_splits": ids.row_splits}

    module.serve = tf.function(serve, input_signature=[tf.TensorSpec([None], tf.string)])
    path = str(tmp_path / "saved_model")
    tf.saved_model.save(module, path, signatures={"serving_default": module.serve})
    converter = tf.lite.TFLiteConverter.from_saved_model(path)
    converter.allow_custom_ops = True
    interpreter = interpreter_module.InterpreterWithCustomOps(
        custom_op_registerers=tensorflow_text.tflite_registrar.SELECT_TFTEXT_OPS,
        model_content=converter.convert(),
    )
    output = interpreter.get_signature_runner("serving_default")(
        strings=np.array([text.encode("utf-8") for text in TEXTS], dtype=object)
    )
    expected = layer(tf.constant(TEXTS))
    np.testing.assert_array_equal(output["ids"], expected.flat_values.numpy())
    np.testing.assert_array_equal(output["row_splits"], expected.row_splits.numpy())


def test_unigram_ids_match_sentencepiece_on_varied_text():
    rng = np.random.default_rng(3)
    words = ["the", "cat", "ＦＵＬＬ", "ﬁne", "café", "cafe\u0301", "東京", "😀", "don't", "Ⅻ", "x²", "a\u00a0b",
             "ümlaut", "naïve", "42", "3.5", "--", "…", "İstanbul", "ß", "Σσ"]
    sentences = [" ".join(rng.choice(words, size=rng.integers(1, 12))) for _ in range(300)]
    model = train_sentencepiece(sentences[:200], vocabulary_size=120, seed=1)
    tokenizer = SubwordTokenizer(model)
    processor = sentencepiece.SentencePieceProcessor(model_proto=model)
    ids = tokenizer(tf.constant(sentences)).to_list()
    assert ids == [processor.encode(sentence) for sentence in sentences]
    decoded = [text.decode("utf-8") for text in tokenizer.detokenize(tf.ragged.constant(ids)).numpy()]
    assert decoded == [processor.decode(row) for row in ids]
