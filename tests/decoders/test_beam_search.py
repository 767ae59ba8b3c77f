"""Greedy / beam / sampling search over hand-written step functions with known probabilities."""

import numpy as np
import pytest
import tensorflow as tf

from nlp_apps.decoders.beam_search import (
    beam_search,
    greedy_search,
    length_penalty_factor,
    sample_search,
)

BOS, EOS = 2, 3
SOURCE_TIME = 3


def table_step_function(table):
    """Next-token log-probs depend only on the previous token: `table[previous]`.

    The single state is a per-row bias added to the logits (rows differ);
    attention is one-hot on `previous % SOURCE_TIME`, so the attention of the
    returned hypothesis tells which token was fed at each step.
    """
    table = tf.constant(np.log(np.asarray(table, "float32") + 1e-12))

    def step_function(token_ids, states):
        logits = tf.gather(table, token_ids) + states[0]
        attention = tf.one_hot(token_ids % SOURCE_TIME, SOURCE_TIME)
        return logits, list(states), attention

    return step_function


def toy_table():
    """Greedy takes 4 (p=.5) and then needs 3 more steps; beam finds 5 -> eos.

    ids: 0 pad, 1 unk, 2 bos, 3 eos, 4, 5, 6.
    """
    table = np.full((7, 7), 1e-6)
    table[BOS, [4, 5]] = [0.5, 0.45]
    table[4, [6, EOS]] = [0.6, 0.4]  # after 4: eos only 0.4
    table[6, [6, EOS]] = [0.5, 0.5]
    table[5, EOS] = 0.95
    table[5, 6] = 0.05
    table[[0, 1, 3]] = 1.0 / 7
    return table / table.sum(axis=1, keepdims=True)


def zero_bias(batch_size, vocabulary_size=7):
    return [tf.zeros([batch_size, vocabulary_size])]


def test_beam_search_finds_the_better_path_that_greedy_misses():
    table = toy_table()
    step_function = table_step_function(table)
    greedy_ids, greedy_scores, _ = greedy_search(step_function, zero_bias(2), 2, 10, BOS, EOS)
    assert greedy_ids.numpy().tolist() == [[4, 6]] * 2  # 4, 6 are the argmax; then eos (tie with 6, lower id)
    ids, scores, attention = beam_search(
        step_function, zero_bias(2), 2, 3, 10, BOS, EOS, length_penalty=0.0
    )
    assert ids.shape[:2] == (2, 3)
    assert ids.numpy()[0, 0, :1].tolist() == [5] and ids.numpy()[0, 0, 1:].sum() == 0
    np.testing.assert_allclose(scores.numpy()[0, 0], np.log(table[BOS, 5] * table[5, EOS]), rtol=1e-4)
    assert scores.numpy()[0, 0] > greedy_scores.numpy()[0]
    # Second best: 4 -> eos (0.5 * 0.4), third 4 -> 6 -> eos.
    assert ids.numpy()[0, 1].tolist()[:1] == [4]
    np.testing.assert_allclose(scores.numpy()[0, 1], np.log(table[BOS, 4] * table[4, EOS]), rtol=1e-4)
    # Attention of the best hypothesis: step 0 fed bos; one row per returned token.
    assert attention.shape == (2, ids.shape[2], SOURCE_TIME)
    np.testing.assert_array_equal(attention.numpy()[0, 0], np.eye(SOURCE_TIME)[BOS % SOURCE_TIME])


def test_hypotheses_sorted_by_normalized_score_and_stop_at_eos():
    rng = np.random.default_rng(0)
    table = rng.dirichlet(np.ones(7) * 0.5, size=7)
    bias = [tf.constant(rng.normal(size=(4, 7)), tf.float32)]
    for alpha in (0.0, 0.6, 1.0):
        ids, scores, _ = beam_search(
            table_step_function(table), bias, 4, 4, 6, BOS, EOS, length_penalty=alpha
        )
        ids, scores = ids.numpy(), scores.numpy()
        assert ids.shape[2] <= 6
        assert np.all(np.diff(scores, axis=1) <= 1e-6), scores
        assert not np.any(ids == EOS)
        for row in ids.reshape(-1, ids.shape[2]):
            real = row != 0
            # 0-padded after the end: no real token after the first 0.
            assert np.all(real[: real.sum()]) and not np.any(real[real.sum():])


