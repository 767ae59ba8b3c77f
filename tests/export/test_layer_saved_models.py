"""Every shared layer and encoder exports to a SavedModel whose outputs equal Keras's."""

import numpy as np
import pytest
import tensorflow as tf

from nlp_apps.encoders.rnn_encoder import RNNEncoder
from nlp_apps.export.exporter import export_saved_model
from nlp_apps.layers.attention_pooling import AttentionPooling
from nlp_apps.layers.bahdanau_attention import BahdanauAttention
from nlp_apps.layers.character_embedding import CharacterEmbedding
from nlp_apps.layers.crf import CRF
from nlp_apps.layers.luong_attention import LuongAttention
from nlp_apps.layers.rnn_stack import RNNStack
from nlp_apps.layers.token_embedding import TokenEmbedding

RNG = np.random.default_rng(7)
TOKEN_IDS = np.array([[3, 4, 5, 0], [6, 7, 0, 0]], dtype="int32")
MASK = TOKEN_IDS > 0
CHAR_IDS = (RNG.integers(2, 9, size=(2, 4, 5)) * MASK[..., None]).astype("int32")
VECTORS = RNG.normal(size=(2, 4, 6)).astype("float32")
QUERY = RNG.normal(size=(2, 6)).astype("float32")


def ids_spec(rank=2):
    return tf.TensorSpec([None] * rank, tf.int32)


def float_spec(*shape):
    return tf.TensorSpec(shape, tf.float32)


def bool_spec():
    return tf.TensorSpec([None, None], tf.bool)


CASES = {
    "token_embedding": (lambda: TokenEmbedding(10, 4), lambda layer, ids: layer(ids), [ids_spec()], [TOKEN_IDS]),
    "char_cnn": (
        lambda: CharacterEmbedding(10, char_embedding_dim=3, encoder="cnn", units=4),
        lambda layer, chars: layer(chars), [ids_spec(3)], [CHAR_IDS],
    ),
    "char_bilstm": (
        lambda: CharacterEmbedding(10, char_embedding_dim=3, encoder="bilstm", units=4),
        lambda layer, chars: layer(chars), [ids_spec(3)], [CHAR_IDS],
    ),
    **{
        f"rnn_stack_{cell}": (
            lambda cell=cell: RNNStack(5, cell_type=cell, num_layers=2, bidirectional=True, residual=True),
            lambda layer, vectors, mask: layer(vectors, mask=mask),
            [float_spec(None, None, 6), bool_spec()], [VECTORS, MASK],
        )
        for cell in ("lstm", "gru", "simple_rnn", "echo_state")
    },
    "rnn_encoder": (
        lambda: RNNEncoder(
            10, 4, units=5, bidirectional=True, char_alphabet_size=10, char_embedding_dim=3, char_units=4,
            case_vocabulary_size=7, case_embedding_dim=2,
        ),
        lambda layer, ids, chars: layer({"token_ids": ids, "char_ids": chars, "case_ids": tf.minimum(ids, 6)}),
        [ids_spec(), ids_spec(3)], [TOKEN_IDS, CHAR_IDS],
    ),
    "bahdanau": (
        lambda: BahdanauAttention(5),
        lambda layer, query, values, mask: layer(query, values, values_mask=mask),
        [float_spec(None, 6), float_spec(None, None, 6), bool_spec()], [QUERY, VECTORS, MASK],
    ),
    "luong_general": (
        lambda: LuongAttention("general"),
        lambda layer, query, values, mask: layer(query, values, values_mask=mask),
        [float_spec(None, 6), float_spec(None, None, 6), bool_spec()], [QUERY, VECTORS, MASK],
    ),
    "attention_pooling": (
        lambda: AttentionPooling(5, return_attention_scores=True),
        lambda layer, vectors, mask: layer(vectors, mask=mask),
        [float_spec(None, None, 6), bool_spec()], [VECTORS, MASK],
    ),
    "crf_decode": (
        lambda: CRF(6),
        lambda layer, potentials, mask: layer.decode(potentials, mask=mask),
        [float_spec(None, None, 6), bool_spec()], [VECTORS, MASK],
    ),
}


def as_list(outputs):
    return [np.asarray(value) for value in (outputs if isinstance(outputs, (list, tuple)) else [outputs])]


@pytest.mark.parametrize("name", sorted(CASES))
def test_saved_model_outputs_equal_keras(tmp_path, name):
    make_layer, apply, specs, inputs = CASES[name]
    layer = make_layer()
    expected = as_list(apply(layer, *[tf.constant(value) for value in inputs]))

    module = tf.Module()
    module.layer = layer
    module.serve = tf.function(lambda *args: apply(layer, *args), input_signature=specs)
    path = export_saved_model(module, tmp_path / name, signatures={"serving_default": module.serve})

    reloaded = tf.saved_model.load(str(path))
    actual = as_list(reloaded.serve(*[tf.constant(value) for value in inputs]))
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected):
        np.testing.assert_allclose(got, want, atol=1e-6)
