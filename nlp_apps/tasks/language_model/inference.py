"""In-graph generation and scoring for a trained language model (used by predict and export)."""

import tensorflow as tf

from nlp_apps.decoders.sampling import sample_sequence
from nlp_apps.metrics.token_losses import masked_token_losses


def _pad_with_extra_column(ids):
    """Dense `(batch, time + 1)` int32 ids: one extra padding column, so `time` is never 0."""
    dense = tf.cast(ids.to_tensor(default_value=0), tf.int32)
    return tf.concat([dense, tf.zeros([tf.shape(dense)[0], 1], tf.int32)], axis=1)


class LanguageModelInference(tf.Module):
    """`generate` (prompts → continuations) and `score` (texts → log-probability), both in the graph.

    A text is read as if it followed an end of line: the model is first fed
    `preprocessor.start_id`, then the text's tokens, from a zero state.

    `generate(prompts, max_length, temperature, top_k, top_p, seed)`: string
    prompts `(batch,)` (empty allowed; unknown words / characters become the
    unknown id) → `text` `(batch,)`, the sampled continuation, and
    `token_ids` `(batch, steps)` (0 after a row ended). Sampling runs in a
    `tf.while_loop` over the model's one-step function, carrying the RNN
    states; it uses stateless random ops keyed by `seed`, so a seed always
    gives the same text. `temperature == 0` is greedy decoding. Padding and
    the unknown id are never generated. Word and
    subword models stop a row at the end-of-line token (not included in the
    text).

    `score(texts)`: → `log_probability` (natural log, of the text's tokens
    plus the end-of-line token where the level has one), `num_tokens` and
    `perplexity` = `exp(-log_probability / num_tokens)` (1.0 for nothing to
    score).
    """

    def __init__(self, model, preprocessor):
        super().__init__()
        self.model = model
        self.preprocessor = preprocessor
        # Ids 0 (padding) and 1 (unknown: "[UNK]", U+FFFD or " ⁇ " in the text) are never generated.
        self._padding_bias = tf.constant([-1e9, -1e9] + [0.0] * (model.vocabulary_size - 2), tf.float32)

    def _with_start(self, texts):
        ids = self.preprocessor.tokenize(texts)
        start = tf.fill([ids.nrows(), 1], tf.constant(self.preprocessor.start_id, tf.int64))
        return tf.concat([start, ids], axis=1)

    def _step(self, token_ids, states):
        logits, states = self.model.call_with_state(token_ids[:, tf.newaxis], initial_state=states, training=False)
        return logits[:, 0] + self._padding_bias, states

    def generate(self, prompts, max_length, temperature, top_k, top_p, seed):
        prompts = tf.convert_to_tensor(prompts, tf.string)
        ids = self._with_start(prompts)
        lengths = tf.cast(ids.row_lengths(), tf.int32)
        inputs = _pad_with_extra_column(ids)
        batch_size = tf.shape(inputs)[0]
        logits, states = self.model.call_with_state(inputs, initial_state=self.model.zero_state(batch_size), training=False)
        last_logits = tf.gather(logits, lengths - 1, batch_dims=1) + self._padding_bias
        token_ids = sample_sequence(
            self._step,
            last_logits,
            states,
            max_length,
            tf.cast(temperature, tf.float32),
            tf.cast(top_k, tf.int32),
            tf.cast(top_p, tf.float32),
            tf.cast(seed, tf.int64),
            stop_id=self.preprocessor.eos_id,
        )
        return {"text": self.preprocessor.detokenize(token_ids), "token_ids": token_ids}

    def score(self, texts):
        texts = tf.convert_to_tensor(texts, tf.string)
        full = self._with_start(texts)
        if self.preprocessor.eos_id >= 0:
            end = tf.fill([full.nrows(), 1], tf.constant(self.preprocessor.eos_id, tf.int64))
            full = tf.concat([full, end], axis=1)
        inputs = _pad_with_extra_column(full[:, :-1])
        targets = _pad_with_extra_column(full[:, 1:])
        logits = self.model(inputs, training=False)
        losses, weights = masked_token_losses(targets, logits)
        log_probability = -tf.reduce_sum(losses, axis=1)
        num_tokens = tf.reduce_sum(weights, axis=1)
        perplexity = tf.exp(-log_probability / tf.maximum(num_tokens, 1.0))
        return {"log_probability": log_probability, "perplexity": perplexity, "num_tokens": tf.cast(num_tokens, tf.int32)}
