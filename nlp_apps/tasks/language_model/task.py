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

import time

import keras
import numpy as np
import tensorflow as tf

from nlp_apps.config import PipelineConfig
from nlp_apps.data.batching import make_batches
from nlp_apps.data.files import check_utf8, open_text, resolve_data_path
from nlp_apps.data.sample_data import resolve_data_dir
from nlp_apps.data.token_stream import contiguous_split, stream_dataset
from nlp_apps.encoders.registry import build_encoder
from nlp_apps.metrics.perplexity import bits_per_character, perplexity, stream_negative_log_likelihood
from nlp_apps.metrics.token_losses import masked_token_losses
from nlp_apps.tasks.base import Task, TFLiteExport, TrainingInputs
from nlp_apps.tasks.language_model import export as language_model_export
from nlp_apps.tasks.language_model.inference import LanguageModelInference
from nlp_apps.tasks.language_model.model import LanguageModel
from nlp_apps.tasks.language_model.preprocessor import LanguageModelPreprocessor
from nlp_apps.training.fit import bucketed_batches

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
        self.seconds_before = 0.0

    def resumable_state(self) -> dict:
        return {"curve": self.curve, "validation_seconds": self.validation_seconds}

    def restore_state(self, state: dict) -> None:
        self.curve = list(state["curve"])
        self.validation_seconds = float(state["validation_seconds"])
        self.seconds_before = self.curve[-1]["seconds"] if self.curve else 0.0

    def on_train_begin(self, logs=None):
        self.started = time.perf_counter() - self.seconds_before

    def on_epoch_end(self, epoch, logs=None):
        measure_started = time.perf_counter()
        total, count = self.measure(self.model)
        self.validation_seconds += time.perf_counter() - measure_started
        value = perplexity(total, count)
        self.curve.append({"epoch": epoch + 1, "seconds": time.perf_counter() - self.started, "valid_perplexity": value})
        if logs is not None:
            logs["val_perplexity"] = value
        print(f"\nepoch {epoch + 1}: validation perplexity {value:.2f}")


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


# ----------------------------------------------------------------------------- the task


