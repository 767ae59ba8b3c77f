"""Recurrent layers traced under `mobile_rnn_kernels`: same function as Keras, builtin-only TFLite, fused LSTMs, any length."""

import collections

import keras
import numpy as np
import pytest
import tensorflow as tf

from nlp_apps.export import export_tflite, run_tflite, tflite_op_names
from nlp_apps.export.mobile_rnn import mobile_rnn_kernels, run_recurrent_layer, trace_for_tflite
from nlp_apps.layers.character_embedding import CharacterEmbedding
from nlp_apps.layers.rnn_stack import RNNStack

FUSED_LSTM = "UNIDIRECTIONAL_SEQUENCE_LSTM"


def _stack(**options):
    stack = RNNStack(6, **options)
    stack.build((None, None, 4))
    # Non-zero biases, so a wrong gate order or bias layout shows.
    for variable in stack.weights:
        variable.assign(np.random.RandomState(len(variable.path)).uniform(-0.5, 0.5, variable.shape).astype("float32"))
    return stack


def _padded_batch(lengths, time_steps, seed=0):
    values = np.random.RandomState(seed).randn(len(lengths), time_steps, 4).astype("float32")
    mask = np.arange(time_steps)[None, :] < np.asarray(lengths)[:, None]
    return values, mask


def _census(path):
    return collections.Counter(tflite_op_names(path))


@pytest.mark.parametrize(
    "options",
    [
        dict(cell_type="lstm", bidirectional=True, num_layers=2, residual=True),
        dict(cell_type="lstm", bidirectional=False),
        dict(cell_type="lstm", bidirectional=True, merge_mode="sum", weight_drop=0.3),
    ],
    ids=["bilstm_2_layers_residual", "lstm", "bilstm_sum_weight_drop"],
)
def test_lstm_stack_converts_to_fused_ops_with_a_dynamic_length(tmp_path, options):
    stack = _stack(**options)

    @tf.function(input_signature=[tf.TensorSpec([1, None, 4], tf.float32, name="vectors")])
    def encode(vectors):
        return {"sequences": stack(vectors)}

    path = export_tflite(trace_for_tflite(encode, stack), tmp_path / "stack.tflite")
    census = _census(path)
    directions = stack.num_layers * (2 if stack.bidirectional else 1)
    assert census[FUSED_LSTM] == directions
    assert census["WHILE"] == 0
    assert not [name for name in census if name.startswith("Flex")]
    # The SavedModel path (Keras layers) is untouched outside the block.
    assert stack.recurrent_runner is None
    for length in (1, 5, 23):
        vectors = np.random.RandomState(length).randn(1, length, 4).astype("float32")
        expected = stack(vectors).numpy()
        got = run_tflite(path, {"vectors": vectors})["sequences"]
        assert got.shape == (1, length, stack.output_dim)
        np.testing.assert_allclose(got, expected, atol=2e-5)


@pytest.mark.parametrize("cell_type", ["lstm", "gru", "simple_rnn", "echo_state"])
def test_padded_dynamic_batch_equals_keras_in_tensorflow_and_tflite(tmp_path, cell_type):
    stack = _stack(cell_type=cell_type, bidirectional=True, return_state=True)
    vectors, mask = _padded_batch([5, 2, 0, 7], 7)

    @tf.function(
        input_signature=[tf.TensorSpec([None, None, 4], tf.float32, name="vectors"), tf.TensorSpec([None, None], tf.bool, name="mask")]
    )
    def encode(vectors, mask):
        sequences, states = stack(vectors, mask=mask)
        return {"sequences": sequences, **{f"state_{index}": state for index, state in enumerate(states)}}

    expected = {key: value.numpy() for key, value in encode(vectors, mask).items()}
    concrete = trace_for_tflite(encode, stack)
    traced = {key: value.numpy() for key, value in concrete(tf.constant(vectors), tf.constant(mask)).items()}
    path = export_tflite(concrete, tmp_path / "stack.tflite")
    assert not [name for name in _census(path) if name.startswith("Flex")]
    converted = run_tflite(path, {"vectors": vectors, "mask": mask})
    for key, value in expected.items():
        np.testing.assert_allclose(traced[key], value, atol=1e-5, err_msg=key)
        np.testing.assert_allclose(converted[key], value, atol=2e-5, err_msg=key)


def test_character_bilstm_runs_with_a_dynamic_number_of_words(tmp_path):
    layer = CharacterEmbedding(30, char_embedding_dim=5, encoder="bilstm", units=8)
    layer.build((None, None, None))
    char_ids = np.array([[[3, 4, 5, 0], [7, 0, 0, 0], [0, 0, 0, 0]]], np.int32)

    @tf.function(input_signature=[tf.TensorSpec([1, None, None], tf.int32, name="char_ids")])
    def embed(char_ids):
        return {"features": layer(char_ids)}

    path = export_tflite(trace_for_tflite(embed, layer), tmp_path / "chars.tflite")
    assert not [name for name in _census(path) if name.startswith("Flex")]
    for ids in (char_ids, char_ids[:, :1, :2]):
        np.testing.assert_allclose(run_tflite(path, {"char_ids": ids})["features"], layer(ids).numpy(), atol=2e-5)


def test_runner_is_removed_after_the_block_even_on_error():
    stack = _stack(cell_type="gru")
    with pytest.raises(RuntimeError):
        with mobile_rnn_kernels(stack):
            assert stack.recurrent_runner is not None
            raise RuntimeError("boom")
    assert stack.recurrent_runner is None


def test_unsupported_layers_are_refused_by_name():
    with pytest.raises(ValueError, match="keras.layers.RNN or Bidirectional, got Dense"):
        run_recurrent_layer(keras.layers.Dense(3), np.zeros((1, 2, 3), "float32"))
    stateful = keras.layers.GRU(3, stateful=True, name="chatty")
    stateful.build((1, 2, 3))
    with pytest.raises(ValueError, match="'chatty' is stateful"):
        run_recurrent_layer(stateful, np.zeros((1, 2, 3), "float32"))
