"""Token casing classes (a classic NER feature), in-graph and in pure Python."""

import re
import unicodedata

import keras
import tensorflow as tf

from nlp_apps.text import _graph_utils

PAD_CASE = 0
LOWER_CASE = 1
CAPITALISED_CASE = 2
ALL_CAPS_CASE = 3
NUMERIC_CASE = 4
CONTAINS_DIGIT_CASE = 5
OTHER_CASE = 6

#: Number of casing class ids (0 = padding included), for an Embedding layer.
CASE_VOCABULARY_SIZE = 7

# The classes are tried in this order; the first full match wins:
#
#   0 padding        ""
#   4 numeric        digits with inner . , : / - separators: 42, 3.5, 1,000,
#                    1996-08-22
#   5 contains-digit any other token holding a digit: A4, 3-year-old, COVID-19
#   3 ALL CAPS       at least two upper/title-case letters, plus marks and
#                    the inner punctuation ' ’ . - (NATO, U.N.; AT&T is other)
#   2 Capitalised    an upper/title-case letter, then any letters, marks and
#                    ' ’ . - (Paris, McDonald, O'Neil, I, A.)
#   1 lower          optional leading apostrophe, a lower-case letter, then
#                    lower-case letters, marks and ' ’ . - (said, well-known,
#                    e.g., 's)
#   6 other          everything else: punctuation, symbols, emoji, mixed case
#                    starting lower (iPhone), and words of scripts without
#                    case (Chinese, Arabic, ...).
#
# The graph patterns (RE2) and the Python patterns below describe the same
# sets: Python's `re` has no \p{..} classes, so `case_class` first maps each
# character to a one-letter symbol of its Unicode category.
_INNER_PUNCTUATION = "'\u2019.-"
_GRAPH_PATTERNS = [
    (NUMERIC_CASE, r"\p{N}+(?:[.,:/-]\p{N}+)*"),
    (CONTAINS_DIGIT_CASE, r"(?s).*\p{N}.*"),
    (
        ALL_CAPS_CASE,
        r"[\p{Lu}\p{Lt}][\p{Lu}\p{Lt}\p{M}'\x{2019}.-]*[\p{Lu}\p{Lt}][\p{Lu}\p{Lt}\p{M}'\x{2019}.-]*",
    ),
    (CAPITALISED_CASE, r"[\p{Lu}\p{Lt}][\p{L}\p{M}'\x{2019}.-]*"),
    (LOWER_CASE, r"['\x{2019}]?\p{Ll}[\p{Ll}\p{M}'\x{2019}.-]*"),
]
# Symbols: U upper/title letter, l lower letter, o other letter, M mark,
# N number, ' apostrophe (both forms), the separators . , : / - as
# themselves, x anything else.
_PYTHON_PATTERNS = [
    (NUMERIC_CASE, re.compile(r"N+(?:[.,:/-]N+)*")),
    (CONTAINS_DIGIT_CASE, re.compile(r".*N.*", re.DOTALL)),
    (ALL_CAPS_CASE, re.compile(r"U[UM'.-]*U[UM'.-]*")),
    (CAPITALISED_CASE, re.compile(r"U[UloM'.-]*")),
    (LOWER_CASE, re.compile(r"'?l[lM'.-]*")),
]


def _symbol(character):
    if character in "'\u2019":
        return "'"
    if character in ".,:/-":
        return character
    category = unicodedata.category(character)
    if category in ("Lu", "Lt"):
        return "U"
    if category == "Ll":
        return "l"
    if category in ("Lo", "Lm"):
        return "o"
    if category[0] == "M":
        return "M"
    if category[0] == "N":
        return "N"
    return "x"


def case_class(token):
    """Casing class id of one token (pure Python; same result as `CaseFeatures`)."""
    if not isinstance(token, str):
        raise ValueError(f"case_class: token must be str, got {type(token).__name__}.")
    if token == "":
        return PAD_CASE
    symbols = "".join(_symbol(character) for character in token)
    for class_id, pattern in _PYTHON_PATTERNS:
        if pattern.fullmatch(symbols):
            return class_id
    return OTHER_CASE


@keras.saving.register_keras_serializable(package="nlp_apps")
class CaseFeatures(keras.layers.Layer):
    """Maps string tokens to int64 casing class ids, inside the graph.

    Input: string tokens, dense of any shape (padding `""`) or ragged
    `(batch, None)`. Output: int64 ids of the same shape / row lengths, in
    `[0, CASE_VOCABULARY_SIZE)`: 0 padding (`""`), 1 lower, 2 Capitalised,
    3 ALL CAPS, 4 numeric, 5 contains a digit, 6 other (punctuation, symbols,
    mixed case, uncased scripts). See the table in this module for the exact
    rules; `case_class` is the pure-Python equivalent.

    Uses `tf.strings.regex_full_match`, which is not a TFLite builtin
    (TFLite needs the Select TF ops / Flex delegate for this layer).
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        _graph_utils.configure_string_layer(self)

    def _flat_case_ids(self, flat_tokens):
        ids = tf.fill(tf.shape(flat_tokens), tf.constant(OTHER_CASE, tf.int64))
        # Apply the rules in reverse priority so the first rule is written last.
        for class_id, pattern in reversed(_GRAPH_PATTERNS):
            matches = tf.strings.regex_full_match(flat_tokens, pattern)
            ids = tf.where(matches, tf.constant(class_id, tf.int64), ids)
        return tf.where(tf.equal(flat_tokens, ""), tf.constant(PAD_CASE, tf.int64), ids)

    def call(self, tokens):
        tokens = _graph_utils.to_string_tensor(tokens, "CaseFeatures: tokens")
        return _graph_utils.map_flat_strings(self._flat_case_ids, tokens)

    def compute_output_shape(self, input_shape):
        return input_shape

    def compute_output_spec(self, tokens):
        return keras.KerasTensor(
            tokens.shape, dtype="int64", ragged=getattr(tokens, "ragged", False)
        )

    def get_config(self):
        return super().get_config()
