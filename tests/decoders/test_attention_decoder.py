"""AttentionDecoder: shapes, teacher forcing == step by step, masking, serialization."""

import keras
import numpy as np
import pytest

from nlp_apps.decoders.attention_decoder import AttentionDecoder

VOCABULARY_SIZE = 13
MEMORY_DIM = 6


def make_decoder(**overrides):
    options = dict(vocabulary_size=VOCABULARY_SIZE, embedding_dim=5, units=6, num_layers=2)
    options.update(overrides)
    decoder = AttentionDecoder(**options)
    decoder.build((None, None), (None, None, MEMORY_DIM))
    return decoder


def inputs(batch=3, source_time=5, target_time=4, seed=0):
    rng = np.random.default_rng(seed)
    memory = rng.normal(size=(batch, source_time, MEMORY_DIM)).astype("float32")
    mask = np.ones((batch, source_time), bool)
    mask[0, 3:] = False
    mask[1, 1:] = False
    target = rng.integers(4, VOCABULARY_SIZE, size=(batch, target_time)).astype("int32")
    target[:, 0] = 2
    target[2, 2:] = 0
    return target, memory * mask[:, :, None], mask


def random_states(decoder, batch, seed=1):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(batch, size)).astype("float32") * 0.5 for size in decoder.state_sizes]


CONFIGURATIONS = [
    dict(cell_type="lstm", attention="luong_general", input_feeding=True),
    dict(cell_type="gru", attention="bahdanau", input_feeding=False, tie_embeddings=True, attention_units=7),
    dict(cell_type="lstm", attention="luong_dot", input_feeding=False, num_layers=1),
    dict(cell_type="gru", attention="bahdanau", input_feeding=True, tie_embeddings=True, units=5),
]


@pytest.mark.parametrize("options", CONFIGURATIONS)
def test_teacher_forcing_matches_step_by_step(options):
    decoder = make_decoder(**options)
    target, memory, mask = inputs()
    states = random_states(decoder, 3)
    logits, weights = decoder(target, memory, mask, states)
    assert logits.shape == (3, 4, VOCABULARY_SIZE) and logits.dtype == "float32"
    assert weights.shape == (3, 4, 5)
    keys = decoder.precompute_keys(memory)
    step_logits, step_weights = [], []
    for time in range(target.shape[1]):
        token_logits, states, token_weights = decoder.step(target[:, time], states, memory, mask, keys)
        assert len(states) == decoder.num_states
        step_logits.append(keras.ops.convert_to_numpy(token_logits))
        step_weights.append(keras.ops.convert_to_numpy(token_weights))
    np.testing.assert_allclose(np.stack(step_logits, 1), keras.ops.convert_to_numpy(logits), atol=1e-5)
    np.testing.assert_allclose(np.stack(step_weights, 1), keras.ops.convert_to_numpy(weights), atol=1e-6)


@pytest.mark.parametrize("options", [CONFIGURATIONS[0], CONFIGURATIONS[1], CONFIGURATIONS[3]])
def test_prepared_output_projection_gives_the_step_logits(options):
    # Untied output layer, tied with a projection (units != embedding_dim), tied without one.
    decoder = make_decoder(**options)
    target, memory, mask = inputs()
    states = random_states(decoder, 3)
    expected, _, _ = decoder.step(target[:, 0], states, memory, mask)
    kernel, bias = decoder.output_projection("float32")
    assert tuple(kernel.shape) == (decoder.embedding_dim if decoder.tie_embeddings else decoder.units, VOCABULARY_SIZE)
    logits, _, _ = decoder.step(target[:, 0], states, memory, mask, output_projection=(kernel, bias))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(logits), keras.ops.convert_to_numpy(expected), atol=1e-5)
    # bfloat16 keeps ~3 significant digits: close to, but not equal to, the float32 logits.
    kernel16, bias16 = decoder.output_projection("bfloat16")
    assert kernel16.dtype == "bfloat16" and bias16.dtype == "float32"
    logits16, _, _ = decoder.step(target[:, 0], states, memory, mask, output_projection=(kernel16, bias16))
    assert logits16.dtype == "float32"
    np.testing.assert_allclose(keras.ops.convert_to_numpy(logits16), keras.ops.convert_to_numpy(expected), atol=0.05)


def test_output_projection_rejects_unknown_dtype():
    with pytest.raises(ValueError, match="output projection dtype.*float16"):
        make_decoder().output_projection("float16")


