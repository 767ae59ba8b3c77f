"""SequenceTagger: shapes, decoding contract, serialization, and learning."""

import keras
import numpy as np
import pytest

from nlp_apps.encoders.rnn_encoder import RNNEncoder
from nlp_apps.layers.crf_constraints import allowed_transitions
from nlp_apps.tasks.ner.model import SequenceTagger

TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def make_inputs(batch=3, time=5, chars=4, seed=0):
    rng = np.random.default_rng(seed)
    token_ids = rng.integers(2, 20, size=(batch, time)).astype("int32")
    token_ids[0, 3:] = 0  # a shorter, right-padded sentence
    char_ids = rng.integers(2, 10, size=(batch, time, chars)).astype("int32") * (token_ids[..., None] > 0)
    case_ids = rng.integers(1, 7, size=(batch, time)).astype("int32") * (token_ids > 0)
    return {"token_ids": token_ids, "char_ids": char_ids, "case_ids": case_ids}


def make_tagger(use_crf=True, dropout=0.25):
    encoder = RNNEncoder(
        vocabulary_size=20, embedding_dim=8, cell_type="lstm", units=6, bidirectional=True,
        char_alphabet_size=10, char_embedding_dim=4, char_units=5, case_vocabulary_size=7, case_embedding_dim=3,
    )
    constraints = {}
    if use_crf:
        allowed, start, end = allowed_transitions(TAGS, "iob2")
        constraints = dict(allowed_transitions=allowed, allowed_start=start, allowed_end=end)
    return SequenceTagger(encoder, num_tags=len(TAGS), use_crf=use_crf, dropout=dropout, **constraints)


@pytest.mark.parametrize("use_crf", [True, False])
def test_shapes_and_padding_decodes_to_zero(use_crf):
    tagger = make_tagger(use_crf)
    inputs = make_inputs()
    emissions = tagger(inputs)
    assert emissions.shape == (3, 5, len(TAGS))
    assert emissions.dtype == "float32"
    tags = keras.ops.convert_to_numpy(tagger.decode(inputs))
    assert tags.shape == (3, 5)
    assert tags.dtype == np.int32
    assert (tags[0, 3:] == 0).all()
    assert ((tags >= 0) & (tags < len(TAGS))).all()


def test_config_round_trip_keeps_every_argument(assert_config_round_trip):
    tagger = make_tagger(use_crf=True, dropout=0.3)
    restored = assert_config_round_trip(tagger)
    assert restored.num_tags == len(TAGS) and restored.use_crf and restored.dropout == 0.3
    assert restored.allowed_transitions == tagger.allowed_transitions


@pytest.mark.parametrize("use_crf", [True, False])
def test_keras_save_load_gives_equal_outputs(reload_keras_model, use_crf):
    tagger = make_tagger(use_crf)
    inputs = make_inputs()
    # One training step, so the optimizer state is saved and restored too.
    tagger.compile(optimizer="adam")
    tagger.fit(inputs, np.zeros((3, 5), dtype="int32"), epochs=1, verbose=0)
    expected_emissions = keras.ops.convert_to_numpy(tagger(inputs))
    expected_tags = keras.ops.convert_to_numpy(tagger.decode(inputs))
    restored = reload_keras_model(tagger)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(restored(inputs)), expected_emissions, atol=1e-6)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(restored.decode(inputs)), expected_tags)


@pytest.mark.slow
@pytest.mark.parametrize("use_crf", [True, False])
def test_tiny_tagger_overfits_one_batch(use_crf):
    tagger = make_tagger(use_crf, dropout=0.0)
    inputs = make_inputs(batch=8, time=6, seed=1)
    mask = inputs["token_ids"] > 0
    # A valid IOB2 target per sentence: a PER entity, then a LOC entity.
    targets = np.tile(np.array([1, 2, 0, 3, 4, 0], dtype="int32"), (8, 1)) * mask
    tagger.compile(optimizer=keras.optimizers.Adam(0.05))
    history = tagger.fit(inputs, targets, epochs=60, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0] / 10
    decoded = keras.ops.convert_to_numpy(tagger.decode(inputs))
    np.testing.assert_array_equal(decoded[mask], targets[mask])


def test_rejects_fewer_than_two_tags():
    with pytest.raises(ValueError, match="num_tags"):
        SequenceTagger(RNNEncoder(vocabulary_size=5, embedding_dim=2, units=2), num_tags=1)
