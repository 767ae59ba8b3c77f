"""Subword preprocessing for translation: SentencePiece models learnt from the training pairs.

Ids follow `train_sentencepiece`: 0 = padding, 1 = `<unk>`, 2 = `<s>`, 3 =
`</s>`. A source sentence is its pieces followed by `</s>` (so even an empty
source has one real position and the attention never sees a fully masked
row); the decoder reads `<s> pieces` and is trained to predict `pieces </s>`.
Subwords mean no source word is ever dropped as unknown: a rare word is
spelled out in smaller pieces.

Tokenization and detokenization run inside the TF graph (tensorflow-text),
so the exported SavedModel takes and returns raw strings.
"""

from __future__ import annotations

import json
from pathlib import Path

import tensorflow as tf

from nlp_apps.text.sentencepiece_model import SubwordTokenizer, train_sentencepiece

BOS_ID = 2
EOS_ID = 3
# Longest sentence (in pieces) kept for training when text.max_length is 0.
DEFAULT_MAX_PIECES = 100


class TranslationPreprocessor:
    """Source and target subword tokenizers (one shared model when the vocabulary is joint).

    Args:
        source_model: bytes of the source SentencePiece model.
        target_model: bytes of the target model (the same bytes for a joint vocabulary).
        max_length: int. Pieces kept per sentence in training (0 = DEFAULT_MAX_PIECES);
            longer sentences are truncated at the end. Inference does not truncate
            the source beyond this limit either, so train and test see the same lengths.
    """

    def __init__(self, source_model: bytes, target_model: bytes, max_length: int = 0):
        self.source_model = source_model
        self.target_model = target_model
        self.joint = source_model == target_model
        self.max_length = int(max_length) or DEFAULT_MAX_PIECES
        self.source_tokenizer = SubwordTokenizer(source_model, name="source_tokenizer")
        self.target_tokenizer = (
            self.source_tokenizer if self.joint else SubwordTokenizer(target_model, name="target_tokenizer")
        )

    @property
    def source_vocabulary_size(self) -> int:
        return self.source_tokenizer.vocabulary_size

    @property
    def target_vocabulary_size(self) -> int:
        return self.target_tokenizer.vocabulary_size

    # ------------------------------------------------------------------ building and saving

    @classmethod
    def from_training_data(cls, sources, targets, vocabulary_size: int, joint: bool = True, max_length: int = 0, seed: int = 1234):
        """Trains the SentencePiece model(s) on the training sentences."""
        sources, targets = list(sources), list(targets)
        if joint:
            model = train_sentencepiece(sources + targets, vocabulary_size, seed=seed)
            return cls(model, model, max_length)
        return cls(
            train_sentencepiece(sources, vocabulary_size, seed=seed),
            train_sentencepiece(targets, vocabulary_size, seed=seed),
            max_length,
        )

    def save(self, folder: Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "source.model").write_bytes(self.source_model)
        (folder / "target.model").write_bytes(self.target_model)
        (folder / "preprocessor.json").write_text(json.dumps({"max_length": self.max_length, "joint": self.joint}))

    @classmethod
    def load(cls, folder: Path) -> "TranslationPreprocessor":
        folder = Path(folder)
        path = folder / "preprocessor.json"
        if not path.is_file():
            raise ValueError(f"{path}: missing; train the translation pipeline first")
        settings = json.loads(path.read_text())
        return cls((folder / "source.model").read_bytes(), (folder / "target.model").read_bytes(), settings["max_length"])

    # ------------------------------------------------------------------ in-graph

    def encode_source(self, texts) -> tf.RaggedTensor:
        """Strings `(batch,)` → ragged int32 ids `(batch, None)`: pieces (truncated) + `</s>`."""
        pieces = self.source_tokenizer(texts)[:, : self.max_length - 1]
        eos = tf.fill([pieces.nrows(), 1], tf.constant(EOS_ID, pieces.dtype))
        return tf.cast(tf.concat([pieces, eos], axis=1), tf.int32)

    def encode_target(self, texts) -> tuple[tf.RaggedTensor, tf.RaggedTensor]:
        """Strings → (decoder inputs `<s> pieces`, decoder targets `pieces </s>`), ragged int32."""
        pieces = self.target_tokenizer(texts)[:, : self.max_length - 1]
        column = lambda value: tf.fill([pieces.nrows(), 1], tf.constant(value, pieces.dtype))  # noqa: E731
        target_in = tf.concat([column(BOS_ID), pieces], axis=1)
        target_out = tf.concat([pieces, column(EOS_ID)], axis=1)
        return tf.cast(target_in, tf.int32), tf.cast(target_out, tf.int32)

    def decode_target(self, ids) -> tf.Tensor:
        """Int ids `(batch, time)` padded with 0 (no `<s>`/`</s>` needed) → strings `(batch,)`."""
        return self.target_tokenizer.detokenize(ids)

    def source_pieces(self, texts) -> list[list[str]]:
        """The source pieces of each text as strings, `</s>` included (attention plot labels)."""
        vocabulary = self.source_tokenizer.get_vocabulary()
        return [[vocabulary[i] for i in row] for row in self.encode_source(tf.constant(texts)).to_list()]

    def target_pieces(self, ids) -> list[str]:
        vocabulary = self.target_tokenizer.get_vocabulary()
        return [vocabulary[int(i)] for i in ids]