@pytest.mark.parametrize("options", CONFIGURATIONS[:2])
def test_attention_ignores_source_padding(options):
    decoder = make_decoder(**options)
    target, memory, mask = inputs()
    logits, weights = (keras.ops.convert_to_numpy(value) for value in decoder(target, memory, mask))
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-5)
    assert np.all(weights[~np.broadcast_to(mask[:, None, :], weights.shape)] == 0.0)
    # Extra padded source positions (with garbage memory) change nothing.
    padded_memory = np.concatenate([memory, np.full((3, 2, MEMORY_DIM), 9.0, "float32")], axis=1)
    padded_mask = np.concatenate([mask, np.zeros((3, 2), bool)], axis=1)
    more_logits, more_weights = decoder(target, padded_memory, padded_mask)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(more_logits), logits, atol=1e-5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(more_weights)[:, :, :5], weights, atol=1e-6)


def test_fully_masked_source_gives_finite_outputs():
    decoder = make_decoder(attention="bahdanau")
    target, memory, mask = inputs()
    mask[1] = False
    logits, weights = decoder(target, memory * 0, mask)
    assert np.all(np.isfinite(keras.ops.convert_to_numpy(logits)))
    assert np.all(keras.ops.convert_to_numpy(weights)[1] == 0.0)


def test_weight_tying_uses_the_embedding_matrix():
    decoder = make_decoder(tie_embeddings=True, units=6, embedding_dim=5)
    matrices = [w for w in decoder.weights if VOCABULARY_SIZE in tuple(w.shape) and len(w.shape) == 2]
    assert len(matrices) == 1 and matrices[0] is decoder.token_embedding.embeddings
    assert decoder.tied_projection is not None and decoder.output_layer is None
    assert make_decoder(tie_embeddings=True, units=5, embedding_dim=5).tied_projection is None


def test_initial_states_layout():
    decoder = make_decoder(cell_type="lstm", num_layers=2, input_feeding=True)
    assert decoder.num_states == 5 and decoder.state_sizes == [6] * 5
    states = decoder.initial_states(4)
    assert len(states) == 5 and all(tuple(state.shape) == (4, 6) for state in states)
    layer_states = [np.ones((4, 6), "float32")] * 4
    states = decoder.initial_states(4, layer_states)
    assert np.all(keras.ops.convert_to_numpy(states[0]) == 1.0) and np.all(keras.ops.convert_to_numpy(states[4]) == 0)
    with pytest.raises(ValueError, match="layer_states"):
        decoder.initial_states(4, layer_states[:3])
    with pytest.raises(ValueError, match="initial_states"):
        decoder(*inputs()[:1], inputs()[1], inputs()[2], [np.zeros((3, 6), "float32")])


def test_config_round_trip_keeps_every_argument():
    decoder = AttentionDecoder(
        vocabulary_size=11, embedding_dim=3, units=4, cell_type="gru", num_layers=3, attention="bahdanau",
        attention_units=9, input_feeding=False, dropout=0.25, tie_embeddings=True, name="my_decoder",
    )
    config = decoder.get_config()
    restored = AttentionDecoder.from_config(config)
    assert restored.get_config() == config
    for key, value in dict(
        vocabulary_size=11, embedding_dim=3, units=4, cell_type="gru", num_layers=3, attention="bahdanau",
        attention_units=9, input_feeding=False, dropout=0.25, tie_embeddings=True,
    ).items():
        assert config[key] == value, key


@pytest.mark.parametrize("options", [CONFIGURATIONS[0], CONFIGURATIONS[1]])
def test_save_and_load_keras_file(tmp_path, options):
    decoder = AttentionDecoder(VOCABULARY_SIZE, 5, 6, num_layers=2, dropout=0.1, **options)
    target_input = keras.Input((None,), dtype="int32")
    memory_input = keras.Input((None, MEMORY_DIM))
    mask_input = keras.Input((None,), dtype="bool")
    model = keras.Model([target_input, memory_input, mask_input], decoder(target_input, memory_input, mask_input))
    batch = list(inputs())
    expected = [keras.ops.convert_to_numpy(value) for value in model(batch)]
    path = tmp_path / "decoder.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    for value, reference in zip(restored(batch), expected):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(value), reference, atol=1e-6)


@pytest.mark.parametrize(
    "overrides,field",
    [
        (dict(cell_type="rnn"), "cell_type"),
        (dict(attention="dot"), "attention"),
        (dict(dropout=1.0), "dropout"),
        (dict(num_layers=0), "num_layers"),
        (dict(attention_units=0), "attention_units"),
        (dict(units=-1), "units"),
    ],
)
def test_bad_arguments_name_the_field(overrides, field):
    options = dict(vocabulary_size=VOCABULARY_SIZE, embedding_dim=5, units=6)
    options.update(overrides)
    with pytest.raises(ValueError, match=f"^{field}:"):
        AttentionDecoder(**options)


def test_luong_dot_needs_matching_memory_size():
    decoder = AttentionDecoder(VOCABULARY_SIZE, 5, 6, attention="luong_dot")
    with pytest.raises(ValueError, match="luong_dot"):
        decoder.build((None, None), (None, None, 8))
