"""Linear-chain conditional random field (CRF) for sequence tagging."""

import keras
import numpy as np
import tensorflow as tf

# Added to the score of every disallowed transition. Large enough that no
# realistic sum of potentials outweighs it, small enough to stay finite (and
# representable in float16) so that log-sum-exp never sees -inf.
_DISALLOWED_PENALTY = -1e4


def _bool_array(value, shape, name):
    """Validates an `allowed_*` argument and returns it as a numpy bool array."""
    if value is None:
        return None
    array = np.asarray(value)
    if array.shape != shape:
        raise ValueError(
            f"CRF: `{name}` must have shape {shape} (num_tags = {shape[0]}), got "
            f"shape {array.shape}."
        )
    if array.dtype != bool:
        if not np.issubdtype(array.dtype, np.number) or not np.isin(
            array, (0, 1)
        ).all():
            raise ValueError(f"CRF: `{name}` must contain only booleans (or 0/1).")
        array = array.astype(bool)
    return array


def _penalty(allowed, shape):
    if allowed is None:
        return np.zeros(shape, dtype="float32")
    return np.where(allowed, 0.0, _DISALLOWED_PENALTY).astype("float32")


@keras.saving.register_keras_serializable(package="nlp_apps")
class CRF(keras.layers.Layer):
    """Linear-chain CRF over per-token tag potentials (Lafferty et al. 2001).

    The score of a tag sequence `y` of length `L` is
    `start[y_0] + sum_t potentials[t, y_t] + sum_{t>0} transitions[y_{t-1}, y_t]
    + end[y_{L-1}]`, and `p(y | x)` is its softmax over all `num_tags ** L`
    sequences. Training maximizes `log_likelihood`; inference uses Viterbi
    (`decode`, or calling the layer).

    Args:
        num_tags: int. Number of tags; the last axis of the potentials.
        allowed_transitions: optional `num_tags x num_tags` nested list of
            bools; `[i][j]` False forbids tag `j` right after tag `i`.
        allowed_start: optional list of `num_tags` bools; False forbids a
            sequence from starting with that tag.
        allowed_end: optional list of `num_tags` bools; False forbids a
            sequence from ending with that tag.
            The three `allowed_*` lists come from
            `nlp_apps.layers.crf_constraints.allowed_transitions(tag_names,
            scheme)`. Forbidden moves get -1e4 added to their score in both
            training and decoding, so Viterbi never emits them (for example
            `O -> I-PER` under IOB2).
        **kwargs: standard `keras.layers.Layer` arguments. `dtype` defaults to
            "float32" even under a mixed-precision policy: the forward algorithm
            adds up many log-potentials and needs float32 precision.

    Weights: `transitions` `(num_tags, num_tags)` (from row tag to column tag),
    `start_transitions` `(num_tags,)` and `end_transitions` `(num_tags,)`, all
    float32.

    Call arguments:
        potentials: float tensor `(batch, time, num_tags)` of unnormalized
            per-token tag scores (e.g. a Dense layer's output); cast to float32.
        mask: optional bool/int tensor `(batch, time)`, true for real tokens,
            taken from the Keras mask of `potentials` when not given. Masks must
            be right-padded (real tokens first); lengths may differ per row.

    Returns:
        `call` returns the Viterbi tags, int32 `(batch, time)`, with 0 at
        padded positions, and passes the input mask on. `time` may be unknown
        (None): all loops over time are `tf.while_loop`s with fixed-shape loop
        variables, so the layer works in `tf.function`, SavedModels and TFLite
        conversion (builtin ops only, once the variables are frozen).
    """

    def __init__(
        self,
        num_tags,
        allowed_transitions=None,
        allowed_start=None,
        allowed_end=None,
        **kwargs,
    ):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if (
            isinstance(num_tags, bool)
            or not isinstance(num_tags, (int, np.integer))
            or num_tags <= 0
        ):
            raise ValueError(f"CRF: `num_tags` must be a positive int, got {num_tags!r}.")
        num_tags = int(num_tags)
        self.num_tags = num_tags
        transitions_array = _bool_array(
            allowed_transitions, (num_tags, num_tags), "allowed_transitions"
        )
        start_array = _bool_array(allowed_start, (num_tags,), "allowed_start")
        end_array = _bool_array(allowed_end, (num_tags,), "allowed_end")
        # Kept as plain lists of Python bools so that get_config is JSON.
        self.allowed_transitions = (
            None if transitions_array is None else transitions_array.tolist()
        )
        self.allowed_start = None if start_array is None else start_array.tolist()
        self.allowed_end = None if end_array is None else end_array.tolist()
        # Constants, not weights: they come from the config, not from training.
        self._transition_penalty = _penalty(transitions_array, (num_tags, num_tags))
        self._start_penalty = _penalty(start_array, (num_tags,))
        self._end_penalty = _penalty(end_array, (num_tags,))

    def build(self, potentials_shape):
        if len(potentials_shape) != 3:
            raise ValueError(
                "CRF: `potentials` must have shape (batch, time, num_tags), got "
                f"{tuple(potentials_shape)}."
            )
        if potentials_shape[-1] is not None and potentials_shape[-1] != self.num_tags:
            raise ValueError(
                f"CRF: the last axis of `potentials` ({potentials_shape[-1]}) must "
                f"equal `num_tags` ({self.num_tags})."
            )
        # autocast=False keeps the weights float32 even inside an enclosing
        # mixed-precision model's autocast scope.
        self.transitions = self.add_weight(
            name="transitions",
            shape=(self.num_tags, self.num_tags),
            initializer="glorot_uniform",
            dtype="float32",
            autocast=False,
        )
        self.start_transitions = self.add_weight(
            name="start_transitions",
            shape=(self.num_tags,),
            initializer="zeros",
            dtype="float32",
            autocast=False,
        )
        self.end_transitions = self.add_weight(
            name="end_transitions",
            shape=(self.num_tags,),
            initializer="zeros",
            dtype="float32",
            autocast=False,
        )
        self.built = True

    def _constrained_weights(self):
        transitions = tf.convert_to_tensor(self.transitions) + self._transition_penalty
        start = tf.convert_to_tensor(self.start_transitions) + self._start_penalty
        end = tf.convert_to_tensor(self.end_transitions) + self._end_penalty
        return transitions, start, end

    def _prepare(self, potentials, mask):
        """Casts potentials to float32 and returns a bool mask `(batch, time)`."""
        if mask is None:
            mask = getattr(potentials, "_keras_mask", None)
        potentials = tf.cast(potentials, tf.float32)
        if mask is None:
            mask = tf.ones(tf.shape(potentials)[:2], dtype=tf.bool)
        else:
            mask = tf.cast(mask, tf.bool)
        return potentials, mask

    def log_likelihood(self, potentials, tags, mask=None):
        """Log-probability of `tags` given the potentials.

        Args:
            potentials: float `(batch, time, num_tags)`.
            tags: int `(batch, time)` gold tag ids; values at padded positions
                are ignored.
            mask: optional bool/int `(batch, time)`, right-padded.

        Returns:
            float32 `(batch,)`: `log p(tags | potentials)`; 0 for empty rows.
            Train with `-mean(log_likelihood)`.
        """
        # Methods other than call() do not trigger Keras's automatic build.
        if not self.built:
            self.build(potentials.shape)
        potentials, mask = self._prepare(potentials, mask)
        tags = tf.cast(tags, tf.int32)
        # Padding labels may be anything (e.g. -1); replace them with a valid id
        # so that the gathers below stay in range. They are masked out anyway.
        tags = tf.where(mask, tags, tf.zeros_like(tags))
        transitions, start, end = self._constrained_weights()
        gold_score = self._sequence_score(potentials, tags, mask, transitions, start, end)
        log_partition = self._log_partition(potentials, mask, transitions, start, end)
        lengths = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)
        return tf.where(lengths > 0, gold_score - log_partition, tf.zeros_like(gold_score))

    def _sequence_score(self, potentials, tags, mask, transitions, start, end):
        float_mask = tf.cast(mask, tf.float32)
        unary = tf.gather(potentials, tags, axis=2, batch_dims=2)
        unary = tf.reduce_sum(unary * float_mask, axis=1)
        # Index the flattened transition matrix with previous * num_tags + next.
        pair_index = tags[:, :-1] * self.num_tags + tags[:, 1:]
        binary = tf.gather(tf.reshape(transitions, [-1]), pair_index)
        binary = tf.reduce_sum(binary * float_mask[:, 1:], axis=1)
        lengths = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)
        last_tags = tf.gather(tags, tf.maximum(lengths - 1, 0), batch_dims=1)
        return unary + binary + tf.gather(start, tags[:, 0]) + tf.gather(end, last_tags)

    def _log_partition(self, potentials, mask, transitions, start, end):
        """Forward algorithm in log space: log of the sum over all sequences."""
        # Time-major, so each loop step reads one (batch, num_tags) slice.
        potentials = tf.transpose(potentials, [1, 0, 2])
        mask = tf.transpose(mask, [1, 0])
        sequence_length = tf.shape(potentials)[0]
        alpha = start[tf.newaxis, :] + potentials[0]

        def step(time, alpha):
            # scores[b, i, j]: best-so-far ending in i, then i -> j, emitting j.
            scores = (
                alpha[:, :, tf.newaxis]
                + transitions[tf.newaxis, :, :]
                + potentials[time][:, tf.newaxis, :]
            )
            new_alpha = tf.reduce_logsumexp(scores, axis=1)
            # Padded steps carry the state through unchanged.
            alpha = tf.where(mask[time][:, tf.newaxis], new_alpha, alpha)
            return time + 1, alpha

        _, alpha = tf.while_loop(
            lambda time, alpha: time < sequence_length,
            step,
            (tf.constant(1), alpha),
        )
        return tf.reduce_logsumexp(alpha + end[tf.newaxis, :], axis=1)

    def decode(self, potentials, mask=None, fixed_point_scale=None):
        """Viterbi decoding.

        Args:
            potentials: float `(batch, time, num_tags)`.
            mask: optional bool/int `(batch, time)`, right-padded.
            fixed_point_scale: optional int. Run the search in int32 on scores
                rounded to multiples of `1 / fixed_point_scale` (the TFLite
                export uses 1024). Integer tensors are never quantized, so a
                full-integer TFLite model keeps an exact search; int8 alphas
                could not hold both the -1e4 penalty of forbidden transitions
                and score differences of a fraction of a point. Ties closer
                than the rounding may break differently from the float search.

        Returns:
            `(best_tags, best_scores)`: int32 `(batch, time)` highest-scoring
            tag sequence with 0 at padded positions, and float32 `(batch,)` its
            unnormalized score (0 for empty rows).
        """
        # Methods other than call() do not trigger Keras's automatic build.
        if not self.built:
            self.build(potentials.shape)
        potentials, mask = self._prepare(potentials, mask)
        transitions, start, end = self._constrained_weights()
        if fixed_point_scale is not None:
            scale = float(fixed_point_scale)
            # The weights become int32 constants of the trace (read eagerly):
            # a float constant would be quantized to int8 before the cast.
            with tf.init_scope():
                transitions, start, end = (
                    tf.constant(np.round(keras.ops.convert_to_numpy(value) * scale).astype(np.int32))
                    for value in self._constrained_weights()
                )
            potentials = tf.cast(tf.round(potentials * scale), tf.int32)
        potentials_tm = tf.transpose(potentials, [1, 0, 2])
        mask_tm = tf.transpose(mask, [1, 0])
        sequence_length = tf.shape(potentials_tm)[0]
        alpha = start[tf.newaxis, :] + potentials_tm[0]
        # At padded steps every tag points back to itself, so backtracking
        # through the padding keeps the tag chosen at the last real token.
        identity = tf.broadcast_to(tf.range(self.num_tags)[tf.newaxis, :], tf.shape(alpha))
        # Backpointers and tags live in fixed-size (batch, time, ...) tensors
        # that each step overwrites at one time index, instead of TensorArrays
        # or tensors growing by concatenation: TensorList ops with an unknown
        # time axis do not lower to TFLite builtins, and loop variables that
        # change shape break graph freezing. The select costs O(time) per step,
        # negligible next to the encoder.
        time_positions = tf.range(sequence_length)
        backpointers = tf.zeros_like(potentials, dtype=tf.int32)

        def forward_step(time, alpha, backpointers):
            scores = alpha[:, :, tf.newaxis] + transitions[tf.newaxis, :, :]
            best_previous = tf.argmax(scores, axis=1, output_type=tf.int32)
            new_alpha = tf.reduce_max(scores, axis=1) + potentials_tm[time]
            is_real = mask_tm[time][:, tf.newaxis]
            alpha = tf.where(is_real, new_alpha, alpha)
            step_pointers = tf.where(is_real, best_previous, identity)
            is_now = tf.equal(time_positions, time)[tf.newaxis, :, tf.newaxis]
            backpointers = tf.where(
                is_now, step_pointers[:, tf.newaxis, :], backpointers
            )
            return time + 1, alpha, backpointers

        # backpointers[:, t, j]: the best tag at t - 1 given tag j at t (t >= 1).
        _, alpha, backpointers = tf.while_loop(
            lambda time, *_: time < sequence_length,
            forward_step,
            (tf.constant(1), alpha, backpointers),
        )
        final_scores = alpha + end[tf.newaxis, :]
        best_last = tf.argmax(final_scores, axis=1, output_type=tf.int32)
        best_scores = tf.reduce_max(final_scores, axis=1)
        best_tags = tf.where(
            tf.equal(time_positions, sequence_length - 1)[tf.newaxis, :],
            best_last[:, tf.newaxis],
            tf.zeros_like(mask, dtype=tf.int32),
        )

        def backward_step(time, tag, best_tags):
            step_pointers = tf.gather(backpointers, time, axis=1)
            tag = tf.gather(step_pointers, tag, batch_dims=1)
            is_previous = tf.equal(time_positions, time - 1)[tf.newaxis, :]
            best_tags = tf.where(is_previous, tag[:, tf.newaxis], best_tags)
            return time - 1, tag, best_tags

        _, _, best_tags = tf.while_loop(
            lambda time, *_: time > 0,
            backward_step,
            (sequence_length - 1, best_last, best_tags),
        )
        best_tags = tf.where(mask, best_tags, tf.zeros_like(best_tags))
        if fixed_point_scale is not None:
            best_scores = tf.cast(best_scores, tf.float32) / scale
        lengths = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)
        best_scores = tf.where(lengths > 0, best_scores, tf.zeros_like(best_scores))
        return best_tags, best_scores

    def call(self, potentials, mask=None):
        best_tags, _ = self.decode(potentials, mask)
        return best_tags

    def compute_mask(self, potentials, mask=None):
        return mask

    def compute_output_shape(self, potentials_shape):
        return tuple(potentials_shape)[:-1]

    def compute_output_spec(self, potentials, mask=None):
        return keras.KerasTensor(tuple(potentials.shape)[:-1], dtype="int32")

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_tags": self.num_tags,
                "allowed_transitions": self.allowed_transitions,
                "allowed_start": self.allowed_start,
                "allowed_end": self.allowed_end,
            }
        )
        return config
