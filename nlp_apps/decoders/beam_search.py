"""In-graph search over a one-step decoder: greedy, beam and sampling search.

Every search is one `tf.while_loop`, batched over sentences (and beams), so
it traces inside a `tf.function` with an unknown batch size and a tensor
`max_length`, e.g. the `translate` endpoint of an exported SavedModel. No
Python value is derived from a dynamic shape; only `beam_size` must be a
Python int (it fixes the beam axis).

The step function contract shared by all searches:

    step_function(token_ids, states) -> (logits, states, attention)
    step_function(token_ids, states, context) -> ...   (when `context` is passed)

with `token_ids` int32 `(n,)` (the previous token; `bos_id` at the first
step), `states` a flat list of tensors whose leading dimension is `n`,
`logits` `(n, vocabulary)` (log-probabilities are fine too: the searches
apply `log_softmax`, which leaves them unchanged) and `attention` float
`(n, source_time)`. `context` is an optional nest of per-row tensors the
step reads but does not change (the encoder memory, its mask). For beam
search `n = batch_size` at the first step, then `batch_size * beam_size`,
beams of a sentence adjacent (sentence-major; the search tiles the states and
the context itself), and `n` shrinks as sentences finish: rows of a done
sentence leave the states and the context together.

Conventions: the padding id (`pad_id`, 0) is never generated; `eos_id`
finishes a hypothesis and is not part of the returned ids, which are
0-padded. A hypothesis of `n` tokens that ends with eos is scored with
length `n + 1`; one cut off at `max_length` with length `max_length`. Scores
are the summed log-probabilities divided by the GNMT length penalty
`((5 + length) / 6) ** alpha` (Wu et al. 2016); `alpha = 0` leaves them
unnormalised. The returned attention `(batch, L, source_time)` belongs to the
(best) returned hypothesis, one row per returned token (0 after its end),
gathered along the beam back-pointers, for alignment heat-maps.

Beam search follows fairseq: at each step the `2 * beam_size` best
extensions are ranked by summed log-probability; those ending in eos among
the first `beam_size` are finished (scored with the length penalty) and the
`beam_size` best others stay alive; a sentence is done once it has
`beam_size` finished hypotheses. With `beam_size=1` this is exactly greedy
search (same ids, scores and attention).

Why not `keras_hub.samplers.BeamSampler` (checked against keras-hub
`keras_hub/src/samplers/beam_sampler.py`): it would add `keras_hub` as a
dependency, and it is built for decoder-only language models: it writes into
a prompt tensor padded to the full output length and calls `next(prompt,
cache, index)`; the RNN states would fit its cache, but the encoder memory and
its mask would have to ride in the cache too (re-gathered at every step), and
per-step attention weights cannot be returned. It ranks beams by raw summed log-probability with no
length normalisation, and a beam that emits a stop token is not finished:
the loop only ends when every beam contains one, so finished beams keep
being extended and compete with the live ones.
"""

import tensorflow as tf

from nlp_apps.decoders.sampling import sample_next_token

# Initial log-probability of the copies of the start hypothesis: finite (so
# sums never produce NaN), but low enough never to win against a real one.
DEAD_BEAM = -1e9


def tile_for_beams(tensor, beam_size):
    """Repeats every batch row `beam_size` times: `(batch, ...)` -> `(batch * beam_size, ...)`.

    Beams of one sentence end up adjacent, the layout `beam_search` expects.
    Also accepts a (nested) list of tensors.
    """
    return tf.nest.map_structure(lambda value: tf.repeat(value, beam_size, axis=0), tensor)


def length_penalty_factor(lengths, alpha):
    """GNMT length penalty `((5 + lengths) / 6) ** alpha`, float32."""
    lengths = tf.cast(lengths, tf.float32)
    return tf.pow((5.0 + lengths) / 6.0, tf.cast(alpha, tf.float32))