def test_scores_are_recomputable_from_the_table_with_the_length_penalty():
    rng = np.random.default_rng(1)
    table = rng.dirichlet(np.ones(7), size=7)
    ids, scores, _ = beam_search(table_step_function(table), zero_bias(1), 1, 3, 5, BOS, EOS, length_penalty=0.6)
    for hypothesis, score in zip(ids.numpy()[0], scores.numpy()[0]):
        tokens = [int(token) for token in hypothesis if token != 0]
        previous, log_prob = BOS, 0.0
        for token in tokens:
            log_prob += np.log(table[previous, token] + 1e-12)
            previous = token
        length = len(tokens)
        if length < 5:  # ended with eos, which counts in the length
            log_prob += np.log(table[previous, EOS] + 1e-12)
            length += 1
        expected = log_prob / length_penalty_factor(length, 0.6).numpy()
        np.testing.assert_allclose(score, expected, rtol=1e-4)


@pytest.mark.parametrize("alpha", [0.0, 0.6])
def test_beam_size_one_equals_greedy_exactly(alpha):
    rng = np.random.default_rng(2)
    table = rng.dirichlet(np.ones(7) * 0.3, size=7)
    bias = [tf.constant(rng.normal(size=(5, 7)) * 2, tf.float32)]
    step_function = table_step_function(table)
    greedy = greedy_search(step_function, bias, 5, 8, BOS, EOS, length_penalty=alpha)
    beam = beam_search(step_function, bias, 5, 1, 8, BOS, EOS, length_penalty=alpha)
    np.testing.assert_array_equal(beam[0].numpy()[:, 0], greedy[0].numpy())
    np.testing.assert_array_equal(beam[1].numpy()[:, 0], greedy[1].numpy())
    np.testing.assert_array_equal(beam[2].numpy(), greedy[2].numpy())
    # Several rows stop before max_length and some run to it.
    lengths = (greedy[0].numpy() != 0).sum(axis=1)
    assert lengths.max() <= 8


def test_traces_with_unknown_batch_and_tensor_max_length():
    step_function = table_step_function(toy_table())

    @tf.function(input_signature=[tf.TensorSpec([None, 7], tf.float32), tf.TensorSpec([], tf.int32)])
    def search(bias, max_length):
        batch_size = tf.shape(bias)[0]
        beam = beam_search(step_function, [bias], batch_size, 2, max_length, BOS, EOS)
        greedy = greedy_search(step_function, [bias], batch_size, max_length, BOS, EOS)
        return beam[0], greedy[0], beam[2]

    for max_length in (0, 1, 2, 5):
        beam_ids, greedy_ids, attention = search(tf.zeros([3, 7]), tf.constant(max_length))
        assert beam_ids.shape[0] == 3 and beam_ids.shape[2] <= max_length
        assert greedy_ids.shape[1] <= max_length
        assert attention.shape[1] == beam_ids.shape[2]
    # max_length 1: greedy cut after "4"; beam's best is still [5] (then cut).
    beam_ids, greedy_ids, _ = search(tf.zeros([1, 7]), tf.constant(1))
    assert greedy_ids.numpy().tolist() == [[4]]


def test_sample_search_is_seeded_and_temperature_zero_is_greedy():
    rng = np.random.default_rng(3)
    table = rng.dirichlet(np.ones(7), size=7)
    step_function = table_step_function(table)
    first = sample_search(step_function, zero_bias(6), 6, 7, BOS, EOS, temperature=1.0, seed=5)
    second = sample_search(step_function, zero_bias(6), 6, 7, BOS, EOS, temperature=1.0, seed=5)
    np.testing.assert_array_equal(first[0].numpy(), second[0].numpy())
    assert not np.any(first[0].numpy() == EOS)
    cold = sample_search(step_function, zero_bias(6), 6, 7, BOS, EOS, temperature=0.0, seed=5)
    greedy = greedy_search(step_function, zero_bias(6), 6, 7, BOS, EOS)
    np.testing.assert_array_equal(cold[0].numpy(), greedy[0].numpy())


