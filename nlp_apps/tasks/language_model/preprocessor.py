"""Text ↔ ids for language models at word, character or subword level.

One class serves training (files → one id stream) and serving (strings →
ids and ids → strings inside the graph), so both always agree:

* `word`: whitespace-separated tokens (PTB / WikiText-2 are pre-tokenized),
  `Vocabulary` with `<eos>` as extra special token (id 2), in-graph lookup by
  `TokenLookup`; `<eos>` follows every line (`read_token_stream`), blank
  lines included. Unknown words map to `[UNK]` (id 1). Detokenizing joins
  tokens with spaces.
* `char`: every Unicode character is a token, newlines included; ids from
  `CharTokenizer` (0 padding, 1 unknown). The end of a line is the newline
  character itself.
* `sentencepiece`: a SentencePiece unigram model trained on the training
  lines (`train_sentencepiece`, ids 0 pad, 1 unk, 2 `<s>`, 3 `</s>`);
  `</s>` follows every line.

`start_id` is what a model is fed before the first token of a text (the
end-of-line token: in a running text every line starts after one), and
`eos_id` is the token that ends a text, or -1 when the level has none
(`char` ends lines with "\\n", which `score` does not add).
"""

from __future__ import annotations

import collections
import json
from pathlib import Path

import numpy as np
import tensorflow as tf

from nlp_apps.encoders.artifact import extended_vocabulary
from nlp_apps.text.char_lookup import build_alphabet
from nlp_apps.text.char_tokenizer import CharTokenizer
from nlp_apps.text.sentencepiece_model import SubwordTokenizer, train_sentencepiece
from nlp_apps.text.token_lookup import TokenLookup
from nlp_apps.text.vocabulary import Vocabulary

TOKENIZERS = ("word", "char", "sentencepiece")
EOS_TOKEN = "<eos>"
SENTENCEPIECE_EOS_ID = 3


