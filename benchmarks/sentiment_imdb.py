"""IMDB sentiment: hierarchical attention network vs flat BiLSTM, quality and speed on this machine's CPU.

Trains on IMDB train (minus a seeded 10% dev split used for model selection)
within a time budget per variant, then reports accuracy on the 25k test
reviews, the training time, training documents/s (including the per-epoch dev
evaluation) and test inference documents/s.

    python benchmarks/sentiment_imdb.py --data-dir ../shared/data --minutes 60
    # smoke run (seconds, not a result):
    python benchmarks/sentiment_imdb.py --minutes 1 --set data.max_train_examples=200 --set train.epochs=1 \\
        --output /tmp/sentiment_smoke.json
"""

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

from nlp_apps.config import load_config  # noqa: E402
from nlp_apps.tasks.sentiment.task import SentimentTask  # noqa: E402
from reporting import load_report, run_record, save_report  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "sentiment_imdb.json"
VARIANTS = {
    "han": [],
    "flat_bilstm": ["model.hierarchical=false", "model.encoder.cell_type=lstm"],
}


def run_variant(name: str, arguments) -> dict:
    run_dir = Path(arguments.runs_dir) / f"sentiment_imdb_{name}"
    overrides = [
        f"data.data_dir={arguments.data_dir}",
        f"output_dir={run_dir}",
        f"train.max_train_minutes={arguments.minutes}",
    ] + VARIANTS[name] + arguments.set
    config = load_config([ROOT / "pipelines" / "sentiment_imdb.yaml"], overrides)
    keras.backend.clear_session()
    cpu_started = time.process_time()
    task = SentimentTask(config)
    summary = task.train()
    cpu_seconds = time.process_time() - cpu_started
    started = time.perf_counter()
    test = task.evaluate("test")
    row = {
        "variant": name,
        "overrides": VARIANTS[name] + arguments.set,
        "test_accuracy": test["accuracy"],
        "best_dev_accuracy": summary["best_dev_accuracy"],
        "dev_accuracy_per_epoch": summary["dev_accuracy_per_epoch"],
        "train_seconds": summary["train_seconds"],
        "train_cpu_seconds": cpu_seconds,
        "epochs_run": summary["epochs_run"],
        "train_documents": summary["train_documents"],
        "docs_per_s": summary["docs_per_s"],
        "test_docs_per_s": test["docs_per_s"],
        "evaluate_seconds": time.perf_counter() - started,
    }
    print(json.dumps(row, indent=2), flush=True)
    return row


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=os.environ.get("NLP_APPS_DATA", "../shared/data"))
    parser.add_argument("--minutes", type=float, default=60.0, help="training time budget per variant")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--set", action="append", default=[], help="extra config override for every variant")
    parser.add_argument("--runs-dir", default=str(ROOT / "benchmarks" / "runs"))
    parser.add_argument("--output", default=str(RESULTS))
    arguments = parser.parse_args(argv)
    arguments.data_dir = str(Path(arguments.data_dir).resolve())

    output = Path(arguments.output)
    report = load_report(output, "variants")
    for name in arguments.variants:
        row = run_variant(name, arguments)
        row.update(run_record(argv, arguments.minutes))
        report["variants"][name] = row
        if name == "han":
            report.update({key: row[key] for key in ("test_accuracy", "train_seconds", "docs_per_s", "test_docs_per_s")})
        if name == "flat_bilstm":
            report["flat_bilstm"] = {key: row[key] for key in ("test_accuracy", "train_seconds", "docs_per_s", "test_docs_per_s")}
        save_report(output, report)
    return report


if __name__ == "__main__":
    main()
