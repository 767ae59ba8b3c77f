"""In-graph character tokenizer (and detokenizer) for character-level models."""

import keras
import tensorflow as tf

from nlp_apps.text import _graph_utils
from nlp_apps.text.char_lookup import check_alphabet

#: What an unknown-character id (1) decodes to.
UNKNOWN_CHARACTER = "\ufffd"


@keras.saving.register_keras_serializable(package="nlp_apps")
class CharTokenizer(keras.layers.Layer):
    """Splits strings into character ids and joins ids back into strings.

    `call`: string Tensor `(batch,)` → ragged int64 ids `(batch, None)`, one id
    per Unicode code point (invalid UTF-8 bytes become U+FFFD first). Ids:
    0 = padding (never produced), 1 = unknown character, `2 + i` =
    `alphabet[i]`. Nothing is normalised or dropped: spaces and newlines are
    characters like any other, so they belong in the alphabet.

    `detokenize`: int ids `(batch, time)` (dense, padded with 0) or ragged
    `(batch, None)` → string Tensor `(batch,)`; a 1-D id Tensor → a scalar. Padding ids are skipped, the
    unknown id becomes U+FFFD ("\\ufffd"), ids outside the vocabulary raise an
    `InvalidArgumentError` from `tf.gather` (eager / CPU).

    `tokenize` then `detokenize` gives back the input exactly when all of its
    characters are in the alphabet.

    Args:
        alphabet: list of single-character str (e.g. from
            `nlp_apps.text.build_alphabet`), or a str of characters.
    """

    def __init__(self, alphabet, **kwargs):
        super().__init__(**kwargs)
        self.alphabet, vocabulary = check_alphabet(alphabet, "CharTokenizer: alphabet")
        self._lookup = _graph_utils.build_exact_match_lookup(vocabulary)
        # Code point of every id, for detokenize. Padding's entry is never used.
        self._code_points = [0, ord(UNKNOWN_CHARACTER)] + [ord(c) for c in self.alphabet]
        _graph_utils.configure_string_layer(self)

    @property
    def vocabulary_size(self):
        """Number of ids, padding and unknown included."""
        return len(self.alphabet) + 2

    def call(self, strings):
        strings = _graph_utils.to_string_tensor(strings, "CharTokenizer: strings")
        characters = tf.strings.unicode_split(strings, "UTF-8", errors="replace")
        return tf.ragged.map_flat_values(
            lambda flat: _graph_utils.exact_match_ids(self._lookup, flat), characters
        )

    def tokenize(self, strings):
        return self(strings)

    def detokenize(self, ids):
        ids = _graph_utils.to_id_tensor(ids, "CharTokenizer.detokenize: ids")
        if not isinstance(ids, tf.RaggedTensor):
            if ids.shape.rank == 1:
                # One sequence → one string.
                return self.detokenize(ids[tf.newaxis])[0]
            ids = tf.RaggedTensor.from_tensor(ids)
        ids = tf.cast(ids, tf.int64)
        # Drop padding wherever it is, not only at the end of a row.
        ids = tf.ragged.boolean_mask(ids, tf.not_equal(ids, 0))
        code_points = tf.ragged.map_flat_values(
            tf.gather, tf.constant(self._code_points, tf.int32), ids
        )
        return tf.strings.unicode_encode(code_points, "UTF-8")

    def compute_output_spec(self, strings):
        return keras.KerasTensor(tuple(strings.shape) + (None,), dtype="int64", ragged=True)

    def get_config(self):
        config = super().get_config()
        config["alphabet"] = list(self.alphabet)
        return config
