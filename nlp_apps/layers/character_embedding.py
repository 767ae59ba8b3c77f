"""Per-word features computed from the word's characters (CNN or BiLSTM)."""

import keras
from keras import ops

CHAR_ENCODERS = ("cnn", "bilstm")

# Filled into padded character positions before the max-over-time. The CNN
# output is a tanh, so anything below -1 never wins the max; a finite value
# (rather than -inf) keeps float16 and gradients free of inf/NaN.
_MASKED_FILL = -2.0


@keras.saving.register_keras_serializable(package="nlp_apps")
class CharacterEmbedding(keras.layers.Layer):
    """Encodes each word from its characters.

    Inputs: int tensor `(batch, time, chars)` of character ids, 0 = padding,
    characters right-padded within each word. A word whose characters are all
    0 is a padding word.
    Outputs: `(batch, time, units)` float features, exactly zero for padding
    words; mask `(batch, time)`: the word has at least one character.

    Encoders:
      - "cnn": character embeddings -> Conv1D(`units`, `kernel_size`,
        "same" padding, tanh) -> max over the word's real characters (padded
        positions are excluded from the max, and their embeddings are zeroed
        so the convolution sees the same zero padding at the word's end
        whatever the padded length).
      - "bilstm": character embeddings -> bidirectional LSTM over each word
        (reshaped to `(batch * time, chars)`), returning the concatenated final
        forward and backward states. `units` is the concatenated output size,
        so it must be even (each direction has `units // 2`). For cuDNN, which
        rejects fully-masked rows, the first character position is always left
        unmasked; padding words are zeroed afterwards.

    Args:
        alphabet_size: int. Number of character ids, including 0 (padding).
        char_embedding_dim: int. Size of each character vector.
        encoder: "cnn" or "bilstm".
        units: int. Size of the per-word output features.
        kernel_size: int. CNN window width (ignored by "bilstm").
        dropout: float in [0, 1). Dropout on the character embeddings during
            training.
    """

    def __init__(
        self,
        alphabet_size,
        char_embedding_dim=25,
        encoder="cnn",
        units=50,
        kernel_size=3,
        dropout=0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        for name, value in (
            ("alphabet_size", alphabet_size),
            ("char_embedding_dim", char_embedding_dim),
            ("units", units),
            ("kernel_size", kernel_size),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name}: expected a positive integer, got {value!r}")
        if encoder not in CHAR_ENCODERS:
            raise ValueError(f"encoder: unknown {encoder!r}; choose one of {', '.join(CHAR_ENCODERS)}")
        if encoder == "bilstm" and units % 2:
            raise ValueError(
                f"units: must be even with encoder='bilstm' (it is the concatenated forward + backward size), "
                f"got {units}"
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout: expected a rate in [0, 1), got {dropout!r}")
        self.alphabet_size = alphabet_size
        self.char_embedding_dim = char_embedding_dim
        self.encoder = encoder
        self.units = units
        self.kernel_size = kernel_size
        self.dropout = float(dropout)

        self.char_embedding = keras.layers.Embedding(
            alphabet_size, char_embedding_dim, dtype=self.dtype_policy, name="char_embedding"
        )
        # Set by exporters while tracing (see `RNNStack.recurrent_runner`); not serialized.
        self.recurrent_runner = None
        self.dropout_layer = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy, name="char_dropout")
        if encoder == "cnn":
            self.word_encoder = keras.layers.Conv1D(
                units, kernel_size, padding="same", activation="tanh", dtype=self.dtype_policy, name="char_cnn"
            )
        else:
            self.word_encoder = keras.layers.Bidirectional(
                keras.layers.LSTM(units // 2, dtype=self.dtype_policy, name="char_lstm"),
                merge_mode="concat",
                dtype=self.dtype_policy,
                name="char_bilstm",
            )

    def build(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(f"CharacterEmbedding: expected char ids of rank 3 (batch, time, chars), got {input_shape}")
        num_chars = input_shape[2]
        self.char_embedding.build((None, num_chars))
        self.word_encoder.build((None, num_chars, self.char_embedding_dim))

    def call(self, char_ids, training=None):
        char_ids = ops.cast(char_ids, "int32")
        shape = ops.shape(char_ids)
        batch_size, time_steps, num_chars = shape[0], shape[1], shape[2]
        # One row per word: the character encoder works word by word.
        flat_ids = ops.reshape(char_ids, (-1, num_chars))
        char_mask = ops.not_equal(flat_ids, 0)
        word_mask = ops.any(char_mask, axis=-1)

        vectors = self.char_embedding(flat_ids)
        vectors = self.dropout_layer(vectors, training=training)

        if self.encoder == "cnn":
            vectors = vectors * ops.expand_dims(ops.cast(char_mask, vectors.dtype), -1)
            features = self.word_encoder(vectors)
            features = ops.where(ops.expand_dims(char_mask, -1), features, ops.cast(_MASKED_FILL, features.dtype))
            features = ops.max(features, axis=1)
        else:
            first_position = ops.equal(ops.arange(num_chars), 0)[None, :]
            lstm_mask = ops.logical_or(char_mask, first_position)
            if self.recurrent_runner is not None:
                features = self.recurrent_runner(self.word_encoder, vectors, mask=lstm_mask, need_states=False)
            else:
                features = self.word_encoder(vectors, mask=lstm_mask, training=training)

        # Padding words: zero, whatever the encoder produced for them.
        features = ops.where(ops.expand_dims(word_mask, -1), features, ops.zeros_like(features))
        return ops.reshape(features, (batch_size, time_steps, self.units))

    def compute_mask(self, char_ids, mask=None):
        return ops.any(ops.not_equal(char_ids, 0), axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1], self.units)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "alphabet_size": self.alphabet_size,
                "char_embedding_dim": self.char_embedding_dim,
                "encoder": self.encoder,
                "units": self.units,
                "kernel_size": self.kernel_size,
                "dropout": self.dropout,
            }
        )
        return config
