"""Pipeline configuration: dataclasses filled from YAML files and overrides.

Several YAML files are merged left to right (later files win, nested mappings
are merged key by key), then `--set key.path=value` overrides are applied.
Every key is validated against the dataclasses below, and an unknown or
mistyped key is reported with the file (or override) it came from, so a typo
never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

OVERRIDE_SOURCE = "--set"
# Metadata key naming the tasks that read a field; fields without it are read by every task.
TASKS_METADATA = "tasks"


def used_by(*tasks: str, **field_arguments):
    """A dataclass field that only `tasks` read: setting it in another task's config is an error."""
    return field(metadata={TASKS_METADATA: tasks}, **field_arguments)


@dataclass
class EncoderConfig:
    """Options of the shared encoder; see `nlp_apps.encoders.registry`.

    `type` selects the encoder in the registry; `cell_type` selects the
    recurrent cell (lstm, gru, simple_rnn, echo_state).
    """

    type: str = "rnn"
    cell_type: str = "lstm"
    embedding_dim: int = 100
    embedding_dropout: float = 0.0
    units: int = 128
    num_layers: int = 1
    bidirectional: bool = True
    merge_mode: str = "concat"
    dropout: float = 0.0
    recurrent_dropout: float = 0.0
    # DropConnect on the hidden-to-hidden weights (AWD-LSTM weight drop), one
    # mask per batch shared by all time steps; lstm and gru only; > 0 turns
    # off the cuDNN kernels.
    weight_drop: float = 0.0
    residual: bool = False
    # Character features: 0 disables them.
    char_embedding_dim: int = 0
    char_encoder: str = "cnn"
    char_units: int = 50
    char_kernel_size: int = 3
    # Casing features (all-caps, capitalised, ...): 0 disables them.
    case_embedding_dim: int = 0
    # Echo-state (reservoir) options, used when cell_type == "echo_state".
    spectral_radius: float = 0.9
    leak_rate: float = 1.0
    input_scaling: float = 1.0
    reservoir_density: float = 0.1
    seed: int = 1234
    # A pretrained encoder to start from: an encoder artifact folder written by
    # `nlp-apps pretrain` (architecture, weights and vocabulary; the task takes
    # all three, see nlp_apps/encoders/pretrained.py), or a bare `.keras` /
    # `.weights.h5` file whose architecture must equal this config's.
    pretrained: str = ""
    trainable: bool = True
    # Fine-tuning recipe of a pretrained encoder: "full" (everything trains),
    # "frozen" (the encoder's weights stay fixed; only the head and, with
    # scalar_mix, the mix weights train) or "gradual" (ULMFiT's gradual
    # unfreezing: epoch 1 trains the head only, each later epoch unfreezes one
    # more encoder layer group, top down; groups are the RNN layers, then the
    # embeddings). See nlp_apps/training/fine_tuning.py.
    fine_tuning: str = "full"
    # Discriminative learning rates: encoder layer group k (1 = the top RNN
    # layer, num_layers + 1 = the embeddings) trains at learning_rate x
    # layer_lr_decay ** k; 1.0 = one rate for all (ULMFiT: 1 / 2.6).
    layer_lr_decay: float = 1.0
    # ELMo's learned scalar mix: the encoder output is gamma x a softmax-
    # weighted sum of its layers (the token features projected to the output
    # width, then every RNN layer) instead of the top layer alone.
    scalar_mix: bool = False
    # With a pretrained artifact: task words missing from its vocabulary get
    # new (trainable) embedding rows instead of mapping to [UNK].
    new_word_embeddings: bool = False
    # GloVe / word2vec / fastText text vectors (.txt, .vec, optionally .gz)
    # loaded into the token embedding for the vocabulary's words.
    word_vectors: str = ""


