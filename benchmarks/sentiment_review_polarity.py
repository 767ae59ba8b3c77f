"""review_polarity sentiment: 10-fold cross-validation of the HAN and the flat BiLSTM on this machine's CPU.

Pang & Lee's protocol: the 2,000 reviews carry a `fold` (0-9, from the cvNNN
file names; 100 positive and 100 negative reviews each). For every fold the
model trains on the other nine folds (minus a seeded 10% dev split used for
model selection and early stopping) within a time budget, then is scored on
the held-out fold. The report gives the accuracy of each fold, their mean and
standard deviation, the total training time, training documents/s (including
the per-epoch dev evaluation) and test documents/s.

    python benchmarks/sentiment_review_polarity.py --data-dir ../shared/data --minutes 6
    # smoke run (seconds per fold, not a result):
    python benchmarks/sentiment_review_polarity.py --folds 2 --minutes 0.5 --set train.epochs=1 \\
        --output /tmp/rp_smoke.json

`--minutes` is the budget of each fold (train.max_train_minutes), so a full run
of one variant takes about 10 x (minutes + evaluation). `--folds 3` runs only
folds 0-2 of the standard ten, for a quick check.
"""

import argparse
import gc
import json
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

from nlp_apps.config import load_config  # noqa: E402
from nlp_apps.tasks.sentiment.task import SentimentTask  # noqa: E402
from reporting import load_report, run_record, save_report  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PIPELINE = ROOT / "pipelines" / "sentiment_review_polarity.yaml"
RESULTS = ROOT / "benchmarks" / "results" / "sentiment_review_polarity.json"
# The standard protocol's folds; `--folds` may run only the first few of them.
NUM_FOLDS = 10
VARIANTS = {
    "han": [],
    "flat_bilstm": ["model.hierarchical=false", "model.encoder.cell_type=lstm"],
}
HEADLINE_KEYS = ("mean_accuracy", "std_accuracy", "fold_accuracy", "total_train_seconds", "docs_per_s", "test_docs_per_s")


def run_fold(name: str, fold: int, arguments) -> dict:
    run_dir = Path(arguments.runs_dir) / f"sentiment_review_polarity_{name}_fold{fold}"
    overrides = [
        f"data.data_dir={arguments.data_dir}",
        f"data.cv_folds={NUM_FOLDS}",
        f"data.cv_fold={fold}",
        f"output_dir={run_dir}",
        f"train.max_train_minutes={arguments.minutes}",
    ] + VARIANTS[name] + arguments.set
    config = load_config([PIPELINE], overrides)
    # Each fold starts from an empty graph and frees the previous fold's model.
    keras.backend.clear_session()
    gc.collect()
    cpu_started = time.process_time()
    task = SentimentTask(config)
    summary = task.train()
    cpu_seconds = time.process_time() - cpu_started
    started = time.perf_counter()
    test = task.evaluate("test")
    row = {
        "fold": fold,
        "test_accuracy": test["accuracy"],
        "test_documents": test["documents"],
        "best_dev_accuracy": summary["best_dev_accuracy"],
        "dev_accuracy_per_epoch": summary["dev_accuracy_per_epoch"],
        "train_seconds": summary["train_seconds"],
        "train_cpu_seconds": cpu_seconds,
        "epochs_run": summary["epochs_run"],
        "train_documents": summary["train_documents"],
        "docs_per_s": summary["docs_per_s"],
        "test_docs_per_s": test["docs_per_s"],
        "evaluate_seconds": time.perf_counter() - started,
        "run_dir": str(run_dir),
    }
    print(json.dumps(row, indent=2), flush=True)
    return row


def summarize(name: str, rows: list[dict]) -> dict:
    """Mean and sample standard deviation (percent) over the folds run so far, and the speeds over all of them."""
    accuracy = [row["test_accuracy"] for row in rows]
    train_seconds = sum(row["train_seconds"] for row in rows)
    documents_trained = sum(row["train_documents"] * row["epochs_run"] for row in rows)
    test_documents = sum(row["test_documents"] for row in rows)
    test_seconds = sum(row["test_documents"] / row["test_docs_per_s"] for row in rows)
    return {
        "variant": name,
        "overrides": VARIANTS[name],
        "folds_run": [row["fold"] for row in rows],
        "fold_accuracy": accuracy,
        "mean_accuracy": statistics.mean(accuracy),
        "std_accuracy": statistics.stdev(accuracy) if len(accuracy) > 1 else None,
        "total_train_seconds": train_seconds,
        "total_train_cpu_seconds": sum(row["train_cpu_seconds"] for row in rows),
        "docs_per_s": documents_trained / train_seconds,
        "test_docs_per_s": test_documents / test_seconds,
        "folds": rows,
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=os.environ.get("NLP_APPS_DATA", "../shared/data"))
    parser.add_argument("--minutes", type=float, default=6.0, help="training time budget of each fold")
    parser.add_argument(
        "--folds", type=int, default=NUM_FOLDS, help=f"run folds 0 .. N-1 of the standard {NUM_FOLDS} (default all)"
    )
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--set", action="append", default=[], help="extra config override for every fold and variant")
    parser.add_argument("--runs-dir", default=str(ROOT / "benchmarks" / "runs"))
    parser.add_argument("--output", default=str(RESULTS))
    arguments = parser.parse_args(argv)
    if not 1 <= arguments.folds <= NUM_FOLDS:
        parser.error(f"--folds: expected 1 to {NUM_FOLDS}, got {arguments.folds}")
    arguments.data_dir = str(Path(arguments.data_dir).resolve())

    output = Path(arguments.output)
    report = load_report(output, "variants")
    for name in arguments.variants:
        rows = []
        for fold in range(arguments.folds):
            rows.append(run_fold(name, fold, arguments))
            # Saved after every fold, so an interrupted run keeps the folds it finished.
            row = summarize(name, rows)
            row["overrides"] = VARIANTS[name] + arguments.set
            row.update(run_record(argv, arguments.minutes))
            report["variants"][name] = row
            headline = {key: row[key] for key in HEADLINE_KEYS}
            if name == "han":
                report.update(headline)
            else:
                report[name] = headline
            save_report(output, report)
        print(
            f"{name}: accuracy {row['mean_accuracy']:.2f} % "
            f"(std {row['std_accuracy'] if row['std_accuracy'] is None else round(row['std_accuracy'], 2)}) "
            f"over folds {row['folds_run']}; {row['total_train_seconds'] / 60:.1f} min of training",
            flush=True,
        )
    return report


if __name__ == "__main__":
    main()
