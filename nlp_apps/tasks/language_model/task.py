"""Language-modeling pipeline: train, evaluate (perplexity / bits per character), generate and export.

Training modes (`train.mode`):

* `stream` (default): truncated backpropagation through time. Each split is
  one running text (`<eos>` after every line at word level), cut into
  `train.batch_size` parallel streams and read in windows of
  `train.bptt_length`; the hidden state is carried from window to window
  and reset at every epoch start. The state lives in variables outside the
  model's weights that `LanguageModel.train_step` reads and updates, so the
  standard `model.fit` loop and callbacks are used unchanged (see
  `LanguageModel`).
* `sentence`: every line is one example (`start`, tokens, end of line),
  padded and bucketed by length, each from a zero state.

Validation perplexity (`val_perplexity`) is computed after every epoch, in
the same mode, and drives the kept checkpoint, early stopping and the
plateau learning-rate decay (`train.lr_decay_patience`,
`train.lr_decay_factor`). `evaluate` computes stream perplexity the
standard way: one stream (batch 1), state carried over the whole split,
every token including `<eos>` predicted once; for char models it also
reports bits per character.
"""

import json
import time

import keras
import tensorflow as tf

from nlp_apps.config import PipelineConfig
from nlp_apps.data.batching import make_batches
from nlp_apps.data.files import check_utf8, open_text, resolve_data_path
from nlp_apps.data.sample_data import resolve_data_dir
from nlp_apps.data.token_stream import contiguous_split, stream_dataset
from nlp_apps.encoders.registry import build_encoder
from nlp_apps.metrics.perplexity import bits_per_character, perplexity, stream_negative_log_likelihood
from nlp_apps.tasks.language_model import LanguageModel, masked_token_losses
from nlp_apps.tasks.language_model_inference import LanguageModelInference
from nlp_apps.tasks.language_model_preprocessor import LanguageModelPreprocessor
from nlp_apps.training.callbacks import build_callbacks
from nlp_apps.training.distribution import get_strategy, set_precision_policy
from nlp_apps.training.fit import bucketed_batches, fit_timed
from nlp_apps.training.optimizers import build_optimizer
from nlp_apps.training.run_directory import prepare_run_dir, require_trained_model

ASSETS_DIR = "assets"
MODES = ("stream", "sentence")
GENERATION_DEFAULTS = {"max_length": 50, "temperature": 1.0, "top_k": 0, "top_p": 1.0, "seed": 1234}


# ----------------------------------------------------------------------------- data


def training_mode(config: PipelineConfig) -> str:
    mode = config.train.mode or "stream"
    if mode not in MODES:
        raise ValueError(f"train.mode: unknown {mode!r} for language modeling; choose one of {', '.join(MODES)}")
    return mode


def _read_lines(path) -> list[str]:
    check_utf8(path)
    with open_text(path) as handle:
        return [line.rstrip("\n").rstrip("\r") for line in handle]


def read_splits(config: PipelineConfig) -> dict:
    """Lines of train / dev / test.

    With only `data.train` given (a corpus without a split, e.g.
    tinyshakespeare), dev and test are contiguous held-out blocks drawn with
    `data.split_seed` (see `contiguous_split`).
    """
    data = config.data
    if data.hub_name:
        raise ValueError("data.hub_name: not supported for language_model; give data.train (and dev, test) files")
    if not data.train:
        raise ValueError("data.train: no training file given")
    data_dir = resolve_data_dir(data.data_dir)
    lines = {"train": _read_lines(resolve_data_path(data.train, data_dir))}
    if not data.dev and not data.test:
        lines["train"], lines["dev"], lines["test"] = contiguous_split(
            lines["train"], data.dev_fraction, data.test_fraction, data.split_seed
        )
    else:
        for split in ("dev", "test"):
            name = getattr(data, split)
            if not name:
                raise ValueError(f"data.{split}: no file given (give both dev and test, or neither to split data.train)")
            lines[split] = _read_lines(resolve_data_path(name, data_dir))
    if data.max_train_examples > 0:
        lines["train"] = lines["train"][: data.max_train_examples]
    return lines


def build_preprocessor(config: PipelineConfig, train_lines: list[str]) -> LanguageModelPreprocessor:
    text = config.text
    return LanguageModelPreprocessor.build(
        text.tokenizer,
        train_lines,
        max_vocabulary_size=text.max_vocabulary_size,
        min_frequency=text.min_frequency,
        sentencepiece_vocabulary_size=text.sentencepiece_vocabulary_size,
        seed=config.train.seed,
    )


def sentence_examples(preprocessor: LanguageModelPreprocessor, lines: list[str], max_length: int = 0) -> dict:
    """Ragged `inputs` / `targets` per non-blank line (targets = inputs shifted by one)."""
    lines = [line for line in lines if line.strip()]
    ids = preprocessor.encode_lines(lines)
    if max_length > 0:
        ids = ids[:, : max_length + 1]
    return {"inputs": tf.cast(ids[:, :-1], tf.int32), "targets": tf.cast(ids[:, 1:], tf.int32)}