def test_padding_id_is_never_generated():
    table = np.full((7, 7), 0.01)
    table[:, 0] = 0.9  # the model loves padding
    ids, _, _ = greedy_search(table_step_function(table / table.sum(1, keepdims=True)), zero_bias(1), 1, 4, BOS, EOS)
    assert ids.shape == (1, 4) and np.all(ids.numpy() != 0)


def test_rejects_bad_beam_size():
    with pytest.raises(ValueError, match="beam_size"):
        beam_search(table_step_function(toy_table()), zero_bias(1), 1, 0, 3, BOS, EOS)


@pytest.mark.parametrize("pad_id", [None, 0])
def test_top_candidates_equal_the_top_of_the_full_log_softmax_ties_included(pad_id):
    from nlp_apps.decoders.beam_search import _top_log_probs

    logits = tf.constant([[2.0, 1.0, 2.0, 0.5, 2.0, -1.0], [5.0, 0.0, 0.0, 0.0, 0.0, 0.0]])
    log_probs = tf.nn.log_softmax(logits).numpy()
    if pad_id is not None:
        log_probs[:, pad_id] = -np.inf
    expected = tf.math.top_k(log_probs, k=3)
    values, ids = _top_log_probs(logits, 3, pad_id)
    np.testing.assert_array_equal(ids.numpy(), expected.indices.numpy())
    np.testing.assert_allclose(values.numpy(), expected.values.numpy(), atol=1e-6)


@pytest.mark.parametrize("vocabulary_size", [1024, 1001])
@pytest.mark.parametrize("k", [1, 3, 11])
def test_blocked_top_k_equals_top_k_with_ties_and_infinities(vocabulary_size, k):
    from nlp_apps.decoders.beam_search import _block_size, _blocked_top_k

    assert _block_size(vocabulary_size, k) > 0  # the blocked path, not the plain top_k fallback
    rng = np.random.default_rng(k)
    # Few distinct values: many ties, which must still go to the lower id.
    values = rng.integers(-3, 3, size=(6, vocabulary_size)).astype("float32")
    values[0] = -np.inf
    values[1, ::7] = np.inf
    values[2, -1] = 10.0  # the best value in the last (padded) block
    expected = tf.math.top_k(values, k=k)
    top_values, top_ids, row_max = _blocked_top_k(tf.constant(values), k)
    np.testing.assert_array_equal(top_ids.numpy(), expected.indices.numpy())
    np.testing.assert_array_equal(top_values.numpy(), expected.values.numpy())
    np.testing.assert_array_equal(row_max.numpy()[:, 0], values.max(axis=1))


def large_vocabulary_step_function(vocabulary_size, seed):
    """Random next-token logits over a vocabulary large enough for the blocked top-k."""
    table = tf.constant(np.random.default_rng(seed).normal(size=(vocabulary_size, vocabulary_size)) * 3, tf.float32)

    def step_function(token_ids, states):
        return tf.gather(table, token_ids) + states[0], list(states), tf.one_hot(token_ids % SOURCE_TIME, SOURCE_TIME)

    return step_function


def test_large_vocabulary_beam_one_equals_greedy_and_top_log_probs_match_the_full_softmax():
    from nlp_apps.decoders.beam_search import _top_log_probs

    vocabulary_size = 2048
    step_function = large_vocabulary_step_function(vocabulary_size, seed=4)
    bias = [tf.zeros([4, vocabulary_size])]
    greedy = greedy_search(step_function, bias, 4, 6, BOS, EOS)
    beam = beam_search(step_function, bias, 4, 1, 6, BOS, EOS, length_penalty=0.0)
    np.testing.assert_array_equal(beam[0].numpy()[:, 0], greedy[0].numpy())
    np.testing.assert_array_equal(beam[1].numpy()[:, 0], greedy[1].numpy())

    logits = tf.constant(np.round(np.random.default_rng(5).normal(size=(8, vocabulary_size)), 1), tf.float32)
    expected = tf.math.top_k(tf.tensor_scatter_nd_update(
        tf.nn.log_softmax(logits), [[row, 0] for row in range(8)], [-np.inf] * 8), k=10)
    values, ids = _top_log_probs(logits, 10, pad_id=0)
    np.testing.assert_array_equal(ids.numpy(), expected.indices.numpy())
    np.testing.assert_allclose(values.numpy(), expected.values.numpy(), atol=1e-5)


