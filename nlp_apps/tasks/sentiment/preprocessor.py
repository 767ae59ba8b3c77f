"""Turns raw reviews into the sentiment classifier's (batch, sentences, words) ids, in-graph."""

import collections

import keras
import tensorflow as tf
import tensorflow_text

from nlp_apps.encoders.artifact import extended_vocabulary

from nlp_apps.text import _graph_utils
from nlp_apps.text.vocabulary import Vocabulary
from nlp_apps.text.vocabulary_files import VocabularyFiles
from nlp_apps.text.token_lookup import TokenLookup
from nlp_apps.text.word_tokenizer import WordTokenizer

# HTML line breaks (IMDB reviews hold "<br /><br />" between paragraphs).
LINE_BREAK_MARKUP = r"(?i)<br\s*/?>"
# Documents are split in chunks, so 25k IMDB reviews never sit in one graph call.
SPLIT_CHUNK = 1000
# Sentence-final punctuation (with closing quotes/brackets) followed by whitespace.
SENTENCE_END = r"([.!?]+[\"'\)\]]*)[\p{Z}\p{Cc}]+"


@keras.saving.register_keras_serializable(package="nlp_apps")
class SentimentPreprocessor(VocabularyFiles, keras.layers.Layer):
    """Raw review strings → `token_ids` `(batch, sentences, words)` plus the words and sentences.

    Steps, all TensorFlow ops (so training and the exported SavedModel share them):
      1. `<br />` markup becomes a line break;
      2. sentences end at a line break, or at `.`, `!` or `?` (with any
         closing quotes or brackets) followed by whitespace; so "Mr. Smith"
         splits, and already sentence-split text joined with "\\n" keeps its
         sentences;
      3. each sentence is split into words by `WordTokenizer`; sentences
         without words are dropped;
      4. truncation: a document keeps its first `max_sentences` sentences and
         the first `max_words_per_sentence` words of each (0 = no limit);
      5. words are looked up (lower-cased if `lowercase`) with `TokenLookup`
         (1 = unknown).

    `call` returns a dict:
      - `token_ids`: int32 `(batch, sentences, words)`, padded with 0, at
        least `(batch, 1, 1)` (an empty document is one padding word);
      - `words`: ragged string `(batch, None, None)`, the words as written;
      - `sentences`: ragged string `(batch, None)`, each sentence's text
        (whitespace-trimmed), one per row of `token_ids`.

    Args:
        vocabulary: list of word strings, "[PAD]" and "[UNK]" first.
        lowercase: bool. Look words up lower-cased.
        normalize_digits: bool. Map every digit to "0" for the lookup (as
            the word lookup of a pretrained encoder artifact may).
        max_sentences: int. Sentences kept per document (0 = all).
        max_words_per_sentence: int. Words kept per sentence (0 = all).
        label_names: list of the class names in class-id order.

    `from_training_data` makes one from training documents; `save(folder)` / `load(folder)`
    keep the vocabulary, labels and these options together, so a trained run
    describes its own preprocessing.
    """

    json_assets = {"label_names": "labels.json"}

    def __init__(self, vocabulary, lowercase=True, max_sentences=0, max_words_per_sentence=0, label_names=(),
                 normalize_digits=False, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("max_sentences", max_sentences), ("max_words_per_sentence", max_words_per_sentence)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"text.{name}: expected an integer >= 0, got {value!r}")
        self.vocabulary = list(vocabulary)
        self.label_names = [str(name) for name in label_names]
        self.lowercase = bool(lowercase)
        self.normalize_digits = bool(normalize_digits)
        self.max_sentences = max_sentences
        self.max_words_per_sentence = max_words_per_sentence
        self.word_tokenizer = WordTokenizer()
        self.token_lookup = TokenLookup(self.vocabulary)
        _graph_utils.configure_string_layer(self)

    @classmethod
    def from_training_data(cls, texts, labels, label_names=(), lowercase=True, max_sentences=0, max_words_per_sentence=0,
              max_vocabulary_size=50000, min_frequency=1, label_field="data.label_column"):
        """From training documents and their labels; `label_names` fixes the class order (else the sorted labels)."""
        options = {"lowercase": lowercase, "max_sentences": max_sentences, "max_words_per_sentence": max_words_per_sentence}
        probe = cls(["[PAD]", "[UNK]"], **options)
        words = probe.normalize_words(probe.split_many(texts).flat_values).numpy()
        # One "sentence" per document is enough for counting word frequencies.
        vocabulary = Vocabulary.build(
            [[word.decode("utf-8") for word in words]], max_size=max_vocabulary_size, min_frequency=min_frequency
        )
        return cls(vocabulary.tokens, label_names=_label_names(labels, label_names, label_field), **options)

    @classmethod
    def from_artifact(cls, artifact, texts, labels, label_names=(), max_sentences=0, max_words_per_sentence=0,
                      new_words=False, max_vocabulary_size=50000, min_frequency=1, label_field="data.label_column"):
        """With a pretrained encoder artifact: its vocabulary and word lookup (plus the task's new words if `new_words`)."""
        options = {
            "lowercase": artifact.text_options["lowercase"],
            "normalize_digits": artifact.text_options.get("normalize_digits", False),
            "max_sentences": max_sentences,
            "max_words_per_sentence": max_words_per_sentence,
        }
        probe = cls(["[PAD]", "[UNK]"], **options)
        counts = collections.Counter(word.decode("utf-8") for word in probe.normalize_words(probe.split_many(texts).flat_values).numpy())
        vocabulary = extended_vocabulary(artifact, counts, new_words, max_vocabulary_size, min_frequency)
        return cls(vocabulary, label_names=_label_names(labels, label_names, label_field), **options)

    def options(self) -> dict:
        return {
            "lowercase": self.lowercase,
            "normalize_digits": self.normalize_digits,
            "max_sentences": self.max_sentences,
            "max_words_per_sentence": self.max_words_per_sentence,
        }

    def without_truncation(self) -> "SentimentPreprocessor":
        """The same preprocessing with every sentence and word kept (explanations show the cut-off text too)."""
        return type(self)(self.vocabulary, label_names=self.label_names, **dict(self.options(), max_sentences=0, max_words_per_sentence=0))

    def split_many(self, texts) -> tf.RaggedTensor:
        """Ragged words `(documents, None, None)` of a Python list of texts, split in chunks."""
        parts = [
            self.split_documents(tf.constant(texts[start : start + SPLIT_CHUNK], dtype=tf.string))[0]
            for start in range(0, len(texts), SPLIT_CHUNK)
        ]
        return tf.concat(parts, axis=0) if len(parts) > 1 else parts[0]

    def normalize_words(self, words):
        """The word form used for the vocabulary."""
        if self.lowercase:
            words = tf.strings.lower(words, encoding="utf-8")
        if self.normalize_digits:
            words = tf.strings.regex_replace(words, r"[0-9]", "0")
        return words

    def split_documents(self, texts):
        """String `(batch,)` → (words `(batch, None, None)`, sentences `(batch, None)`), ragged, truncated."""
        texts = _graph_utils.nul_as_space(_graph_utils.to_string_tensor(texts, "SentimentPreprocessor: texts"))
        texts = tf.strings.regex_replace(texts, LINE_BREAK_MARKUP, "\n")
        texts = tf.strings.regex_replace(texts, SENTENCE_END, "\\1\n")
        sentences = tensorflow_text.regex_split(texts, delim_regex_pattern="\n")
        words = self.word_tokenizer(sentences.flat_values)["tokens"]
        words = sentences.with_flat_values(words)
        has_words = words.row_lengths(axis=2) > 0
        words = tf.ragged.boolean_mask(words, has_words)
        sentences = tf.ragged.boolean_mask(sentences, has_words)
        if self.max_sentences:
            words = words[:, : self.max_sentences]
            sentences = sentences[:, : self.max_sentences]
        if self.max_words_per_sentence:
            words = words.with_values(words.values[:, : self.max_words_per_sentence])
        sentences = tf.ragged.map_flat_values(tf.strings.strip, sentences)
        return words, sentences

    def ids_from_words(self, words):
        """Ragged words `(batch, None, None)` → ragged int32 ids, same structure."""
        return tf.cast(self.token_lookup(tf.ragged.map_flat_values(self.normalize_words, words)), tf.int32)

    def call(self, texts):
        words, sentences = self.split_documents(texts)
        return {"token_ids": to_dense_ids(self.ids_from_words(words)), "words": words, "sentences": sentences}

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary": self.vocabulary,
                "lowercase": self.lowercase,
                "normalize_digits": self.normalize_digits,
                "max_sentences": self.max_sentences,
                "max_words_per_sentence": self.max_words_per_sentence,
                "label_names": self.label_names,
            }
        )
        return config


def to_dense_ids(token_ids):
    """Pads ragged `(batch, None, None)` ids with 0 to at least `(batch, 1, 1)`.

    Recurrent layers cannot run over zero steps, so an empty document (or a
    batch of them) still gets one padding sentence of one padding word.
    """
    batch_size = tf.shape(token_ids.row_splits, out_type=tf.int64)[0] - 1
    num_sentences = tf.maximum(tf.reduce_max(tf.concat([token_ids.row_lengths(), [0]], axis=0)), 1)
    num_words = tf.maximum(tf.reduce_max(tf.concat([token_ids.values.row_lengths(), [0]], axis=0)), 1)
    return token_ids.to_tensor(shape=tf.stack([batch_size, num_sentences, num_words]))


def _label_names(labels, label_names, label_field) -> list:
    """`label_names` as strings, or the sorted training labels; at least two."""
    names = [str(label) for label in label_names] or sorted(set(labels))
    if len(names) < 2:
        raise ValueError(f"{label_field}: the training data has only the label(s) {names}; need at least 2")
    return names
