"""The Task contract: the train / evaluate / predict / export flow written once, with hooks per task.

A task (NER, sentiment, translation, language modeling) is a subclass of
`Task` in its own package, `nlp_apps/tasks/<name>/task.py`, beside its
`model.py`, `preprocessor.py` and `export.py`. The base class owns
everything that is the same for every task:

- **train**: precision policy and seed, the run directory, the preprocessor
  (built from the training data, or loaded on `--resume`) saved under
  `assets/`, the distribution-strategy scope around building and compiling
  the model, the standard callbacks (checkpoints, resume, TensorBoard,
  learning-rate schedule, time budget) after the task's dev-metric
  callbacks, the budgeted `fit`, and `train_summary.json`;
- **load_trained**: the best model, the preprocessor saved with it, and
  the run's own resolved config (so predict and export describe the model
  that was trained, whatever config is given later);
- **evaluate**: scores of a split written to `eval_<name>.json`;
- **predict**: the output loop over the task's formats;
- **export**: the loop over `export.formats` (`.keras`, SavedModel with the
  task's signatures, TFLite per quantization), fresh-process verification of
  each artifact, and one manifest schema (`ExportManifest`).

A task implements the hooks below (`NotImplementedError` in the base); the
shape follows OpenNMT-tf's `Model` (`serve_function`, `tflite_function`,
`format_prediction`) and tf-models' `base_task.py` (`build_model`,
`build_inputs`), trimmed to what these tasks need. Adding a task is a folder
with those four files and one line in `nlp_apps/tasks/registry.py`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import tempfile
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
import yaml

from nlp_apps.config import PipelineConfig, from_dict
from nlp_apps.export.exporter import (
    STATEFUL_TFLITE_NOTE,
    ExportManifest,
    _library_versions,
    _utc_now,
    export_keras,
    export_tflite,
    prepare_export_dir,
    tflite_op_census,
    write_saved_model,
    write_tflite_sidecar,
)
from nlp_apps.export.model_card import describe_signatures, write_model_card
from nlp_apps.export.serving_warmup import write_warmup_requests
from nlp_apps.export.versions import new_version_dir
from nlp_apps.export.mobile_rnn import trace_for_tflite
from nlp_apps.export.verify import verify_saved_model, verify_tflite
from nlp_apps.training.callbacks import build_callbacks
from nlp_apps.training.resume import apply_resumed_overrides, check_resume_overrides, write_json_atomically
from nlp_apps.training.distribution import configure_logical_cpus, get_strategy, set_precision_policy
from nlp_apps.training.fit import fit_timed
from nlp_apps.encoders.artifact import EncoderArtifact, apply_artifact, initialize_encoder
from nlp_apps.encoders.word_vectors import load_word_vectors
from nlp_apps.training.fine_tuning import (
    GradualUnfreezing,
    check_fine_tuning,
    group_scales,
    needs_group_scales,
    variable_groups,
)
from nlp_apps.training.optimizers import build_optimizer
from nlp_apps.training.run_directory import (
    ASSETS_DIR_NAME,
    BEST_MODEL_NAME,
    RESOLVED_CONFIG_NAME,
    TRAIN_SUMMARY_NAME,
    prepare_run_dir,
    require_trained_model,
)

OUTPUT_FORMATS = ("text", "json")
# Predict options whose command-line flag is not the option's name.
OPTION_FLAGS = {"explain_dir": "--explain"}


@dataclasses.dataclass
class TrainingInputs:
    """What a task prepares for `fit`: batches, its dev-metric callbacks and facts for the summary.

    Attributes:
        train_batches: `tf.data.Dataset` of `(inputs, targets)`.
        validation_batches: dataset for Keras' own validation, or None.
        callbacks: the task's callbacks (dev metrics first: the checkpoint and
            early stopping monitor what they log).
        facts: anything `training_summary` needs (token counts, curves).
    """

    train_batches: object
    validation_batches: object = None
    callbacks: list = dataclasses.field(default_factory=list)
    facts: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class TrainedRun:
    """A trained model with the preprocessor and resolved config saved beside it.

    `inference` holds the task's inference object where it has one (the
    translation search, the language model's generator).
    """

    model: object
    preprocessor: object
    config: PipelineConfig
    run_dir: Path
    inference: object = None


@dataclasses.dataclass
class TFLiteExport:
    """A task's TFLite function, its file stem and the inputs its verification runs."""

    function: object
    file_stem: str
    inputs: dict
    # text -> inputs dict (the app's preprocessing); "full_int8" calibrates on
    # it over training texts.
    inputs_for_text: object = None
    # A model beside the task's main one (manifest name
    # "tflite/<file_stem>/<quantization>"), with its own `check`:
    # (quantization, expected) -> (checked outputs, atol) or None.
    companion: bool = False
    check: object = None