def _log_probs(logits, pad_id):
    log_probs = tf.nn.log_softmax(tf.cast(logits, tf.float32), axis=-1)
    if pad_id is None:
        return log_probs
    is_pad = tf.equal(tf.range(tf.shape(log_probs)[-1]), pad_id)[tf.newaxis, :]
    return tf.where(is_pad, tf.constant(float("-inf"), tf.float32), log_probs)


def _block_size(vocabulary_size, k):
    """Block width for `_blocked_top_k`, or 0 when plain `top_k` is as cheap.

    The blocked search reads every logit once (the block maxima) and then
    ranks `vocabulary / block` maxima and `k * block` candidates: a power of
    two near `sqrt(vocabulary / k)` balances the two.
    """
    if not isinstance(vocabulary_size, int) or not isinstance(k, int):
        return 0
    block = 8
    while block * block * 2 * k < vocabulary_size:
        block *= 2
    return block if vocabulary_size >= 8 * k * block else 0


def _blocked_top_k(values, k):
    """`tf.math.top_k(values, k)` (same values, ids and tie order) plus each row's maximum.

    TensorFlow's CPU `top_k` keeps a heap per row and costs, at 320 rows of
    8,000 logits and k = 11, two thirds of the decoder's output projection.
    Exact shortcut: split each row into blocks; every one of the `k` best
    values lies in a block whose maximum is among the `k` best block maxima
    (otherwise `k` other blocks would each hold a better value), so `top_k`
    runs over the block maxima and then over those `k` blocks only. Blocks
    are re-sorted by position so that ties still go to the lower id.
    Needs a static last dimension and a Python int `k` (else plain `top_k`).
    Returns `(top_values, top_ids, row_max)`.
    """
    vocabulary_size = values.shape[-1]
    block = _block_size(vocabulary_size, k)
    if not block:
        top_values, top_ids = tf.math.top_k(values, k=k)
        return top_values, top_ids, tf.reduce_max(values, axis=-1, keepdims=True)
    rows = tf.shape(values)[0]
    blocks = -(-vocabulary_size // block)
    if blocks * block != vocabulary_size:
        # -inf padding: ids past the vocabulary lose every tie to real ids.
        filler = tf.fill([rows, blocks * block - vocabulary_size], tf.constant(float("-inf"), values.dtype))
        values = tf.concat([values, filler], axis=1)
    grid = tf.reshape(values, [rows, blocks, block])
    block_max = tf.reduce_max(grid, axis=-1)
    _, best_blocks = tf.math.top_k(block_max, k=k)
    best_blocks = tf.sort(best_blocks, axis=-1)
    candidates = tf.reshape(tf.gather(grid, best_blocks, batch_dims=1), [rows, k * block])
    top_values, positions = tf.math.top_k(candidates, k=k)
    top_ids = tf.gather(best_blocks, positions // block, batch_dims=1) * block + positions % block
    return top_values, top_ids, tf.reduce_max(block_max, axis=-1, keepdims=True)


def _top_log_probs(logits, k, pad_id):
    """The `k` most likely tokens of each row and their log-probabilities: `(values, ids)`, `(n, k)`.

    Same values as `top_k(_log_probs(logits, pad_id), k)` without writing a
    log-softmax over the whole vocabulary: a search step only needs the
    normaliser and the top candidates, and at `batch * beam` rows times the
    vocabulary the full-width passes cost as much as the decoder's LSTM.
    Ties go to the lower id, as in `top_k`. `k` may be a tensor; it must be
    at most the number of ids that can be generated.
    """
    logits = tf.cast(logits, tf.float32)
    # One more than needed when the pad id may be among them: it is ranked last and dropped.
    values, ids, row_max = _blocked_top_k(logits, k if pad_id is None else k + 1)
    # The normaliser as `reduce_logsumexp` computes it, reusing the row maximum.
    shift = tf.where(tf.math.is_finite(row_max), row_max, tf.zeros_like(row_max))
    log_normalizer = tf.math.log(tf.reduce_sum(tf.exp(logits - shift), axis=-1, keepdims=True)) + shift
    if pad_id is not None:
        values = tf.where(tf.equal(ids, pad_id), tf.constant(float("-inf"), tf.float32), values)
        values, order = tf.math.top_k(values, k=k)
        ids = tf.gather(ids, order, batch_dims=1)
    return values - log_normalizer, ids


def _candidates_per_beam(logits, beam, pad_id):
    """`min(2 * beam, generable ids)`: a Python int when the vocabulary size is static."""
    vocabulary_size = logits.shape[-1] if logits.shape[-1] is not None else tf.shape(logits)[-1]
    generable = vocabulary_size - (0 if pad_id is None else 1)
    if isinstance(generable, int):
        return min(2 * beam, generable)
    return tf.minimum(2 * beam, generable)


def _state_invariants(states):
    return [tf.TensorShape([None]).concatenate(state.shape[1:]) for state in states]


def _unflatten_attention(flat_attention, steps):
    """`(..., steps * source_time)` -> `(..., steps, source_time)`."""
    source_time = tf.shape(flat_attention)[-1] // tf.maximum(steps, 1)
    shape = tf.concat([tf.shape(flat_attention)[:-1], [steps, source_time]], axis=0)
    return tf.reshape(flat_attention, shape)


def _max_length_of(lengths):
    # The extra 0 keeps an empty batch well defined.
    return tf.reduce_max(tf.concat([tf.reshape(lengths, [-1]), [0]], axis=0))


def _sequential_search(step_function, initial_states, batch_size, max_length, bos_id, eos_id, length_penalty, choose, pad_id,
                       context=None):
    """The loop of greedy and sampling search.

    `choose(logits, step) -> (token, log_prob)`: the next token of each row
    and its log-probability under the model. `context` is passed to every
    step unchanged (rows are not dropped here: greedy rows are cheap).
    """
    batch_size = tf.cast(batch_size, tf.int32)
    max_length = tf.cast(max_length, tf.int32)
    states = [tf.convert_to_tensor(state) for state in initial_states]

    def condition(step, last, states, tokens, attention, summed, scores, lengths, finished):
        return (step < max_length) & tf.logical_not(tf.reduce_all(finished))

    def body(step, last, states, tokens, attention, summed, scores, lengths, finished):
        if context is None:
            logits, states, weights = step_function(last, states)
        else:
            logits, states, weights = step_function(last, states, context)
        token, token_log_prob = choose(logits, step)
        token = tf.cast(token, tf.int32)
        new_summed = summed + token_log_prob
        is_eos = tf.equal(token, eos_id)
        newly_finished = tf.logical_not(finished) & is_eos
        scores = tf.where(newly_finished, new_summed / length_penalty_factor(step + 1, length_penalty), scores)
        lengths = tf.where(newly_finished, step, lengths)
        stopped = finished | is_eos
        tokens = tf.concat([tokens, tf.where(stopped, 0, token)[:, tf.newaxis]], axis=1)
        weights = tf.cast(weights, tf.float32)
        attention = tf.concat([attention, tf.where(stopped[:, tf.newaxis], tf.zeros_like(weights), weights)], axis=1)
        summed = tf.where(finished, summed, new_summed)
        return step + 1, token, list(states), tokens, attention, summed, scores, lengths, stopped

    loop_vars = (
        tf.constant(0),
        tf.fill([batch_size], tf.cast(bos_id, tf.int32)),
        states,
        tf.zeros([batch_size, 0], tf.int32),
        tf.zeros([batch_size, 0], tf.float32),
        tf.zeros([batch_size], tf.float32),
        tf.zeros([batch_size], tf.float32),
        tf.zeros([batch_size], tf.int32),
        tf.zeros([batch_size], tf.bool),
    )
    vector = tf.TensorShape([None])
    matrix = tf.TensorShape([None, None])
    step, _, _, tokens, attention, summed, scores, lengths, finished = tf.while_loop(
        condition,
        body,
        loop_vars,
        shape_invariants=(tf.TensorShape([]), vector, _state_invariants(states), matrix, matrix, vector, vector, vector, vector),
    )
    # Rows cut off at max_length are scored as they stand.
    scores = tf.where(finished, scores, summed / length_penalty_factor(step, length_penalty))
    lengths = tf.where(finished, lengths, step)
    length = _max_length_of(lengths)
    attention = _unflatten_attention(attention, step)
    return tokens[:, :length], scores, attention[:, :length]


def greedy_search(step_function, initial_states, batch_size, max_length, bos_id, eos_id, length_penalty=0.0, pad_id=0,
                  context=None):
    """Picks the most likely token at every step.

    Args:
        step_function, initial_states: see the module docstring (`n = batch_size`).
        batch_size: int or int32 scalar tensor.
        max_length: int or int32 scalar tensor; at most this many tokens are
            generated (eos included).
        bos_id, eos_id: ints. Start token fed first; end token.
        length_penalty: float, GNMT alpha used for the returned scores only.
        pad_id: id never generated (None allows every id).
        context: optional nest of `(batch_size, ...)` tensors; the step is
            then called as `step_function(token_ids, states, context)`.

    Returns:
        `(ids, scores, attention)`: int32 `(batch, L)` without bos/eos,
        0-padded, `L <= max_length`; float32 `(batch,)`; float32 `(batch, L,
        source_time)`.
    """

    def choose(logits, step):
        # The same helper (and tie-breaking) as beam search, so beam_size=1 matches exactly.
        log_prob, token = _top_log_probs(logits, 1, pad_id)
        return token[:, 0], log_prob[:, 0]

    return _sequential_search(
        step_function, initial_states, batch_size, max_length, bos_id, eos_id, length_penalty, choose, pad_id, context
    )


def sample_search(
    step_function,
    initial_states,
    batch_size,
    max_length,
    bos_id,
    eos_id,
    temperature=1.0,
    top_k=0,
    top_p=1.0,
    seed=0,
    length_penalty=0.0,
    pad_id=0,
    context=None,
):
    """Samples each token with `sample_next_token` (temperature, top-k, top-p).

    Deterministic for a given `seed` (stateless random ops keyed by `(seed,
    step)`); `temperature=0` is greedy. Arguments and returns as
    `greedy_search`; scores are the model's log-probabilities of the sampled
    tokens (before temperature and filtering).
    """
    temperature = tf.cast(temperature, tf.float32)
    top_k = tf.cast(top_k, tf.int32)
    top_p = tf.cast(top_p, tf.float32)

    def choose(logits, step):
        log_probs = _log_probs(logits, pad_id)
        token = tf.cast(sample_next_token(log_probs, temperature, top_k, top_p, seed, step), tf.int32)
        return token, tf.gather(log_probs, token, batch_dims=1)

    return _sequential_search(
        step_function, initial_states, batch_size, max_length, bos_id, eos_id, length_penalty, choose, pad_id, context
    )


def beam_search(
    step_function,
    initial_states,
    batch_size,
    beam_size,
    max_length,
    bos_id,
    eos_id,
    length_penalty=0.6,
    pad_id=0,
    context=None,
):
    """Beam search (see the module docstring for the algorithm).

    The first step runs once per sentence (all its beams would start from
    the same bos and states), then states and context are tiled to `beam`
    rows per sentence. Sentences leave the batch once they are done
    (fairseq's `reorder_encoder_out`): the decoder then only runs on the rows
    of the sentences still searching, which in a batch of 64 is often a
    fraction of it for the last steps. Pass the per-row tensors the step
    function reads (encoder memory, its mask, ...) as `context`, so they are
    tiled and shrink too.

    Args:
        step_function: see the module docstring; `n = batch_size` at the
            first step, then `batch_size * beam_size` (fewer once sentences
            are done). With `context`, it is called as
            `step_function(token_ids, states, context)`.
        initial_states: flat list of `(batch_size, ...)` tensors, one row per
            sentence.
        batch_size: int or int32 scalar tensor.
        beam_size: Python int >= 1.
        max_length: int or int32 scalar tensor; at most this many steps.
        bos_id, eos_id: ints.
        length_penalty: float GNMT alpha (0 = rank by summed log-probability).
        pad_id: id never generated (None allows every id). The vocabulary
            must have at least 2 ids besides it.
        context: optional nest of `(batch_size, ...)` tensors, constant over
            the search, row-aligned with the states.

    Returns:
        `(ids, scores, attention)`: int32 `(batch, beam_size, L)` without
        bos/eos, 0-padded, best first, `L <= max_length`; float32 `(batch,
        beam_size)` normalised scores, descending; float32 `(batch, L,
        source_time)` attention of the best hypothesis.
    """
    if isinstance(beam_size, bool) or not isinstance(beam_size, int) or beam_size < 1:
        raise ValueError(f"beam_size: expected a Python integer >= 1, got {beam_size!r}")
    beam = beam_size
    batch_size = tf.cast(batch_size, tf.int32)
    max_length = tf.cast(max_length, tf.int32)
    states = [tf.convert_to_tensor(state) for state in initial_states]
    has_context = context is not None
    context = tf.nest.map_structure(tf.convert_to_tensor, context if has_context else [])
    negative_infinity = tf.constant(float("-inf"), tf.float32)

    def gather_beams(values, indices):
        return tf.gather(values, indices, batch_dims=1)

    def scatter_sentences(full, sentences, values):
        return tf.tensor_scatter_nd_update(full, sentences[:, tf.newaxis], values)

    def run_step(last, states, context):
        """The model's part of a step: `(states, weights, row_log_probs, row_tokens)`, one row per input row."""
        if has_context:
            logits, states, weights = step_function(last, states, context)
        else:
            logits, states, weights = step_function(last, states)
        row_log_probs, row_tokens = _top_log_probs(logits, _candidates_per_beam(logits, beam, pad_id), pad_id)
        return list(states), tf.cast(weights, tf.float32), row_log_probs, row_tokens

    # Two kinds of loop state: per searching sentence (leading dimension
    # `m`, or `m * beam` rows, shrinking as sentences finish; `sentences`
    # maps them to batch positions) and per batch sentence (`batch_size`):
    # the finished hypotheses, which are the output.
    def advance(step, sentences, states, weights, row_log_probs, row_tokens, context, alive_ids, alive_attention,
                alive_log_probs, finished_ids, finished_attention, finished_scores, finished_lengths, finished_count):
        """The search's part of a step, from the model's outputs for the `m * beam` alive rows."""
        searching = tf.shape(sentences)[0]
        weights = tf.reshape(weights, [searching, beam, -1])
        source_time = tf.shape(weights)[-1]

        # The 2 * beam best extensions of a sentence are among the 2 * beam
        # best of each of its beams, so rank those few instead of beam x vocabulary.
        per_beam = row_tokens.shape[-1] if row_tokens.shape[-1] is not None else tf.shape(row_tokens)[-1]
        candidates = tf.reshape(alive_log_probs[:, :, tf.newaxis] + tf.reshape(row_log_probs, [searching, beam, -1]),
                                [searching, -1])
        top_scores, top_indices = tf.math.top_k(candidates, k=2 * beam)
        top_beams = top_indices // per_beam
        top_tokens = tf.gather(tf.reshape(row_tokens, [searching, -1]), top_indices, batch_dims=1)
        is_eos = tf.equal(top_tokens, eos_id)

        # Hypotheses ending in eos among the `beam` best extensions finish.
        finishing = is_eos[:, :beam]
        new_scores = tf.where(
            finishing, top_scores[:, :beam] / length_penalty_factor(step + 1, length_penalty), negative_infinity
        )
        # eos is not part of the output: the finished ids get a 0 column.
        new_ids = tf.concat([gather_beams(alive_ids, top_beams[:, :beam]), tf.zeros([searching, beam, 1], tf.int32)], 2)
        new_attention = tf.concat(
            [gather_beams(alive_attention, top_beams[:, :beam]), tf.zeros([searching, beam, source_time])], axis=2
        )
        finished_ids = tf.concat([finished_ids, tf.zeros([batch_size, beam, 1], tf.int32)], axis=2)
        finished_attention = tf.concat([finished_attention, tf.zeros([batch_size, beam, source_time])], axis=2)
        merged_scores, order = tf.math.top_k(
            tf.concat([tf.gather(finished_scores, sentences), new_scores], axis=1), k=beam
        )
        finished_scores = scatter_sentences(finished_scores, sentences, merged_scores)
        finished_ids = scatter_sentences(
            finished_ids, sentences, gather_beams(tf.concat([tf.gather(finished_ids, sentences), new_ids], 1), order)
        )
        finished_attention = scatter_sentences(
            finished_attention, sentences,
            gather_beams(tf.concat([tf.gather(finished_attention, sentences), new_attention], 1), order),
        )
        finished_lengths = scatter_sentences(
            finished_lengths, sentences,
            gather_beams(tf.concat([tf.gather(finished_lengths, sentences), tf.fill([searching, beam], step)], 1), order),
        )
        counts = tf.gather(finished_count, sentences) + tf.reduce_sum(tf.cast(finishing, tf.int32), axis=1)
        finished_count = scatter_sentences(finished_count, sentences, counts)

        # The `beam` best extensions not ending in eos stay alive (there are
        # always enough: each beam contributes at most one eos extension).
        _, alive_positions = tf.math.top_k(tf.where(is_eos, negative_infinity, top_scores), k=beam)
        parents = gather_beams(top_beams, alive_positions)
        tokens = gather_beams(top_tokens, alive_positions)
        alive_log_probs = gather_beams(top_scores, alive_positions)
        alive_ids = tf.concat([gather_beams(alive_ids, parents), tokens[:, :, tf.newaxis]], axis=2)
        alive_attention = tf.concat([gather_beams(alive_attention, parents), gather_beams(weights, parents)], axis=2)
        flat_parents = tf.reshape(parents + tf.range(searching)[:, tf.newaxis] * beam, [-1])
        states = [tf.gather(state, flat_parents) for state in states]
        last = tf.reshape(tokens, [-1])

        # A sentence with `beam` finished hypotheses is done: drop its rows.
        still_searching = counts < beam

        def drop_done():
            kept = tf.reshape(tf.where(still_searching), [-1])
            kept_rows = tf.reshape(kept[:, tf.newaxis] * beam + tf.range(beam, dtype=kept.dtype), [-1])
            rows = lambda value: tf.gather(value, kept_rows)  # noqa: E731
            return (
                tf.gather(sentences, kept), rows(last), [rows(state) for state in states],
                tf.nest.map_structure(rows, context), tf.gather(alive_ids, kept),
                tf.gather(alive_attention, kept), tf.gather(alive_log_probs, kept),
            )

        def keep_all():
            return sentences, last, states, context, alive_ids, alive_attention, alive_log_probs

        sentences, last, states, context, alive_ids, alive_attention, alive_log_probs = tf.cond(
            tf.reduce_all(still_searching), keep_all, drop_done
        )
        return (step + 1, sentences, last, states, context, alive_ids, alive_attention, alive_log_probs,
                finished_ids, finished_attention, finished_scores, finished_lengths, finished_count)

    def condition(step, sentences, last, states, context, *rest):
        return (step < max_length) & (tf.size(sentences) > 0)

    def body(step, sentences, last, states, context, *rest):
        states, weights, row_log_probs, row_tokens = run_step(last, states, context)
        return advance(step, sentences, states, weights, row_log_probs, row_tokens, context, *rest)

    # The search state before any step: `beam` copies of the start
    # hypothesis per sentence, all but one dead (DEAD_BEAM).
    start_log_probs = tf.tile(tf.constant([[0.0] + [DEAD_BEAM] * (beam - 1)], tf.float32), [batch_size, 1])
    finished = (
        tf.zeros([batch_size, beam, 0], tf.int32),
        tf.zeros([batch_size, beam, 0], tf.float32),
        tf.fill([batch_size, beam], negative_infinity),
        tf.zeros([batch_size, beam], tf.int32),
        tf.zeros([batch_size], tf.int32),
    )
    bos = tf.fill([batch_size], tf.cast(bos_id, tf.int32))
    empty = (tf.zeros([batch_size, beam, 0], tf.int32), tf.zeros([batch_size, beam, 0], tf.float32), start_log_probs)

    def first_step():
        # Every copy of the start hypothesis would compute the same step:
        # run it once per sentence and give each copy its rows.
        first_states, weights, row_log_probs, row_tokens = tile_for_beams(run_step(bos, states, context), beam)
        return advance(tf.constant(0), tf.range(batch_size), first_states, weights, row_log_probs, row_tokens,
                       tile_for_beams(context, beam), *empty, *finished)

    def no_step():
        return (tf.constant(0), tf.range(batch_size), tile_for_beams(bos, beam), tile_for_beams(states, beam),
                tile_for_beams(context, beam), *empty, *finished)

    loop_vars = tf.cond(max_length > 0, first_step, no_step)
    vector = tf.TensorShape([None])
    beams = tf.TensorShape([None, beam])
    growing = tf.TensorShape([None, beam, None])
    (step, sentences, _, _, _, alive_ids, alive_attention, alive_log_probs,
     finished_ids, finished_attention, finished_scores, finished_lengths, _) = tf.while_loop(
        condition,
        body,
        loop_vars,
        shape_invariants=(
            tf.TensorShape([]), vector, vector, _state_invariants(states),
            tf.nest.map_structure(lambda value: tf.TensorShape([None]).concatenate(value.shape[1:]), context),
            growing, growing, beams, growing, growing, beams, beams, vector,
        ),
    )
    # Sentences still searching at max_length also rank their alive
    # hypotheses, scored as they stand; the others get a row of -inf. (A
    # gather through `slot`, not a scatter: the outputs may be 0 wide.)
    searching = tf.shape(sentences)[0]
    slot = tf.tensor_scatter_nd_update(tf.fill([batch_size], searching), sentences[:, tf.newaxis], tf.range(searching))

    def to_batch(values, filler):
        padded = tf.concat([values, tf.fill(tf.concat([[1], tf.shape(values)[1:]], axis=0), filler)], axis=0)
        return tf.gather(padded, slot)

    alive_scores = to_batch(alive_log_probs / length_penalty_factor(step, length_penalty), negative_infinity)
    alive_ids = to_batch(alive_ids, 0)
    alive_attention = to_batch(alive_attention, 0.0)
    scores, order = tf.math.top_k(tf.concat([finished_scores, alive_scores], axis=1), k=beam)
    ids = gather_beams(tf.concat([finished_ids, alive_ids], axis=1), order)
    attention = gather_beams(tf.concat([finished_attention, alive_attention], axis=1), order)
    lengths = gather_beams(tf.concat([finished_lengths, tf.fill([batch_size, beam], step)], axis=1), order)
    length = _max_length_of(lengths)
    best_attention = _unflatten_attention(attention[:, 0], step)
    return ids[:, :, :length], scores, best_attention[:, :length]