class LanguageModelPreprocessor(tf.Module):
    """Tokenizes and detokenizes for one language model.

    Args:
        level: "word", "char" or "sentencepiece".
        vocabulary: `Vocabulary` (word level). `<eos>` is its extra special
            token (id 2), or, for a vocabulary taken from a pretrained encoder
            artifact, a regular token after the artifact's words.
        alphabet: list of characters (char level).
        sentencepiece_model: serialized SentencePiece model bytes (subword level).
        lowercase, normalize_digits: word level: look words up lower-cased /
            with digits folded to "0" (the lookup of a pretrained encoder).
    """

    def __init__(self, level, vocabulary=None, alphabet=None, sentencepiece_model=None, lowercase=False, normalize_digits=False):
        super().__init__()
        if level not in TOKENIZERS:
            raise ValueError(f"text.tokenizer: unknown {level!r}; choose one of {', '.join(TOKENIZERS)}")
        self.level = level
        self.lowercase = bool(lowercase)
        self.normalize_digits = bool(normalize_digits)
        self.vocabulary = vocabulary
        self.alphabet = alphabet
        self.sentencepiece_model = sentencepiece_model
        if level == "word":
            self.lookup = TokenLookup(vocabulary)
            self.vocabulary_size = len(vocabulary)
            self.eos_id = vocabulary.token_to_id(EOS_TOKEN)
            self.start_id = self.eos_id
            self._token_strings = tf.constant(vocabulary.tokens)
        elif level == "char":
            self.char_tokenizer = CharTokenizer(alphabet)
            self.vocabulary_size = self.char_tokenizer.vocabulary_size
            self.eos_id = -1
            # A text starts after a line break; without "\n" in the alphabet, after [UNK].
            self.start_id = alphabet.index("\n") + 2 if "\n" in alphabet else 1
        else:
            self.subword_tokenizer = SubwordTokenizer(sentencepiece_model)
            self.vocabulary_size = self.subword_tokenizer.vocabulary_size
            self.eos_id = SENTENCEPIECE_EOS_ID
            self.start_id = SENTENCEPIECE_EOS_ID

    # ------------------------------------------------------------------ building

    @classmethod
    def from_training_data(cls, level, train_lines, max_vocabulary_size=50000, min_frequency=1, sentencepiece_vocabulary_size=8000, seed=1234):
        """Learns the vocabulary / alphabet / subword model from the training lines."""
        if level == "word":
            vocabulary = Vocabulary.build(
                (line.split() for line in train_lines),
                max_size=max_vocabulary_size,
                min_frequency=min_frequency,
                extra_special_tokens=(EOS_TOKEN,),
            )
            return cls(level, vocabulary=vocabulary)
        if level == "char":
            return cls(level, alphabet=build_alphabet(["\n".join(train_lines) + "\n"]))
        if level == "sentencepiece":
            model = train_sentencepiece(train_lines, sentencepiece_vocabulary_size, seed=seed)
            return cls(level, sentencepiece_model=model)
        raise ValueError(f"text.tokenizer: unknown {level!r}; choose one of {', '.join(TOKENIZERS)}")

    @classmethod
    def from_artifact(cls, artifact, train_lines, new_words=False, max_vocabulary_size=50000, min_frequency=1):
        """Word level with a pretrained encoder artifact's vocabulary and lookup; `<eos>` (and new words) get rows after its words."""
        options = {"lowercase": artifact.text_options["lowercase"], "normalize_digits": artifact.text_options.get("normalize_digits", False)}
        probe = cls("word", vocabulary=Vocabulary([EOS_TOKEN]), **options)
        words = probe.normalize(tf.strings.split(tf.constant(train_lines, dtype=tf.string, shape=[len(train_lines)]))).flat_values
        counts = collections.Counter(word.decode("utf-8") for word in words.numpy())
        tokens = extended_vocabulary(artifact, counts, new_words, max_vocabulary_size, min_frequency)
        if EOS_TOKEN not in tokens:
            tokens.append(EOS_TOKEN)
        return cls("word", vocabulary=Vocabulary(tokens[2:], pad_token=tokens[0], unk_token=tokens[1]), **options)

    def normalize(self, words):
        """The word form looked up (word level)."""
        if self.lowercase:
            words = tf.strings.lower(words, encoding="utf-8")
        if self.normalize_digits:
            words = tf.strings.regex_replace(words, r"[0-9]", "0")
        return words

    def save(self, folder: Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        options = {"level": self.level}
        if self.level == "word":
            # Whether <eos> is the extra special token (id 2) or a regular token (artifact vocabularies).
            options.update(lowercase=self.lowercase, normalize_digits=self.normalize_digits,
                           eos_special=self.eos_id == 2)
        (folder / "tokenizer.json").write_text(json.dumps(options))
        if self.level == "word":
            self.vocabulary.save(folder / "vocabulary.txt")
        elif self.level == "char":
            (folder / "alphabet.json").write_text(json.dumps(self.alphabet, ensure_ascii=False), encoding="utf-8")
        else:
            (folder / "sentencepiece.model").write_bytes(self.sentencepiece_model)

    @classmethod
    def load(cls, folder: Path) -> "LanguageModelPreprocessor":
        folder = Path(folder)
        path = folder / "tokenizer.json"
        if not path.is_file():
            raise ValueError(f"{path}: missing; train the language model first")
        options = json.loads(path.read_text())
        level = options["level"]
        if level == "word":
            extras = (EOS_TOKEN,) if options.get("eos_special", True) else None
            return cls(
                level, vocabulary=Vocabulary.load(folder / "vocabulary.txt", extra_special_tokens=extras),
                lowercase=options.get("lowercase", False), normalize_digits=options.get("normalize_digits", False),
            )
        if level == "char":
            return cls(level, alphabet=json.loads((folder / "alphabet.json").read_text(encoding="utf-8")))
        return cls(level, sentencepiece_model=(folder / "sentencepiece.model").read_bytes())

    # ------------------------------------------------------------------ streams (Python side)

    def encode_stream(self, lines: list[str]) -> np.ndarray:
        """The ids of a running text given as lines (without line breaks), end-of-line tokens included.

        Word level reproduces `read_token_stream` (`<eos>` after every line,
        blank lines too); char level joins the lines with "\\n" and ends
        with one; subword level appends `</s>` to every line's pieces.
        """
        if self.level == "char":
            text = "\n".join(lines) + "\n"
            return self.char_tokenizer(tf.constant([text])).flat_values.numpy().astype(np.int32)
        ids = self.tokenize(tf.constant(lines, dtype=tf.string, shape=[len(lines)]))
        eos = tf.fill([len(lines), 1], tf.constant(self.eos_id, tf.int64))
        return tf.concat([ids, eos], axis=1).flat_values.numpy().astype(np.int32)

    def encode_lines(self, lines: list[str]) -> tf.RaggedTensor:
        """Per-line ids for sentence-level training: `start_id`, the line, end of line."""
        ids = self.tokenize(tf.constant(lines, dtype=tf.string, shape=[len(lines)]))
        start = tf.fill([len(lines), 1], tf.constant(self.start_id, tf.int64))
        end_id = self.eos_id if self.eos_id >= 0 else self.start_id
        end = tf.fill([len(lines), 1], tf.constant(end_id, tf.int64))
        return tf.concat([start, ids, end], axis=1)

    # ------------------------------------------------------------------ in-graph

    def tokenize(self, texts):
        """String `(batch,)` → ragged int64 ids `(batch, None)`; nothing added."""
        if self.level == "word":
            return self.lookup(self.normalize(tf.strings.split(texts)))
        if self.level == "char":
            return self.char_tokenizer(texts)
        return self.subword_tokenizer(texts)

    def detokenize(self, ids):
        """Int ids `(batch, time)` padded with 0 → strings `(batch,)`."""
        if self.level == "word":
            ids = tf.RaggedTensor.from_tensor(tf.cast(ids, tf.int64), padding=None)
            ids = tf.ragged.boolean_mask(ids, tf.not_equal(ids, 0))
            tokens = tf.gather(self._token_strings, ids)
            return tf.strings.reduce_join(tokens, axis=-1, separator=" ")
        if self.level == "char":
            return self.char_tokenizer.detokenize(ids)
        return self.subword_tokenizer.detokenize(ids)

    def token_strings(self) -> list[str]:
        """The string of every id, in id order: words, characters ("" for padding) or SentencePiece pieces."""
        if self.level == "word":
            return list(self.vocabulary.tokens)
        if self.level == "char":
            return [""] + [chr(code) for code in self.char_tokenizer._code_points[1:]]
        return self.subword_tokenizer.get_vocabulary()

    def num_characters(self, lines: list[str]) -> int:
        """Characters of the running text (line breaks included), for bits per character."""
        return sum(len(line) + 1 for line in lines)
