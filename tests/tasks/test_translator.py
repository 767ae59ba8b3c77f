"""Translator: shapes, loss, encoder-decoder bridge, search, serialization and learning."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from nlp_apps.decoders.attention_decoder import AttentionDecoder
from nlp_apps.encoders.rnn_encoder import RNNEncoder
from nlp_apps.tasks.translation.model import Translator, label_smoothed_token_losses

SOURCE_VOCABULARY = 17
TARGET_VOCABULARY = 15


def make_translator(encoder_options=None, decoder_options=None, **options):
    encoder_options = dict(dict(units=4, bidirectional=True, num_layers=2), **(encoder_options or {}))
    decoder_options = dict(dict(num_layers=2, attention="luong_general"), **(decoder_options or {}))
    encoder = RNNEncoder(SOURCE_VOCABULARY, 5, return_state=True, **encoder_options)
    decoder = AttentionDecoder(TARGET_VOCABULARY, 5, 6, **decoder_options)
    model = Translator(encoder, decoder, **options)
    model.build()
    return model


def batch():
    source = np.array([[4, 5, 6, 7], [8, 9, 0, 0], [0, 0, 0, 0]], "int32")  # last row: empty source
    target_in = np.array([[2, 4, 5, 6], [2, 7, 0, 0], [2, 8, 9, 0]], "int32")
    target_out = np.array([[4, 5, 6, 3], [7, 3, 0, 0], [8, 9, 3, 0]], "int32")
    return source, target_in, target_out


def numpy(value):
    return keras.ops.convert_to_numpy(value)


@pytest.fixture(scope="module")
def translator():
    keras.utils.set_random_seed(7)
    return make_translator(decoder_options=dict(cell_type="gru", attention="bahdanau"))


def test_shapes_and_empty_source(translator):
    source, target_in, _ = batch()
    logits = numpy(translator({"source_ids": source, "target_in_ids": target_in}))
    assert logits.shape == (3, 4, TARGET_VOCABULARY) and np.all(np.isfinite(logits))
    memory, memory_mask, states = translator.encode(source)
    assert memory.shape == (3, 4, 8) and numpy(memory_mask).tolist()[2] == [False] * 4
    assert len(states) == translator.decoder.num_states
    attention = numpy(translator.attention_for(source, target_in))
    assert attention.shape == (3, 4, 4)
    np.testing.assert_allclose(attention[:2].sum(-1), 1.0, atol=1e-5)
    assert np.all(attention[1, :, 2:] == 0) and np.all(attention[2] == 0)
    for method in ("beam", "greedy", "sample"):
        output = translator.translate_ids(source, 5, beam_size=3, method=method)
        ids, scores, weights = numpy(output["ids"]), numpy(output["scores"]), numpy(output["attention"])
        assert ids.dtype == np.int32 and ids.shape[0] == 3 and ids.shape[1] <= 5
        assert scores.shape == (3,) and np.all(np.isfinite(scores))
        assert weights.shape == (3, ids.shape[1], 4) and np.all(np.isfinite(weights))
        assert not np.any(ids == translator.eos_id)


def test_source_padding_does_not_change_outputs(translator):
    source, target_in, _ = batch()
    padded = np.concatenate([source, np.zeros((3, 3), "int32")], axis=1)
    logits = numpy(translator({"source_ids": source, "target_in_ids": target_in}))
    padded_logits = numpy(translator({"source_ids": padded, "target_in_ids": target_in}))
    np.testing.assert_allclose(padded_logits, logits, atol=1e-5)
    short = translator.translate_ids(source, 6, beam_size=2)
    long = translator.translate_ids(padded, 6, beam_size=2)
    np.testing.assert_array_equal(numpy(long["ids"]), numpy(short["ids"]))
    np.testing.assert_allclose(numpy(long["attention"])[:, :, :4], numpy(short["attention"]), atol=1e-6)
    assert np.all(numpy(long["attention"])[:, :, 4:] == 0)


def test_beam_size_one_equals_greedy(translator):
    source, _, _ = batch()
    beam = translator.translate_ids(source, 6, beam_size=1, length_penalty=0.6)
    greedy = translator.translate_ids(source, 6, method="greedy", length_penalty=0.6)
    for key in ("ids", "scores", "attention"):
        np.testing.assert_array_equal(numpy(beam[key]), numpy(greedy[key]))


def test_bfloat16_output_projection_stays_close_to_float32(translator):
    source, _, _ = batch()
    exact = translator.translate_ids(source, 6, method="greedy")
    rounded = translator.translate_ids(source, 6, method="greedy", projection_dtype="bfloat16")
    assert numpy(rounded["ids"]).shape[0] == 3 and np.all(np.isfinite(numpy(rounded["scores"])))
    same = [row for row in range(3) if numpy(exact["ids"])[row].tolist() == numpy(rounded["ids"])[row].tolist()]
    assert same, "bfloat16 logits changed every greedy output of an untrained model"
    np.testing.assert_allclose(numpy(rounded["scores"])[same], numpy(exact["scores"])[same], atol=0.05)
    with pytest.raises(ValueError, match="output projection dtype"):
        translator.translate_ids(source, 6, method="greedy", projection_dtype="int8")


def test_translate_traces_with_unknown_batch_and_tensor_max_length(translator):
    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32), tf.TensorSpec([], tf.int32)])
    def translate(source_ids, max_length):
        return translator.translate_ids(source_ids, max_length, beam_size=2)

    source, _, _ = batch()
    for max_length in (1, 4):
        output = translate(source, tf.constant(max_length))
        assert output["ids"].shape[0] == 3 and output["ids"].shape[1] <= max_length
    eager = translator.translate_ids(source, 4, beam_size=2)
    np.testing.assert_array_equal(output["ids"].numpy(), numpy(eager["ids"]))


def test_loss_ignores_padding_and_smooths_labels():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 3, 5)).astype("float32")
    targets = np.array([[1, 2, 0], [3, 0, 0]], "int32")
    losses, weights = (numpy(value) for value in label_smoothed_token_losses(targets, logits, 0.1))
    assert weights.tolist() == [[1, 1, 0], [1, 0, 0]] and np.all(losses[weights == 0] == 0)
    reference = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1, reduction=None)
    expected = numpy(reference(np.eye(5)[targets], logits))
    np.testing.assert_allclose(losses[weights == 1], expected[weights == 1], rtol=1e-5)
    model = make_translator(label_smoothing=0.0, encoder_options=dict(num_layers=1, bidirectional=False))
    loss = numpy(model.compute_loss(y=targets, y_pred=logits))
    plain = numpy(keras.losses.sparse_categorical_crossentropy(targets, logits, from_logits=True))
    np.testing.assert_allclose(loss, plain[weights == 1].mean(), rtol=1e-5)


def test_bridge_uses_the_encoder_states():
    model = make_translator(encoder_options=dict(cell_type="lstm", num_layers=1), decoder_options=dict(cell_type="lstm"))
    assert [tuple(bridge.kernel.shape) for bridge in model.bridges] == [(16, 12), (16, 12)]  # 2 dirs x (h, c) x 4
    source, _, _ = batch()
    _, _, states = model.encode(source)
    assert len(states) == 5 and np.all(numpy(states[-1]) == 0)  # input feeding starts at zero
    first = numpy(states[0])
    assert not np.allclose(first[0], first[1])  # depends on the sentence


def test_config_round_trip_keeps_every_argument(assert_config_round_trip):
    encoder = RNNEncoder(SOURCE_VOCABULARY, 5, units=4, cell_type="gru", return_state=True)
    decoder = AttentionDecoder(TARGET_VOCABULARY, 5, 6, cell_type="gru", attention="bahdanau")
    model = Translator(encoder, decoder, label_smoothing=0.2, bos_id=5, eos_id=6, name="my_translator")
    restored = assert_config_round_trip(model)
    assert (restored.label_smoothing, restored.bos_id, restored.eos_id) == (0.2, 5, 6)
    assert restored.encoder.cell_type == "gru" and restored.decoder.attention == "bahdanau"


def test_save_and_load_keras_file(reload_keras_model):
    model = make_translator(decoder_options=dict(tie_embeddings=True, dropout=0.1), label_smoothing=0.05)
    source, target_in, _ = batch()
    inputs = {"source_ids": source, "target_in_ids": target_in}
    expected_logits = numpy(model(inputs))
    expected = model.translate_ids(source, 5, beam_size=2)
    restored = reload_keras_model(model)
    np.testing.assert_allclose(numpy(restored(inputs)), expected_logits, atol=1e-6)
    output = restored.translate_ids(source, 5, beam_size=2)
    np.testing.assert_array_equal(numpy(output["ids"]), numpy(expected["ids"]))


def test_bad_arguments_name_the_field():
    encoder = RNNEncoder(SOURCE_VOCABULARY, 5, units=4, return_state=True)
    decoder = AttentionDecoder(TARGET_VOCABULARY, 5, 6)
    with pytest.raises(ValueError, match="return_state"):
        Translator(RNNEncoder(SOURCE_VOCABULARY, 5, units=4), decoder)
    with pytest.raises(ValueError, match="label_smoothing"):
        Translator(encoder, decoder, label_smoothing=1.0)
    with pytest.raises(ValueError, match="eos_id"):
        Translator(encoder, decoder, eos_id=TARGET_VOCABULARY)
    with pytest.raises(ValueError, match="luong_dot"):
        Translator(encoder, AttentionDecoder(TARGET_VOCABULARY, 5, 6, attention="luong_dot"))
    with pytest.raises(ValueError, match="method"):
        make_translator().translate_ids(batch()[0], 3, method="nucleus")


@pytest.mark.slow
def test_fit_runs_in_graph_mode():
    # XLA (the default jit_compile="auto") is covered by the slow test below;
    # compiling it here would take most of a minute.
    model = make_translator(decoder_options=dict(dropout=0.1))
    model.compile(optimizer=keras.optimizers.Adam(0.01), jit_compile=False)
    source, target_in, target_out = batch()
    history = model.fit({"source_ids": source, "target_in_ids": target_in}, target_out, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))


@pytest.mark.slow
def test_memorises_toy_pairs_and_greedy_decodes_them():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    pairs = []
    for _ in range(8):
        length = int(rng.integers(2, 6))
        source = rng.integers(4, SOURCE_VOCABULARY, size=length)
        target = (source[::-1] % (TARGET_VOCABULARY - 4)) + 4  # reverse and relabel
        pairs.append((source, target))
    source = np.zeros((8, 5), "int32")
    target_in = np.zeros((8, 6), "int32")
    target_out = np.zeros((8, 6), "int32")
    for row, (source_ids, target_ids) in enumerate(pairs):
        source[row, : len(source_ids)] = source_ids
        target_in[row, : len(target_ids) + 1] = [2, *target_ids]
        target_out[row, : len(target_ids) + 1] = [*target_ids, 3]
    encoder = RNNEncoder(SOURCE_VOCABULARY, 16, units=32, bidirectional=True, return_state=True)
    decoder = AttentionDecoder(TARGET_VOCABULARY, 16, 32, attention="luong_general")
    model = Translator(encoder, decoder, label_smoothing=0.0)
    model.compile(optimizer=keras.optimizers.Adam(0.02))
    model.fit({"source_ids": source, "target_in_ids": target_in}, target_out, epochs=150, batch_size=8, verbose=0)
    for projection_dtype in ("float32", "bfloat16"):
        output = model.translate_ids(source, 8, method="greedy", projection_dtype=projection_dtype)
        ids = numpy(output["ids"])
        for row, (_, target_ids) in enumerate(pairs):
            assert ids[row][ids[row] != 0].tolist() == target_ids.tolist(), projection_dtype
