"""Token embedding with padding mask, optional pretrained vectors and word dropout."""

import keras
import numpy as np
from keras import ops


@keras.saving.register_keras_serializable(package="nlp_apps")
class TokenEmbedding(keras.layers.Layer):
    """Embeds integer token ids; id 0 is padding.

    Inputs: int tensor `(batch, time)`; 0 marks padding.
    Outputs: `(batch, time, embedding_dim)`, with mask `token_ids != 0` when
    `mask_zero=True` (no mask otherwise).

    Args:
        vocabulary_size: int. Number of ids, including 0 (padding).
        embedding_dim: int. Size of each vector.
        mask_zero: bool. Propagate a mask that hides id 0.
        embeddings_initializer: initializer (name, config dict or instance)
            for a randomly initialised matrix.
        pretrained_embeddings: optional array `(vocabulary_size,
            embedding_dim)` copied into the matrix at build time. It is not
            part of `get_config()` (which stores `None`): the saved weights
            already carry the values, and a vocabulary-sized array does not
            belong in a JSON config.
        trainable_embeddings: bool. `False` freezes the matrix (typical with
            pretrained vectors) while the rest of the model trains.
        dropout: float in [0, 1). Drops whole token vectors (noise shape
            `(batch, time, 1)`) during training, i.e. word dropout.

    The matrix is exposed as `embeddings` so a language model can tie its
    output projection to it.
    """

    def __init__(
        self,
        vocabulary_size,
        embedding_dim,
        mask_zero=True,
        embeddings_initializer="uniform",
        pretrained_embeddings=None,
        trainable_embeddings=True,
        dropout=0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        for name, value in (("vocabulary_size", vocabulary_size), ("embedding_dim", embedding_dim)):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name}: expected a positive integer, got {value!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout: expected a rate in [0, 1), got {dropout!r}")
        if pretrained_embeddings is not None:
            pretrained_embeddings = np.asarray(pretrained_embeddings)
            expected_shape = (vocabulary_size, embedding_dim)
            if pretrained_embeddings.shape != expected_shape:
                raise ValueError(
                    f"pretrained_embeddings: expected shape {expected_shape} "
                    f"(vocabulary_size, embedding_dim), got {pretrained_embeddings.shape}"
                )
        self.vocabulary_size = vocabulary_size
        self.embedding_dim = embedding_dim
        self.mask_zero = bool(mask_zero)
        self.embeddings_initializer = keras.initializers.get(embeddings_initializer)
        self.pretrained_embeddings = pretrained_embeddings
        self.trainable_embeddings = bool(trainable_embeddings)
        self.dropout = float(dropout)

        self.embedding = keras.layers.Embedding(
            vocabulary_size,
            embedding_dim,
            embeddings_initializer=self.embeddings_initializer,
            trainable=self.trainable_embeddings,
            dtype=self.dtype_policy,
            name="embedding",
        )
        self.dropout_layer = keras.layers.Dropout(
            self.dropout, noise_shape=(None, None, 1), dtype=self.dtype_policy, name="token_dropout"
        )

    @property
    def embeddings(self):
        """The `(vocabulary_size, embedding_dim)` embedding variable."""
        return self.embedding.embeddings

    def build(self, input_shape=None):
        self.embedding.build(input_shape)
        if self.pretrained_embeddings is not None:
            self.embedding.embeddings.assign(self.pretrained_embeddings.astype(self.embedding.variable_dtype))
            # The array is only needed once; dropping it frees host memory.
            self.pretrained_embeddings = None

    def call(self, token_ids, training=None):
        vectors = self.embedding(token_ids)
        return self.dropout_layer(vectors, training=training)

    def compute_mask(self, token_ids, mask=None):
        if not self.mask_zero:
            return None
        return ops.not_equal(token_ids, 0)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.embedding_dim,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary_size": self.vocabulary_size,
                "embedding_dim": self.embedding_dim,
                "mask_zero": self.mask_zero,
                "embeddings_initializer": keras.initializers.serialize(self.embeddings_initializer),
                # Stored as None on purpose: the values live in the saved weights.
                "pretrained_embeddings": None,
                "trainable_embeddings": self.trainable_embeddings,
                "dropout": self.dropout,
            }
        )
        return config
