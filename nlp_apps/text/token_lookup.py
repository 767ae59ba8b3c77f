"""In-graph token → id lookup that also runs in TFLite."""

import keras

from nlp_apps.text import _graph_utils
from nlp_apps.text.vocabulary import Vocabulary


@keras.saving.register_keras_serializable(package="nlp_apps")
class TokenLookup(keras.layers.Layer):
    """Maps string tokens to int64 ids with a fixed vocabulary, inside the graph.

    Input: string tokens, a dense Tensor of any shape (e.g. `(batch, time)`,
    padded with `""`) or a RaggedTensor (e.g. `(batch, None)` from
    `WordTokenizer`). Output: int64 ids with exactly the same shape / row
    lengths — one id per token, always:

    * a token equal to `vocabulary[i]` → `i`;
    * any other non-empty token (including the literal padding token and words
      of any length) → 1, the unknown id;
    * the empty string `""` → 0. Id 0 is reserved for padding: dense string
      batches are padded with `""` (the default of `RaggedTensor.to_tensor`),
      so padding maps to 0 and is masked downstream.

    The lookup is `tensorflow_text.FastWordpieceTokenizer` configured as an
    exact whole-word match (see `nlp_apps/text/_graph_utils.py` for why every
    token yields exactly one id). Unlike `keras.layers.StringLookup` (a hash
    table), it converts to TFLite with `allow_custom_ops=True` and runs with
    the tensorflow-text custom ops registered
    (`tensorflow_text.tflite_registrar.SELECT_TFTEXT_OPS`).

    Args:
        vocabulary: list of str, or a `Vocabulary` (its `tokens` are used).
            Index 0 is the padding token, index 1 the unknown token. Entries
            must be unique, non-empty and must not start with U+E000 "##"
            (reserved as the WordPiece suffix marker).
    """

    def __init__(self, vocabulary, **kwargs):
        super().__init__(**kwargs)
        if isinstance(vocabulary, Vocabulary):
            vocabulary = vocabulary.tokens
        self.vocabulary = _graph_utils.check_lookup_vocabulary(
            vocabulary, "TokenLookup: vocabulary"
        )
        self._lookup = _graph_utils.build_exact_match_lookup(self.vocabulary)
        _graph_utils.configure_string_layer(self)

    @property
    def vocabulary_size(self):
        return len(self.vocabulary)

    def call(self, tokens):
        tokens = _graph_utils.to_string_tensor(tokens, "TokenLookup: tokens")
        return _graph_utils.map_flat_strings(
            lambda flat: _graph_utils.exact_match_ids(self._lookup, flat), tokens
        )

    def compute_output_shape(self, input_shape):
        return input_shape

    def compute_output_spec(self, tokens):
        return keras.KerasTensor(
            tokens.shape, dtype="int64", ragged=getattr(tokens, "ragged", False)
        )

    def get_config(self):
        config = super().get_config()
        config["vocabulary"] = list(self.vocabulary)
        return config
