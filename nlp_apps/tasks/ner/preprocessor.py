"""Turns raw strings (or pre-split tokens) into the sequence tagger's inputs, in-graph."""

import collections

import keras
import tensorflow as tf

from nlp_apps.encoders.artifact import extended_vocabulary

from nlp_apps.data.columns import ragged_rows
from nlp_apps.text.char_lookup import build_alphabet
from nlp_apps.text.vocabulary import Vocabulary
from nlp_apps.text.vocabulary_files import VocabularyFiles

from nlp_apps.text.case_features import CaseFeatures
from nlp_apps.text.char_lookup import CharLookup
from nlp_apps.text.token_lookup import TokenLookup
from nlp_apps.text.word_tokenizer import WordTokenizer


# The model inputs `call` and `features_from_tokens` return.
FEATURE_KEYS = ("token_ids", "char_ids", "case_ids")


@keras.saving.register_keras_serializable(package="nlp_apps")
class NERPreprocessor(VocabularyFiles, keras.layers.Layer):
    """Raw text → `{"token_ids", "char_ids", "case_ids"}` plus tokens and offsets.

    Everything runs in TensorFlow ops, so the same object serves training
    (`features_from_tokens` on CoNLL tokens) and the exported SavedModel
    (`call` on raw strings): train and serve cannot drift apart.

    Args:
        vocabulary: list of word strings, "[PAD]" and "[UNK]" first.
        alphabet: list of single characters (ids 0 = padding and 1 = unknown
            are added by `CharLookup`).
        lowercase: bool. Look words up lower-cased (characters and casing
            features still see the original case).
        normalize_digits: bool. Map every digit to "0" for the word lookup,
            so numbers share embeddings.
        max_chars_per_token: int. Longer tokens are truncated for char features.
        tag_names: list of the tag names in tag-id order (training scheme),
            "O" first so that padding decodes to the harmless tag.

    `from_training_data` makes one from training sentences; `save(folder)` / `load(folder)`
    keep the vocabulary, alphabet, tag names and these options together, so a
    trained run describes its own preprocessing.
    """

    json_assets = {"alphabet": "alphabet.json", "tag_names": "tags.json"}

    def __init__(self, vocabulary, alphabet, lowercase=False, normalize_digits=True, max_chars_per_token=20, tag_names=(), **kwargs):
        super().__init__(**kwargs)
        self.vocabulary = list(vocabulary)
        self.alphabet = list(alphabet)
        self.tag_names = list(tag_names)
        self.lowercase = lowercase
        self.normalize_digits = normalize_digits
        self.max_chars_per_token = max_chars_per_token
        self.word_tokenizer = WordTokenizer()
        self.token_lookup = TokenLookup(self.vocabulary)
        self.char_lookup = CharLookup(self.alphabet, max_chars_per_token=max_chars_per_token)
        self.case_features = CaseFeatures()

    @classmethod
    def from_training_data(cls, tokens, tags, lowercase=False, max_chars_per_token=20, max_vocabulary_size=50000, min_frequency=1):
        """From training sentences: `tokens` and `tags` (training scheme) are lists of lists of strings."""
        probe = cls(["[PAD]", "[UNK]"], [], lowercase=lowercase)
        normalized = probe.normalize_words(ragged_rows(tokens)).to_list()
        words = [[token.decode("utf-8") for token in sentence] for sentence in normalized]
        vocabulary = Vocabulary.build(words, max_size=max_vocabulary_size, min_frequency=min_frequency)
        alphabet = build_alphabet([token for sentence in tokens for token in sentence])
        return cls(vocabulary.tokens, alphabet, lowercase=lowercase, max_chars_per_token=max_chars_per_token, tag_names=_tag_names(tags))

    @classmethod
    def from_artifact(cls, artifact, tokens, tags, new_words=False, max_vocabulary_size=50000, min_frequency=1):
        """With a pretrained encoder artifact: its vocabulary, alphabet and word lookup (plus new task words if `new_words`)."""
        options = dict(artifact.text_options)
        probe = cls(["[PAD]", "[UNK]"], [], **options)
        normalized = probe.normalize_words(ragged_rows(tokens)).flat_values.numpy()
        counts = collections.Counter(word.decode("utf-8") for word in normalized)
        vocabulary = extended_vocabulary(artifact, counts, new_words, max_vocabulary_size, min_frequency)
        return cls(vocabulary, artifact.alphabet, tag_names=_tag_names(tags), **options)

    def options(self) -> dict:
        return {"lowercase": self.lowercase, "normalize_digits": self.normalize_digits, "max_chars_per_token": self.max_chars_per_token}

    def normalize_words(self, tokens):
        """The word form used for the vocabulary (lower-cased / digits folded as configured)."""
        if self.lowercase:
            tokens = tf.strings.lower(tokens, encoding="utf-8")
        if self.normalize_digits:
            tokens = tf.strings.regex_replace(tokens, r"[0-9]", "0")
        return tokens

    def features_from_tokens(self, tokens):
        """Ragged string tokens (batch, None) → dict of ragged int32 features."""
        token_ids = self.token_lookup(tf.ragged.map_flat_values(self.normalize_words, tokens))
        return {
            "token_ids": tf.cast(token_ids, tf.int32),
            "char_ids": tf.cast(self.char_lookup(tokens), tf.int32),
            "case_ids": tf.cast(self.case_features(tokens), tf.int32),
        }

    def call(self, texts):
        """String tensor (batch,) → dict with dense features, ragged tokens and byte offsets."""
        pieces = self.word_tokenizer(texts)
        features = to_dense_features(self.features_from_tokens(pieces["tokens"]))
        features.update(tokens=pieces["tokens"], starts=pieces["starts"], ends=pieces["ends"])
        return features

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary": self.vocabulary,
                "alphabet": self.alphabet,
                "lowercase": self.lowercase,
                "normalize_digits": self.normalize_digits,
                "max_chars_per_token": self.max_chars_per_token,
                "tag_names": self.tag_names,
            }
        )
        return config


def _tag_names(tags) -> list:
    """The tag names of training sentences, "O" first (padding decodes to it)."""
    return ["O"] + sorted({tag for sentence in tags for tag in sentence} - {"O"})


def to_dense_features(features):
    """Pads ragged features with 0; the time axis is at least 1 long.

    A batch of empty strings still gets one (padding) time step, because
    recurrent layers cannot run over zero steps; padding is masked anyway.
    """
    token_ids = features["token_ids"].to_tensor()
    time_steps = tf.maximum(tf.shape(token_ids)[1], 1)
    batch_size = tf.shape(token_ids)[0]
    dense = {
        "token_ids": features["token_ids"].to_tensor(shape=[batch_size, time_steps]),
        "case_ids": features["case_ids"].to_tensor(shape=[batch_size, time_steps]),
    }
    char_ids = features["char_ids"]
    if isinstance(char_ids, tf.RaggedTensor):
        char_ids = char_ids.to_tensor()
    chars = tf.maximum(tf.shape(char_ids)[2], 1)
    dense["char_ids"] = tf.pad(
        char_ids,
        [[0, 0], [0, time_steps - tf.shape(char_ids)[1]], [0, chars - tf.shape(char_ids)[2]]],
    )
    return dense
