"""Raw strings in, translations out: tokenization, search and detokenization in one TF graph.

The pipeline (`evaluate`, `predict`), the per-epoch dev BLEU and the exported
SavedModel all translate through `TranslationInference.translate`, so what is
measured is what ships.
"""

from __future__ import annotations

import tensorflow as tf

from nlp_apps.decoders.attention_decoder import PROJECTION_DTYPES
from nlp_apps.tasks.translation.preprocessor import TranslationPreprocessor

# Output limit when the config sets none: 2 x source pieces + 10, at most this.
DEFAULT_MAX_DECODE_LENGTH = 256
METHODS = ("beam", "greedy", "sample")


def decode_length_limits(source_ids, max_decode_length: int):
    """Output pieces allowed per sentence: 2 x its source pieces + 10, capped; int32 `(batch,)`.

    Each sentence gets its own limit (not the batch's longest), so a
    translation does not depend on what else is in its batch.
    """
    source_lengths = tf.reduce_sum(tf.cast(tf.not_equal(source_ids, 0), tf.int32), axis=1)
    cap = max_decode_length or DEFAULT_MAX_DECODE_LENGTH
    return tf.minimum(2 * source_lengths + 10, cap)


class TranslationInference(tf.Module):
    """Wraps a trained `Translator` and its preprocessor.

    `translate(texts, beam_size, length_penalty, method, temperature, top_k,
    top_p, seed, projection_dtype)`: string `(batch,)` → dict with `translations` string
    `(batch,)`, `scores` float32 `(batch,)` (length-normalized log-probability
    for beam search, summed log-probability otherwise), `ids` int32 `(batch,
    L)` (0-padded, without `<s>`/`</s>`) and `attention` float32 `(batch, L,
    S)` (the attention of each output piece over the source pieces, `</s>`
    included).

    Args:
        model: a trained `nlp_apps.tasks.translation.model.Translator`.
        preprocessor: its `TranslationPreprocessor`.
        max_decode_length: int. Output cap (0 = DEFAULT_MAX_DECODE_LENGTH).
    """

    def __init__(self, model, preprocessor: TranslationPreprocessor, max_decode_length: int = 0):
        super().__init__()
        self.model = model
        self.preprocessor = preprocessor
        self.max_decode_length = int(max_decode_length)

    def source_ids(self, texts):
        ids = self.preprocessor.encode_source(texts).to_tensor()
        # At least one time step: an empty batch has none, and the encoder's loop cannot stack zero steps
        # (found by fuzzing the SavedModel with an empty batch).
        return tf.pad(ids, [[0, 0], [0, tf.maximum(1 - tf.shape(ids)[1], 0)]])

    def translate_ids(self, texts, beam_size=5, length_penalty=0.6, method="beam", temperature=1.0, top_k=0, top_p=1.0, seed=0,
                      projection_dtype="float32"):
        source_ids = self.source_ids(texts)
        limits = decode_length_limits(source_ids, self.max_decode_length)
        outputs = self.model.translate_ids(
            source_ids,
            # One step more than the longest limit, for the end of sentence.
            max_length=tf.reduce_max(tf.concat([limits, [0]], axis=0)) + 1,
            row_max_lengths=limits,
            beam_size=beam_size,
            length_penalty=length_penalty,
            method=method,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            seed=seed,
            projection_dtype=projection_dtype,
        )
        return dict(outputs)

    def translate(self, texts, **options):
        outputs = self.translate_ids(texts, **options)
        outputs["translations"] = self.preprocessor.decode_target(outputs["ids"])
        return outputs

    def compiled(self, **options):
        """A `tf.function` of `translate` with fixed search options, traced once.

        Cached per options: tracing the search graph takes seconds, so a new
        function per call would repeat that cost in every `translate_texts`
        call (every dev-BLEU epoch, every timing run). The cache bypasses
        `tf.Module` attribute tracking (`object.__setattr__`), so cached
        functions never become part of an exported SavedModel.
        """
        cache = self.__dict__.get("_compiled_by_options")
        if cache is None:
            cache = {}
            object.__setattr__(self, "_compiled_by_options", cache)
        key = tuple(sorted(options.items()))
        if key not in cache:
            cache[key] = tf.function(
                lambda texts: self.translate(texts, **options),
                input_signature=[tf.TensorSpec([None], tf.string)],
            )
        return cache[key]


def check_method(method: str, beam_size: int) -> None:
    if method not in METHODS:
        raise ValueError(f"method: unknown {method!r}; choose one of {', '.join(METHODS)}")
    if isinstance(beam_size, bool) or not isinstance(beam_size, int) or beam_size < 1:
        raise ValueError(f"model.beam_size: expected an integer >= 1, got {beam_size!r}")


def check_projection_dtype(projection_dtype: str) -> None:
    if projection_dtype not in PROJECTION_DTYPES:
        raise ValueError(
            f"model.output_projection_dtype: unknown {projection_dtype!r}; choose one of {', '.join(PROJECTION_DTYPES)}"
        )
