"""SentimentClassifier and SentimentPreprocessor: attention contract, padding, serialization, learning."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from nlp_apps.encoders.rnn_encoder import RNNEncoder
from nlp_apps.tasks.sentiment.model import SentimentClassifier
from nlp_apps.tasks.sentiment.preprocessor import SentimentPreprocessor

VOCABULARY = ["[PAD]", "[UNK]", "the", "film", "is", "great", "awful", ".", "!", "i", "loved", "it"]


def make_classifier(hierarchical=True, cell_type="gru", dropout=0.0):
    encoder = RNNEncoder(vocabulary_size=20, embedding_dim=8, cell_type=cell_type, units=6, bidirectional=True)
    return SentimentClassifier(
        encoder, num_classes=3, hierarchical=hierarchical, sentence_units=5, sentence_cell_type=cell_type,
        attention_units=7, dropout=dropout,
    )


def documents():
    """Three documents (batch, sentences=3, words=4): full, short with a padding sentence, one word."""
    token_ids = np.zeros((3, 3, 4), dtype="int32")
    token_ids[0] = [[2, 3, 4, 5], [9, 10, 11, 7], [2, 3, 8, 0]]
    token_ids[1, 0, :3] = [2, 3, 6]
    token_ids[1, 1, :2] = [4, 7]
    token_ids[2, 0, 0] = 5
    return token_ids


def numpy_outputs(model, token_ids):
    return {key: keras.ops.convert_to_numpy(value) for key, value in model.predict_with_attention(token_ids).items()}


@pytest.mark.parametrize("hierarchical", [True, False])
def test_attention_sums_to_one_over_real_positions_and_is_zero_on_padding(hierarchical):
    model = make_classifier(hierarchical)
    token_ids = documents()
    outputs = numpy_outputs(model, token_ids)
    assert outputs["probabilities"].shape == (3, 3)
    assert keras.ops.convert_to_numpy(model(token_ids)).dtype == np.float32
    np.testing.assert_allclose(outputs["probabilities"].sum(-1), 1.0, atol=1e-6)
    words, sentences = outputs["word_attention"], outputs["sentence_attention"]
    assert words.shape == (3, 3, 4) and sentences.shape == (3, 3)
    word_mask = token_ids > 0
    sentence_mask = word_mask.any(-1)
    assert (words[~word_mask] == 0).all()
    assert (sentences[~sentence_mask] == 0).all()
    np.testing.assert_allclose(sentences.sum(-1), 1.0, atol=1e-6)
    if hierarchical:
        # Each real sentence's word weights form a distribution.
        np.testing.assert_allclose(words.sum(-1)[sentence_mask], 1.0, atol=1e-6)
    else:
        np.testing.assert_allclose(words.sum((1, 2)), 1.0, atol=1e-6)


@pytest.mark.parametrize("hierarchical", [True, False])
def test_padded_sentences_and_words_do_not_change_the_output(hierarchical):
    model = make_classifier(hierarchical, cell_type="lstm")
    token_ids = documents()[1:2, :2, :3]
    padded = np.zeros((1, 5, 7), dtype="int32")
    padded[:, :2, :3] = token_ids
    reference = numpy_outputs(model, token_ids)
    outputs = numpy_outputs(model, padded)
    np.testing.assert_allclose(outputs["probabilities"], reference["probabilities"], atol=1e-6)
    np.testing.assert_allclose(outputs["word_attention"][:, :2, :3], reference["word_attention"], atol=1e-6)
    np.testing.assert_allclose(outputs["sentence_attention"][:, :2], reference["sentence_attention"], atol=1e-6)
    # Padding in the middle of a batch: the same document next to a longer one.
    batch = np.concatenate([padded, np.pad(documents()[:1], [(0, 0), (0, 2), (0, 3)])], axis=0)
    np.testing.assert_allclose(numpy_outputs(model, batch)["probabilities"][:1], reference["probabilities"], atol=1e-6)


# Keras warns (eagerly) about a softmax over an axis of size 1; with one word or sentence that is what we want.
@pytest.mark.filterwarnings("ignore:.*softmax over axis")
@pytest.mark.parametrize("hierarchical", [True, False])
def test_one_sentence_one_word_and_empty_documents_give_valid_outputs(hierarchical):
    model = make_classifier(hierarchical)
    for token_ids in (np.array([[[2, 3, 4]]], "int32"), np.array([[[5]]], "int32"), np.zeros((1, 1, 1), "int32")):
        outputs = numpy_outputs(model, token_ids)
        assert np.isfinite(outputs["probabilities"]).all()
        np.testing.assert_allclose(outputs["probabilities"].sum(), 1.0, atol=1e-6)
        assert np.isfinite(outputs["word_attention"]).all() and np.isfinite(outputs["sentence_attention"]).all()
    assert (outputs["word_attention"] == 0).all() and (outputs["sentence_attention"] == 0).all()


def test_config_round_trip_keeps_every_argument(assert_config_round_trip):
    model = make_classifier(hierarchical=False, cell_type="lstm", dropout=0.3)
    restored = assert_config_round_trip(model)
    assert (restored.num_classes, restored.hierarchical, restored.sentence_units, restored.sentence_cell_type) == (3, False, 5, "lstm")
    assert (restored.attention_units, restored.dropout, restored.encoder.units) == (7, 0.3, 6)
    other = SentimentClassifier(model.encoder, 4, sentence_bidirectional=False)
    assert SentimentClassifier.from_config(other.get_config()).sentence_bidirectional is False


@pytest.mark.parametrize("hierarchical", [True, False])
def test_keras_save_load_gives_equal_outputs(reload_keras_model, hierarchical):
    model = make_classifier(hierarchical, dropout=0.2)
    token_ids = documents()
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(token_ids, np.array([0, 1, 2]), epochs=1, verbose=0)
    expected = numpy_outputs(model, token_ids)
    restored = reload_keras_model(model)
    for key, value in numpy_outputs(restored, token_ids).items():
        np.testing.assert_allclose(value, expected[key], atol=1e-6, err_msg=key)


@pytest.mark.slow
def test_tiny_classifier_overfits_one_batch():
    model = make_classifier(hierarchical=True)
    token_ids = documents()
    labels = np.array([0, 1, 2])
    model.compile(
        optimizer=keras.optimizers.Adam(0.05),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    history = model.fit(token_ids, labels, epochs=40, verbose=0)
    assert history.history["accuracy"][-1] == 1.0


def test_preprocessor_splits_sentences_strips_markup_and_truncates():
    preprocessor = SentimentPreprocessor(VOCABULARY, lowercase=True, max_sentences=2, max_words_per_sentence=3)
    out = preprocessor(tf.constant(["The film is great! I loved it.<br /><br />It is awful.", "", "film"]))
    assert out["token_ids"].dtype == tf.int32
    np.testing.assert_array_equal(
        out["token_ids"].numpy(),
        [[[2, 3, 4], [9, 10, 11]], [[0, 0, 0], [0, 0, 0]], [[3, 0, 0], [0, 0, 0]]],
    )
    assert out["words"].to_list()[0] == [[b"The", b"film", b"is"], [b"I", b"loved", b"it"]]
    assert out["sentences"].to_list()[0] == [b"The film is great!", b"I loved it."]
    assert out["words"].to_list()[1] == [] and out["sentences"].to_list()[2] == [b"film"]


def test_preprocessor_empty_batch_is_at_least_one_by_one_and_config_round_trips():
    preprocessor = SentimentPreprocessor(VOCABULARY, lowercase=False, max_sentences=4, max_words_per_sentence=9)
    assert tuple(preprocessor(tf.constant(["", "  "]))["token_ids"].shape) == (2, 1, 1)
    config = preprocessor.get_config()
    assert SentimentPreprocessor.from_config(config).get_config() == config
    assert (config["lowercase"], config["max_sentences"], config["max_words_per_sentence"]) == (False, 4, 9)
    with pytest.raises(ValueError, match="max_sentences"):
        SentimentPreprocessor(VOCABULARY, max_sentences=-1)