@dataclass
class DataConfig:
    """Where the data comes from and how to read it.

    File names are resolved against `data_dir`, which defaults to the
    `NLP_APPS_DATA` environment variable. `hub_name` loads a Hugging Face hub
    data set instead of local files.
    """

    format: str = ""
    data_dir: str = ""
    train: str = ""
    dev: str = ""
    test: str = ""
    hub_name: str = used_by("ner", "sentiment", "translation", default="")
    hub_config: str = used_by("ner", "sentiment", "translation", default="")
    # CoNLL options.
    tag_scheme: str = used_by("ner", default="iob2")
    token_column: int = used_by("ner", default=0)
    tag_column: int = used_by("ner", default=-1)
    # The entity types a tag may name (CoNLL-2003's by default): a tag of
    # another type (a typo such as B-PERSN) is an error naming file and line.
    # A data set with other types lists them all in entity_types, or adds
    # to these with extra_entity_types; entity_types [] accepts any type.
    entity_types: list = used_by("ner", default_factory=lambda: ["PER", "LOC", "ORG", "MISC"])
    extra_entity_types: list = used_by("ner", default_factory=list)
    # CSV / JSONL options.
    text_column: str = used_by("sentiment", default="text")
    label_column: str = used_by("sentiment", default="label")
    # Used when the data set has no official dev split.
    dev_fraction: float = used_by("sentiment", "language_model", default=0.1)
    split_seed: int = used_by("sentiment", "language_model", default=1234)
    # 0 keeps every example; a positive value keeps the first N (smoke runs).
    max_train_examples: int = 0
    # A seeded share of the training examples (train.seed; file order kept),
    # for learning curves such as "10 % of the labels"; 1.0 = all. Dev and
    # test are never subsampled.
    train_fraction: float = 1.0
    # Language modeling on a single file (no dev/test given): share of the
    # lines held out as a contiguous test block (dev uses dev_fraction).
    test_fraction: float = used_by("language_model", default=0.05)
    # Text classification: the label names in class-id order; empty = the
    # sorted labels of the training data.
    labels: list = used_by("sentiment", default_factory=list)
    # Text classification, k-fold cross-validation: with cv_folds = k >= 2 the
    # `train` file is cut into k folds, fold `cv_fold` (0 .. k-1) is the test
    # split and a seeded `dev_fraction` of the other folds is the dev split
    # (`dev` and `test` must then be empty). The folds are the distinct values
    # of `fold_column` when it is set (review_polarity's `fold`), otherwise a
    # shuffle with `split_seed`, stratified by label. 0 = no cross-validation.
    cv_folds: int = used_by("sentiment", default=0)
    cv_fold: int = used_by("sentiment", default=0)
    fold_column: str = used_by("sentiment", default="")
    # Translation: language codes. With format "parallel", split `train:
    # multi30k/train` reads train.<source_language> and train.<target_language>;
    # with a hub data set they name the columns (or the keys of a
    # "translation" column). With format "tsv", the 0-based columns below.
    source_language: str = used_by("translation", default="")
    target_language: str = used_by("translation", default="")
    source_column: int = used_by("translation", default=0)
    target_column: int = used_by("translation", default=1)


@dataclass
class TextConfig:
    """Tokenization and vocabulary options."""

    tokenizer: str = used_by("language_model", "pretrain", default="word")
    lowercase: bool = used_by("ner", "sentiment", "pretrain", default=False)
    # Pretraining: map every digit to "0" for the word lookup (the NER lookup always does).
    normalize_digits: bool = used_by("pretrain", default=True)
    max_vocabulary_size: int = used_by("ner", "sentiment", "language_model", "pretrain", default=50000)
    min_frequency: int = used_by("ner", "sentiment", "language_model", "pretrain", default=1)
    max_chars_per_token: int = used_by("ner", "pretrain", default=20)
    max_length: int = used_by("translation", "language_model", default=0)
    sentencepiece_vocabulary_size: int = used_by("translation", "language_model", "pretrain", default=8000)
    # Documents (sentiment): keep the first `max_sentences` sentences and the
    # first `max_words_per_sentence` words of each (0 = no limit).
    max_sentences: int = used_by("sentiment", default=0)
    max_words_per_sentence: int = used_by("sentiment", default=0)
    # Translation: one SentencePiece model for both languages (shared pieces
    # for names and numbers), or one per language.
    joint_vocabulary: bool = used_by("translation", default=True)


