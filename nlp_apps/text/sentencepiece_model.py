"""SentencePiece training (in memory) and an in-graph subword tokenizer layer."""

import base64
import binascii
import io

import keras
import sentencepiece
from sentencepiece import sentencepiece_model_pb2
import tensorflow as tf
import tensorflow_text

from nlp_apps.text import _graph_utils

_MODEL_TYPES = ("unigram", "bpe")


def train_sentencepiece(
    sentences,
    vocabulary_size,
    model_type="unigram",
    character_coverage=1.0,
    user_defined_symbols=(),
    seed=None,
    normalization_rule_name="nmt_nfkc",
):
    """Trains a SentencePiece model in memory and returns the serialized model.

    Ids follow `Vocabulary`: 0 = `<pad>`, 1 = `<unk>`, 2 = `<s>` (bos),
    3 = `</s>` (eos), then `user_defined_symbols` (always kept whole, e.g.
    "<sep>"), then the learned pieces.

    `hard_vocab_limit=False`, so on a tiny corpus the model may hold fewer
    than `vocabulary_size` pieces instead of failing; read the real size from
    `SubwordTokenizer(model).vocabulary_size`. Training is single-threaded;
    with `seed` set (SentencePiece's process-wide random generator seed), two
    runs on the same data give identical models.

    Args:
        sentences: iterable of str. Empty and whitespace-only sentences are
            skipped. Sentences longer than 4192 bytes are ignored by
            SentencePiece.
        vocabulary_size: int. Target number of pieces, specials included.
        model_type: "unigram" or "bpe".
        character_coverage: float in (0, 1]. 1.0 keeps every character
            (small alphabets); ~0.9995 suits CJK corpora.
        user_defined_symbols: iterable of str kept as single pieces.
        seed: int or None.
        normalization_rule_name: SentencePiece normalizer, "nmt_nfkc" (the
            default: NFKC plus whitespace collapsing), "nfkc", "identity", ...

    Returns:
        bytes: the serialized `ModelProto`, for `SubwordTokenizer`.
    """
    if model_type not in _MODEL_TYPES:
        raise ValueError(
            f"train_sentencepiece: model_type must be one of {_MODEL_TYPES}, got {model_type!r}."
        )
    user_defined_symbols = list(user_defined_symbols)
    minimum_size = 5 + len(user_defined_symbols)
    if not isinstance(vocabulary_size, int) or vocabulary_size < minimum_size:
        raise ValueError(
            f"train_sentencepiece: vocabulary_size must be an int >= {minimum_size} (4 special "
            f"ids, {len(user_defined_symbols)} user symbols, one piece), got {vocabulary_size!r}."
        )
    if not 0.0 < character_coverage <= 1.0:
        raise ValueError(
            "train_sentencepiece: character_coverage must be in (0, 1], got "
            f"{character_coverage!r}."
        )
    if isinstance(sentences, str):
        raise ValueError("train_sentencepiece: sentences must be an iterable of str, not a str.")

    counter = {"sentences": 0}

    def non_empty_sentences():
        for index, sentence in enumerate(sentences):
            if not isinstance(sentence, str):
                raise ValueError(
                    f"train_sentencepiece: sentences[{index}] must be str, "
                    f"got {type(sentence).__name__}."
                )
            if sentence.strip():
                counter["sentences"] += 1
                yield sentence

    if seed is not None:
        sentencepiece.set_random_generator_seed(int(seed))
    model = io.BytesIO()
    try:
        sentencepiece.SentencePieceTrainer.train(
            sentence_iterator=non_empty_sentences(),
            model_writer=model,
            vocab_size=vocabulary_size,
            model_type=model_type,
            character_coverage=character_coverage,
            user_defined_symbols=user_defined_symbols,
            normalization_rule_name=normalization_rule_name,
            pad_id=0,
            unk_id=1,
            bos_id=2,
            eos_id=3,
            hard_vocab_limit=False,
            num_threads=1,
            minloglevel=2,
        )
    except RuntimeError as error:
        if counter["sentences"] == 0:
            raise ValueError("train_sentencepiece: sentences holds no non-empty sentence.") from None
        raise ValueError(f"train_sentencepiece: SentencePiece training failed: {error}") from None
    return model.getvalue()