def test_beam_hypotheses_over_a_large_vocabulary_are_the_best_extensions():
    # Two steps, beam 3: the finished/alive bookkeeping over the blocked
    # candidates must find the same best two-token paths as enumerating them.
    vocabulary_size = 1024
    step_function = large_vocabulary_step_function(vocabulary_size, seed=6)
    ids, scores, _ = beam_search(step_function, [tf.zeros([1, vocabulary_size])], 1, 3, 2, BOS, EOS, length_penalty=0.0)
    table = tf.nn.log_softmax(step_function(tf.range(vocabulary_size), [tf.zeros([vocabulary_size, vocabulary_size])])[0]).numpy()
    table[:, 0] = -np.inf
    first = table[BOS]
    # Hypotheses: "eos" at once (length 1) or any two tokens (cut at max_length 2, or "x eos").
    paths = {(EOS,): first[EOS]}
    for token in np.argsort(-first)[:10]:
        if token != EOS:
            for second in np.argsort(-table[token])[:10]:
                paths[(token, second)] = first[token] + table[token, second]
    best = sorted(paths.values(), reverse=True)[:3]
    np.testing.assert_allclose(scores.numpy()[0], best, rtol=1e-5)


def test_beam_wider_than_the_vocabulary_allows_still_ranks_every_hypothesis():
    # ids 0 pad, 1, 2 bos, 3 eos: only 3 ids can be generated, fewer than 2 * beam.
    table = np.array([[0.1, 0.3, 0.1, 0.5]] * 4)
    ids, scores, _ = beam_search(table_step_function(table), zero_bias(2, 4), 2, 3, 4, BOS, EOS, length_penalty=0.0)
    # Best three: eos at once, then "1 eos" and "bos eos" (the pad's mass is not redistributed).
    np.testing.assert_allclose(scores.numpy(), np.log([[0.5, 0.15, 0.05]] * 2), rtol=1e-5)
    np.testing.assert_array_equal(ids.numpy()[:, :, 0], [[0, 1, 2]] * 2)


def test_beam_search_never_generates_padding():
    # Four pads (0.9 each) would outscore everything; without them the empty
    # hypothesis (eos at once) is the best.
    table = np.full((7, 7), 0.01)
    table[:, 0] = 0.9
    table /= table.sum(1, keepdims=True)
    ids, scores, _ = beam_search(table_step_function(table), zero_bias(1), 1, 3, 4, BOS, EOS, length_penalty=0.0)
    np.testing.assert_allclose(scores.numpy()[0, 0], np.log(table[BOS, EOS]), rtol=1e-5)
    assert np.all(ids.numpy()[0, 0] == 0)
    assert np.all(ids.numpy()[0, 1:, 0] != 0)


def test_sentences_that_finish_early_leave_the_batch_without_changing_any_result():
    log_table = tf.constant(np.log(toy_table() + 1e-12), tf.float32)

    def step_function(token_ids, states, context):
        logits = tf.gather(log_table, token_ids) + context["bias"]
        return logits, [states[0] + 1.0], tf.one_hot(token_ids % SOURCE_TIME, SOURCE_TIME)

    # Sentence 0 as the toy table (done after a few steps), 1 loops on "6"
    # until max_length, 2 ends at once.
    biases = np.zeros((3, 7), "float32")
    biases[1, 6] = 8.0
    biases[2, EOS] = 8.0

    def search(rows):
        bias = tf.constant(biases[rows])
        states = [tf.zeros([len(rows), 1])]
        context = {"bias": bias}
        return beam_search(step_function, states, len(rows), 3, 6, BOS, EOS, context=context)

    batch_ids, batch_scores, batch_attention = search([0, 1, 2])
    for row in range(3):
        ids, scores, attention = search([row])
        width = ids.shape[2]
        np.testing.assert_array_equal(batch_ids.numpy()[row, :, :width], ids.numpy()[0])
        assert np.all(batch_ids.numpy()[row, :, width:] == 0)
        np.testing.assert_allclose(batch_scores.numpy()[row], scores.numpy()[0], rtol=1e-6)
        np.testing.assert_allclose(batch_attention.numpy()[row, :width], attention.numpy()[0], atol=1e-6)
    # The looping sentence kept the batch searching to the limit; the others had left it.
    assert batch_ids.shape[2] == 6 and search([2])[0].shape[2] <= 1