@dataclass
class DecoderConfig:
    """Options of the attention decoder (translation); see `nlp_apps.decoders.attention_decoder`."""

    cell_type: str = "lstm"
    embedding_dim: int = 256
    units: int = 256
    num_layers: int = 1
    # "bahdanau" (additive), "luong_dot" or "luong_general" (multiplicative).
    attention: str = "luong_general"
    attention_units: int = 256
    # Feed the previous attentional vector into the next step (Luong et al., 2015).
    input_feeding: bool = True
    # Output projection shares the target embedding matrix.
    tie_embeddings: bool = True
    dropout: float = 0.2


@dataclass
class CorpusConfig:
    """One pretraining text source; see nlp_apps/pretraining/corpora.py.

    `path` is a file under `data.data_dir` (or `sample:NAME/FILE` for the
    bundled samples), or `hub_name` a Hugging Face data set (with `hub_config`
    and `split`). `format` is "text" (one line per example), "csv" / "jsonl"
    (the `column` field; labels are ignored) or "conll" (the token column
    `column`, default 0); empty = from the file name. `weight` repeats the
    source in the training stream (2.0 = twice; fractions keep a seeded share).
    """

    path: str = ""
    format: str = ""
    column: Any = None
    weight: float = 1.0
    hub_name: str = ""
    hub_config: str = ""
    split: str = "train"


@dataclass
class PretrainConfig:
    """`nlp-apps pretrain`: the encoder as a language model over `corpora`.

    `direction` "bidirectional" trains a forward and a backward LM over one
    shared embedding and tied softmax (ELMo); "forward" a forward LM only
    (ULMFiT). `held_out_fraction` of each corpus' examples (a seeded share)
    is held out for the perplexity in the encoder card. The artifact is
    written to `artifact_dir` (default saved_models/NAME). `from_artifact`
    (or `--from`) continues pretraining from an artifact, keeping its
    architecture and vocabulary.
    """

    corpora: list = field(default_factory=list)
    direction: str = "bidirectional"
    held_out_fraction: float = 0.02
    artifact_dir: str = ""
    from_artifact: str = ""


@dataclass
class ModelConfig:
    """Task head options. A field that the chosen task does not read is an error (see `used_by`)."""

    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    dropout: float = used_by("ner", "sentiment", "language_model", "pretrain", default=0.0)
    # Probability of replacing a training token by [UNK], so the [UNK]
    # embedding is trained for the unknown words met at test time.
    unknown_word_dropout: float = used_by("ner", "sentiment", default=0.0)
    # Sequence tagging: decode with a CRF (else softmax), the tag scheme the
    # model is trained in, and the scheme scores are reported in.
    use_crf: bool = used_by("ner", default=True)
    train_tag_scheme: str = used_by("ner", default="bioes")
    report_tag_scheme: str = used_by("ner", default="iob2")
    # Document classification (sentiment): hierarchical attention network
    # (words -> sentences -> document) or a flat BiLSTM over all words; the
    # sentence-level RNN (same cell type as the encoder; 0 units = the
    # encoder's units) and the size of both attention spaces.
    hierarchical: bool = used_by("sentiment", default=True)
    sentence_units: int = used_by("sentiment", default=0)
    attention_units: int = used_by("sentiment", default=100)
    # Language modeling: output projection tied to the input embeddings;
    # sampled_softmax > 0 trains with a sampled softmax over that many classes
    # (evaluation always uses the exact softmax).
    tie_weights: bool = used_by("language_model", default=True)
    sampled_softmax: int = used_by("language_model", "pretrain", default=0)
    # Translation: the decoder, label smoothing of the training loss, and
    # search: beam size (1 = greedy), GNMT length penalty alpha (0 = none),
    # and the output length limit (0 = 2 x source pieces + 10, at most 256).
    decoder: DecoderConfig = used_by("translation", default_factory=DecoderConfig)
    label_smoothing: float = used_by("translation", default=0.1)
    beam_size: int = used_by("translation", default=5)
    length_penalty: float = used_by("translation", default=0.6)
    max_decode_length: int = used_by("translation", default=0)
    # Translation search in evaluate and predict: "float32" (exact) or
    # "bfloat16" output projection, faster on CPUs with AMX / AVX512-BF16 at
    # ~3-digit logits (see AttentionDecoder.output_projection). Training and
    # the exports always use float32.
    output_projection_dtype: str = used_by("translation", default="float32")


