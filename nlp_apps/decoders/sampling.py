"""Sampling search: temperature, top-k and top-p (nucleus) sampling inside the graph.

Everything here is TensorFlow ops only, so it runs inside `tf.function`s and
exported SavedModels. Randomness uses stateless ops keyed by `(seed, step)`:
the same seed gives the same tokens, in any process.
"""

import tensorflow as tf


def filter_logits(logits, top_k, top_p):
    """Returns `(sorted_logits, sorted_ids)` with the tokens outside top-k / top-p set to -inf.

    Args:
        logits: float32 `(batch, vocabulary)`.
        top_k: int32 scalar; keep the k most likely tokens (0 = no limit).
        top_p: float32 scalar; keep the smallest set of most likely tokens
            whose probability reaches p (1.0 = no limit). The most likely
            token is always kept.
    """
    vocabulary_size = tf.shape(logits)[-1]
    sorted_logits, sorted_ids = tf.math.top_k(logits, k=vocabulary_size)
    ranks = tf.range(vocabulary_size)[tf.newaxis, :]
    k = tf.where(top_k > 0, tf.minimum(top_k, vocabulary_size), vocabulary_size)
    keep = ranks < k
    probabilities = tf.nn.softmax(sorted_logits, axis=-1)
    # Probability mass of the tokens ranked strictly before each token.
    mass_before = tf.cumsum(probabilities, axis=-1, exclusive=True)
    keep = keep & ((mass_before < top_p) | (ranks == 0))
    filtered = tf.where(keep, sorted_logits, tf.fill(tf.shape(sorted_logits), float("-inf")))
    return filtered, sorted_ids


def sample_next_token(logits, temperature, top_k, top_p, seed, step):
    """Draws one token id per row: int32 `(batch,)`.

    `temperature == 0` is greedy (argmax); otherwise the logits are divided
    by the temperature, filtered by `filter_logits` and sampled with
    `tf.random.stateless_categorical` under the seed `(seed, step)`.
    """
    logits = tf.cast(logits, tf.float32)
    greedy = tf.cast(tf.argmax(logits, axis=-1, output_type=tf.int32), tf.int32)
    safe_temperature = tf.where(temperature > 0.0, temperature, 1.0)
    filtered, sorted_ids = filter_logits(logits / safe_temperature, top_k, top_p)
    stateless_seed = tf.stack([tf.cast(seed, tf.int64), tf.cast(step, tf.int64)])
    rank = tf.random.stateless_categorical(filtered, 1, seed=stateless_seed, dtype=tf.int32)
    sampled = tf.gather(sorted_ids, rank, batch_dims=1)[:, 0]
    return tf.where(temperature > 0.0, sampled, greedy)


def sample_sequence(step_function, first_logits, states, max_length, temperature, top_k, top_p, seed, stop_id=-1):
    """Samples up to `max_length` tokens per row with a `tf.while_loop`.

    Args:
        step_function: `(token_ids (batch,), states) -> (logits (batch,
            vocabulary), states)`: one step of the model.
        first_logits: logits for the first token to sample (e.g. after the prompt).
        states: list of state tensors after the prompt.
        max_length: int32 scalar, number of tokens to sample at most.
        temperature, top_k, top_p, seed: see `sample_next_token`.
        stop_id: int; a row that samples this id stops (the id itself is not
            returned); -1 never stops early.

    Returns:
        int32 `(batch, steps)` token ids, 0 after a row stopped; `steps` is
        `max_length`, or fewer when every row stopped.
    """
    batch_size = tf.shape(first_logits)[0]
    max_length = tf.cast(max_length, tf.int32)
    tokens = tf.TensorArray(tf.int32, size=0, dynamic_size=True, element_shape=tf.TensorShape([None]))
    finished = tf.zeros([batch_size], tf.bool)

    def condition(step, logits, states, finished, tokens):
        return (step < max_length) & tf.logical_not(tf.reduce_all(finished))

    def body(step, logits, states, finished, tokens):
        token = sample_next_token(logits, temperature, top_k, top_p, seed, step)
        finished = finished | tf.equal(token, stop_id)
        token = tf.where(finished, tf.zeros_like(token), token)
        tokens = tokens.write(step, token)
        # A stopped row keeps being fed a harmless token; its output is ignored.
        next_input = tf.where(finished, tf.ones_like(token), token)
        logits, states = step_function(next_input, states)
        return step + 1, logits, states, finished, tokens

    state_shapes = [tf.TensorShape([None, state.shape[-1]]) for state in states]
    _, _, _, _, tokens = tf.while_loop(
        condition,
        body,
        (tf.constant(0), first_logits, list(states), finished, tokens),
        shape_invariants=(
            tf.TensorShape([]),
            tf.TensorShape([None, first_logits.shape[-1]]),
            state_shapes,
            tf.TensorShape([None]),
            tf.TensorShape(None),
        ),
    )
    return tf.cond(
        tokens.size() > 0,
        lambda: tf.transpose(tokens.stack()),
        lambda: tf.zeros([batch_size, 0], tf.int32),
    )