def sentence_batches(config: PipelineConfig, examples: dict, shuffle: bool):
    batches = bucketed_batches(config.train, examples, "inputs", shuffle)
    return batches.map(lambda batch: (batch["inputs"], batch["targets"]))


def sentence_negative_log_likelihood(model: LanguageModel, examples: dict, batch_size: int = 64):
    """Total nll and number of predicted tokens, every line from a zero state."""

    @tf.function(reduce_retracing=True)
    def batch_nll(inputs, targets):
        losses, weights = masked_token_losses(targets, model(inputs, training=False))
        return tf.reduce_sum(losses), tf.reduce_sum(weights)

    total, count = 0.0, 0.0
    batches = make_batches(examples, batch_size=batch_size, length_key="inputs")
    for batch in batches:
        nll, weight = batch_nll(batch["inputs"], batch["targets"])
        total += float(nll)
        count += float(weight)
    return total, int(round(count))


# ----------------------------------------------------------------------------- model


def build_model(config: PipelineConfig, vocabulary_size: int) -> LanguageModel:
    if config.model.encoder.bidirectional:
        raise ValueError("model.encoder.bidirectional: must be false for a language model (it predicts the next token)")
    encoder = build_encoder(config.model.encoder, vocabulary_size=vocabulary_size, return_state=True)
    return LanguageModel(
        encoder, tie_weights=config.model.tie_weights, dropout=config.model.dropout, num_sampled=config.model.sampled_softmax
    )


class ResetStreamState(keras.callbacks.Callback):
    """Zeroes the carried hidden state at every epoch start (each epoch reads the streams from their start)."""

    def on_epoch_begin(self, epoch, logs=None):
        self.model.reset_stream_state()


