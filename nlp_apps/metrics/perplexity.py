"""Perplexity and bits per character of a language model over a token stream.

Word-level perplexity is computed the standard way (Mikolov; Zaremba et al.
2014): the test file is one stream with `<eos>` after every line, every
token (`<eos>` included) is predicted once, the hidden state is carried over
the whole stream, and perplexity is `exp(total negative log-likelihood /
number of predicted tokens)`. Bits per character is the same total in base 2
divided by the number of predicted characters.
"""

import math

import numpy as np
import tensorflow as tf

from nlp_apps.data.token_stream import stream_windows
from nlp_apps.metrics.token_losses import masked_token_losses


def perplexity(total_negative_log_likelihood: float, num_tokens: int) -> float:
    """`exp(nll / tokens)`; nll in nats."""
    if num_tokens <= 0:
        raise ValueError(f"num_tokens: expected a positive count, got {num_tokens}")
    return float(math.exp(total_negative_log_likelihood / num_tokens))


def bits_per_character(total_negative_log_likelihood: float, num_characters: int) -> float:
    """Average negative log2-likelihood per character; nll in nats."""
    if num_characters <= 0:
        raise ValueError(f"num_characters: expected a positive count, got {num_characters}")
    return float(total_negative_log_likelihood / num_characters / math.log(2.0))


def stream_negative_log_likelihood(model, ids, num_streams: int = 1, window_length: int = 35):
    """Total nll (nats) and number of predicted tokens of `model` over the stream `ids`.

    `model` is a `LanguageModel`. The ids are cut into `num_streams` parallel
    streams (1 = the whole stream in order, the usual test setting; 10 is
    faster and loses at most `num_streams` predictions at stream starts and
    the trimmed tail), read in windows of `window_length` with the state
    carried from window to window. The last, shorter window is padded (and
    masked), so every predictable token counts.
    """
    @tf.function(reduce_retracing=True)
    def window_nll(inputs, targets, states):
        logits, new_states = model.call_with_state(inputs, initial_state=states, training=False)
        losses, weights = masked_token_losses(targets, logits)
        return tf.reduce_sum(losses), tf.reduce_sum(weights), new_states

    states = model.zero_state(num_streams)
    total, count = 0.0, 0.0
    for inputs, targets in stream_windows(ids, num_streams, window_length, pad_last=True):
        nll, weight, states = window_nll(tf.constant(inputs), tf.constant(targets), states)
        total += float(nll)
        count += float(weight)
    return total, int(round(count))


def stream_perplexity(model, ids, num_streams: int = 1, window_length: int = 35) -> dict:
    """`{"perplexity", "negative_log_likelihood", "num_tokens", "bits_per_token"}` over `ids`."""
    total, count = stream_negative_log_likelihood(model, np.asarray(ids), num_streams, window_length)
    return {
        "perplexity": perplexity(total, count),
        "negative_log_likelihood": total,
        "num_tokens": count,
        "bits_per_token": bits_per_character(total, count),
    }
