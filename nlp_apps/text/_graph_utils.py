"""Private helpers shared by the in-graph string layers of `nlp_apps.text`.

The central piece is an exact-match string → id lookup built on
`tensorflow_text.FastWordpieceTokenizer`, because that op runs in TFLite (as a
custom op registered by `tensorflow_text.tflite_registrar.SELECT_TFTEXT_OPS`)
whereas the hash tables behind `keras.layers.StringLookup` do not.

How a word-level vocabulary becomes an exact-match lookup:

* `no_pretokenization=True`: every input string is one "word", whitespace and
  punctuation included; nothing is split before matching.
* `SUFFIX_INDICATOR` is a private-use code point plus "##". Vocabulary entries
  starting with it are rejected, so the model holds no suffix pieces. WordPiece
  then can only cover a word by one whole-word piece: a word that is not in the
  vocabulary cannot be continued after a prefix match and becomes exactly one
  unknown id, whatever its length.
* `max_bytes_per_word` is at least the longest vocabulary entry, so every entry
  is reachable; longer inputs are unknown (one id).
* The two cases where the op does not give exactly one id are handled after
  it: an empty string gives zero pieces (mapped to 0, the padding id) and the
  literal padding token gives id 0 (mapped to 1, unknown), so id 0 only ever
  means padding. As a safety net, any row with more than one piece maps to the
  unknown id; with the rules above this does not happen (tests check it).
"""

import tensorflow as tf
import tensorflow_text

# U+E000 is a private-use code point: no natural-language token starts with it.
SUFFIX_INDICATOR = "\ue000##"


def configure_string_layer(layer):
    """Lets a Keras layer take string, ragged and Python-list inputs."""
    # Keras would otherwise try to convert (and autocast) inputs to float
    # tensors and reject RaggedTensors / lists passed positionally.
    layer._convert_input_args = False
    layer._allow_non_tensor_positional_args = True
    # These layers own no weights; marking them built keeps Keras from
    # calling `build()` with shapes it cannot compute for ragged inputs.
    layer.built = True


def to_string_tensor(inputs, field):
    """Converts lists / numpy arrays to a string Tensor; keeps RaggedTensors."""
    if isinstance(inputs, tf.RaggedTensor):
        tensor = inputs
    elif isinstance(inputs, (list, tuple)) and inputs and any(
        isinstance(item, (list, tuple)) for item in inputs
    ):
        # Nested Python lists may have rows of different lengths.
        tensor = tf.ragged.constant(inputs, dtype=tf.string)
    else:
        tensor = tf.convert_to_tensor(inputs)
    if tensor.dtype != tf.string:
        raise ValueError(f"{field}: expected string tokens, got dtype {tensor.dtype.name}.")
    return tensor


def to_id_tensor(inputs, field):
    """Converts lists / arrays of ids to an int Tensor; keeps RaggedTensors."""
    if isinstance(inputs, tf.RaggedTensor):
        tensor = inputs
    elif isinstance(inputs, (list, tuple)) and inputs and any(
        isinstance(item, (list, tuple)) for item in inputs
    ):
        tensor = tf.ragged.constant(inputs, dtype=tf.int64)
    else:
        tensor = tf.convert_to_tensor(inputs)
    if not tensor.dtype.is_integer:
        raise ValueError(f"{field}: expected integer ids, got dtype {tensor.dtype.name}.")
    return tensor


def check_lookup_vocabulary(vocabulary, field):
    """Validates a vocabulary list for `build_exact_match_lookup`."""
    if isinstance(vocabulary, str):
        raise ValueError(f"{field}: expected a list of tokens, got a string.")
    vocabulary = list(vocabulary)
    if len(vocabulary) < 2:
        raise ValueError(
            f"{field}: needs at least the padding (index 0) and unknown "
            f"(index 1) tokens, got {len(vocabulary)} entries."
        )
    seen = {}
    for index, token in enumerate(vocabulary):
        if not isinstance(token, str) or not token:
            raise ValueError(f"{field}[{index}]: tokens must be non-empty str, got {token!r}.")
        if token.startswith(SUFFIX_INDICATOR):
            raise ValueError(
                f"{field}[{index}]: token {token!r} starts with the reserved "
                "suffix indicator U+E000 '##'."
            )
        if token in seen:
            raise ValueError(
                f"{field}[{index}]: duplicate token {token!r} (also at index {seen[token]})."
            )
        seen[token] = index
    return vocabulary


def build_exact_match_lookup(vocabulary):
    """A FastWordpieceTokenizer that maps whole strings to vocabulary indices.

    `vocabulary[0]` is the padding token and `vocabulary[1]` the unknown token.
    Use `exact_match_ids` to apply it.
    """
    longest = max(len(token.encode("utf-8")) for token in vocabulary)
    return tensorflow_text.FastWordpieceTokenizer(
        vocab=vocabulary,
        suffix_indicator=SUFFIX_INDICATOR,
        max_bytes_per_word=max(100, longest),
        token_out_type=tf.int64,
        unknown_token=vocabulary[1],
        no_pretokenization=True,
        support_detokenization=False,
    )


def exact_match_ids(lookup, flat_tokens):
    """Ids (int64, same shape) for a 1-D string tensor; "" → 0, never 0 otherwise."""
    pieces = lookup.tokenize(flat_tokens)
    lengths = pieces.row_lengths()
    piece_ids = pieces.flat_values
    # Gather each row's first piece; rows without pieces point one past the
    # end, at an appended 0. Only gather/where/concat: builtin TFLite ops.
    padded = tf.concat([piece_ids, tf.zeros([1], tf.int64)], axis=0)
    num_pieces = tf.shape(piece_ids, out_type=tf.int64)[0]
    first = tf.gather(padded, tf.where(lengths > 0, pieces.row_splits[:-1], num_pieces))
    ones = tf.ones_like(first)
    ids = tf.where(lengths == 1, first, ones)
    # The literal padding token comes back as 0: a real token, so unknown.
    ids = tf.where(tf.equal(ids, 0), ones, ids)
    return tf.where(lengths == 0, tf.zeros_like(first), ids)


def map_flat_strings(function, tokens):
    """Applies `function` (1-D strings → 1-D values) keeping the input structure."""
    if isinstance(tokens, tf.RaggedTensor):
        return tokens.with_flat_values(function(tokens.flat_values))
    flat = function(tf.reshape(tokens, [-1]))
    return tf.reshape(flat, tf.shape(tokens, out_type=tf.int64))


def nul_as_space(strings):
    """Replaces NUL bytes by spaces (one byte for one, so byte offsets hold).

    tensorflow-text's regex split ops stop at a NUL byte (C-string handling),
    silently losing the rest of the text; NUL is a control character, which
    every tokenizer here treats as whitespace.
    """
    return tf.strings.regex_replace(strings, "\x00", " ")