@dataclass
class TrainConfig:
    epochs: int = 10
    batch_size: int = 32
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    clipnorm: float = 5.0
    # "auto" picks boundaries from length quantiles; [] disables bucketing.
    bucket_boundaries: Any = "auto"
    num_buckets: int = 8
    shuffle_buffer: int = used_by("translation", default=10000)
    seed: int = 1234
    early_stopping_patience: int = 0
    # Multiply the learning rate by lr_decay_factor when the monitored dev
    # score has not improved for lr_decay_patience epochs (0 = constant rate).
    lr_decay_patience: int = 0
    lr_decay_factor: float = 0.5
    # "constant", "linear" (decay to lr_final_fraction x learning_rate over the
    # budget: max_train_minutes of wall time if set, else epochs) or "wsd"
    # (constant, then that decay over the last lr_cooldown_fraction); see
    # nlp_apps/training/learning_rate.py for why budgeted runs want it.
    lr_schedule: str = "constant"
    lr_final_fraction: float = 0.05
    # "wsd" only: the final share of the budget over which the rate cools down.
    lr_cooldown_fraction: float = 0.2
    # Linear warmup over this many batches (any schedule; 0 = none).
    lr_warmup_steps: int = 0
    steps_per_epoch: int = 0
    # Stop after the epoch during which this many minutes of training passed (0 = no limit).
    max_train_minutes: float = 0.0
    mixed_precision: bool = False
    distribution_strategy: str = "default"
    # Split the CPU into this many logical devices before TensorFlow starts
    # (0 = leave it whole), so "mirrored" can be tried on a machine without
    # GPUs: each logical CPU is one replica (README, "Distributed training").
    logical_cpu_devices: int = 0
    verbose: int = 1
    # Language modeling: "stream" (truncated BPTT over the running text, state
    # carried across windows of bptt_length) or "sentence" (one padded line
    # per example); "" = the task's default. Per-epoch validation uses
    # eval_streams parallel streams. (Learning-rate decay on plateau: see
    # lr_decay_patience / lr_decay_factor above.)
    mode: str = used_by("language_model", default="")
    bptt_length: int = used_by("language_model", "pretrain", default=35)
    eval_streams: int = used_by("language_model", default=10)


@dataclass
class ExportConfig:
    output_dir: str = ""
    formats: list = field(default_factory=lambda: ["keras", "saved_model", "tflite"])
    # Written by default: the variants a CPU app picks from. "full_int8" (int8
    # activations too, for integer-only accelerators) is opt-in: it calibrates
    # on the first `calibration_examples` training examples (so export reads
    # the train split), and on a CPU it ran slower than dynamic_int8 for the
    # LSTM models (BENCHMARKS.md, "Mobile deployment").
    tflite_quantization: list = field(default_factory=lambda: ["float32", "float16", "dynamic_int8"])
    calibration_examples: int = 100
    verify: bool = True
    # Characters of each text the string-in SavedModel signatures read; a
    # longer text is cut there and flagged in the `truncated` output. 0 = the
    # task's default (`Task.default_max_input_chars`).
    max_input_chars: int = 0


