"""Subword preprocessing of translation pairs: ids, truncation, save/load."""

import pytest
import tensorflow as tf

from nlp_apps.data.parallel_reader import read_parallel
from nlp_apps.data.sample_data import resolve_data_dir
from nlp_apps.tasks.translation.preprocessor import BOS_ID, EOS_ID, TranslationPreprocessor


@pytest.fixture(scope="module")
def sample_pairs():
    folder = resolve_data_dir("sample:translation_sample")
    pairs = read_parallel(f"{folder}/train.en", f"{folder}/train.de")
    return list(pairs["source"]), list(pairs["target"])


@pytest.fixture(scope="module")
def preprocessor(sample_pairs):
    return TranslationPreprocessor.from_training_data(*sample_pairs, vocabulary_size=200, joint=True, max_length=12)


def test_source_ends_with_eos_and_target_is_shifted(preprocessor):
    source = preprocessor.encode_source(tf.constant(["The cat likes the apple.", ""])).to_list()
    assert source[0][-1] == EOS_ID and EOS_ID not in source[0][:-1]
    assert source[1] == [EOS_ID]  # an empty source still has one real position
    target_in, target_out = preprocessor.encode_target(tf.constant(["Die Katze mag den Apfel."]))
    assert target_in.to_list()[0][0] == BOS_ID and target_out.to_list()[0][-1] == EOS_ID
    assert target_in.to_list()[0][1:] == target_out.to_list()[0][:-1]


def test_long_sentences_are_truncated_to_max_length(preprocessor):
    long_text = " ".join(["cat"] * 100)
    assert len(preprocessor.encode_source(tf.constant([long_text])).to_list()[0]) == 12
    target_in, target_out = preprocessor.encode_target(tf.constant([long_text]))
    assert len(target_in.to_list()[0]) == len(target_out.to_list()[0]) == 12


def test_decode_target_inverts_encoding_and_drops_specials(preprocessor):
    text = "Die Katze."  # short enough not to be truncated at 12 pieces
    _, target_out = preprocessor.encode_target(tf.constant([text]))
    padded = target_out.to_tensor(shape=[1, 20])
    assert preprocessor.decode_target(padded).numpy()[0].decode("utf-8") == text


def test_joint_and_separate_vocabularies_save_and_load(tmp_path, sample_pairs, preprocessor):
    preprocessor.save(tmp_path / "joint")
    loaded = TranslationPreprocessor.load(tmp_path / "joint")
    assert loaded.joint and loaded.max_length == 12
    texts = tf.constant(["The dog sees the house."])
    assert loaded.encode_source(texts).to_list() == preprocessor.encode_source(texts).to_list()
    separate = TranslationPreprocessor.from_training_data(*sample_pairs, vocabulary_size=150, joint=False)
    assert not separate.joint and separate.source_model != separate.target_model
    with pytest.raises(ValueError, match="preprocessor.json: missing"):
        TranslationPreprocessor.load(tmp_path / "nothing")
