"""In-graph word tokenizer for raw text, roughly following CoNLL / PTB."""

import keras
import tensorflow as tf
import tensorflow_text

from nlp_apps.text import _graph_utils

# Word characters: letters, combining marks (needed by Devanagari, Arabic
# diacritics, decomposed accents) and digits of any script.
_WORD = r"[\p{L}\p{M}\p{N}]+"

# A non-whitespace character with its combining marks (U+FE0F and other
# variation selectors are marks) and emoji skin-tone modifiers.
_SYMBOL = r"[^\p{Z}\p{Cc}][\p{M}\x{1F3FB}-\x{1F3FF}]*"

#: RE2 pattern for one token. Alternatives are tried left to right at each
#: position (RE2 leftmost-first semantics), so the order matters:
#:
#: 1. abbreviations of two or more letter-period pairs: "U.N.", "e.g.", "U.S.";
#: 2. numbers with inner separators: "3.5", "1,000", "10:30", "1996-08-22",
#:    "1/2";
#: 3. English clitics split off PTB-style: "Germany's" → "Germany", "'s";
#:    also 're 've 'll 'd 'm 't;
#: 4. words: runs of letters/marks/digits, joined by inner hyphens:
#:    "officials", "well-known", "3-year-old", "東京は";
#: 5. ellipses and dash runs: "...", "--";
#: 6. any other single character that is not whitespace (punctuation, a
#:    symbol, an emoji) with its trailing combining marks / variation
#:    selectors and skin-tone modifiers; emoji joined by U+200D (ZWJ) stay
#:    one token: "❤️", "👍🏽", "👩‍💻".
DEFAULT_SPLIT_PATTERN = "|".join(
    [
        r"(?:\p{L}\.){2,}",
        r"\p{N}+(?:[.,:/-]\p{N}+)+",
        r"'(?i:s|re|ve|ll|d|m|t)\b",
        _WORD + r"(?:-" + _WORD + r")*",
        r"\.{2,}|-{2,}",
        _SYMBOL + r"(?:\x{200D}" + _SYMBOL + r")*",
    ]
)

# Whitespace is every Unicode separator (Z: space, no-break space, ideographic
# space, line/paragraph separators) and every control character (Cc: tab,
# newline, carriage return, ...). RE2's \s alone is ASCII-only.
_WHITESPACE_PATTERN = r"[\p{Z}\p{Cc}]+"


@keras.saving.register_keras_serializable(package="nlp_apps")
class WordTokenizer(keras.layers.Layer):
    """Splits raw strings into word tokens with byte offsets, inside the graph.

    Input: a string Tensor of shape `(batch,)` (any rank works; the output
    gains one ragged dimension). Output: a dict of RaggedTensors of shape
    `(batch, None)`:

    * `"tokens"`: string tokens (lowercased if `lowercase=True`);
    * `"starts"`, `"ends"`: int64 byte offsets into the input string, so
      `string[starts[i]:ends[i]]` (on the UTF-8 bytes) is the original text of
      token i, before lowercasing.

    Splitting: every match of `split_pattern` is a token, whitespace between
    tokens is dropped, and any other text between matches is kept as a token
    too. The default pattern (`DEFAULT_SPLIT_PATTERN`) roughly follows the
    CoNLL-2003 / Penn Treebank conventions for raw text:

        "U.N. officials said, 'no'."
        → U.N. | officials | said | , | ' | no | ' | .
        "Germany's 3.5% rise on 1996-08-22"
        → Germany | 's | 3.5 | % | rise | on | 1996-08-22

    Known differences from PTB: "don't" → "don", "'t" (PTB: "do", "n't");
    quotes are not converted to `` / ''; single-period abbreviations are
    split ("Mr." → "Mr", "."; "J." → "J", "."); URLs and e-mail addresses
    are split at punctuation; the clitic rule uses RE2's ASCII `\\b`, so
    "'s" followed by a non-ASCII letter is split as "'s" + rest. Scripts
    written without spaces (Chinese, Japanese, Thai) are not segmented: a
    run of letters is one token; use `SubwordTokenizer` for those. An emoji with its variation selector,
    skin-tone modifier or ZWJ sequence is one token, but adjacent emoji are
    separate tokens and flags (regional-indicator pairs) are split. Empty and
    whitespace-only strings give zero tokens; invalid UTF-8 does not raise.

    Runs in SavedModels (`RegexSplitWithOffsets` is a tensorflow-text op, so
    the loader must `import tensorflow_text`). It is NOT one of the
    tensorflow-text ops available in TFLite: for TFLite, tokenize outside the
    model (or with `tensorflow_text.WhitespaceTokenizer`) and feed tokens to
    `TokenLookup`.

    Args:
        lowercase: bool. Lowercase the tokens (Unicode-aware, after splitting,
            so the offsets still refer to the original string).
        split_pattern: str. RE2 regular expression matching one token.
    """

    def __init__(self, lowercase=False, split_pattern=DEFAULT_SPLIT_PATTERN, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(split_pattern, str) or not split_pattern:
            raise ValueError(
                f"WordTokenizer: split_pattern must be a non-empty str, got {split_pattern!r}."
            )
        self.lowercase = bool(lowercase)
        self.split_pattern = split_pattern
        self._delimiter_pattern = f"{_WHITESPACE_PATTERN}|(?:{split_pattern})"
        self._keep_pattern = f"(?:{split_pattern})"
        _graph_utils.configure_string_layer(self)

    def call(self, strings):
        strings = _graph_utils.to_string_tensor(strings, "WordTokenizer: strings")
        strings = _graph_utils.nul_as_space(strings)
        tokens, starts, ends = tensorflow_text.regex_split_with_offsets(
            strings,
            delim_regex_pattern=self._delimiter_pattern,
            keep_delim_regex_pattern=self._keep_pattern,
        )
        if self.lowercase:
            tokens = tf.ragged.map_flat_values(tf.strings.lower, tokens, encoding="utf-8")
        return {"tokens": tokens, "starts": starts, "ends": ends}

    def compute_output_spec(self, strings):
        shape = tuple(strings.shape) + (None,)
        return {
            "tokens": keras.KerasTensor(shape, dtype="string", ragged=True),
            "starts": keras.KerasTensor(shape, dtype="int64", ragged=True),
            "ends": keras.KerasTensor(shape, dtype="int64", ragged=True),
        }

    def get_config(self):
        config = super().get_config()
        config.update({"lowercase": self.lowercase, "split_pattern": self.split_pattern})
        return config