@dataclass
class PipelineConfig:
    name: str = ""
    task: str = ""
    output_dir: str = ""
    data: DataConfig = field(default_factory=DataConfig)
    text: TextConfig = field(default_factory=TextConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    export: ExportConfig = field(default_factory=ExportConfig)
    pretrain: PretrainConfig = used_by("pretrain", default_factory=PretrainConfig)

    def run_dir(self) -> Path:
        return Path(self.output_dir or os.path.join("runs", self.name or self.task))

    def export_dir(self) -> Path:
        return Path(self.export.output_dir or os.path.join("saved_models", self.name or self.task))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def validate_values(self) -> None:
        """Raises a ValueError naming the field for a value no run can use (checked before any data is read)."""
        checks = [
            ("train.epochs", self.train.epochs, lambda v: v >= 1, "an integer >= 1"),
            ("train.batch_size", self.train.batch_size, lambda v: v >= 1, "an integer >= 1"),
            ("train.learning_rate", self.train.learning_rate, lambda v: v > 0, "a number > 0"),
            ("train.clipnorm", self.train.clipnorm, lambda v: v >= 0, "a number >= 0 (0 = no clipping)"),
            ("train.max_train_minutes", self.train.max_train_minutes, lambda v: v >= 0, "a number >= 0 (0 = no limit)"),
            ("train.steps_per_epoch", self.train.steps_per_epoch, lambda v: v >= 0, "an integer >= 0 (0 = the whole data)"),
            ("train.logical_cpu_devices", self.train.logical_cpu_devices, lambda v: 0 <= v <= 64, "an integer in [0, 64] (0 = the CPU as one device)"),
            ("export.max_input_chars", self.export.max_input_chars, lambda v: v >= 0, "an integer >= 0 (0 = the task's default)"),
            ("data.train_fraction", self.data.train_fraction, lambda v: 0 < v <= 1, "a fraction in (0, 1]"),
        ]
        probability = (lambda v: 0 <= v < 1, "a probability in [0, 1)")
        for field_path, value in (
            ("model.dropout", self.model.dropout),
            ("model.unknown_word_dropout", self.model.unknown_word_dropout),
            ("model.label_smoothing", self.model.label_smoothing),
            ("model.decoder.dropout", self.model.decoder.dropout),
            ("model.encoder.dropout", self.model.encoder.dropout),
            ("model.encoder.embedding_dropout", self.model.encoder.embedding_dropout),
            ("model.encoder.recurrent_dropout", self.model.encoder.recurrent_dropout),
            ("model.encoder.weight_drop", self.model.encoder.weight_drop),
        ):
            checks.append((field_path, value, *probability))
        sources = getattr(self, "explicit_keys", {})
        for field_path, value, is_valid, expected in checks:
            if not is_valid(value):
                where = sources.get(field_path, "config")
                raise ValueError(f"{where}: '{field_path}' must be {expected}, got {value!r}")

    def validate_for_task(self, task: str) -> None:
        """Raises a ValueError naming the field, its source and the task for a set field the task does not read.

        Only the keys given in the config files and `--set` are checked (the
        defaults of other tasks' fields are harmless): an NER config with
        `model.beam_size` is an error, not a silently ignored option.
        """
        for path, source in sorted(getattr(self, "explicit_keys", {}).items()):
            owner = type(self)
            for depth, name in enumerate(path.split(".")):
                fields = {item.name: item for item in dataclasses.fields(owner)} if dataclasses.is_dataclass(owner) else {}
                if name not in fields:
                    break
                tasks = fields[name].metadata.get(TASKS_METADATA)
                if tasks and task not in tasks:
                    field_path = ".".join(path.split(".")[: depth + 1])
                    raise ValueError(
                        f"{source}: '{path}' is not used by task {task!r} ('{field_path}' is read only by "
                        f"{', '.join(tasks)}); remove it from the config"
                    )
                owner = typing.get_type_hints(owner)[name]


def deep_merge(base: dict, update: dict, sources: dict, source: str, prefix: str = "") -> dict:
    """Merges `update` into a copy of `base`, recording each leaf's source."""
    merged = dict(base)
    for key, value in update.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value, sources, source, path + ".")
        else:
            merged[key] = value
            sources[path] = source
            if isinstance(value, dict):
                _record_sources(value, sources, source, path + ".")
    return merged


