"""In-graph token → character-id lookup for character-level word features."""

import collections

import keras
import tensorflow as tf

from nlp_apps.text import _graph_utils

CHAR_PAD_TOKEN = "[PAD]"
CHAR_UNK_TOKEN = "[UNK]"


def build_alphabet(tokens, min_frequency=1, max_size=None):
    """Collects the characters (Unicode code points) of `tokens`.

    Args:
        tokens: iterable of str, or of sequences of str (sentences as token
            lists are flattened).
        min_frequency: int. Characters seen fewer times are left out.
        max_size: int or None. Keep at most this many characters (the most
            frequent).

    Returns:
        list of single-character str, by decreasing frequency, ties broken by
        code point, so the result does not depend on the order of the data.
        Special ids are not included: `CharLookup` / `CharTokenizer` add
        0 = padding and 1 = unknown themselves.
    """
    if min_frequency < 1:
        raise ValueError(f"build_alphabet: min_frequency must be >= 1, got {min_frequency}.")
    counts = collections.Counter()
    for index, item in enumerate(tokens):
        if isinstance(item, str):
            counts.update(item)
        elif isinstance(item, (list, tuple)):
            for inner_index, token in enumerate(item):
                if not isinstance(token, str):
                    raise ValueError(
                        f"build_alphabet: tokens[{index}][{inner_index}] must be str, "
                        f"got {type(token).__name__}."
                    )
                counts.update(token)
        else:
            raise ValueError(
                f"build_alphabet: tokens[{index}] must be str or a list of str, "
                f"got {type(item).__name__}."
            )
    ranked = sorted(
        (item for item in counts.items() if item[1] >= min_frequency),
        key=lambda item: (-item[1], item[0]),
    )
    alphabet = [character for character, _ in ranked]
    return alphabet if max_size is None else alphabet[:max_size]


def check_alphabet(alphabet, field):
    """Validates an alphabet and returns the lookup vocabulary with specials."""
    if isinstance(alphabet, str):
        alphabet = list(alphabet)
    alphabet = list(alphabet)
    seen = {}
    for index, character in enumerate(alphabet):
        if not isinstance(character, str) or len(character) != 1:
            raise ValueError(
                f"{field}[{index}]: each entry must be one Unicode character, got {character!r}."
            )
        if character in seen:
            raise ValueError(
                f"{field}[{index}]: duplicate character {character!r} (also at index "
                f"{seen[character]})."
            )
        seen[character] = index
    return alphabet, _graph_utils.check_lookup_vocabulary(
        [CHAR_PAD_TOKEN, CHAR_UNK_TOKEN, *alphabet], field
    )


@keras.saving.register_keras_serializable(package="nlp_apps")
class CharLookup(keras.layers.Layer):
    """Maps string tokens to padded character ids, inside the graph.

    Input: string tokens, dense `(batch, time)` (padding tokens `""`) or
    ragged `(batch, None)`. Output: int64 character ids of shape
    `(batch, time, max_chars_per_token)` (dense input) or ragged
    `(batch, None, max_chars_per_token)` (ragged input; `.to_tensor()` pads
    whole tokens with 0). Within a token, ids are right-padded with 0.

    Characters are Unicode code points (`tf.strings.unicode_split`; invalid
    UTF-8 bytes become U+FFFD). Ids: 0 = padding, 1 = unknown character,
    `2 + i` = `alphabet[i]`. A padding token `""` is all zeros; every other
    token has at least one non-zero id.

    Tokens longer than `max_chars_per_token` keep their first
    `max_chars_per_token` characters. (Keeping prefix and suffix would help
    morphology, but prefixes are what character CNNs are usually trained on
    and plain truncation keeps the ids of a token independent of its length.)

    The id lookup is the same FastWordpiece exact match as `TokenLookup`
    (TFLite-compatible); `unicode_split` itself is not a TFLite builtin and
    needs the Select TF ops (Flex) delegate.

    Args:
        alphabet: list of single-character str (e.g. from `build_alphabet`),
            or a str whose characters form the alphabet.
        max_chars_per_token: int >= 1.
    """

    def __init__(self, alphabet, max_chars_per_token=20, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(max_chars_per_token, int) or max_chars_per_token < 1:
            raise ValueError(
                "CharLookup: max_chars_per_token must be an int >= 1, got "
                f"{max_chars_per_token!r}."
            )
        self.alphabet, vocabulary = check_alphabet(alphabet, "CharLookup: alphabet")
        self.max_chars_per_token = max_chars_per_token
        self._lookup = _graph_utils.build_exact_match_lookup(vocabulary)
        _graph_utils.configure_string_layer(self)

    @property
    def vocabulary_size(self):
        """Number of character ids, padding and unknown included."""
        return len(self.alphabet) + 2

    def _flat_char_ids(self, flat_tokens):
        characters = tf.strings.unicode_split(flat_tokens, "UTF-8", errors="replace")
        characters = characters[:, : self.max_chars_per_token]
        ids = characters.with_flat_values(
            _graph_utils.exact_match_ids(self._lookup, characters.flat_values)
        )
        num_tokens = tf.shape(flat_tokens, out_type=tf.int64)[0]
        return ids.to_tensor(
            default_value=0, shape=tf.stack([num_tokens, self.max_chars_per_token])
        )

    def call(self, tokens):
        tokens = _graph_utils.to_string_tensor(tokens, "CharLookup: tokens")
        if isinstance(tokens, tf.RaggedTensor):
            return tokens.with_flat_values(self._flat_char_ids(tokens.flat_values))
        flat = self._flat_char_ids(tf.reshape(tokens, [-1]))
        shape = tf.concat(
            [tf.shape(tokens, out_type=tf.int64), [self.max_chars_per_token]], axis=0
        )
        return tf.reshape(flat, shape)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.max_chars_per_token,)

    def compute_output_spec(self, tokens):
        return keras.KerasTensor(
            self.compute_output_shape(tokens.shape),
            dtype="int64",
            ragged=getattr(tokens, "ragged", False),
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "alphabet": list(self.alphabet),
                "max_chars_per_token": self.max_chars_per_token,
            }
        )
        return config