class LanguageModelTask(Task):
    name = "language_model"
    preprocessor_class = LanguageModelPreprocessor
    monitor = "val_perplexity"
    monitor_mode = "min"
    predict_options = ("max_length", "temperature", "top_k", "top_p", "seed")
    accepts_artifacts = True

    def __init__(self, config):
        super().__init__(config)
        self.mode = training_mode(config)

    # ---------------------------------------------------------------- data and model

    def read_training_data(self):
        lines = read_splits(self.config)
        return lines["train"], lines["dev"]

    def read_split(self, split: str):
        if split not in ("train", "dev", "test"):
            raise ValueError(f"--split: unknown {split!r}; choose train, dev or test")
        return read_splits(self.config)[split]

    def build_preprocessor(self, train_lines) -> LanguageModelPreprocessor:
        text = self.config.text
        if self.artifact is not None:
            return self.preprocessor_from_artifact(train_lines)
        return LanguageModelPreprocessor.from_training_data(
            text.tokenizer,
            train_lines,
            max_vocabulary_size=text.max_vocabulary_size,
            min_frequency=text.min_frequency,
            sentencepiece_vocabulary_size=text.sentencepiece_vocabulary_size,
            seed=self.config.train.seed,
        )

    def preprocessor_from_artifact(self, train_lines) -> LanguageModelPreprocessor:
        """A word-level preprocessor on a forward, word-feature-only artifact's vocabulary (`<eos>` gets a new row)."""
        artifact, text = self.artifact, self.config.text
        if text.tokenizer != "word":
            raise ValueError(f"text.tokenizer: {text.tokenizer!r}; a language model starts from an encoder artifact at word level only")
        if artifact.encoder_config["bidirectional"]:
            raise ValueError(
                f"model.encoder.pretrained: {artifact.path} was pretrained bidirectional; a language model needs a "
                "forward encoder (pretrain with pretrain.direction: forward)"
            )
        if artifact.encoder_config["char_embedding_dim"] or artifact.encoder_config["case_embedding_dim"]:
            raise ValueError(f"model.encoder.pretrained: {artifact.path} uses character or casing features; a language model reads word ids only")
        return LanguageModelPreprocessor.from_artifact(
            artifact, train_lines, new_words=self.config.model.encoder.new_word_embeddings,
            max_vocabulary_size=text.max_vocabulary_size, min_frequency=text.min_frequency,
        )

    def encoder_vocabulary(self, preprocessor):
        return preprocessor.vocabulary.tokens if preprocessor.level == "word" else None

    def prepare_training(self, preprocessor, train_lines, dev_lines) -> TrainingInputs:
        train_config = self.config.train
        if self.mode == "stream":
            if train_config.distribution_strategy != "default":
                raise ValueError(
                    f"train.distribution_strategy: {train_config.distribution_strategy!r} cannot train train.mode: stream. "
                    "Stream mode carries each of the batch's streams' hidden state from one window to the next in the "
                    "model's state variables; a strategy splits every batch across replicas, so each replica would "
                    "carry on from another replica's streams. Use train.mode: sentence (independent lines: any "
                    "strategy), or train stream mode on one device (strategy 'default', a GPU if you have one)."
                )
            dev_ids = preprocessor.encode_stream(dev_lines)
            dataset = stream_dataset(preprocessor.encode_stream(train_lines), train_config.batch_size, train_config.bptt_length)
            if train_config.steps_per_epoch:
                dataset = dataset.take(train_config.steps_per_epoch)
            train_tokens = int(dataset.cardinality()) * train_config.batch_size * train_config.bptt_length
            measure = lambda model: stream_negative_log_likelihood(  # noqa: E731
                model, dev_ids, num_streams=train_config.eval_streams, window_length=train_config.bptt_length
            )
        else:
            max_length = self.config.text.max_length
            train_examples = sentence_examples(preprocessor, train_lines, max_length)
            dev_examples = sentence_examples(preprocessor, dev_lines, max_length)
            dataset = sentence_batches(self.config, train_examples, shuffle=True)
            if train_config.steps_per_epoch:
                dataset = dataset.take(train_config.steps_per_epoch)
            train_tokens = int(train_examples["inputs"].row_lengths().numpy().sum())
            measure = lambda model: sentence_negative_log_likelihood(model, dev_examples)  # noqa: E731
        validation = ValidationPerplexity(measure)
        callbacks = ([ResetStreamState()] if self.mode == "stream" else []) + [validation]
        facts = {"train_tokens_per_epoch": train_tokens, "validation": validation}
        return TrainingInputs(dataset.prefetch(tf.data.AUTOTUNE), callbacks=callbacks, facts=facts)

    def build_model(self, preprocessor) -> LanguageModel:
        model_config = self.config.model
        if model_config.encoder.bidirectional:
            raise ValueError("model.encoder.bidirectional: must be false for a language model (it predicts the next token)")
        encoder = build_encoder(model_config.encoder, vocabulary_size=preprocessor.vocabulary_size, return_state=True)
        return LanguageModel(
            encoder, tie_weights=model_config.tie_weights, dropout=model_config.dropout, num_sampled=model_config.sampled_softmax
        )

    def build_variables(self, model) -> None:
        model.build((None, None))

    def before_fit(self, model, inputs) -> None:
        if self.mode == "stream":
            model.start_streaming(self.config.train.batch_size)

    def after_fit(self, model) -> None:
        model.stop_streaming()

    def training_summary(self, history, seconds, inputs, preprocessor) -> dict:
        validation = inputs.facts["validation"]
        train_tokens = inputs.facts["train_tokens_per_epoch"]
        epochs_run = len(history.epoch)
        return {
            "mode": self.mode,
            "tokenizer": preprocessor.level,
            "vocabulary_size": preprocessor.vocabulary_size,
            "train_tokens_per_epoch": train_tokens,
            "best_valid_perplexity": min(history.history.get("val_perplexity", [float("inf")])),
            "valid_perplexity_curve": validation.curve,
            # Includes the per-epoch validation, as a user's training run does.
            "tokens_per_s": train_tokens * epochs_run / seconds,
            "validation_seconds": validation.validation_seconds,
            "tokens_per_s_without_validation": train_tokens * epochs_run / max(seconds - validation.validation_seconds, 1e-9),
        }

    # ---------------------------------------------------------------- inference

    def inference(self, model, preprocessor) -> LanguageModelInference:
        return LanguageModelInference(model, preprocessor)

    def evaluate_run(self, run, split: str, **options) -> dict:
        """Perplexity on a split (stream mode: one stream, state carried over the whole split)."""
        lines = self.read_split(split)
        preprocessor, mode = run.preprocessor, training_mode(run.config)
        if mode == "stream":
            ids = preprocessor.encode_stream(lines)
            total, count = stream_negative_log_likelihood(run.model, ids, num_streams=1, window_length=run.config.train.bptt_length)
        else:
            examples = sentence_examples(preprocessor, lines, run.config.text.max_length)
            total, count = sentence_negative_log_likelihood(run.model, examples)
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
        return scores

    def predict_run(self, run, texts: list[str], **options) -> list[dict]:
        """Continues every prompt (None options take `GENERATION_DEFAULTS`; temperature 0 = greedy)."""
        continuations = generate_texts(run.inference, texts, **options)
        return [{"prompt": prompt, "continuation": continuation} for prompt, continuation in zip(texts, continuations)]

    def format_prediction(self, result: dict, output_format: str) -> str:
        if output_format == "text":
            return f"{result['prompt']} -> {result['continuation']}"
        return super().format_prediction(result, output_format)

    # ---------------------------------------------------------------- export

    def export_info(self, run) -> dict:
        preprocessor = run.preprocessor
        return {
            "tokenizer": preprocessor.level,
            "vocabulary_size": preprocessor.vocabulary_size,
            "start_id": preprocessor.start_id,
            "eos_id": preprocessor.eos_id,
            "tflite_state_inputs": [f"state_{index}" for index in range(len(run.model.state_sizes))],
        }

    def serving_module(self, run):
        module = language_model_export.LanguageModelServing(run.model, run.preprocessor)
        module.max_input_chars = self.max_input_chars(run)
        return module, {"generate": module.generate_signature, "score": module.score_signature}

    def saved_model_checks(self) -> dict:
        texts = np.array(language_model_export.VERIFICATION_TEXTS, dtype=object)
        arguments = language_model_export.GENERATE_ARGUMENTS
        generate_inputs = {
            "prompt": texts,
            "max_length": np.int32(arguments["max_length"]),
            "temperature": np.float32(arguments["temperature"]),
            "top_k": np.int32(arguments["top_k"]),
            "top_p": np.float32(arguments["top_p"]),
            "seed": np.int64(arguments["seed"]),
        }
        return {"score": ({"text": texts}, 1e-4), "generate": (generate_inputs, 0)}

    def tflite_export(self, run) -> TFLiteExport:
        def inputs_for_text(text):
            return language_model_export.step_inputs(run.model, run.preprocessor, text)

        inputs = inputs_for_text(language_model_export.VERIFICATION_TEXTS[0])
        function = language_model_export.tflite_step_function(run.model, run.preprocessor.token_strings())
        return TFLiteExport(function, "step", inputs, inputs_for_text)

    def calibration_texts(self, limit: int) -> list[str]:
        # Step inputs after a prefix of each line: the states an app feeds back.
        lines = [line for line in self.read_split("train") if line.strip()][:limit]
        return [" ".join(line.split()[:30]) for line in lines]

    def tflite_check(self, quantization: str, expected: dict):
        # The float model must match closely; quantized ones are checked on their
        # decision (the most likely next token), as their logits move a little.
        if quantization == "float32":
            return expected, 1e-4
        return {"next_token": expected["next_token"]}, 0