class Task:
    """Base class of every task; see the module docstring for what it owns.

    Class attributes a task sets:
        name: the `task:` value of its configs.
        preprocessor_class: has `save(folder)` and classmethod `load(folder)`.
        monitor, monitor_mode: the dev metric the checkpoint keeps the best of.
        output_formats: what `predict --format` offers.
        predict_options: the keyword options `predict` takes (CLI flags).
        evaluation_text_keys: score entries written as text files, not JSON.
        accepts_artifacts: `build_preprocessor` can start from `self.artifact`.
    """

    name = ""
    preprocessor_class = None
    monitor: str | None = None
    monitor_mode = "max"
    output_formats: tuple = OUTPUT_FORMATS
    predict_options: tuple = ()
    evaluation_text_keys: tuple = ()
    # Whether `model.encoder.pretrained` may name an encoder artifact (the task builds its preprocessor from one),
    # and the units that artifact's encoder must read ("word" or "sentencepiece").
    accepts_artifacts = False
    artifact_tokenizer = "word"
    # Characters of each text the string-in signatures read (more is cut and flagged `truncated`),
    # unless export.max_input_chars says otherwise: sized so one request at the limit takes about a
    # second on a CPU core (BENCHMARKS.md, "Reliability").
    default_max_input_chars = 20000

    def __init__(self, config: PipelineConfig):
        config.validate_for_task(self.name)
        config.validate_values()
        check_fine_tuning(config.model.encoder)
        self.config = config
        # The encoder artifact of `model.encoder.pretrained`, loaded by `train`.
        self.artifact: EncoderArtifact | None = None

    # ------------------------------------------------------------------ hooks: data and model

    def read_split(self, split: str):
        """The examples of one split (`train`, `dev`, `test`)."""
        raise NotImplementedError

    def build_preprocessor(self, train_data):
        """The task's preprocessor, built from the training data and the config."""
        raise NotImplementedError

    def prepare_training(self, preprocessor, train_data, dev_data) -> TrainingInputs:
        """Batches, dev-metric callbacks and summary facts for `fit`."""
        raise NotImplementedError

    def build_model(self, preprocessor):
        """The task model (encoder injected), unbuilt."""
        raise NotImplementedError

    def build_variables(self, model) -> None:
        """Creates the model's variables before `fit` (a resumed run loads its checkpoint into them)."""
        raise NotImplementedError

    def compile_model(self, model) -> None:
        model.compile(optimizer=self.build_optimizer(model))

    def encoder_vocabulary(self, preprocessor) -> list | None:
        """The word list whose ids index the encoder's token embedding (word vectors, new rows), or None."""
        return None

    def before_fit(self, model, inputs: TrainingInputs) -> None:
        """Called inside the strategy scope right before `fit` (stream language models start streaming)."""

    def after_fit(self, model) -> None:
        """Called right after `fit`."""

    def training_summary(self, history, seconds: float, inputs: TrainingInputs, preprocessor) -> dict:
        """Task-specific entries of `train_summary.json` (the base adds time and epochs)."""
        return {}

    # ------------------------------------------------------------------ hooks: inference

    def inference(self, model, preprocessor):
        """The task's inference object for a trained model, or None."""
        return None

    def evaluate_run(self, run: TrainedRun, split: str, **options) -> dict:
        """Scores of `split` (JSON-friendly, plus any `evaluation_text_keys`)."""
        raise NotImplementedError

    def evaluation_name(self, split: str, scores: dict) -> str:
        """Stem of the evaluation files: `eval_<name>.json`."""
        return split

    def predict_run(self, run: TrainedRun, texts: list[str], **options) -> list[dict]:
        """One result dict per input text."""
        raise NotImplementedError

    def format_prediction(self, result: dict, output_format: str) -> str:
        """How `predict` prints one result ("json" is the same for every task)."""
        return json.dumps(result, ensure_ascii=False)

    # ------------------------------------------------------------------ hooks: export

    def export_info(self, run: TrainedRun) -> dict:
        """`task_info` of the manifest: what a user of the artifacts needs (labels, shapes)."""
        return {}

    def export_assets(self, run: TrainedRun, export_dir: Path, manifest: ExportManifest) -> None:
        """Writes the files an app needs beside the models, recording them in `manifest`.

        The TFLite models take ids: the app prepares them from the run's own
        preprocessing files (vocabulary, alphabet, label / tag names,
        options), written to `assets/` (atomically) as the run saved them.
        `examples/` holds a reference implementation that reads them.
        """
        # `assets/` may already hold the SavedModel's own assets: add beside them, never over one.
        assets_dir = export_dir / ASSETS_DIR_NAME
        with tempfile.TemporaryDirectory(dir=export_dir, prefix=".assets-") as temporary:
            run.preprocessor.save(Path(temporary))
            assets_dir.mkdir(exist_ok=True)
            for path in sorted(Path(temporary).iterdir()):
                if (assets_dir / path.name).exists():
                    raise ValueError(f"export: {assets_dir / path.name} exists already (a SavedModel asset); rename the preprocessor file")
                os.replace(path, assets_dir / path.name)
                manifest.add(f"{ASSETS_DIR_NAME}/{path.name}", assets_dir / path.name)

    def serving_module(self, run: TrainedRun):
        """`(tf.Module, {signature name: tf.function})` of the SavedModel.

        Every string input goes through `guard_texts` with `max_input_chars`
        first (valid UTF-8, the length limit, the `truncated` / `empty` flags).
        """
        raise NotImplementedError

    def max_input_chars(self, run: TrainedRun | None = None) -> int:
        """The characters a string-in signature reads of each text: `export.max_input_chars`, else the task's default."""
        config = run.config if run is not None else self.config
        # The export's own config wins over the trained run's (the limit is an export-time choice).
        return self.config.export.max_input_chars or config.export.max_input_chars or self.default_max_input_chars

    def saved_model_checks(self) -> dict:
        """`{signature: (inputs, atol)}`: numpy inputs each signature is verified on, in a fresh process."""
        raise NotImplementedError

    def tflite_export(self, run: TrainedRun) -> TFLiteExport | None:
        """The TFLite function with its verification inputs, or None for no TFLite model."""
        return None

    def tflite_check(self, quantization: str, expected: dict):
        """`(expected outputs, atol)` a TFLite model of `quantization` must match, or None to skip.

        "full_int8" models are checked in report-only mode whatever this returns
        (see `_export_tflite`).
        """
        return expected, 1e-4 if quantization == "float32" else 5e-2

    def calibration_texts(self, limit: int) -> list[str]:
        """Raw texts of the first `limit` training examples, for "full_int8" calibration."""
        raise NotImplementedError(f"task {self.name!r}: no calibration texts for full_int8")

    # ------------------------------------------------------------------ the shared flow

    def read_training_data(self):
        """(train, dev) examples; `data.max_train_examples` > 0 keeps the first N training examples."""
        train_data = self.read_split("train")
        limit = self.config.data.max_train_examples
        if limit > 0:
            train_data = limit_examples(train_data, limit)
        if self.config.data.train_fraction < 1.0:
            train_data = seeded_subset(train_data, self.config.data.train_fraction, self.config.train.seed)
        return train_data, self.read_split("dev")

    # ------------------------------------------------------------------ pretrained encoders

    def load_artifact(self) -> None:
        """Loads `model.encoder.pretrained` when it is an artifact folder and takes its architecture into the config."""
        path = self.config.model.encoder.pretrained
        if path and (Path(path).is_dir() or not Path(path).suffix):
            if not self.accepts_artifacts:
                raise ValueError(
                    f"model.encoder.pretrained: task {self.name!r} cannot start from an encoder artifact yet "
                    ""
                )
            self.artifact = EncoderArtifact.load(path)
            tokenizer = "sentencepiece" if self.artifact.sentencepiece_model is not None else "word"
            if tokenizer != self.artifact_tokenizer:
                raise ValueError(
                    f"model.encoder.pretrained: {path} encodes {tokenizer} units; task {self.name!r} needs a "
                    f"{self.artifact_tokenizer} encoder (pretrain it with text.tokenizer: {self.artifact_tokenizer})"
                )
            apply_artifact(self.config, self.artifact)
            print(self.artifact.describe())

    def initialize_encoder_weights(self, model, preprocessor, resume: bool) -> None:
        """Pretrained artifact weights, then word vectors, into the model's encoder (not on resume: the backup has them)."""
        if resume:
            return
        encoder_config = self.config.model.encoder
        if self.artifact is not None:
            new_rows = initialize_encoder(model.encoder, self.artifact)
            print(f"model.encoder.pretrained: encoder weights from {self.artifact.path}; {new_rows} new word rows")
        if encoder_config.word_vectors:
            vocabulary = self.encoder_vocabulary(preprocessor)
            if vocabulary is None:
                raise ValueError(f"model.encoder.word_vectors: task {self.name!r} has no word vocabulary to look vectors up for")
            load_word_vectors(model.encoder, vocabulary, encoder_config.word_vectors)

    def build_optimizer(self, model):
        """The configured optimizer; with gradual unfreezing / discriminative rates, one that scales the encoder's groups."""
        encoder_config = self.config.model.encoder
        if not needs_group_scales(encoder_config):
            return build_optimizer(self.config.train)
        groups = variable_groups(model.encoder)
        num_groups = max(groups.values()) + 1
        return build_optimizer(
            self.config.train,
            group_scales={
                "variable_groups": groups,
                "num_groups": num_groups,
                "initial_scales": group_scales(num_groups, encoder_config.layer_lr_decay, encoder_config.fine_tuning, 0),
            },
        )

    def fine_tuning_callbacks(self, model) -> list:
        encoder_config = self.config.model.encoder
        if not needs_group_scales(encoder_config):
            return []
        num_groups = max(variable_groups(model.encoder).values()) + 1
        return [GradualUnfreezing(num_groups, encoder_config.layer_lr_decay, encoder_config.fine_tuning)]

    # ------------------------------------------------------------------ the shared flow (train)

    def train(self, resume: bool = False) -> dict:
        config = self.config
        configure_logical_cpus(config.train.logical_cpu_devices)
        set_precision_policy(config.train)
        keras.utils.set_random_seed(config.train.seed)
        self.load_artifact()
        resumed_overrides = check_resume_overrides(config) if resume else {}
        run_dir = prepare_run_dir(config, resume)
        train_data, dev_data = self.read_training_data()
        assets_dir = run_dir / ASSETS_DIR_NAME
        if resume:
            preprocessor = self.preprocessor_class.load(assets_dir)
        else:
            preprocessor = self.build_preprocessor(train_data)
            preprocessor.save(assets_dir)
        inputs = self.prepare_training(preprocessor, train_data, dev_data)

        strategy = get_strategy(config.train.distribution_strategy)
        with strategy.scope():
            model = self.build_model(preprocessor)
            self.build_variables(model)
            self.initialize_encoder_weights(model, preprocessor, resume)
            self.compile_model(model)
        callbacks, checkpoint = build_callbacks(
            run_dir, config.train, resume, monitor=self.monitor, mode=self.monitor_mode,
            task_callbacks=self.fine_tuning_callbacks(model) + list(inputs.callbacks),
        )
        initial_epoch = 0
        if resume:
            with strategy.scope():
                initial_epoch = checkpoint.restore(model)
            apply_resumed_overrides(model, resumed_overrides)
            if initial_epoch >= config.train.epochs:
                raise ValueError(
                    f"--resume: the run has trained {initial_epoch} of train.epochs={config.train.epochs} epochs; "
                    f"to train longer, resume with --set train.epochs=N (N > {initial_epoch})"
                )
        self.before_fit(model, inputs)
        fit_timed(model, config.train, inputs.train_batches, callbacks, inputs.validation_batches, initial_epoch=initial_epoch)
        self.after_fit(model)
        # The whole run's history and time, the epochs before a resume included.
        history, seconds = checkpoint.full_history(), checkpoint.train_seconds()
        summary = {
            "train_seconds": seconds,
            "epochs_run": len(history.epoch),
            "resumed_after_epoch": initial_epoch if resume else None,
            # Seconds of training at each epoch's end: dev score against training time.
            "epoch_end_seconds": checkpoint.epoch_end_seconds,
        }
        summary.update(self.training_summary(history, seconds, inputs, preprocessor))
        write_json_atomically(run_dir / TRAIN_SUMMARY_NAME, summary)
        print(f"trained in {seconds:.1f} s; best model: {run_dir / BEST_MODEL_NAME}")
        return summary

    def load_trained(self) -> TrainedRun:
        """The best model of the run, its saved preprocessor and the config it was trained with."""
        model = keras.saving.load_model(require_trained_model(self.config))
        run_dir = self.config.run_dir()
        preprocessor = self.preprocessor_class.load(run_dir / ASSETS_DIR_NAME)
        run = TrainedRun(model, preprocessor, self.trained_config(run_dir), run_dir)
        run.inference = self.inference(model, preprocessor)
        return run

    def trained_config(self, run_dir: Path) -> PipelineConfig:
        """The resolved config the run was trained with (written by `train`); the given config if absent."""
        path = run_dir / RESOLVED_CONFIG_NAME
        if not path.is_file():
            return self.config
        with open(path, encoding="utf-8") as handle:
            return from_dict(PipelineConfig, yaml.safe_load(handle) or {}, {"": str(path)})

    def evaluate(self, split: str = "test", run: TrainedRun | None = None, **options) -> dict:
        run = run or self.load_trained()
        scores = self.evaluate_run(run, split, **options)
        name = self.evaluation_name(split, scores)
        for key in self.evaluation_text_keys:
            (run.run_dir / f"eval_{name}_{key}.txt").write_text(scores[key], encoding="utf-8")
        record = {key: value for key, value in scores.items() if key not in self.evaluation_text_keys}
        (run.run_dir / f"eval_{name}.json").write_text(json.dumps(record, indent=2, default=_json_value))
        return scores

    def predict(self, texts: list[str], output_format: str = "text", **options) -> list[dict]:
        self.check_predict_request(output_format, options)
        run = self.load_trained()
        results = self.predict_run(run, texts, **options)
        for result in results:
            print(self.format_prediction(result, output_format))
        return results

    def check_predict_request(self, output_format: str, options: dict) -> None:
        """Errors naming the option when the task does not offer a format or option."""
        if output_format not in self.output_formats:
            raise ValueError(
                f"--format {output_format}: task {self.name!r} writes {', '.join(self.output_formats)}"
            )
        unsupported = sorted(set(options) - set(self.predict_options))
        if unsupported:
            flags = ", ".join(OPTION_FLAGS.get(name, "--" + name.replace("_", "-")) for name in unsupported)
            raise ValueError(f"{flags}: task {self.name!r} does not support this option")

    def export(self, version: int | None = None) -> dict:
        """Writes one version `<export_dir>/<N>/` with every format of `export.formats`, verified.

        The whole version (SavedModel with its TF Serving warm-up requests,
        `.keras`, TFLite files, assets, `manifest.json`, `model_card.json`) is
        built and verified in fresh processes inside a hidden temporary folder,
        then renamed to its number (`nlp_apps/export/versions.py`): no server
        ever sees a half-written or unverified version.

        Args:
            version: the version number; None for the next free one.

        Returns:
            The manifest's content (`ExportManifest.to_dict()`), with
            `export_dir` (the version folder) and `version`.
        """
        config = self.config
        formats = config.export.formats
        model_base = prepare_export_dir(config.export_dir(), formats, config.export.tflite_quantization)
        run = self.load_trained()
        with new_version_dir(model_base, version) as (export_dir, number):
            manifest = ExportManifest(
                str(export_dir), task=self.name,
                task_info={**self.export_info(run), "max_input_chars": self.max_input_chars(run)},
                # The folder's name: what TF Serving and `nlp-apps serve` call the model.
                model_name=model_base.name, version=number,
            )
            signatures = {}
            if "saved_model" in formats:
                # First: the version folder is the SavedModel (saved_model.pb,
                # variables/, assets/), as TF Serving expects; the rest goes beside.
                signatures = self._export_saved_model(run, export_dir, manifest)
            self.export_assets(run, export_dir, manifest)
            if "keras" in formats:
                manifest.add("keras", export_keras(run.model, export_dir / "model.keras"))
            if "tflite" in formats:
                self._export_tflite(run, export_dir, manifest)
            manifest.add("model_card", write_model_card(export_dir, self.model_card(run, manifest, signatures)))
            manifest.write_manifest()
            contents = manifest.to_dict()
        final = model_base / str(number)
        contents["export_dir"] = str(final)
        files = ["SavedModel" if path == "." else path for path in contents["artifacts"].values()]
        print(f"exported {manifest.model_name} version {number} to {final}: {', '.join(files)}")
        for line in manifest.summary_lines():
            print(line)
        return contents

    def model_card(self, run: TrainedRun, manifest: ExportManifest, signatures: dict) -> dict:
        """`model_card.json`: signatures, labels and vocabulary sizes, scores, data, training time, versions."""
        run_dir = run.run_dir
        scores = {path.stem[len("eval_"):]: _read_run_json(path) for path in sorted(run_dir.glob("eval_*.json"))}
        summary_path = run_dir / TRAIN_SUMMARY_NAME
        training = _read_run_json(summary_path) if summary_path.is_file() else {}
        data = run.config.data
        return {
            "model_name": manifest.model_name,
            "version": manifest.version,
            "task": self.name,
            "pipeline": run.config.name,
            "signatures": describe_signatures(signatures, self.output_padding()) if signatures else {},
            "task_info": manifest.task_info,
            "vocabulary_sizes": self.vocabulary_sizes(run),
            "evaluation": scores,
            "data": {
                "hub_name": data.hub_name or None,
                "data_dir": data.data_dir or None,
                "train": data.train, "dev": data.dev, "test": data.test,
            },
            "training_seconds": training.get("train_seconds", training.get("seconds")),
            "training": training,
            "formats": manifest.to_dict()["formats"],
            "created_utc": _utc_now(),
            "versions": _library_versions(),
        }

    def vocabulary_sizes(self, run: TrainedRun) -> dict:
        """Vocabulary sizes for the model card; tasks with several vocabularies override it."""
        sizes = {}
        for attribute in ("vocabulary_size", "char_vocabulary_size", "source_vocabulary_size", "target_vocabulary_size"):
            value = getattr(run.preprocessor, attribute, None)
            if isinstance(value, int):
                sizes[attribute.removesuffix("_size")] = value
        vocabulary = getattr(run.preprocessor, "vocabulary", None)
        if not sizes and vocabulary is not None:
            with contextlib.suppress(TypeError):
                sizes["vocabulary"] = len(vocabulary)
        return sizes

    def output_padding(self) -> dict:
        """Output name -> the value padding its inner axes (a row shorter than the batch's longest).

        Written to the model card; `nlp-apps serve` cuts each request's rows of
        a batched answer back to their own extent with it. An output of rank
        >= 2 without a padding value keeps its signature out of server-side
        batching.
        """
        return {}

    def warmup_requests(self) -> list:
        """`(signature, inputs)` replayed by TF Serving at load: the verification inputs of each signature."""
        return [(signature, inputs) for signature, (inputs, _) in self.saved_model_checks().items()]

    def _export_saved_model(self, run: TrainedRun, path: Path, manifest: ExportManifest) -> dict:
        module, signatures = self.serving_module(run)
        write_saved_model(module, path, signatures=signatures)
        manifest.add("saved_model", path)
        requests = self._warmup_for_every_signature(signatures)
        manifest.add("warmup_requests", write_warmup_requests(path, manifest.model_name, requests))
        if not self.config.export.verify:
            return signatures
        for signature, (inputs, atol) in self.saved_model_checks().items():
            outputs = signatures[signature](**{key: tf.constant(value) for key, value in inputs.items()})
            expected = {key: value.numpy() for key, value in outputs.items()}
            manifest.verification[f"saved_model/{signature}"] = verify_saved_model(
                path, inputs, expected, signature=signature, atol=atol
            )
        return signatures

    def _warmup_for_every_signature(self, signatures: dict) -> list:
        # An alias (translation's serving_default is `translate`) warms up with its target's inputs.
        checked = dict(self.warmup_requests())
        requests = []
        for name, function in signatures.items():
            source = name if name in checked else next((key for key in checked if signatures.get(key) is function), None)
            if source is not None:
                requests.append((name, checked[source]))
        return requests

    def tflite_exports(self, run: TrainedRun) -> list:
        """Every TFLite model the task writes: its `tflite_export` and any companions (e.g. step models)."""
        tflite = self.tflite_export(run)
        return [] if tflite is None else [tflite]

    def _export_tflite(self, run: TrainedRun, export_dir: Path, manifest: ExportManifest) -> None:
        exports = self.tflite_exports(run)
        if not exports:
            manifest.notes.append(f"tflite: task {self.name!r} has no TFLite model")
        for tflite in exports:
            self._export_one_tflite(run, tflite, export_dir, manifest)

    def _export_one_tflite(self, run: TrainedRun, tflite: TFLiteExport, export_dir: Path, manifest: ExportManifest) -> None:
        # Expected outputs come from the Keras layers; the converted graph is
        # traced with the mobile kernels (fused LSTMs, dynamic-length loops).
        # Positional: `inputs` is in the order of the function's input signature.
        outputs = tflite.function(*[tf.constant(value) for value in tflite.inputs.values()])
        expected = {key: value.numpy() for key, value in outputs.items()}
        mobile_function = trace_for_tflite(tflite.function, run.model)
        for quantization in self.config.export.tflite_quantization:
            path = export_dir / f"{tflite.file_stem}_{quantization}.tflite"
            calibration = self._calibration_dataset(tflite) if quantization == "full_int8" else None
            export_tflite(
                mobile_function, path, quantization=quantization, trackable_obj=run.model, representative_dataset=calibration
            )
            name = f"tflite/{tflite.file_stem}/{quantization}" if tflite.companion else f"tflite/{quantization}"
            manifest.add(name, path)
            manifest.op_census[name] = census = tflite_op_census(path)
            if census["variable_tensors"] and STATEFUL_TFLITE_NOTE not in manifest.notes:
                manifest.notes.append(STATEFUL_TFLITE_NOTE)
            assets = sorted(file for key, file in manifest.to_dict()["artifacts"].items() if key.startswith("assets/"))
            sidecar = write_tflite_sidecar(
                path, {"task": self.name, "quantization": quantization, "task_info": manifest.task_info, "assets": assets}
            )
            manifest.add(f"metadata/{name}", sidecar)
            check_outputs = tflite.check if tflite.companion else self.tflite_check
            check = check_outputs(quantization, expected) if self.config.export.verify else None
            if check is not None:
                checked, atol = check
                if quantization == "full_int8":
                    # Calibrated activations move outputs by more than any fixed
                    # tolerance; the fresh-process run reports the differences and
                    # benchmarks/deployment.py measures the quality on test sets.
                    atol = None
                manifest.verification[name] = verify_tflite(path, tflite.inputs, checked, atol=atol)

    def _calibration_dataset(self, tflite: TFLiteExport):
        """The representative dataset of "full_int8": the TFLite inputs of the first training texts."""
        limit = self.config.export.calibration_examples
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"export.calibration_examples: expected an integer >= 1, got {limit!r}")
        if tflite.inputs_for_text is None:
            raise ValueError(f"export.tflite_quantization: task {self.name!r} cannot calibrate full_int8; remove it")
        try:
            texts = [text for text in self.calibration_texts(limit) if text.strip()]
        except (OSError, ValueError) as error:
            raise ValueError(
                f"export.tflite_quantization: full_int8 calibrates on the training data, which could not be read: {error}"
            ) from error
        if not texts:
            raise ValueError("export.tflite_quantization: full_int8 calibrates on the training data, which has no text")
        samples = [tflite.inputs_for_text(text) for text in texts]
        # The calibrator runs every sample at the first one's shapes, so all
        # are padded to the largest (0 = padding, which the models mask).
        # Samples are dicts: the converter matches them to inputs by name.
        shapes = {key: np.max([sample[key].shape for sample in samples], axis=0) for key in samples[0]}
        samples = [
            {key: np.pad(value, [(0, int(size) - dim) for dim, size in zip(value.shape, shapes[key])]) for key, value in sample.items()}
            for sample in samples
        ]

        def representative_dataset():
            yield from samples

        return representative_dataset


def _read_run_json(path: Path) -> dict:
    """A run's JSON record for the model card; an unreadable one is reported there, not dropped."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as error:
        return {"unreadable": f"{path.name}: {error}"}


def limit_examples(dataset, count: int):
    """The first `count` examples of a `datasets.Dataset`."""
    return dataset.select(range(min(count, len(dataset))))


def seeded_subset(dataset, fraction: float, seed: int):
    """A seeded `fraction` of a `datasets.Dataset` (at least one example), in file order."""
    count = max(1, int(round(fraction * len(dataset))))
    chosen = np.sort(np.random.default_rng(seed).permutation(len(dataset))[:count])
    print(f"data.train_fraction: training on {count} of {len(dataset)} examples (seed {seed})")
    return dataset.select(chosen.tolist())


def _json_value(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)