def _record_sources(mapping: dict, sources: dict, source: str, prefix: str) -> None:
    for key, value in mapping.items():
        sources[f"{prefix}{key}"] = source
        if isinstance(value, dict):
            _record_sources(value, sources, source, f"{prefix}{key}.")


def read_yaml(path: str | os.PathLike) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"config file not found: {path}")
    try:
        with open(path, encoding="utf-8") as handle:
            content = yaml.safe_load(handle)
    except yaml.YAMLError as error:
        raise ValueError(f"{path}: not valid YAML: {error}") from error
    if content is None:
        return {}
    if not isinstance(content, dict):
        raise ValueError(f"{path}: the top level must be a mapping of sections, got {type(content).__name__}")
    return content


def parse_override(override: str) -> tuple[list[str], Any]:
    """Parses `a.b.c=value`; the value is read as YAML (so `3`, `true`, `[1, 2]` work)."""
    if "=" not in override:
        raise ValueError(f"{OVERRIDE_SOURCE} {override!r}: expected key.path=value")
    key, raw_value = override.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ValueError(f"{OVERRIDE_SOURCE} {override!r}: empty key")
    try:
        value = yaml.safe_load(raw_value) if raw_value.strip() else ""
    except yaml.YAMLError as error:
        raise ValueError(f"{OVERRIDE_SOURCE} {override!r}: value is not valid YAML: {error}") from error
    return key.split("."), value


def _nest(keys: list[str], value: Any) -> dict:
    nested: Any = value
    for key in reversed(keys):
        nested = {key: nested}
    return nested


def load_config(paths: list[str | os.PathLike], overrides: list[str] | None = None) -> PipelineConfig:
    """Loads, merges and validates a pipeline configuration."""
    if not paths:
        raise ValueError("at least one config file is required (-c pipelines/NAME.yaml)")
    merged: dict = {}
    sources: dict = {}
    for path in paths:
        merged = deep_merge(merged, read_yaml(path), sources, str(path))
    for override in overrides or []:
        keys, value = parse_override(override)
        merged = deep_merge(merged, _nest(keys, value), sources, f"{OVERRIDE_SOURCE} {override}")
    config = from_dict(PipelineConfig, merged, sources)
    # The keys the user set, with where each came from: `validate_for_task` checks them.
    config.explicit_keys = dict(sources)
    return config


def from_dict(cls: type, data: dict, sources: dict | None = None, prefix: str = ""):
    """Builds dataclass `cls` from `data`, rejecting unknown keys and wrong types."""
    sources = sources or {}
    if not isinstance(data, dict):
        where = sources.get(prefix.rstrip("."), "config")
        raise ValueError(f"{where}: '{prefix.rstrip('.')}' must be a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if key not in known:
            where = sources.get(path, "config")
            raise ValueError(
                f"{where}: unknown config key '{path}'. Known keys in "
                f"'{prefix.rstrip('.') or 'top level'}': {', '.join(sorted(known))}"
            )
        kwargs[key] = _coerce(hints[key], value, path, sources.get(path, "config"), sources)
    return cls(**kwargs)


def _coerce(hint: Any, value: Any, path: str, source: str, sources: dict) -> Any:
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, sources, path + ".")
    origin = typing.get_origin(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        return value
    expected = origin or hint
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if expected is bool and not isinstance(value, bool):
        raise ValueError(f"{source}: '{path}' must be true or false, got {value!r}")
    if expected is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ValueError(f"{source}: '{path}' must be an integer, got {value!r}")
    if expected in (float, str, list, dict) and not isinstance(value, expected):
        raise ValueError(f"{source}: '{path}' must be of type {expected.__name__}, got {value!r}")
    return value


def write_config(config: PipelineConfig, path: str | os.PathLike) -> None:
    """Writes the resolved config, so every run records exactly what it used."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(config.to_dict(), handle, sort_keys=False)
