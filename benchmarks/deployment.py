"""Deployment benchmark (issue 17): every mobile variant of real-data models, measured.

For each task given with `--run TASK=CONFIG,RUN_DIR` (the pipeline config a
run was trained with and its run directory, as `nlp-apps export -c CONFIG
--set output_dir=RUN_DIR` takes them), this exports SavedModel + TFLite float32 /
float16 / dynamic int8 / full int8 through the normal `Task.export` (fresh-
process verification included), then records per variant: size (MB), op
census (Flex, fused LSTM and WHILE ops), batch-1 latency p50/p95 with one
thread on a typical input, and quality on the real test set:

- ner: entity F1 (seqeval strict, IOB2) on CoNLL-2003 eng.testb;
- sentiment: accuracy on the first `--sentiment-test-limit` IMDB test reviews;
- translation: greedy BLEU (sacrebleu) on the first `--translation-test-limit`
  Multi30k test2016 sentences (the TFLite translator is greedy);
- language_model: perplexity on the PTB test stream (state carried, one stream;
  the first `--lm-test-tokens` tokens).

The SavedModel's quality is the Keras model's (export verification shows
them equal within 1e-4). Latency: the SavedModel takes raw strings, so its
time includes tokenization; TFLite takes ids (the app tokenizes). For the LM
the SavedModel call generates one word after the prompt (reading the whole
prompt) while the TFLite step reads one token with the state carried in.

`--cell-speed` adds a cell comparison: the NER architecture at CoNLL sizes
with LSTM, GRU and SimpleRNN cells (weights from a one-epoch sample
training; latency does not depend on them), TFLite float32 latency each.

    python benchmarks/deployment.py --data-dir ../shared/data \\
        --run ner=pipelines/ner_conll2003.yaml,RUN_DIR --run sentiment=pipelines/sentiment_imdb.yaml,RUN_DIR \\
        --run translation=pipelines/translation_multi30k_en_de.yaml,RUN_DIR \\
        --run language_model=pipelines/lm_ptb.yaml,RUN_DIR --cell-speed
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

# One thread everywhere: a phone core, and comparable SavedModel numbers.
tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)

from reporting import load_report, run_record, save_report  # noqa: E402

from nlp_apps.config import load_config  # noqa: E402
from nlp_apps.data.columns import column  # noqa: E402
from nlp_apps.export.exporter import QUANTIZATIONS, tflite_op_census  # noqa: E402
from nlp_apps.export.versions import latest_version_dir  # noqa: E402
from nlp_apps.tasks.registry import get_task  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "deployment.json"
LATENCY_RUNS = 200
TYPICAL_INPUTS = {
    "ner": "Peter Blackburn met officials of the European Commission in Brussels on Monday .",
    "sentiment": (
        "I went in expecting very little. The first half hour is slow, but the two leads are wonderful together. "
        "By the end I was completely won over; the script is sharp and the music is lovely. Recommended."
    ),
    "translation": "A man in a blue shirt is standing on a ladder cleaning windows.",
    "language_model": "the company said it expects to report a loss for the third quarter",
}


def _runner(path):
    """Calls the model's signature on a dict of inputs, as an app would: variables reset between inputs.

    Fused LSTM ops keep their states in variable tensors from one invocation
    to the next (manifest note); the reset is part of the measured latency.
    """
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), num_threads=1)
    signature = interpreter.get_signature_runner()

    def run(**inputs):
        outputs = signature(**inputs)
        # After the call: resetting needs allocated tensors, which the first call makes.
        interpreter.reset_all_variables()
        return outputs

    return run


def _latency_ms(call, runs=LATENCY_RUNS):
    call()  # warm-up: allocation, first-call tracing
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append(1000 * (time.perf_counter() - started))
    return {"p50_ms": float(np.percentile(times, 50)), "p95_ms": float(np.percentile(times, 95)), "runs": runs}


def _size_mb(path):
    path = Path(path)
    if path.is_dir():
        return sum(file.stat().st_size for file in path.rglob("*") if file.is_file()) / 1e6
    return path.stat().st_size / 1e6


class NERBench:
    metric = "entity F1 (seqeval strict, IOB2), CoNLL-2003 eng.testb"
    higher_is_better = True

    def __init__(self, task, run, arguments):
        from nlp_apps.tasks.ner.task import encode_examples

        self.task, self.run = task, run
        self.data = task.read_split("test")
        self.gold = task.gold_tags(self.data, "iob2")
        self.features = encode_examples(run.preprocessor, column(self.data, "tokens"))

    def saved_model_call(self, saved_model, text):
        serve, texts = saved_model.signatures["serving_default"], tf.constant([text])
        return lambda: serve(texts=texts)

    def keras_quality(self):
        from nlp_apps.metrics.entity_scores import entity_scores
        from nlp_apps.tasks.ner.task import predicted_tags

        predicted = predicted_tags(self.run.model, self.run.preprocessor, self.features, self.run.config.model.train_tag_scheme, "iob2")
        return entity_scores(self.gold, predicted, "iob2")["f1"]

    def tflite_quality(self, runner):
        from nlp_apps.metrics.entity_scores import entity_scores
        from nlp_apps.tasks.ner.preprocessor import FEATURE_KEYS
        from nlp_apps.tasks.ner.task import to_report_scheme

        names = self.run.preprocessor.tag_names
        predicted = []
        for index, tags in enumerate(self.gold):
            # The sentence's own length: no padding (dynamic time axis).
            inputs = {key: self.features[key][index : index + 1].to_tensor().numpy().astype(np.int32) for key in FEATURE_KEYS}
            longest = max(int((inputs["char_ids"] != 0).sum(axis=-1).max(initial=0)), 1)
            inputs["char_ids"] = inputs["char_ids"][:, :, :longest]
            tag_ids = runner(**inputs)["tag_ids"][0]
            predicted.append(to_report_scheme([names[int(tag)] for tag in tag_ids[: len(tags)]], self.run.config.model.train_tag_scheme, "iob2"))
        return entity_scores(self.gold, predicted, "iob2")["f1"]


class SentimentBench:
    higher_is_better = True

    def __init__(self, task, run, arguments):
        from nlp_apps.tasks.sentiment.task import encode_documents

        self.run = run
        data = task.read_split("test")
        data = data.select(range(min(arguments.sentiment_test_limit, len(data))))
        self.metric = f"accuracy (%), first {len(data)} IMDB test reviews"
        self.features = encode_documents(run.preprocessor, column(data, "text"), column(data, "label"))
        self.gold = np.asarray(self.features["label"])

    def saved_model_call(self, saved_model, text):
        serve, texts = saved_model.signatures["serving_default"], tf.constant([text])
        return lambda: serve(texts=texts)

    def keras_quality(self):
        from nlp_apps.tasks.sentiment.task import predict_probabilities

        predicted = predict_probabilities(self.run.model, self.features["token_ids"]).argmax(axis=-1)
        return 100.0 * float((predicted == self.gold).mean())

    def tflite_quality(self, runner):
        predicted = []
        for index in range(len(self.gold)):
            token_ids = self.features["token_ids"][index : index + 1].to_tensor().numpy().astype(np.int32)
            predicted.append(int(runner(token_ids=token_ids)["probabilities"][0].argmax()))
        return 100.0 * float((np.asarray(predicted) == self.gold).mean())


class TranslationBench:
    higher_is_better = True

    def __init__(self, task, run, arguments):
        self.task, self.run = task, run
        data = task.read_split("test")
        data = data.select(range(min(arguments.translation_test_limit, len(data))))
        self.metric = f"BLEU (sacrebleu, cased, greedy), first {len(data)} Multi30k test2016 sentences"
        self.sources, self.references = column(data, "source"), column(data, "target")

    def saved_model_call(self, saved_model, text):
        serve, texts = saved_model.signatures["translate_greedy"], tf.constant([text])
        return lambda: serve(text=texts)

    def keras_quality(self):
        from nlp_apps.metrics.bleu import translation_scores
        from nlp_apps.tasks.translation.task import translate_texts

        results = translate_texts(self.run.inference, self.sources, **self.task.search_options(1, "greedy"))
        return translation_scores([result["translation"] for result in results], self.references)["bleu"]

    def tflite_quality(self, runner):
        from nlp_apps.metrics.bleu import translation_scores
        from nlp_apps.tasks.translation.export import tflite_source_ids

        hypotheses = []
        for source in self.sources:
            ids = runner(source_ids=tflite_source_ids(self.run.inference, source))["ids"]
            hypotheses.append(self.run.preprocessor.decode_target(tf.constant(ids)).numpy()[0].decode("utf-8"))
        return translation_scores(hypotheses, self.references)["bleu"]


class LanguageModelBench:
    higher_is_better = False

    def __init__(self, task, run, arguments):
        self.run = run
        ids = run.preprocessor.encode_stream(task.read_split("test"))
        self.ids = ids[: arguments.lm_test_tokens + 1] if arguments.lm_test_tokens else ids
        self.metric = f"perplexity, PTB test stream, first {len(self.ids) - 1} predicted tokens, state carried"

    def saved_model_call(self, saved_model, text):
        generate = saved_model.signatures["generate"]
        inputs = dict(prompt=tf.constant([text]), max_length=tf.constant(1), temperature=tf.constant(0.0),
                      top_k=tf.constant(5), top_p=tf.constant(1.0), seed=tf.constant(0, tf.int64))
        return lambda: generate(**inputs)

    def keras_quality(self):
        from nlp_apps.metrics.perplexity import stream_perplexity

        return stream_perplexity(self.run.model, self.ids, num_streams=1, window_length=self.run.config.train.bptt_length)["perplexity"]

    def tflite_quality(self, runner):
        states = {f"state_{index}": np.zeros((1, size), np.float32) for index, size in enumerate(self.run.model.state_sizes)}
        total = 0.0
        for position in range(len(self.ids) - 1):
            outputs = runner(token_id=np.array([[self.ids[position]]], np.int32), **states)
            logits = outputs["logits"][0].astype(np.float64)
            top = logits.max()
            total += top + np.log(np.exp(logits - top).sum()) - logits[self.ids[position + 1]]
            states = {name: outputs[name] for name in states}
        return float(np.exp(total / (len(self.ids) - 1)))


BENCHES = {"ner": NERBench, "sentiment": SentimentBench, "translation": TranslationBench, "language_model": LanguageModelBench}


def benchmark_task(task_name, config_path, run_dir, arguments):
    run_dir = Path(run_dir).resolve()
    export_dir = ROOT / "benchmarks" / "runs" / f"deployment_{task_name}"
    shutil.rmtree(export_dir, ignore_errors=True)
    overrides = [
        f"output_dir={run_dir}",
        f"export.output_dir={export_dir}",
        "export.tflite_quantization=[" + ",".join(QUANTIZATIONS) + "]",
        "export.formats=[saved_model,tflite]",
    ]
    if arguments.data_dir:
        overrides.append(f"data.data_dir={arguments.data_dir}")
    config = load_config([config_path], overrides)
    task = get_task(config)
    # Exported as a user would, in its own process: this one runs TensorFlow on
    # one thread, and sampled generation (the LM's `generate`) may then pick
    # other tokens than the fresh-process verification, which has all cores.
    started = time.perf_counter()
    command = [sys.executable, "-m", "nlp_apps", "export", "-c", config_path]
    for override in overrides:
        command += ["--set", override]
    subprocess.run(command, check=True)
    export_seconds = time.perf_counter() - started
    export_dir = latest_version_dir(export_dir)
    manifest = json.loads((export_dir / "manifest.json").read_text())
    run = task.load_trained()
    bench = BENCHES[task_name](task, run, arguments)
    text = TYPICAL_INPUTS[task_name]
    tflite = task.tflite_export(run)
    inputs = tflite.inputs_for_text(text)

    saved_model = tf.saved_model.load(str(export_dir))
    started = time.perf_counter()
    saved_quality = bench.keras_quality()
    variants = {
        "saved_model": {
            "size_mb": _size_mb(export_dir / "saved_model.pb") + _size_mb(export_dir / "variables"),
            "latency": _latency_ms(bench.saved_model_call(saved_model, text)),
            "latency_includes_tokenization": True,
            "quality": saved_quality,
            "quality_seconds": time.perf_counter() - started,
        }
    }
    print(f"{task_name} saved_model: {variants['saved_model']}", flush=True)
    sign = 1.0 if bench.higher_is_better else -1.0
    for quantization in QUANTIZATIONS:
        path = export_dir / manifest["artifacts"][f"tflite/{quantization}"]
        runner = _runner(path)
        started = time.perf_counter()
        quality = bench.tflite_quality(runner)
        variants[f"tflite_{quantization}"] = {
            "size_mb": _size_mb(path),
            "op_census": tflite_op_census(path),
            "latency": _latency_ms(lambda: runner(**inputs)),
            "latency_includes_tokenization": False,
            "quality": quality,
            # Positive = worse than the SavedModel, in the metric's points.
            "quality_loss_vs_saved_model": sign * (saved_quality - quality),
            "quality_seconds": time.perf_counter() - started,
        }
        print(f"{task_name} {quantization}: {variants[f'tflite_{quantization}']}", flush=True)
    float_size = variants["tflite_float32"]["size_mb"]
    return {
        "config": config_path,
        "run_dir": os.path.relpath(run_dir, ROOT),
        "train_summary": _train_summary(run_dir),
        "cell_type": config.model.encoder.cell_type,
        "quality_metric": bench.metric,
        "typical_input": text,
        "tflite_input_shapes": {key: list(np.shape(value)) for key, value in inputs.items()},
        "export_seconds": export_seconds,
        "verification": manifest["verification"],
        "variants": variants,
        "int8_size_ratio": max(variants[f"tflite_{q}"]["size_mb"] for q in ("dynamic_int8", "full_int8")) / float_size,
        "tflite_vs_savedmodel_latency_ratio": variants["tflite_float32"]["latency"]["p50_ms"]
        / variants["saved_model"]["latency"]["p50_ms"],
    }


def _train_summary(run_dir):
    path = Path(run_dir) / "train_summary.json"
    return json.loads(path.read_text()) if path.is_file() else None


def cell_speed(arguments):
    """TFLite float32 batch-1 latency of the NER architecture (CoNLL sizes) per cell type."""
    from nlp_apps.tasks.ner.export import sentence_features

    rows = {}
    text = TYPICAL_INPUTS["ner"]
    with tempfile.TemporaryDirectory(prefix="nlp_apps_cells_") as scratch:
        for cell in ("lstm", "gru", "simple_rnn"):
            overrides = [
                "data.data_dir=sample:ner_sample", f"output_dir={scratch}/{cell}", f"export.output_dir={scratch}/{cell}_export",
                f"model.encoder.cell_type={cell}", "model.encoder.units=200", "model.encoder.embedding_dim=100",
                "train.epochs=1", "train.max_train_minutes=0", "export.formats=[tflite]", "export.tflite_quantization=[float32]",
            ]
            config = load_config([str(ROOT / "pipelines" / "ner_sample.yaml")], overrides)
            task = get_task(config)
            task.train()
            manifest = task.export()
            path = Path(manifest["export_dir"]) / manifest["artifacts"]["tflite/float32"]
            run = task.load_trained()
            runner = _runner(path)
            inputs = sentence_features(run.preprocessor, text)
            rows[cell] = {"latency": _latency_ms(lambda: runner(**inputs), runs=500), "op_census": tflite_op_census(path),
                          "size_mb": _size_mb(path)}
            print(f"cell {cell}: {rows[cell]['latency']}", flush=True)
    fastest = min(rows, key=lambda cell: rows[cell]["latency"]["p50_ms"])
    return {
        "what": "NER BiRNN-CRF, 100-d words, 200 units per direction, char CNN, TFLite float32, 1 thread, batch 1",
        "input": text,
        "cells": rows,
        "fastest": fastest,
        "p50_relative_to_lstm": {cell: row["latency"]["p50_ms"] / rows["lstm"]["latency"]["p50_ms"] for cell, row in rows.items()},
    }


def summarize(report):
    tasks = report["tasks"]
    tflite_rows = [row for entry in tasks.values() for name, row in entry["variants"].items() if name.startswith("tflite_")]
    report["flex_ops_total"] = sum(row["op_census"]["flex_ops"] for row in tflite_rows)
    report["lstm_models_without_fused_op"] = sum(
        1
        for entry in tasks.values()
        if entry.get("cell_type") == "lstm"
        for name, row in entry["variants"].items()
        if name.startswith("tflite_") and row["op_census"]["fused_lstm_ops"] == 0
    )
    report["int8_size_ratio_max"] = max(entry["int8_size_ratio"] for entry in tasks.values())
    report["int8_quality_loss_max"] = max(
        entry["variants"][f"tflite_{q}"]["quality_loss_vs_saved_model"]
        for name, entry in tasks.items()
        if name != "language_model"  # perplexity is not in points
        for q in ("dynamic_int8", "full_int8")
    )
    report["dynamic_int8_quality_loss_max"] = max(
        entry["variants"]["tflite_dynamic_int8"]["quality_loss_vs_saved_model"]
        for name, entry in tasks.items()
        if name != "language_model"
    )
    for name in ("ner", "sentiment"):
        if name in tasks:
            report[f"tflite_vs_savedmodel_latency_ratio_{name}"] = tasks[name]["tflite_vs_savedmodel_latency_ratio"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=os.environ.get("NLP_APPS_DATA"), help="default: the configs' own data_dir")
    parser.add_argument("--run", action="append", default=[], help="TASK=CONFIG,RUN_DIR (" + ", ".join(BENCHES) + ")")
    parser.add_argument("--sentiment-test-limit", type=int, default=2000)
    parser.add_argument("--translation-test-limit", type=int, default=1000)
    parser.add_argument("--lm-test-tokens", type=int, default=0, help="0 = the whole test stream")
    parser.add_argument("--cell-speed", action="store_true")
    parser.add_argument("--output", default=str(RESULTS))
    arguments = parser.parse_args(argv)
    if arguments.data_dir:
        arguments.data_dir = str(Path(arguments.data_dir).resolve())
    if not arguments.run and not arguments.cell_speed:
        parser.error("give at least one --run TASK=RUN_DIR or --cell-speed")
    output = Path(arguments.output)
    report = load_report(output, "tasks")
    record = run_record(argv if argv is not None else sys.argv[1:])
    for item in arguments.run:
        task_name, _, paths = item.partition("=")
        config_path, _, run_dir = paths.partition(",")
        if task_name not in BENCHES or not config_path or not run_dir:
            parser.error(f"--run {item!r}: expected TASK=CONFIG,RUN_DIR with TASK one of {', '.join(BENCHES)}")
        entry = benchmark_task(task_name, config_path, run_dir, arguments)
        entry.update(record)
        report["tasks"][task_name] = entry
        summarize(report)
        save_report(output, report)
    if arguments.cell_speed:
        report["cell_speed"] = {**cell_speed(arguments), **record}
        save_report(output, report)
    return report


if __name__ == "__main__":
    main()
