"""Standard word vectors (GloVe, word2vec, fastText text files) for a vocabulary's embedding rows.

Formats: one word per line followed by its numbers, separated by spaces
(`.txt`, `.vec`, optionally gzipped). A first line of exactly two integers
("count dimension", word2vec / fastText) is a header; GloVe has none. A word
is matched as written, then lower-cased (GloVe is lower-cased; a cased
vocabulary still finds "Paris" under "paris"). Rows of words without a
vector keep their random initialisation, as do `[PAD]` and `[UNK]`.
"""

import dataclasses
from pathlib import Path

import numpy as np

from nlp_apps.data.files import open_text

FIELD = "model.encoder.word_vectors"


@dataclasses.dataclass
class WordVectorCoverage:
    """How much of a vocabulary a vector file covered."""

    path: str
    dimension: int
    vectors_read: int
    found: int
    vocabulary_words: int

    @property
    def fraction(self) -> float:
        return self.found / max(self.vocabulary_words, 1)

    def describe(self) -> str:
        return (
            f"{FIELD}: {self.found} of {self.vocabulary_words} vocabulary words "
            f"({100 * self.fraction:.1f} %) found among {self.vectors_read} vectors of dimension "
            f"{self.dimension} in {self.path}"
        )


def read_word_vectors(path, vocabulary: list[str], dimension: int) -> tuple[np.ndarray, np.ndarray, WordVectorCoverage]:
    """Reads the vectors of `vocabulary`'s words.

    Returns `(vectors (len(vocabulary), dimension) float32, found (bool mask),
    coverage)`. Only the words of the vocabulary are kept in memory.

    Raises:
        ValueError "FILE:LINE: ...": a line whose vector size differs from
            `dimension` (the embedding size), or a value that is not a number;
            "FILE: no vectors" for an empty file; file not found.
    """
    wanted = {}
    for index, word in enumerate(vocabulary[2:], start=2):
        wanted.setdefault(word, index)
    lowered = {}
    for word, index in wanted.items():
        lowered.setdefault(word.lower(), []).append(index)
    vectors = np.zeros((len(vocabulary), dimension), dtype=np.float32)
    exact = np.zeros(len(vocabulary), dtype=bool)
    found = np.zeros(len(vocabulary), dtype=bool)
    read = 0
    if not Path(path).is_file():
        raise ValueError(f"{FIELD}: file not found: {path}")
    try:
        handle = open_text(path)
    except (OSError, ValueError) as error:
        raise ValueError(f"{FIELD}: cannot read {path}: {error}") from error
    with handle:
        for line_number, line in enumerate(handle, start=1):
            parts = line.rstrip("\n").rstrip(" ").split(" ")
            if line_number == 1 and len(parts) == 2 and all(part.isdigit() for part in parts):
                if int(parts[1]) != dimension:
                    raise ValueError(
                        f"{path}:1: the header says dimension {parts[1]}, but model.encoder.embedding_dim is {dimension}"
                    )
                continue
            if not line.strip():
                continue
            word, values = parts[0], parts[1:]
            if len(values) != dimension:
                raise ValueError(
                    f"{path}:{line_number}: expected a word and {dimension} numbers (model.encoder.embedding_dim), "
                    f"found {len(values)} numbers"
                )
            read += 1
            targets = []
            if word in wanted:
                targets.append((wanted[word], True))
            targets.extend((index, False) for index in lowered.get(word.lower(), ()))
            if not targets:
                continue
            try:
                vector = np.asarray(values, dtype=np.float32)
            except ValueError:
                bad = next(value for value in values if not _is_number(value))
                raise ValueError(f"{path}:{line_number}: {bad!r} is not a number") from None
            for index, is_exact in targets:
                # An exact match beats a lower-cased one, whichever comes first in the file.
                if is_exact or not exact[index]:
                    vectors[index] = vector
                    found[index] = True
                    exact[index] = exact[index] or is_exact
    if read == 0:
        raise ValueError(f"{path}: no vectors found")
    coverage = WordVectorCoverage(str(path), dimension, read, int(found.sum()), max(len(vocabulary) - 2, 0))
    return vectors, found, coverage


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def load_word_vectors(encoder, vocabulary: list[str], path) -> WordVectorCoverage:
    """Writes the vectors of `path` into the rows of `encoder.token_embedding` for the words found; prints the coverage."""
    embeddings = encoder.token_embedding.embeddings
    dimension = int(embeddings.shape[-1])
    vectors, found, coverage = read_word_vectors(path, vocabulary, dimension)
    values = np.array(embeddings.numpy())
    values[found] = vectors[found]
    embeddings.assign(values.astype(values.dtype))
    print(coverage.describe())
    return coverage
