"""Tests for nlp_apps.layers.crf."""

import inspect
import itertools
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from nlp_apps.layers import CRF, allowed_transitions

NUM_TAGS = 3
LENGTHS = [4, 2, 1, 3]
TIME = max(LENGTHS)
MASK = np.array([[t < length for t in range(TIME)] for length in LENGTHS])


def non_default_config_check(cls, config):
    """Every constructor argument is in `config` with a non-default value."""
    for name, parameter in inspect.signature(cls.__init__).parameters.items():
        if name in ("self", "kwargs"):
            continue
        assert name in config, f"get_config() misses constructor argument {name!r}"
        if parameter.default is not inspect.Parameter.empty:
            assert config[name] != parameter.default, name


def random_crf(num_tags=NUM_TAGS, seed=0, **kwargs):
    """A built CRF with random (non-zero) start/end/transition weights."""
    crf = CRF(num_tags, **kwargs)
    crf.build((None, None, num_tags))
    rng = np.random.default_rng(seed)
    crf.set_weights([rng.normal(size=w.shape).astype("float32") for w in crf.get_weights()])
    return crf


def random_potentials(seed=1, num_tags=NUM_TAGS):
    rng = np.random.default_rng(seed)
    return rng.normal(scale=2.0, size=(len(LENGTHS), TIME, num_tags)).astype("float32")


def effective_weights(crf):
    """The weights with the disallowed-transition penalties, as numpy."""
    transitions, start, end = crf._constrained_weights()
    return transitions.numpy(), start.numpy(), end.numpy()


def brute_force_scores(crf, potentials, length):
    """Score of every tag sequence of `length` for one row: dict seq -> score."""
    transitions, start, end = effective_weights(crf)
    scores = {}
    for sequence in itertools.product(range(crf.num_tags), repeat=length):
        score = start[sequence[0]] + end[sequence[-1]]
        score += sum(potentials[t, tag] for t, tag in enumerate(sequence))
        score += sum(transitions[a, b] for a, b in zip(sequence, sequence[1:]))
        scores[sequence] = score
    return scores


def pad(sequence, fill=-1):
    return list(sequence) + [fill] * (TIME - len(sequence))


