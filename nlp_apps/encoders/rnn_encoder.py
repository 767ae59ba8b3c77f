"""The shared token encoder: embeddings (+ character and casing features) -> RNN stack."""

import keras
from keras import ops

from nlp_apps.layers.character_embedding import CHAR_ENCODERS, CharacterEmbedding
from nlp_apps.layers.rnn_stack import RNNStack
from nlp_apps.layers.token_embedding import TokenEmbedding

TOKEN_IDS = "token_ids"
CHAR_IDS = "char_ids"
CASE_IDS = "case_ids"


def _check_non_negative_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name}: expected an integer >= 0, got {value!r}")


@keras.saving.register_keras_serializable(package="nlp_apps")
class RNNEncoder(keras.layers.Layer):
    """Maps token ids to contextual vectors; the encoder every task builds on.

    Inputs, either:
      - an int tensor `token_ids` `(batch, time)`, 0 = padding; or
      - a dict with `"token_ids"` `(batch, time)` and, when the matching
        feature is configured, `"char_ids"` `(batch, time, chars)` (0 =
        padding character) and `"case_ids"` `(batch, time)`. Keys for features
        that are not configured are ignored; a configured feature whose key is
        missing raises `ValueError`.
    The mask always comes from `token_ids != 0` (padding must be on the
    right for cuDNN); any mask passed in is ignored.

    Outputs: `(batch, time, output_dim)`, zero at padding, with mask
    `token_ids != 0`; with `return_state=True`, `(sequences, states)` where
    `states` is the flat state list of `RNNStack`. `call(...,
    initial_state=...)` takes that same list.

    The token embedding, character features (`CharacterEmbedding`) and casing
    embedding are concatenated per token before the `RNNStack`.

    Args:
        vocabulary_size: int. Token vocabulary size, including 0 (padding).
        embedding_dim: int. Token embedding size.
        cell_type, units, num_layers, bidirectional, merge_mode, dropout,
            recurrent_dropout, weight_drop, residual, spectral_radius,
            leak_rate, input_scaling, reservoir_density, seed: see `RNNStack`.
        embedding_dropout: float. Drops whole token embeddings in training
            (see `TokenEmbedding.dropout`); character and casing features are
            not dropped.
        char_alphabet_size: int. Character vocabulary size; 0 disables
            character features. Must be > 0 together with `char_embedding_dim`.
        char_embedding_dim: int. Character embedding size; 0 disables them.
        char_encoder: "cnn" or "bilstm" (see `CharacterEmbedding`).
        char_units: int. Size of the per-word character features.
        char_kernel_size: int. Width of the character CNN.
        case_vocabulary_size: int. Number of casing classes (0 disables
            casing features); must be > 0 together with `case_embedding_dim`.
        case_embedding_dim: int. Casing embedding size; 0 disables them.
        return_state: bool. Also return the final RNN states.
        scalar_mix: bool. Output ELMo's scalar mix `gamma * sum_j s_j h_j`
            (Peters et al., 2018) over the layers `h_0` = the token features
            projected to `output_dim` and `h_1 .. h_L` = the RNN layers, with
            `s = softmax(w)`; `w` starts at 0 (an even mix) and `gamma` at 1.
            The mix weights and the projection are attributes `mix_weights`,
            `mix_gamma`, `mix_projection` (fine-tuning trains them with the
            head when the encoder is frozen).

    Attributes:
        token_embedding: the `TokenEmbedding` (language models tie their
            output layer to `token_embedding.embeddings`).
        char_embedding: the `CharacterEmbedding`, or None.
        case_embedding: the casing `keras.layers.Embedding`, or None.
        rnn_stack: the `RNNStack`.
        output_dim: int. Size of the last output axis.
    """

    def __init__(
        self,
        vocabulary_size,
        embedding_dim,
        cell_type="lstm",
        units=128,
        num_layers=1,
        bidirectional=False,
        merge_mode="concat",
        dropout=0.0,
        recurrent_dropout=0.0,
        weight_drop=0.0,
        residual=False,
        spectral_radius=0.9,
        leak_rate=1.0,
        input_scaling=1.0,
        reservoir_density=0.1,
        seed=1234,
        embedding_dropout=0.0,
        char_alphabet_size=0,
        char_embedding_dim=0,
        char_encoder="cnn",
        char_units=50,
        char_kernel_size=3,
        case_vocabulary_size=0,
        case_embedding_dim=0,
        return_state=False,
        scalar_mix=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        # Arguments are checked here under their own names, so an error in a
        # sublayer (whose arguments are named differently) never surfaces as
        # e.g. "units" when "char_units" is meant.
        for name, value in (
            ("char_alphabet_size", char_alphabet_size),
            ("char_embedding_dim", char_embedding_dim),
            ("case_vocabulary_size", case_vocabulary_size),
            ("case_embedding_dim", case_embedding_dim),
        ):
            _check_non_negative_int(name, value)
        if (char_alphabet_size > 0) != (char_embedding_dim > 0):
            raise ValueError(
                "char_embedding_dim: character features need both char_alphabet_size and "
                f"char_embedding_dim > 0, got {char_alphabet_size} and {char_embedding_dim}"
            )
        if (case_vocabulary_size > 0) != (case_embedding_dim > 0):
            raise ValueError(
                "case_embedding_dim: casing features need both case_vocabulary_size and "
                f"case_embedding_dim > 0, got {case_vocabulary_size} and {case_embedding_dim}"
            )
        if char_encoder not in CHAR_ENCODERS:
            raise ValueError(f"char_encoder: unknown {char_encoder!r}; choose one of {', '.join(CHAR_ENCODERS)}")
        for name, value in (("char_units", char_units), ("char_kernel_size", char_kernel_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name}: expected a positive integer, got {value!r}")
        if char_encoder == "bilstm" and char_units % 2:
            raise ValueError(f"char_units: must be even with char_encoder='bilstm', got {char_units}")
        if not 0.0 <= embedding_dropout < 1.0:
            raise ValueError(f"embedding_dropout: expected a rate in [0, 1), got {embedding_dropout!r}")

        self.vocabulary_size = vocabulary_size
        self.embedding_dim = embedding_dim
        self.cell_type = cell_type
        self.units = units
        self.num_layers = num_layers
        self.bidirectional = bool(bidirectional)
        self.merge_mode = merge_mode
        self.dropout = dropout
        self.recurrent_dropout = recurrent_dropout
        self.weight_drop = weight_drop
        self.residual = bool(residual)
        self.spectral_radius = spectral_radius
        self.leak_rate = leak_rate
        self.input_scaling = input_scaling
        self.reservoir_density = reservoir_density
        self.seed = seed
        self.embedding_dropout = float(embedding_dropout)
        self.char_alphabet_size = char_alphabet_size
        self.char_embedding_dim = char_embedding_dim
        self.char_encoder = char_encoder
        self.char_units = char_units
        self.char_kernel_size = char_kernel_size
        self.case_vocabulary_size = case_vocabulary_size
        self.case_embedding_dim = case_embedding_dim
        self.return_state = bool(return_state)
        self.scalar_mix = bool(scalar_mix)

        self.token_embedding = TokenEmbedding(
            vocabulary_size,
            embedding_dim,
            dropout=self.embedding_dropout,
            dtype=self.dtype_policy,
            name="token_embedding",
        )
        self.char_embedding = None
        if char_alphabet_size > 0:
            self.char_embedding = CharacterEmbedding(
                char_alphabet_size,
                char_embedding_dim=char_embedding_dim,
                encoder=char_encoder,
                units=char_units,
                kernel_size=char_kernel_size,
                dtype=self.dtype_policy,
                name="char_embedding",
            )
        self.case_embedding = None
        if case_vocabulary_size > 0:
            self.case_embedding = keras.layers.Embedding(
                case_vocabulary_size, case_embedding_dim, dtype=self.dtype_policy, name="case_embedding"
            )
        self.rnn_stack = RNNStack(
            units,
            cell_type=cell_type,
            num_layers=num_layers,
            bidirectional=bidirectional,
            merge_mode=merge_mode,
            dropout=dropout,
            recurrent_dropout=recurrent_dropout,
            weight_drop=weight_drop,
            residual=residual,
            return_state=return_state,
            spectral_radius=spectral_radius,
            leak_rate=leak_rate,
            input_scaling=input_scaling,
            reservoir_density=reservoir_density,
            seed=seed,
            dtype=self.dtype_policy,
            name="rnn_stack",
        )
        self.output_dim = self.rnn_stack.output_dim
        self.feature_dim = (
            embedding_dim
            + (char_units if self.char_embedding is not None else 0)
            + (case_embedding_dim if self.case_embedding is not None else 0)
        )
        self.mix_projection = None
        if self.scalar_mix:
            self.mix_projection = keras.layers.Dense(
                self.output_dim, use_bias=False, dtype=self.dtype_policy, name="mix_projection"
            )

    def _split_inputs(self, inputs):
        """Returns (token_ids, char_ids or None, case_ids or None), checking required keys."""
        if not isinstance(inputs, dict):
            features = {TOKEN_IDS: inputs}
        else:
            features = inputs
        if TOKEN_IDS not in features:
            raise ValueError(f"inputs: the dict must have a {TOKEN_IDS!r} key, got keys {sorted(features)}")
        char_ids = case_ids = None
        if self.char_embedding is not None:
            if CHAR_IDS not in features:
                raise ValueError(
                    f"inputs: character features are configured (char_alphabet_size="
                    f"{self.char_alphabet_size}) but the inputs have no {CHAR_IDS!r} key"
                )
            char_ids = features[CHAR_IDS]
        if self.case_embedding is not None:
            if CASE_IDS not in features:
                raise ValueError(
                    f"inputs: casing features are configured (case_vocabulary_size="
                    f"{self.case_vocabulary_size}) but the inputs have no {CASE_IDS!r} key"
                )
            case_ids = features[CASE_IDS]
        return features[TOKEN_IDS], char_ids, case_ids

    def build(self, input_shape):
        token_shape, char_shape, case_shape = self._split_inputs(input_shape)
        self._input_shape_for_build = input_shape
        self.token_embedding.build(token_shape)
        if self.char_embedding is not None:
            self.char_embedding.build(char_shape)
        if self.case_embedding is not None:
            self.case_embedding.build(case_shape)
        self.rnn_stack.build((token_shape[0], token_shape[1], self.feature_dim))
        if self.scalar_mix:
            self.mix_projection.build((token_shape[0], token_shape[1], self.feature_dim))
            self.mix_weights = self.add_weight(
                shape=(self.num_layers + 1,), initializer="zeros", dtype="float32", name="mix_weights"
            )
            self.mix_gamma = self.add_weight(shape=(), initializer="ones", dtype="float32", name="mix_gamma")

    # `call` has two tensor arguments (inputs, initial_state); rebuilding
    # only needs the inputs' shape(s).
    def get_build_config(self):
        if not self.built:
            return None
        return {"input_shape": self._input_shape_for_build}

    def build_from_config(self, config):
        if config:
            self.build(config["input_shape"])

    def call(self, inputs, mask=None, training=None, initial_state=None):
        token_ids, char_ids, case_ids = self._split_inputs(inputs)
        token_mask = ops.not_equal(token_ids, 0)
        features = [self.token_embedding(token_ids, training=training)]
        if char_ids is not None:
            features.append(self.char_embedding(char_ids, training=training))
        if case_ids is not None:
            features.append(self.case_embedding(case_ids))
        features = [ops.cast(feature, self.compute_dtype) for feature in features]
        vectors = features[0] if len(features) == 1 else ops.concatenate(features, axis=-1)
        if not self.scalar_mix:
            return self.rnn_stack(vectors, mask=token_mask, training=training, initial_state=initial_state)
        # `call` directly: the extra per-layer outputs are not part of the layer's output structure.
        outputs, layers = self.rnn_stack.call(
            vectors, mask=token_mask, training=training, initial_state=initial_state, return_layer_outputs=True
        )
        layer0 = self.mix_projection(vectors) * ops.expand_dims(ops.cast(token_mask, vectors.dtype), -1)
        weights = ops.cast(ops.softmax(self.mix_weights), self.compute_dtype)
        mixed = weights[0] * layer0
        for index, values in enumerate(layers, start=1):
            mixed = mixed + weights[index] * values
        mixed = ops.cast(self.mix_gamma, self.compute_dtype) * mixed
        if self.return_state:
            return mixed, outputs[1]
        return mixed

    def compute_mask(self, inputs, mask=None):
        token_ids, _, _ = self._split_inputs(inputs)
        token_mask = ops.not_equal(token_ids, 0)
        if self.return_state:
            return token_mask, [None] * self.rnn_stack.num_states
        return token_mask

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary_size": self.vocabulary_size,
                "embedding_dim": self.embedding_dim,
                "cell_type": self.cell_type,
                "units": self.units,
                "num_layers": self.num_layers,
                "bidirectional": self.bidirectional,
                "merge_mode": self.merge_mode,
                "dropout": self.dropout,
                "recurrent_dropout": self.recurrent_dropout,
                "weight_drop": self.weight_drop,
                "residual": self.residual,
                "spectral_radius": self.spectral_radius,
                "leak_rate": self.leak_rate,
                "input_scaling": self.input_scaling,
                "reservoir_density": self.reservoir_density,
                "seed": self.seed,
                "embedding_dropout": self.embedding_dropout,
                "char_alphabet_size": self.char_alphabet_size,
                "char_embedding_dim": self.char_embedding_dim,
                "char_encoder": self.char_encoder,
                "char_units": self.char_units,
                "char_kernel_size": self.char_kernel_size,
                "case_vocabulary_size": self.case_vocabulary_size,
                "case_embedding_dim": self.case_embedding_dim,
                "return_state": self.return_state,
                "scalar_mix": self.scalar_mix,
            }
        )
        return config
