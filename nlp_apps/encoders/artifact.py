"""The encoder artifact: a pretrained encoder with everything a task needs to start from it.

Layout of the folder `nlp-apps pretrain` writes (atomically: a temporary
folder renamed into place):

    encoder.keras        the RNNEncoder in a one-layer Keras model (loads with safe_mode=True)
    encoder_config.json  the encoder's constructor arguments (get_config)
    text/vocabulary.txt  the word vocabulary ([PAD], [UNK] first; ids = embedding rows)
    text/alphabet.json   the character alphabet (character features)
    text/preprocessor.json  word-lookup options: lowercase, normalize_digits, max_chars_per_token
      or, for a SentencePiece encoder (`text.tokenizer: sentencepiece`):
    text/sentencepiece.model, text/tokenizer.json
    encoder_card.json    architecture, corpora and token counts, training time and tokens/s,
                         held-out perplexity per direction, library versions, date

A task with `model.encoder.pretrained: FOLDER` takes the architecture and the
vocabulary from here (`apply_artifact`); its own config may only repeat
them. Task words missing from the vocabulary map to [UNK], or get new rows
with `model.encoder.new_word_embeddings: true` (`initialize_encoder`).
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import keras
import numpy as np

from nlp_apps.encoders.rnn_encoder import RNNEncoder
from nlp_apps.export.atomic import atomic_output_dir
from nlp_apps.text.vocabulary import Vocabulary

ENCODER_FILE = "encoder.keras"
CONFIG_FILE = "encoder_config.json"
TEXT_DIR = "text"
CARD_FILE = "encoder_card.json"
TEXT_FILES = ("vocabulary.txt", "alphabet.json", "preprocessor.json")
SUBWORD_FILES = ("sentencepiece.model", "tokenizer.json")
FIELD = "model.encoder.pretrained"

# EncoderConfig fields the artifact fixes (each is also the RNNEncoder argument of that name;
# an encoder without character / casing features stores their sizes as 0).
ARCHITECTURE_FIELDS = (
    "cell_type", "embedding_dim", "units", "num_layers", "bidirectional", "merge_mode", "residual",
    "char_embedding_dim", "char_encoder", "char_units", "char_kernel_size", "case_embedding_dim",
)
# TextConfig field -> preprocessor option the artifact fixes.
TEXT_FIELDS = {"lowercase": "lowercase", "max_chars_per_token": "max_chars_per_token"}


def directory_size(path) -> int:
    return sum(item.stat().st_size for item in Path(path).rglob("*") if item.is_file())


def write_encoder_artifact(encoder, text_preprocessor, card: dict, path) -> Path:
    """Writes the artifact folder at `path` atomically; returns the path. Prints its size."""
    from nlp_apps.encoders.registry import save_encoder

    path = Path(path)
    with atomic_output_dir(path) as temporary:
        temporary = Path(temporary)
        save_encoder(encoder, temporary / ENCODER_FILE)
        config = {key: value for key, value in encoder.get_config().items() if key not in ("dtype", "trainable")}
        (temporary / CONFIG_FILE).write_text(json.dumps(config, indent=2))
        text_preprocessor.save(temporary / TEXT_DIR)
        (temporary / CARD_FILE).write_text(json.dumps(card, indent=2, default=str))
    print(f"encoder artifact: {path} ({directory_size(path) / 1e6:.1f} MB)")
    return path


@dataclasses.dataclass
class EncoderArtifact:
    """A loaded artifact: the encoder, its constructor config, vocabulary, alphabet, word-lookup options and card.

    A SentencePiece artifact has `sentencepiece_model` (bytes) instead of a
    word vocabulary and alphabet (`vocabulary` is then None).
    """

    path: Path
    encoder: RNNEncoder
    encoder_config: dict
    vocabulary: list | None
    alphabet: list
    text_options: dict
    card: dict
    load_seconds: float = 0.0
    sentencepiece_model: bytes | None = None

    @classmethod
    def load(cls, path) -> "EncoderArtifact":
        """Loads an artifact folder (safe_mode: no code runs from the file); errors name the missing file."""
        started = time.perf_counter()
        path = Path(path)
        if not path.is_dir():
            raise ValueError(f"{FIELD}: no encoder artifact folder at {path} (write one with `nlp-apps pretrain`)")
        text = path / TEXT_DIR
        subword = (text / SUBWORD_FILES[0]).is_file()
        for name in (ENCODER_FILE, CONFIG_FILE, CARD_FILE, *(f"{TEXT_DIR}/{file}" for file in (SUBWORD_FILES if subword else TEXT_FILES))):
            if not (path / name).is_file():
                raise ValueError(f"{FIELD}: {path} is not a complete encoder artifact: {path / name} is missing")
        try:
            wrapper = keras.saving.load_model(path / ENCODER_FILE, compile=False, safe_mode=True)
        except Exception as error:
            raise ValueError(f"{FIELD}: cannot load {path / ENCODER_FILE}: {error}") from error
        encoders = [layer for layer in wrapper.layers if isinstance(layer, RNNEncoder)]
        if len(encoders) != 1:
            raise ValueError(f"{FIELD}: {path / ENCODER_FILE} holds {len(encoders)} RNNEncoders, expected 1")
        common = {
            "path": path,
            "encoder": encoders[0],
            "encoder_config": json.loads((path / CONFIG_FILE).read_text()),
            "card": json.loads((path / CARD_FILE).read_text()),
        }
        if subword:
            artifact = cls(
                **common, vocabulary=None, alphabet=[], text_options=json.loads((text / "tokenizer.json").read_text()),
                sentencepiece_model=(text / "sentencepiece.model").read_bytes(),
            )
        else:
            artifact = cls(
                **common,
                vocabulary=Vocabulary.load(text / "vocabulary.txt").tokens,
                alphabet=json.loads((text / "alphabet.json").read_text(encoding="utf-8")),
                text_options=json.loads((text / "preprocessor.json").read_text()),
            )
        artifact.load_seconds = time.perf_counter() - started
        if artifact.vocabulary is not None and len(artifact.vocabulary) != artifact.encoder.vocabulary_size:
            raise ValueError(
                f"{FIELD}: {text / 'vocabulary.txt'} has {len(artifact.vocabulary)} entries but the encoder "
                f"has {artifact.encoder.vocabulary_size} embedding rows"
            )
        return artifact

    def describe(self) -> str:
        return (
            f"pretrained encoder {self.path}: {directory_size(self.path) / 1e6:.1f} MB, loaded in "
            f"{self.load_seconds:.2f} s; "
            f"{f'{len(self.vocabulary)} words' if self.vocabulary else f'{self.encoder.vocabulary_size} SentencePiece pieces'}, "
            f"{self.encoder_config['cell_type']} "
            f"{self.encoder_config['units']} x {self.encoder_config['num_layers']}"
            f"{' bidirectional' if self.encoder_config['bidirectional'] else ''}"
        )


def _contradiction(source: str, field_path: str, value, artifact_value, path) -> ValueError:
    return ValueError(
        f"{source}: '{field_path}' is {value!r} but the pretrained encoder {path} has {artifact_value!r}; "
        f"remove the field (the artifact's value is used) or set it to {artifact_value!r}"
    )


def apply_artifact(config, artifact: EncoderArtifact) -> None:
    """Takes the encoder architecture and word-lookup options from the artifact into `config`.

    A field the config sets explicitly (a file or `--set`) to another value
    is an error naming the field and the artifact's value; fields left at
    their defaults take the artifact's values. The vocabulary itself comes
    from the artifact, so `text.max_vocabulary_size` / `min_frequency` only
    apply to new task words (`new_word_embeddings`).
    """
    explicit = getattr(config, "explicit_keys", {})
    encoder_config = config.model.encoder
    for field in ARCHITECTURE_FIELDS:
        artifact_value = artifact.encoder_config[field]
        field_path = f"model.encoder.{field}"
        current = getattr(encoder_config, field)
        # Feature sizes only matter when the feature is on (the artifact stores 0 when off).
        if field in ("char_encoder", "char_units", "char_kernel_size") and not artifact.encoder_config["char_embedding_dim"]:
            continue
        if field_path in explicit and current != artifact_value:
            raise _contradiction(explicit[field_path], field_path, current, artifact_value, artifact.path)
        setattr(encoder_config, field, artifact_value)
    text_config = config.text
    for field, option in TEXT_FIELDS.items():
        if option not in artifact.text_options:
            continue  # a SentencePiece artifact has no word-lookup options
        artifact_value = artifact.text_options[option]
        field_path = f"text.{field}"
        if field_path in explicit and getattr(text_config, field) != artifact_value:
            raise _contradiction(explicit[field_path], field_path, getattr(text_config, field), artifact_value, artifact.path)
        if hasattr(text_config, field):
            setattr(text_config, field, artifact_value)


def extended_vocabulary(artifact: EncoderArtifact, task_counts: dict, extend: bool, max_size: int, min_frequency: int) -> list:
    """The artifact's vocabulary, plus (with `extend`) the task's words it lacks, most frequent first.

    `task_counts`: {normalized word: count} of the task's training data.
    New words come after the artifact's, so artifact ids (embedding rows) are kept.
    """
    vocabulary = list(artifact.vocabulary)
    if not extend:
        return vocabulary
    known = set(vocabulary)
    new_words = sorted(
        (word for word, count in task_counts.items() if count >= min_frequency and word not in known),
        key=lambda word: (-task_counts[word], word),
    )
    room = max(max_size - len(vocabulary), 0) if max_size else len(new_words)
    return vocabulary + new_words[:room]


def initialize_encoder(encoder, artifact: EncoderArtifact) -> int:
    """Copies the artifact's weights into the task's (built) encoder; returns the number of new embedding rows.

    Weights are matched in order (same architecture, same order); every one
    must match in shape, except the token embedding, which may have more
    rows (new task words keep their fresh initialisation). A scalar mix is
    new: it is part of the fine-tuning head.
    """
    mix = set()
    if encoder.scalar_mix:
        mix = {id(weight) for weight in (encoder.mix_weights, encoder.mix_gamma, *encoder.mix_projection.weights)}
    targets = [weight for weight in encoder.weights if id(weight) not in mix]
    sources = artifact.encoder.weights
    if len(targets) != len(sources):
        raise ValueError(
            f"{FIELD}: {artifact.path} holds {len(sources)} encoder weights, the task's encoder {len(targets)} "
            "(the architectures differ)"
        )
    embeddings = encoder.token_embedding.embeddings
    new_rows = 0
    for target, source in zip(targets, sources):
        value = np.asarray(source.numpy())
        shape = tuple(target.shape)
        if target is embeddings:
            if shape[0] < value.shape[0] or shape[1:] != value.shape[1:]:
                raise ValueError(f"{FIELD}: the token embedding {value.shape} of {artifact.path} cannot fill {shape}")
            merged = np.array(target.numpy())
            merged[: value.shape[0]] = value
            new_rows = shape[0] - value.shape[0]
            value = merged
        elif shape != value.shape:
            raise ValueError(
                f"{FIELD}: {target.path} has shape {value.shape} in {artifact.path}, {shape} in the task's encoder"
            )
        target.assign(value.astype(target.dtype))
    return new_rows
