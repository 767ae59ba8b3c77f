"""LanguageModel: shapes, weight tying, carried state, serialization, generation and learning."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from nlp_apps.data.token_stream import stream_dataset
from nlp_apps.encoders.rnn_encoder import RNNEncoder
from nlp_apps.metrics.perplexity import stream_negative_log_likelihood, stream_perplexity
from nlp_apps.metrics.token_losses import masked_token_losses
from nlp_apps.tasks.language_model.model import LanguageModel
from nlp_apps.tasks.language_model.inference import LanguageModelInference
from nlp_apps.tasks.language_model.preprocessor import LanguageModelPreprocessor

VOCABULARY_SIZE = 23


def make_model(
    tie_weights=True, dropout=0.0, units=12, embedding_dim=8, cell_type="lstm", num_layers=2,
    vocabulary_size=VOCABULARY_SIZE, num_sampled=0, weight_drop=0.0,
):
    encoder = RNNEncoder(
        vocabulary_size, embedding_dim, cell_type=cell_type, units=units, num_layers=num_layers,
        weight_drop=weight_drop, return_state=True,
    )
    model = LanguageModel(encoder, tie_weights=tie_weights, dropout=dropout, num_sampled=num_sampled)
    model.build((None, None))
    return model


def token_ids(batch=3, time=6, seed=0):
    ids = np.random.default_rng(seed).integers(1, VOCABULARY_SIZE, size=(batch, time)).astype("int32")
    ids[0, 4:] = 0
    return ids


@pytest.mark.parametrize("tie_weights", [True, False])
def test_shapes_dtypes_and_states(tie_weights):
    model = make_model(tie_weights)
    logits, states = model.call_with_state(token_ids())
    assert logits.shape == (3, 6, VOCABULARY_SIZE) and logits.dtype == "float32"
    assert [tuple(state.shape) for state in states] == [(3, 12)] * 4  # 2 layers x (h, c)
    assert model.state_sizes == [12] * 4


def test_weight_tying_shares_one_variable():
    model = make_model(tie_weights=True, units=12, embedding_dim=8)
    embedding = model.encoder.token_embedding.embeddings
    vocabulary_shaped = [weight for weight in model.weights if VOCABULARY_SIZE in tuple(weight.shape) and len(weight.shape) == 2]
    assert len(vocabulary_shaped) == 1 and vocabulary_shaped[0] is embedding
    # Encoder output (12) differs from the embedding size (8): a projection is added.
    assert model.projection is not None and model.output_layer is None
    # Changing the embedding matrix changes the output logits.
    before = keras.ops.convert_to_numpy(model(token_ids()))
    embedding.assign(embedding.numpy() * 2.0)
    assert not np.allclose(keras.ops.convert_to_numpy(model(token_ids())), before)
    # Same sizes: no projection.
    assert make_model(tie_weights=True, units=8, embedding_dim=8).projection is None
    untied = make_model(tie_weights=False)
    assert untied.output_layer is not None
    assert len([w for w in untied.weights if VOCABULARY_SIZE in tuple(w.shape) and len(w.shape) == 2]) == 2


def test_bidirectional_or_stateless_encoder_is_rejected():
    with pytest.raises(ValueError, match="unidirectional"):
        LanguageModel(RNNEncoder(10, 4, units=4, bidirectional=True, return_state=True))
    with pytest.raises(ValueError, match="return_state"):
        LanguageModel(RNNEncoder(10, 4, units=4))


def test_config_round_trip_keeps_every_argument(assert_config_round_trip):
    encoder = RNNEncoder(VOCABULARY_SIZE, 8, cell_type="gru", units=12, return_state=True)
    model = LanguageModel(encoder, tie_weights=False, dropout=0.3, num_sampled=5)
    restored = assert_config_round_trip(model)
    assert restored.tie_weights is False and restored.dropout == 0.3 and restored.num_sampled == 5
    assert restored.encoder.cell_type == "gru"


@pytest.mark.parametrize("tie_weights,units", [(True, 12), (True, 8), (False, 12)])
def test_keras_save_load_gives_equal_outputs(reload_keras_model, tie_weights, units):
    model = make_model(tie_weights=tie_weights, dropout=0.2, units=units)
    model.compile(optimizer="adam")
    model.fit(token_ids(), np.roll(token_ids(), -1, axis=1), epochs=1, verbose=0)
    expected = keras.ops.convert_to_numpy(model(token_ids()))
    restored = reload_keras_model(model)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(restored(token_ids())), expected, atol=1e-6)


def test_loss_ignores_padding_targets():
    logits = tf.random.normal([2, 3, 5])
    targets = tf.constant([[1, 2, 0], [3, 0, 0]])
    losses, weights = masked_token_losses(targets, logits)
    assert weights.numpy().tolist() == [[1, 1, 0], [1, 0, 0]]
    assert losses.numpy()[0, 2] == 0 and losses.numpy()[1, 1] == 0


def test_carried_state_equals_one_long_unrolled_pass():
    model = make_model(tie_weights=True)
    stream = np.random.default_rng(3).integers(1, VOCABULARY_SIZE, size=61).astype("int32")
    # One pass over the whole stream.
    losses, _ = masked_token_losses(stream[None, 1:], model(stream[None, :-1]))
    expected_total = float(tf.reduce_sum(losses))
    # Windows of 7 with the state carried (last window padded and masked).
    total, count = stream_negative_log_likelihood(model, stream, num_streams=1, window_length=7)
    assert count == 60
    assert total == pytest.approx(expected_total, rel=1e-5)


def test_streaming_train_step_carries_and_resets_the_state():
    model = make_model(tie_weights=True, num_layers=1)
    model.compile(optimizer="adam")
    model.start_streaming(2)
    ids = np.random.default_rng(0).integers(2, VOCABULARY_SIZE, size=200)
    model.fit(stream_dataset(ids, 2, 10), epochs=1, verbose=0, shuffle=False)
    carried = [variable.numpy() for variable in model._stream_states]
    assert all(np.abs(state).sum() > 0 for state in carried)
    # The carried state is not part of the model's weights (nor of .keras files).
    assert all(variable is not weight for variable in model._stream_states for weight in model.weights)
    model.reset_stream_state()
    assert all(np.abs(variable.numpy()).sum() == 0 for variable in model._stream_states)
    model.stop_streaming()


@pytest.fixture(scope="module")
def char_inference():
    preprocessor = LanguageModelPreprocessor.from_training_data("char", ["abc abd", "bcd a"])
    keras.utils.set_random_seed(5)
    model = make_model(vocabulary_size=preprocessor.vocabulary_size)
    return LanguageModelInference(model, preprocessor)


def _generate(inference, prompts, max_length=12, temperature=1.0, top_k=0, top_p=1.0, seed=1):
    function = tf.function(inference.generate)
    outputs = function(
        tf.constant(prompts), tf.constant(max_length), tf.constant(temperature),
        tf.constant(top_k), tf.constant(top_p), tf.constant(seed, tf.int64),
    )
    return [text.decode("utf-8") for text in outputs["text"].numpy()], outputs["token_ids"].numpy()


def test_generation_is_deterministic_per_seed_and_respects_max_length(char_inference):
    prompts = ["ab", "", "zz😀"]  # an empty prompt and unknown characters
    first, ids = _generate(char_inference, prompts, seed=11)
    again, _ = _generate(char_inference, prompts, seed=11)
    other, _ = _generate(char_inference, prompts, seed=12)
    assert first == again
    assert first != other
    assert ids.shape == (3, 12) and all(len(text) <= 12 for text in first)
    assert (ids > 1).all()  # neither padding nor the unknown id is sampled
    _, none = _generate(char_inference, prompts, max_length=0)
    assert none.shape == (3, 0)


def test_greedy_and_top_k_one_agree(char_inference):
    greedy, _ = _generate(char_inference, ["ab"], temperature=0.0, seed=1)
    top_one, _ = _generate(char_inference, ["ab"], temperature=1.0, top_k=1, seed=99)
    assert greedy == top_one


def test_score_handles_empty_and_unknown_text(char_inference):
    scores = char_inference.score(tf.constant(["abc", "", "zz😀"]))
    assert scores["num_tokens"].numpy().tolist() == [3, 0, 3]
    assert scores["perplexity"].numpy()[1] == pytest.approx(1.0)
    assert np.isfinite(scores["log_probability"].numpy()).all()


def test_tiny_model_memorises_a_short_text():
    text = "the cat sat on the mat . " * 2
    preprocessor = LanguageModelPreprocessor.from_training_data("word", [text])
    ids = preprocessor.encode_stream([text] * 20)
    keras.utils.set_random_seed(0)
    model = make_model(vocabulary_size=preprocessor.vocabulary_size, units=32, embedding_dim=32, num_layers=1)
    model.compile(optimizer=keras.optimizers.Adam(0.02))
    model.start_streaming(4)
    model.fit(stream_dataset(ids, 4, 16).repeat(20), epochs=1, verbose=0, shuffle=False)
    model.stop_streaming()
    assert stream_perplexity(model, ids, num_streams=1, window_length=16)["perplexity"] < 1.2


@pytest.mark.parametrize("tie_weights", [True, False])
def test_mixed_precision_keeps_float32_logits_and_carries_state(tie_weights):
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = make_model(tie_weights=tie_weights, num_layers=1)
        model.compile(optimizer="adam")
        model.start_streaming(2)
        ids = np.random.default_rng(0).integers(2, VOCABULARY_SIZE, size=100)
        model.fit(stream_dataset(ids, 2, 10), epochs=1, verbose=0, shuffle=False)
        assert model(token_ids()).dtype == "float32"
        assert np.isfinite(stream_perplexity(model, ids, num_streams=1, window_length=10)["perplexity"])
    finally:
        keras.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize("tie_weights,streaming", [(True, True), (False, False)])
def test_sampled_softmax_training_learns_and_evaluates_exactly(tie_weights, streaming):
    text = "a b c d e f g h " * 4
    preprocessor = LanguageModelPreprocessor.from_training_data("word", [text])
    ids = preprocessor.encode_stream([text] * 10)
    keras.utils.set_random_seed(0)
    model = make_model(
        tie_weights=tie_weights, vocabulary_size=preprocessor.vocabulary_size, units=16, embedding_dim=16,
        num_layers=1, num_sampled=4,
    )
    model.compile(optimizer=keras.optimizers.Adam(0.02))
    before = stream_perplexity(model, ids, num_streams=1, window_length=16)["perplexity"]
    if streaming:
        model.start_streaming(4)
    model.fit(stream_dataset(ids, 4, 16).repeat(10), epochs=1, verbose=0, shuffle=False)
    model.stop_streaming()
    after = stream_perplexity(model, ids, num_streams=1, window_length=16)["perplexity"]
    assert after < before / 2


@pytest.mark.parametrize("cell_type", ["lstm", "gru"])
def test_weight_drop_trains_streaming_saves_and_leaves_inference_unchanged(reload_keras_model, cell_type):
    model = make_model(cell_type=cell_type, weight_drop=0.5)
    plain = make_model(cell_type=cell_type)
    assert model.encoder.rnn_stack.weight_drop == 0.5
    model.compile(optimizer="adam")
    model.start_streaming(2)
    ids = np.random.default_rng(0).integers(2, VOCABULARY_SIZE, size=200)
    model.fit(stream_dataset(ids, 2, 10), epochs=1, verbose=0, shuffle=False)
    model.stop_streaming()
    plain.set_weights(model.get_weights())
    expected = keras.ops.convert_to_numpy(plain(token_ids()))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(token_ids())), expected, rtol=1e-6, atol=1e-6)
    assert not np.allclose(keras.ops.convert_to_numpy(model(token_ids(), training=True)), expected)
    restored = reload_keras_model(model)
    assert restored.encoder.weight_drop == 0.5
    np.testing.assert_allclose(keras.ops.convert_to_numpy(restored(token_ids())), expected, atol=1e-6)