@pytest.mark.parametrize("constrained", [False, True])
def test_log_likelihood_matches_brute_force(constrained):
    kwargs = {}
    if constrained:
        kwargs = dict(
            allowed_transitions=[[True, True, False], [True, True, True], [True, False, True]],
            allowed_start=[True, True, False],
            allowed_end=[False, True, True],
        )
    crf = random_crf(**kwargs)
    potentials = random_potentials()
    for row, length in enumerate(LENGTHS):
        scores = brute_force_scores(crf, potentials[row], length)
        sequences = list(scores)
        log_partition = np.logaddexp.reduce(np.array(list(scores.values()), dtype="float64"))
        # Score every sequence of this row in one batch; padding labels are -1.
        tags = np.array([pad(s) for s in sequences], dtype="int32")
        batch_potentials = np.repeat(potentials[row : row + 1], len(sequences), axis=0)
        batch_mask = np.repeat(MASK[row : row + 1], len(sequences), axis=0)
        log_likelihood = crf.log_likelihood(batch_potentials, tags, batch_mask).numpy()
        expected = np.array([scores[s] for s in sequences]) - log_partition
        np.testing.assert_allclose(log_likelihood, expected, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(np.exp(log_likelihood.astype("float64")).sum(), 1.0, rtol=1e-4)


@pytest.mark.parametrize("constrained", [False, True])
def test_viterbi_matches_brute_force_argmax(constrained):
    kwargs = {}
    if constrained:
        kwargs = dict(
            allowed_transitions=[[True, False, True], [True, True, False], [False, True, True]],
            allowed_start=[False, True, True],
        )
    crf = random_crf(seed=2, **kwargs)
    potentials = random_potentials(seed=3)
    best_tags, best_scores = crf.decode(potentials, MASK)
    best_tags, best_scores = best_tags.numpy(), best_scores.numpy()
    assert best_tags.dtype == np.int32
    for row, length in enumerate(LENGTHS):
        scores = brute_force_scores(crf, potentials[row], length)
        best = max(scores, key=scores.get)
        assert best_tags[row].tolist() == pad(best, fill=0)
        np.testing.assert_allclose(best_scores[row], scores[best], rtol=1e-5)
    # Calling the layer returns the same tags.
    np.testing.assert_array_equal(np.asarray(crf(potentials, mask=MASK)), best_tags)


@pytest.mark.parametrize("constrained", [False, True])
def test_fixed_point_viterbi_finds_the_float_search_best_path(constrained):
    kwargs = {}
    if constrained:
        kwargs = dict(allowed_transitions=[[True, False, True], [True, True, False], [False, True, True]])
    crf = random_crf(seed=4, **kwargs)
    for seed in range(5):
        potentials = random_potentials(seed=10 + seed) * 5.0
        float_tags, float_scores = crf.decode(potentials, MASK)
        fixed_tags, fixed_scores = crf.decode(potentials, MASK, fixed_point_scale=1024)
        np.testing.assert_array_equal(fixed_tags.numpy(), float_tags.numpy())
        assert fixed_scores.dtype == tf.float32
        # Each score sums at most 2 * TIME + 1 rounded terms of 1/2048 or less.
        np.testing.assert_allclose(fixed_scores.numpy(), float_scores.numpy(), atol=(2 * TIME + 1) / 2048 + 1e-5)


def test_masked_positions_decode_to_zero_and_empty_rows():
    crf = random_crf()
    potentials = random_potentials()
    # Make tag 2 overwhelmingly likely everywhere, padding included.
    potentials[..., 2] += 100.0
    mask = MASK.copy()
    mask[2] = False  # an empty row
    best_tags, best_scores = crf.decode(potentials, mask)
    best_tags = best_tags.numpy()
    assert (best_tags[~mask] == 0).all()
    assert (best_tags[mask] == 2).all()
    assert best_scores.numpy()[2] == 0.0
    log_likelihood = crf.log_likelihood(potentials, np.zeros(mask.shape, "int32"), mask).numpy()
    assert np.isfinite(log_likelihood).all() and log_likelihood[2] == 0.0


def test_no_mask_means_full_length():
    crf = random_crf()
    potentials = random_potentials()
    full_mask = np.ones(potentials.shape[:2], bool)
    np.testing.assert_array_equal(crf.decode(potentials)[0].numpy(), crf.decode(potentials, full_mask)[0].numpy())
    tags = np.ones(potentials.shape[:2], "int32")
    np.testing.assert_allclose(
        crf.log_likelihood(potentials, tags).numpy(), crf.log_likelihood(potentials, tags, full_mask).numpy()
    )


def is_valid_iob2(tags):
    previous = "O"
    for tag in tags:
        if tag.startswith("I-") and previous[2:] != tag[2:]:
            return False
        previous = tag
    return True


def is_valid_bioes(tags):
    previous = "O"
    for tag in tags + ["O"]:
        inside = previous[:1] in ("B", "I")
        if inside and not (tag[:1] in ("I", "E") and tag[2:] == previous[2:]):
            return False
        if not inside and tag[:1] in ("I", "E"):
            return False
        previous = tag
    return True


@pytest.mark.parametrize(
    "scheme, tag_names, is_valid",
    [
        ("iob2", ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"], is_valid_iob2),
        ("bioes", ["O", "B-PER", "I-PER", "E-PER", "S-PER", "B-LOC", "I-LOC", "E-LOC", "S-LOC"], is_valid_bioes),
    ],
)
def test_constrained_decoding_never_emits_invalid_sequences(scheme, tag_names, is_valid):
    num_tags = len(tag_names)
    allowed, start, end = allowed_transitions(tag_names, scheme)
    rng = np.random.default_rng(4)
    potentials = rng.normal(size=(64, 6, num_tags)).astype("float32")
    # Strongly favour tags that are invalid after O or at the start (I-*, E-*).
    favoured = [i for i, name in enumerate(tag_names) if name[:1] in ("I", "E")]
    bonus = rng.uniform(0.0, 50.0, size=(64, 6, len(favoured))).astype("float32")
    potentials[..., favoured] += bonus
    potentials[:, ::2, 0] += 30.0  # and O at every other step
    mask = np.arange(6)[None, :] < rng.integers(1, 7, size=(64, 1))

    unconstrained = random_crf(num_tags)
    decoded = unconstrained.decode(potentials, mask)[0].numpy()
    sequences = [[tag_names[t] for t in row[m]] for row, m in zip(decoded, mask)]
    assert not all(is_valid(s) for s in sequences), "test potentials should tempt invalid output"

    constrained = random_crf(num_tags, allowed_transitions=allowed, allowed_start=start, allowed_end=end)
    decoded = constrained.decode(potentials, mask)[0].numpy()
    sequences = [[tag_names[t] for t in row[m]] for row, m in zip(decoded, mask)]
    assert all(is_valid(s) for s in sequences)
    assert (decoded[~mask] == 0).all()


def test_keras_mask_is_used_and_passed_on():
    ids = np.array([[1, 2, 3, 0], [4, 0, 0, 0]], dtype="int32")
    potentials = keras.layers.Embedding(10, NUM_TAGS, mask_zero=True)(ids)
    crf = CRF(NUM_TAGS)
    tags = crf(potentials)
    assert tags.dtype == "int32"
    assert (np.asarray(tags)[ids == 0] == 0).all()
    np.testing.assert_array_equal(np.asarray(tags._keras_mask), ids != 0)
    gold = ids % NUM_TAGS
    np.testing.assert_allclose(
        crf.log_likelihood(potentials, gold).numpy(), crf.log_likelihood(potentials, gold, ids != 0).numpy()
    )


def test_tf_function_with_unknown_time_and_saved_model(tmp_path):
    crf = random_crf()
    module = tf.Module()
    module.crf = crf
    module.decode = tf.function(
        lambda potentials, mask: crf.decode(potentials, mask),
        input_signature=[tf.TensorSpec([None, None, NUM_TAGS]), tf.TensorSpec([None, None], tf.bool)],
    )
    module.log_likelihood = tf.function(
        lambda potentials, tags, mask: crf.log_likelihood(potentials, tags, mask),
        input_signature=[
            tf.TensorSpec([None, None, NUM_TAGS]),
            tf.TensorSpec([None, None], tf.int32),
            tf.TensorSpec([None, None], tf.bool),
        ],
    )
    tags = np.random.default_rng(5).integers(0, NUM_TAGS, size=MASK.shape).astype("int32")
    for time in (TIME, 2):  # one trace serves different lengths
        potentials, mask = random_potentials()[:, :time], MASK[:, :time]
        eager = crf.decode(potentials, mask)
        traced = module.decode(potentials, mask)
        np.testing.assert_array_equal(traced[0].numpy(), eager[0].numpy())
        np.testing.assert_allclose(traced[1].numpy(), eager[1].numpy(), rtol=1e-6)
    assert module.decode.experimental_get_tracing_count() == 1

    path = str(tmp_path / "crf_saved_model")
    tf.saved_model.save(module, path)
    restored = tf.saved_model.load(path)
    potentials = random_potentials()
    np.testing.assert_array_equal(
        restored.decode(potentials, MASK)[0].numpy(), crf.decode(potentials, MASK)[0].numpy()
    )
    np.testing.assert_allclose(
        restored.log_likelihood(potentials, tags, MASK).numpy(),
        crf.log_likelihood(potentials, tags, MASK).numpy(),
        rtol=1e-5,
    )


def test_symbolic_call_and_output_spec():
    inputs = keras.Input((None, 5))
    tags = CRF(NUM_TAGS)(keras.layers.Dense(NUM_TAGS)(inputs))
    assert tags.shape == (None, None) and tags.dtype == "int32"


def test_float32_under_mixed_precision():
    previous_policy = keras.config.dtype_policy()
    try:
        keras.config.set_dtype_policy("mixed_float16")
        crf = CRF(NUM_TAGS)
        crf.build((None, None, NUM_TAGS))
    finally:
        keras.config.set_dtype_policy(previous_policy)
    assert crf.compute_dtype == "float32" and crf.transitions.dtype == "float32"
    potentials = tf.constant(random_potentials(), dtype="float16")
    log_likelihood = crf.log_likelihood(potentials, np.zeros(MASK.shape, "int32"), MASK)
    assert log_likelihood.dtype == tf.float32
    assert crf.decode(potentials, MASK)[1].dtype == tf.float32


def test_gradients_are_finite_with_constraints():
    allowed, start, end = allowed_transitions(["O", "B-PER", "I-PER"], "iob2")
    crf = random_crf(allowed_transitions=allowed, allowed_start=start, allowed_end=end)
    potentials = tf.constant(random_potentials())
    tags = np.array([[1, 2, 0, 0], [0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 1, 0]], "int32")
    with tf.GradientTape() as tape:
        tape.watch(potentials)
        loss = -tf.reduce_mean(crf.log_likelihood(potentials, tags, MASK))
    gradients = tape.gradient(loss, [potentials] + crf.trainable_weights)
    assert all(np.isfinite(np.asarray(g)).all() for g in gradients)
    assert np.isfinite(loss.numpy())


def test_invalid_arguments():
    with pytest.raises(ValueError, match="num_tags"):
        CRF(0)
    with pytest.raises(ValueError, match="allowed_transitions"):
        CRF(3, allowed_transitions=[[True, True], [True, True]])
    with pytest.raises(ValueError, match="allowed_start"):
        CRF(3, allowed_start=[True, True])
    with pytest.raises(ValueError, match="allowed_end"):
        CRF(2, allowed_end=[2, 1])
    with pytest.raises(ValueError, match="num_tags"):
        CRF(3)(np.zeros((1, 2, 4), "float32"))


def test_config_round_trip_is_json():
    allowed, start, end = allowed_transitions(["O", "B-PER", "I-PER"], "iob2")
    layer = CRF(3, allowed_transitions=np.array(allowed), allowed_start=start, allowed_end=end, name="tag_crf")
    config = layer.get_config()
    non_default_config_check(CRF, config)
    assert config["allowed_transitions"] == allowed
    restored = CRF.from_config(json.loads(json.dumps(config)))
    assert restored.get_config() == config


def build_tagger(num_features, allowed=None):
    inputs = keras.Input((None, num_features))
    potentials = keras.layers.Dense(NUM_TAGS, name="potentials")(inputs)
    kwargs = {} if allowed is None else dict(zip(["allowed_transitions", "allowed_start", "allowed_end"], allowed))
    tags = CRF(NUM_TAGS, name="crf", **kwargs)(potentials)
    return keras.Model(inputs, tags)


def test_save_and_load(tmp_path):
    allowed = allowed_transitions(["O", "B-PER", "I-PER"], "iob2")
    model = build_tagger(5, allowed)
    model.get_layer("crf").set_weights(random_crf(seed=6).get_weights())
    features = np.random.default_rng(7).normal(size=(4, TIME, 5)).astype("float32")
    expected = model.predict(features, verbose=0)
    path = tmp_path / "tagger.keras"
    model.save(path)
    restored = keras.models.load_model(path)
    np.testing.assert_array_equal(restored.predict(features, verbose=0), expected)
    for a, e in zip(restored.get_layer("crf").get_weights(), model.get_layer("crf").get_weights()):
        np.testing.assert_array_equal(a, e)
    assert restored.get_layer("crf").get_config() == model.get_layer("crf").get_config()


def test_dense_crf_overfits_one_batch():
    rng = np.random.default_rng(8)
    features = rng.normal(size=(8, 6, 5)).astype("float32")
    # Tags that a Dense layer can represent exactly, so the batch can be fitted.
    gold = np.argmax(features @ rng.normal(size=(5, NUM_TAGS)), axis=-1).astype("int32")
    mask = np.arange(6)[None, :] < rng.integers(3, 7, size=(8, 1))
    model = build_tagger(5)
    dense, crf = model.get_layer("potentials"), model.get_layer("crf")
    optimizer = keras.optimizers.Adam(0.05)

    @tf.function
    def train_step():
        with tf.GradientTape() as tape:
            loss = -tf.reduce_mean(crf.log_likelihood(dense(features), gold, mask))
        gradients = tape.gradient(loss, model.trainable_weights)
        optimizer.apply_gradients(zip(gradients, model.trainable_weights))
        return loss

    first_loss = float(train_step())
    for _ in range(150):
        loss = float(train_step())
    assert loss < 0.1 * first_loss
    decoded, _ = crf.decode(dense(features), mask)
    np.testing.assert_array_equal(decoded.numpy()[mask], gold[mask])