@keras.saving.register_keras_serializable(package="nlp_apps")
class SubwordTokenizer(keras.layers.Layer):
    """SentencePiece subword tokenizer that runs inside the graph.

    `call` / `tokenize`: string Tensor `(batch,)` → ragged int64 ids
    `(batch, None)` (bos/eos added when asked). Text is normalised by the
    model's normalizer (by default NFKC with runs of whitespace collapsed and
    leading/trailing whitespace removed) and is never padded: id 0 does not
    occur.

    `detokenize`: int ids, ragged `(batch, None)` or dense `(batch, time)`
    padded with 0 → string Tensor `(batch,)` (1-D ids → a scalar). Padding,
    bos, eos and other control pieces are removed before decoding; unknown
    pieces decode to " ⁇ ". `detokenize(tokenize(text))` equals the
    normalised text.

    Which tensorflow-text op runs (checked on TF 2.21 / tensorflow-text
    2.21.1 / ai-edge-litert 2.3):

    * unigram models (the default of `train_sentencepiece`):
      `FastSentencepieceTokenizer`. It holds the model as a graph constant
      (SavedModels need no asset; the loader only imports `tensorflow_text`),
      gives the same ids as the `sentencepiece` library, and its tokenize op
      (`TFText>FastSentencepieceTokenize`) runs in TFLite with
      `SELECT_TFTEXT_OPS`. Its TFLite detokenize kernel
      (`TFText>FastSentencepieceDetokenize`) does NOT work: it segfaults in
      `ai_edge_litert`, and TensorFlow's own TFLite interpreter returned one
      string for a batch of two. For TFLite, detokenize outside the model
      (e.g. `sentencepiece.SentencePieceProcessor.decode`).
    * other model types (BPE, ...): `SentencepieceTokenizer` (a resource op;
      works in SavedModels, not in TFLite). `FastSentencepieceTokenizer` runs
      the unigram algorithm whatever the model type, so on BPE models its
      ids differ from SentencePiece's; it is not used for them.

    `tflite_compatible` tells which case applies.

    Args:
        model_bytes: bytes of a serialized SentencePiece model (e.g. from
            `train_sentencepiece`), or the same bytes base64-encoded as str
            (the form stored by `get_config`).
        add_bos: bool. Prepend `<s>` (id 2 for models from
            `train_sentencepiece`).
        add_eos: bool. Append `</s>` (id 3).
    """

    def __init__(self, model_bytes, add_bos=False, add_eos=False, **kwargs):
        super().__init__(**kwargs)
        if isinstance(model_bytes, str):
            try:
                model_bytes = base64.b64decode(model_bytes.encode("ascii"), validate=True)
            except (binascii.Error, UnicodeEncodeError):
                raise ValueError(
                    "SubwordTokenizer: model_bytes: a str must be the base64 encoding "
                    "of a SentencePiece model."
                ) from None
        if not isinstance(model_bytes, (bytes, bytearray)) or not model_bytes:
            raise ValueError(
                "SubwordTokenizer: model_bytes must be non-empty bytes or a base64 str, "
                f"got {type(model_bytes).__name__}."
            )
        self._model_bytes = bytes(model_bytes)
        try:
            self._processor = sentencepiece.SentencePieceProcessor(model_proto=self._model_bytes)
        except RuntimeError:
            raise ValueError(
                "SubwordTokenizer: model_bytes is not a valid SentencePiece model."
            ) from None
        self._control_ids = [0] + [
            piece_id
            for piece_id in range(self._processor.get_piece_size())
            if self._processor.is_control(piece_id) and piece_id != 0
        ]
        self.add_bos = bool(add_bos)
        self.add_eos = bool(add_eos)
        model_proto = sentencepiece_model_pb2.ModelProto()
        model_proto.ParseFromString(self._model_bytes)
        self._model_type = sentencepiece_model_pb2.TrainerSpec.ModelType.Name(
            model_proto.trainer_spec.model_type
        ).lower()
        if self._model_type == "unigram":
            self._tokenizer = tensorflow_text.FastSentencepieceTokenizer(
                self._model_bytes, add_bos=self.add_bos, add_eos=self.add_eos
            )
        else:
            # FastSentencepieceTokenizer runs the unigram algorithm whatever
            # the model type: on BPE models its ids differ from SentencePiece.
            self._tokenizer = tensorflow_text.SentencepieceTokenizer(
                self._model_bytes, out_type=tf.int32, add_bos=self.add_bos, add_eos=self.add_eos
            )
        _graph_utils.configure_string_layer(self)

    @property
    def model_bytes(self):
        return self._model_bytes

    @property
    def model_type(self):
        """The SentencePiece model type: "unigram", "bpe", "char" or "word"."""
        return self._model_type

    @property
    def tflite_compatible(self):
        """Whether `tokenize` uses the TFLite custom op (unigram models only)."""
        return self._model_type == "unigram"

    @property
    def vocabulary_size(self):
        return int(self._processor.get_piece_size())

    def get_vocabulary(self):
        """The pieces, in id order (e.g. "<pad>", "<unk>", "<s>", "</s>", "▁the")."""
        return [self._processor.id_to_piece(i) for i in range(self.vocabulary_size)]

    def call(self, strings):
        strings = _graph_utils.to_string_tensor(strings, "SubwordTokenizer: strings")
        return tf.cast(self._tokenizer.tokenize(strings), tf.int64)

    def tokenize(self, strings):
        return self(strings)

    def detokenize(self, ids):
        ids = _graph_utils.to_id_tensor(ids, "SubwordTokenizer.detokenize: ids")
        if not isinstance(ids, tf.RaggedTensor) and ids.shape.rank == 1:
            # One sequence → one string.
            return self.detokenize(ids[tf.newaxis])[0]
        if not isinstance(ids, tf.RaggedTensor):
            ids = tf.RaggedTensor.from_tensor(ids)
        ids = tf.cast(ids, tf.int32)
        # Control pieces (<pad>, <s>, </s>) are removed before decoding:
        # FastSentencepieceTokenizer decodes "<s> ▁the" to " the" (keeping the
        # space of the first word-initial piece) where SentencePiece gives
        # "the".
        control_ids = tf.constant(self._control_ids, tf.int32)
        keep = tf.ragged.map_flat_values(
            lambda flat: tf.reduce_all(
                tf.not_equal(flat[:, tf.newaxis], control_ids[tf.newaxis, :]), axis=1
            ),
            ids,
        )
        return self._tokenizer.detokenize(tf.ragged.boolean_mask(ids, keep))

    def compute_output_spec(self, strings):
        return keras.KerasTensor(tuple(strings.shape) + (None,), dtype="int64", ragged=True)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "model_bytes": base64.b64encode(self._model_bytes).decode("ascii"),
                "add_bos": self.add_bos,
                "add_eos": self.add_eos,
            }
        )
        return config