class ValidationPerplexity(keras.callbacks.Callback):
    """Adds `val_perplexity` to the epoch logs and records perplexity against training time.

    Listed before the checkpoint, early-stopping and learning-rate callbacks
    so they can monitor it.
    """

    def __init__(self, measure):
        super().__init__()
        self.measure = measure
        self.curve = []
        self.started = None
        self.validation_seconds = 0.0

    def on_train_begin(self, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        measure_started = time.perf_counter()
        total, count = self.measure(self.model)
        self.validation_seconds += time.perf_counter() - measure_started
        value = perplexity(total, count)
        self.curve.append({"epoch": epoch + 1, "seconds": time.perf_counter() - self.started, "valid_perplexity": value})
        if logs is not None:
            logs["val_perplexity"] = value
        print(f"\nepoch {epoch + 1}: validation perplexity {value:.2f}")


def train(config: PipelineConfig, resume: bool = False) -> dict:
    set_precision_policy(config.train)
    keras.utils.set_random_seed(config.train.seed)
    mode = training_mode(config)
    run_dir = prepare_run_dir(config, resume)
    lines = read_splits(config)
    assets_dir = run_dir / ASSETS_DIR
    if resume:
        preprocessor = LanguageModelPreprocessor.load(assets_dir)
    else:
        preprocessor = build_preprocessor(config, lines["train"])
        preprocessor.save(assets_dir)
    train_config = config.train

    if mode == "stream":
        train_ids = preprocessor.encode_stream(lines["train"])
        dev_ids = preprocessor.encode_stream(lines["dev"])
        dataset = stream_dataset(train_ids, train_config.batch_size, train_config.bptt_length)
        if train_config.steps_per_epoch:
            dataset = dataset.take(train_config.steps_per_epoch)
        train_tokens = int(dataset.cardinality()) * train_config.batch_size * train_config.bptt_length
        measure = lambda model: stream_negative_log_likelihood(  # noqa: E731
            model, dev_ids, num_streams=train_config.eval_streams, window_length=train_config.bptt_length
        )
    else:
        train_examples = sentence_examples(preprocessor, lines["train"], config.text.max_length)
        dev_examples = sentence_examples(preprocessor, lines["dev"], config.text.max_length)
        dataset = sentence_batches(config, train_examples, shuffle=True)
        if train_config.steps_per_epoch:
            dataset = dataset.take(train_config.steps_per_epoch)
        train_tokens = int(train_examples["inputs"].row_lengths().numpy().sum())
        measure = lambda model: sentence_negative_log_likelihood(model, dev_examples)  # noqa: E731

    strategy = get_strategy(train_config.distribution_strategy)
    if mode == "stream" and train_config.distribution_strategy != "default":
        raise ValueError(
            "train.distribution_strategy: stream mode (carried state) supports only 'default'; use train.mode: sentence"
        )
    with strategy.scope():
        model = build_model(config, preprocessor.vocabulary_size)
        # Built up front: BackupAndRestore needs the variables before fit() starts.
        model.build((None, None))
        model.compile(optimizer=build_optimizer(train_config))
    validation = ValidationPerplexity(measure)
    callbacks = [validation]
    if mode == "stream":
        model.start_streaming(train_config.batch_size)
        callbacks.insert(0, ResetStreamState())
    # Checkpoint, early stopping and plateau learning-rate decay all monitor val_perplexity.
    callbacks += build_callbacks(run_dir, train_config, resume, monitor="val_perplexity", mode="min")
    history, seconds = fit_timed(model, train_config, dataset.prefetch(tf.data.AUTOTUNE), callbacks)
    model.stop_streaming()
    epochs_run = len(history.epoch)
    summary = {
        "mode": mode,
        "tokenizer": preprocessor.level,
        "vocabulary_size": preprocessor.vocabulary_size,
        "train_seconds": seconds,
        "train_tokens_per_epoch": train_tokens,
        "epochs_run": epochs_run,
        "best_valid_perplexity": min(history.history.get("val_perplexity", [float("inf")])),
        "valid_perplexity_curve": validation.curve,
        # Includes the per-epoch validation, as a user's training run does.
        "tokens_per_s": train_tokens * epochs_run / seconds,
        "validation_seconds": validation.validation_seconds,
        "tokens_per_s_without_validation": train_tokens * epochs_run / max(seconds - validation.validation_seconds, 1e-9),
    }
    (run_dir / "train_summary.json").write_text(json.dumps(summary, indent=2))
    print(f"trained in {seconds:.1f} s; best model: {run_dir / 'best.keras'}")
    return summary


# ----------------------------------------------------------------------------- inference


def load_trained(config: PipelineConfig):
    model = keras.saving.load_model(require_trained_model(config))
    preprocessor = LanguageModelPreprocessor.load(config.run_dir() / ASSETS_DIR)
    return model, preprocessor


def evaluate(config: PipelineConfig, split: str = "test") -> dict:
    """Perplexity on a split (stream mode: one stream, state carried over the whole split)."""
    if split not in ("train", "dev", "test"):
        raise ValueError(f"--split: unknown {split!r}; choose train, dev or test")
    model, preprocessor = load_trained(config)
    lines = read_splits(config)[split]
    mode = training_mode(config)
    if mode == "stream":
        ids = preprocessor.encode_stream(lines)
        total, count = stream_negative_log_likelihood(model, ids, num_streams=1, window_length=config.train.bptt_length)
    else:
        total, count = sentence_negative_log_likelihood(model, sentence_examples(preprocessor, lines, config.text.max_length))
    scores = {
        "split": split,
        "mode": mode,
        "tokenizer": preprocessor.level,
        "perplexity": perplexity(total, count),
        "negative_log_likelihood": total,
        "num_tokens": count,
    }
    if preprocessor.level == "char":
        scores["bits_per_character"] = bits_per_character(total, count)
    message = f"{split}: perplexity {scores['perplexity']:.2f} over {count} tokens"
    if "bits_per_character" in scores:
        message += f", {scores['bits_per_character']:.3f} bits per character"
    print(message)
    (config.run_dir() / f"eval_{split}.json").write_text(json.dumps(scores, indent=2))
    return scores


def generate_texts(inference: LanguageModelInference, prompts: list[str], **options) -> list[str]:
    options = {**GENERATION_DEFAULTS, **{key: value for key, value in options.items() if value is not None}}
    unknown = sorted(set(options) - set(GENERATION_DEFAULTS))
    if unknown:
        raise ValueError(f"predict: unknown generation option(s) {', '.join(unknown)}")
    if options["max_length"] < 0 or options["temperature"] < 0 or options["top_k"] < 0 or not 0 < options["top_p"] <= 1:
        raise ValueError(f"predict: need max_length >= 0, temperature >= 0, top_k >= 0 and 0 < top_p <= 1, got {options}")
    # One traced graph per inference object, whatever the prompts and options.
    if not hasattr(inference, "generate_function"):
        inference.generate_function = tf.function(inference.generate, reduce_retracing=True)
    outputs = inference.generate_function(
        tf.constant(prompts, tf.string),
        tf.constant(options["max_length"], tf.int32),
        tf.constant(options["temperature"], tf.float32),
        tf.constant(options["top_k"], tf.int32),
        tf.constant(options["top_p"], tf.float32),
        tf.constant(options["seed"], tf.int64),
    )
    return [text.decode("utf-8") for text in outputs["text"].numpy()]


def predict(
    config: PipelineConfig,
    texts: list[str],
    output_format: str = "text",
    max_length: int | None = None,
    temperature: float | None = None,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int | None = None,
) -> list[dict]:
    """Continues every prompt (None options take `GENERATION_DEFAULTS`; temperature 0 = greedy)."""
    model, preprocessor = load_trained(config)
    inference = LanguageModelInference(model, preprocessor)
    continuations = generate_texts(
        inference, texts, max_length=max_length, temperature=temperature, top_k=top_k, top_p=top_p, seed=seed
    )
    results = [{"prompt": prompt, "continuation": continuation} for prompt, continuation in zip(texts, continuations)]
    for result in results:
        if output_format == "json":
            print(json.dumps(result, ensure_ascii=False))
        else:
            print(f"{result['prompt']} -> {result['continuation']}")
    return results


def export(config: PipelineConfig) -> dict:
    from nlp_apps.tasks.language_model_export import export_language_model

    model, preprocessor = load_trained(config)
    return export_language_model(config, model, preprocessor)
