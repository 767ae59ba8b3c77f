"""Language modeling: PTB word-level perplexity within a CPU time budget, plus WikiText-2 and tinyshakespeare.

Trains each pipeline within the time budget (stopping before an epoch that
would overrun it), keeps the checkpoint with the best validation perplexity,
and evaluates it the standard way: one stream (batch 1), state carried over
the whole split, every token including `<eos>` predicted once. Reports test
and validation perplexity (bits per character for tinyshakespeare), training
seconds and tokens/s, and the curve of validation perplexity against
training time (one point per epoch).

Anchors (PTB test perplexity): Zaremba et al. 2014 small LSTM 115.9 (13
epochs), medium 82.1; AWD-LSTM 57.3. Target: <= 110 within 60 minutes.

    python benchmarks/lm_ptb.py --data-dir ../shared/data --minutes 60 --datasets ptb
    python benchmarks/lm_ptb.py --datasets ptb wikitext2 char_shakespeare
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
from nlp_apps.tasks.language_model.task import LanguageModelTask  # noqa: E402
from reporting import load_report, run_record, save_report  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "lm_ptb.json"
DATASETS = {
    "ptb": "lm_ptb.yaml",
    "wikitext2": "lm_wikitext2.yaml",
    "char_shakespeare": "lm_char_shakespeare.yaml",
}


def run_dataset(name: str, arguments) -> dict:
    run_dir = ROOT / "benchmarks" / "runs" / f"lm_{name}"
    # The budget includes the per-epoch validation; the TimeBudget callback
    # stops before an epoch that would overrun it.
    overrides = [
        f"data.data_dir={arguments.data_dir}",
        f"output_dir={run_dir}",
        f"export.output_dir={run_dir / 'export'}",
        f"train.max_train_minutes={arguments.minutes}",
    ] + arguments.set
    config = load_config([ROOT / "pipelines" / DATASETS[name]], overrides)
    keras.backend.clear_session()
    cpu_started = time.process_time()
    task = LanguageModelTask(config)
    summary = task.train()
    cpu_seconds = time.process_time() - cpu_started
    valid = task.evaluate("dev")
    test = task.evaluate("test")
    row = {
        "dataset": name,
        "pipeline": f"pipelines/{DATASETS[name]}",
        "overrides": arguments.set,
        "test_perplexity": test["perplexity"],
        "valid_perplexity": valid["perplexity"],
        "test_tokens": test["num_tokens"],
        "train_seconds": summary["train_seconds"],
        "train_cpu_seconds": cpu_seconds,
        "epochs_run": summary["epochs_run"],
        "tokens_per_s": summary["tokens_per_s"],
        "tokens_per_s_without_validation": summary["tokens_per_s_without_validation"],
        "vocabulary_size": summary["vocabulary_size"],
        # Validation here uses train.eval_streams parallel streams (faster);
        # the final numbers above use one stream.
        "valid_perplexity_curve": summary["valid_perplexity_curve"],
    }
    if "bits_per_character" in test:
        row["test_bits_per_character"] = test["bits_per_character"]
        row["valid_bits_per_character"] = valid["bits_per_character"]
    print(json.dumps(row, indent=2), flush=True)
    return row


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=os.environ.get("NLP_APPS_DATA", "../shared/data"))
    parser.add_argument("--minutes", type=float, default=60.0, help="training time budget per data set")
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--set", action="append", default=[], help="extra config override for every data set")
    parser.add_argument("--output", default=str(RESULTS))
    arguments = parser.parse_args(argv)
    arguments.data_dir = str(Path(arguments.data_dir).resolve())

    output = Path(arguments.output)
    report = load_report(output, "datasets")
    for name in arguments.datasets:
        row = run_dataset(name, arguments)
        row.update(run_record(argv, arguments.minutes))
        report["datasets"][name] = row
        if name == "ptb":
            report.update(
                {key: row[key] for key in ("test_perplexity", "valid_perplexity", "train_seconds", "tokens_per_s")}
            )
            report["curve"] = [
                {"seconds": point["seconds"], "valid_perplexity": point["valid_perplexity"]}
                for point in row["valid_perplexity_curve"]
            ]
        save_report(output, report)
    return report


if __name__ == "__main__":
    main()
