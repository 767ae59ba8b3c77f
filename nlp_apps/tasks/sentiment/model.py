"""Document classification (sentiment) with a hierarchical attention network over any shared encoder."""

import keras
from keras import ops

from nlp_apps.layers.attention_pooling import AttentionPooling
from nlp_apps.layers.rnn_stack import RNNStack
from nlp_apps.encoders.serialization import BuildShapeSerialization, InjectedLayersSerialization


@keras.saving.register_keras_serializable(package="nlp_apps")
class SentimentClassifier(InjectedLayersSerialization, BuildShapeSerialization, keras.Model):
    """Classifies documents; a hierarchical attention network (Yang et al., 2016) by default.

    Input: int `token_ids` `(batch, sentences, words)`, 0 = padding, with
    real words left-aligned in each sentence (right padding). A sentence
    whose words are all 0 is a padding sentence; padding sentences may sit
    anywhere but normally follow the real ones. Truncation happens before the
    model, in `SentimentPreprocessor`: a document keeps its first
    `max_sentences` sentences and the first `max_words_per_sentence` words of
    each, so the shape the model sees is already bounded.

    Hierarchical (`hierarchical=True`):
      - word level: every sentence, reshaped to `(batch * sentences, words)`,
        goes through the shared `encoder` and an `AttentionPooling` over its
        real words → one vector per sentence;
      - sentence level: an `RNNStack` over the sentence vectors, masked where
        a sentence has no real word (fully-masked rows are safe, see
        `RNNStack`), then an `AttentionPooling` over the real sentences → one
        document vector;
      - a dense layer → float32 logits `(batch, num_classes)`.
    Flat (`hierarchical=False`, the BiLSTM baseline): the real words of all
    sentences are concatenated, in order, into one right-padded sequence
    `(batch, sentences * words)`, encoded by `encoder`, pooled by one
    `AttentionPooling` and classified by the dense layer.

    `call` returns the logits. `predict_with_attention` also returns the
    attention maps: `word_attention` `(batch, sentences, words)` (each real
    sentence's weights sum to 1 in the hierarchical model; over the whole
    document in the flat one) and `sentence_attention` `(batch, sentences)`
    (sums to 1 over real sentences; for the flat model it is the sum of the
    word weights of each sentence). Padding gets weight exactly 0; a
    document without any word gives all-zero weights and the logits of a
    zero document vector, never NaN.

    Args:
        encoder: layer mapping int `(batch, time)` ids (0 = padding, masked)
            to `(batch, time, encoder.output_dim)`, e.g. `RNNEncoder`.
        num_classes: int >= 2.
        hierarchical: bool. Hierarchical attention network, or flat baseline.
        sentence_units: int. Units per direction of the sentence-level RNN
            (hierarchical only).
        sentence_cell_type: "lstm", "gru", ... (see `RNNStack`).
        sentence_bidirectional: bool. Bidirectional sentence-level RNN.
        attention_units: int. Size of the word- and sentence-level attention
            spaces.
        dropout: float. Dropout on the sentence vectors and the document vector.
    """

    config_arguments = ("num_classes", "hierarchical", "sentence_units", "sentence_cell_type", "sentence_bidirectional", "attention_units", "dropout")

    def __init__(
        self,
        encoder,
        num_classes,
        hierarchical=True,
        sentence_units=64,
        sentence_cell_type="gru",
        sentence_bidirectional=True,
        attention_units=100,
        dropout=0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"num_classes: expected an integer >= 2, got {num_classes!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout: expected a rate in [0, 1), got {dropout!r}")
        self.encoder = encoder
        self.num_classes = num_classes
        self.hierarchical = bool(hierarchical)
        self.sentence_units = sentence_units
        self.sentence_cell_type = sentence_cell_type
        self.sentence_bidirectional = bool(sentence_bidirectional)
        self.attention_units = attention_units
        self.dropout = dropout
        self.word_attention = AttentionPooling(attention_units, return_attention_scores=True, name="word_attention")
        self.sentence_dropout = keras.layers.Dropout(dropout, name="sentence_dropout")
        self.sentence_encoder = None
        self.sentence_attention = None
        if self.hierarchical:
            self.sentence_encoder = RNNStack(
                sentence_units, cell_type=sentence_cell_type, bidirectional=sentence_bidirectional, name="sentence_encoder"
            )
            self.sentence_attention = AttentionPooling(
                attention_units, return_attention_scores=True, name="sentence_attention"
            )
        self.document_dropout = keras.layers.Dropout(dropout, name="document_dropout")
        # Logits stay float32 under mixed precision, so the softmax is accurate.
        self.classifier = keras.layers.Dense(num_classes, dtype="float32", name="logits")

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != 3:
            raise ValueError(f"token_ids: expected shape (batch, sentences, words), got {input_shape}")
        self._input_shape_for_build = input_shape
        if not self.encoder.built:
            self.encoder.build((None, None))
        word_features = self.encoder.output_dim
        self.word_attention.build((None, None, word_features))
        document_features = word_features
        self.sentence_dropout.build((None, None, word_features))
        if self.hierarchical:
            self.sentence_encoder.build((None, None, word_features))
            document_features = self.sentence_encoder.output_dim
            self.sentence_attention.build((None, None, document_features))
        self.document_dropout.build((None, document_features))
        self.classifier.build((None, document_features))
        self.built = True

    def _hierarchical_forward(self, token_ids, training):
        batch_size, num_sentences, num_words = ops.shape(token_ids)[0], ops.shape(token_ids)[1], ops.shape(token_ids)[2]
        word_mask = ops.not_equal(token_ids, 0)
        sentence_mask = ops.any(word_mask, axis=2)
        sentences = ops.reshape(token_ids, (-1, num_words))
        word_vectors = self.encoder(sentences, training=training)
        sentence_vectors, word_weights = self.word_attention(
            word_vectors, mask=ops.reshape(word_mask, (-1, num_words))
        )
        sentence_vectors = ops.reshape(sentence_vectors, (batch_size, num_sentences, self.encoder.output_dim))
        sentence_vectors = self.sentence_dropout(sentence_vectors, training=training)
        sentence_states = self.sentence_encoder(sentence_vectors, mask=sentence_mask, training=training)
        document, sentence_weights = self.sentence_attention(sentence_states, mask=sentence_mask)
        word_weights = ops.reshape(word_weights, (batch_size, num_sentences, num_words))
        return document, word_weights, sentence_weights

    def _flat_forward(self, token_ids, training):
        batch_size, num_sentences, num_words = ops.shape(token_ids)[0], ops.shape(token_ids)[1], ops.shape(token_ids)[2]
        flat = ops.reshape(token_ids, (batch_size, num_sentences * num_words))
        is_padding = ops.cast(ops.equal(flat, 0), "int32")
        # Real words first, in document order, then padding: the sort keys
        # are unique, so any sort (stable or not) gives the same order.
        positions = ops.arange(num_sentences * num_words, dtype="int32")[None, :]
        order = ops.argsort(is_padding * (num_sentences * num_words) + positions, axis=1)
        words = ops.take_along_axis(flat, order, axis=1)
        word_vectors = self.encoder(words, training=training)
        document, weights = self.word_attention(word_vectors, mask=ops.not_equal(words, 0))
        # Back to the (sentences, words) layout: the inverse permutation.
        weights = ops.take_along_axis(weights, ops.argsort(order, axis=1), axis=1)
        word_weights = ops.reshape(weights, (batch_size, num_sentences, num_words))
        return document, word_weights, ops.sum(word_weights, axis=2)

    def _forward(self, token_ids, training=None):
        token_ids = ops.cast(token_ids, "int32")
        if self.hierarchical:
            document, word_weights, sentence_weights = self._hierarchical_forward(token_ids, training)
        else:
            document, word_weights, sentence_weights = self._flat_forward(token_ids, training)
        document = self.document_dropout(document, training=training)
        logits = self.classifier(document)
        return logits, ops.cast(word_weights, "float32"), ops.cast(sentence_weights, "float32")

    def call(self, token_ids, training=None):
        logits, _, _ = self._forward(token_ids, training=training)
        return logits

    def predict_with_attention(self, token_ids):
        """Inference: dict of `probabilities` (batch, classes), `word_attention` and `sentence_attention`."""
        if not self.built:
            # Called before `__call__`: build every sublayer here, not lazily one by one.
            self.build(tuple(token_ids.shape))
        logits, word_weights, sentence_weights = self._forward(token_ids, training=False)
        return {
            "probabilities": ops.softmax(logits, axis=-1),
            "word_attention": word_weights,
            "sentence_attention": sentence_weights,
        }


