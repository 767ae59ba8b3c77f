import numpy as np
import pytest
import tensorflow as tf

import keras
from nlp_apps.text import CASE_VOCABULARY_SIZE, CaseFeatures, case_class
from nlp_apps.text import case_features

EXPECTED = {
    "": case_features.PAD_CASE,
    "said": case_features.LOWER_CASE,
    "well-known": case_features.LOWER_CASE,
    "e.g.": case_features.LOWER_CASE,
    "'s": case_features.LOWER_CASE,
    "naïve": case_features.LOWER_CASE,
    "Paris": case_features.CAPITALISED_CASE,
    "McDonald": case_features.CAPITALISED_CASE,
    "O'Neil": case_features.CAPITALISED_CASE,
    "I": case_features.CAPITALISED_CASE,
    "Über": case_features.CAPITALISED_CASE,
    "NATO": case_features.ALL_CAPS_CASE,
    "U.N.": case_features.ALL_CAPS_CASE,
    "ÉTÉ": case_features.ALL_CAPS_CASE,
    "42": case_features.NUMERIC_CASE,
    "3.5": case_features.NUMERIC_CASE,
    "1,000": case_features.NUMERIC_CASE,
    "1996-08-22": case_features.NUMERIC_CASE,
    "٣٤": case_features.NUMERIC_CASE,
    "A4": case_features.CONTAINS_DIGIT_CASE,
    "3-year-old": case_features.CONTAINS_DIGIT_CASE,
    "COVID-19": case_features.CONTAINS_DIGIT_CASE,
    "3.": case_features.CONTAINS_DIGIT_CASE,
    ",": case_features.OTHER_CASE,
    "...": case_features.OTHER_CASE,
    "AT&T": case_features.OTHER_CASE,
    "iPhone": case_features.OTHER_CASE,
    "東京": case_features.OTHER_CASE,
    "مرحبا": case_features.OTHER_CASE,
    "😀": case_features.OTHER_CASE,
    "-": case_features.OTHER_CASE,
    "'": case_features.OTHER_CASE,
}

MORE_TOKENS = [
    "a", "A", "AB", "Ab", "aB", "a.", ".a", "A.", "-A", "A-", "a-b", "A-B", "A'B", "’s", "ǅungla",
    "ǄUNGLA", "x²", "½", "Ⅻ", "1/2", "10:30", "1.2.3", "1..2", "e\u0301", "E\u0301TÉ", "ß", "Σσ",
    "ΣΑΣ", "\u00ad", "a\u200bb", "a b", "tab\there", "a\nb", "۱۲۳", "ไทย", "한국어", "Ǆ",
]


def test_expected_classes():
    tokens = list(EXPECTED)
    assert [case_class(token) for token in tokens] == list(EXPECTED.values())
    ids = CaseFeatures()(tf.constant(tokens))
    assert ids.dtype == tf.int64
    assert ids.numpy().tolist() == list(EXPECTED.values())


def test_graph_equals_python_case_class():
    tokens = list(EXPECTED) + MORE_TOKENS
    graph_ids = CaseFeatures()(tf.constant(tokens)).numpy().tolist()
    assert graph_ids == [case_class(token) for token in tokens]
    assert all(0 <= class_id < CASE_VOCABULARY_SIZE for class_id in graph_ids)


def test_ragged_and_dense_shapes():
    layer = CaseFeatures()
    ragged = layer(tf.ragged.constant([["Paris", "is"], [], ["NATO"]]))
    assert ragged.to_list() == [[2, 1], [], [3]]
    dense = layer(tf.constant([["Paris", ""], ["42", ","]]))
    np.testing.assert_array_equal(dense.numpy(), [[2, 0], [4, 6]])


def test_case_class_rejects_non_strings():
    with pytest.raises(ValueError, match="case_class"):
        case_class(3)


def test_config_and_save_round_trips(assert_config_round_trip, reload_keras_model, reload_saved_model):
    layer = CaseFeatures(name="casing")
    assert_config_round_trip(layer)
    inputs = keras.Input(shape=(None,), dtype="string")
    model = keras.Model(inputs, layer(inputs))
    tokens = tf.constant([["Paris", "NATO", "", "x"]])
    np.testing.assert_array_equal(reload_keras_model(model)(tokens), [[2, 3, 0, 1]])
    run = reload_saved_model(layer, [tf.RaggedTensorSpec([None, None], tf.string)])
    ragged = tf.ragged.constant([list(EXPECTED)[:10], []])
    assert run(ragged).to_list() == layer(ragged).to_list()
