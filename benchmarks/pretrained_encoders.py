"""What a pretrained encoder buys: pretraining cost, then task scores with and without it, at 100 % and 10 % of the labels.

Per task (`--tasks conll imdb`):

1. pretrain the task's encoder as a bidirectional LM on its corpora
   (`pipelines/pretrain_<...>.yaml`, never a test split) within
   `--pretrain-minutes`; the card gives corpora, words, minutes, held-out
   perplexity per direction;
2. four fine-tuning arms, the same budget and head for both sides of each pair:
   `pretrained` (pipelines/<task>_pretrained.yaml) and `scratch` (the task's
   own pipeline) on all training labels (`--full-minutes`) and on a seeded
   `--fraction` of them (`--small-minutes`); dev and test are complete in every arm.
   `--reuse-scratch` takes the from-scratch 100 % row from the task's committed
   benchmark results instead of training it again.

Each arm records test and dev scores, its dev score per epoch against
training seconds (the learning curve), and its training time.

    python benchmarks/pretrained_encoders.py --data-dir ../shared/data --tasks conll --reuse-scratch
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
from nlp_apps.tasks.registry import get_task  # noqa: E402
from reporting import load_report, run_record, save_report  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "pretrained_encoders.json"
RUNS = ROOT / "benchmarks" / "runs"

TASKS = {
    "conll": {
        "pretrain": "pretrain_conll2003.yaml",
        "pretrained": "ner_conll2003_pretrained.yaml",
        "scratch": "ner_conll2003.yaml",
        "score": "f1",
        "curve": "dev_f1_per_epoch",
        "key": "conll_f1",
        "committed": ("ner_conll2003.json", ("variants", "crf_char"), "test_f1"),
    },
    "imdb": {
        "pretrain": "pretrain_imdb.yaml",
        "pretrained": "sentiment_imdb_pretrained.yaml",
        "scratch": "sentiment_imdb.yaml",
        "score": "accuracy",
        "curve": "dev_accuracy_per_epoch",
        "key": "imdb_accuracy",
        "committed": ("sentiment_imdb.json", ("variants", "han"), "test_accuracy"),
    },
}


def _config(pipeline: str, run_name: str, arguments, extra: list):
    overrides = [
        f"data.data_dir={arguments.data_dir}",
        f"output_dir={RUNS / run_name}",
        f"export.output_dir={RUNS / run_name / 'export'}",
    ] + extra + arguments.set
    return load_config([ROOT / "pipelines" / pipeline], overrides)


def pretrain(task_name: str, arguments) -> dict:
    spec = TASKS[task_name]
    artifact_dir = RUNS / f"pretrain_{task_name}" / "artifact"
    config = _config(spec["pretrain"], f"pretrain_{task_name}", arguments, [
        f"train.max_train_minutes={arguments.pretrain_minutes}", f"pretrain.artifact_dir={artifact_dir}",
    ])
    keras.backend.clear_session()
    started = time.perf_counter()
    get_task(config).train()
    wall = time.perf_counter() - started
    card = json.loads((artifact_dir / "encoder_card.json").read_text())
    return {
        "artifact": str(artifact_dir.relative_to(ROOT)),
        "wall_minutes": wall / 60.0,
        "train_minutes": card["training"]["minutes"],
        "corpora": card["corpora"],
        "words_per_epoch": card["training"]["words_per_epoch"],
        "words_trained": card["training"]["words_trained"],
        "words_per_second": card["training"]["words_per_second"],
        "epochs": card["training"]["epochs"],
        "best_epoch": card["training"]["best_epoch"],
        "held_out_perplexity": card["held_out"]["perplexity"],
        "held_out_unknown_rate": card["held_out"]["unknown_rate"],
        "vocabulary_size": card["text"]["vocabulary_size"],
    }


def fine_tune(task_name: str, arm: str, fraction: float, minutes: float, arguments) -> dict:
    spec = TASKS[task_name]
    artifact_dir = RUNS / f"pretrain_{task_name}" / "artifact"
    pipeline = spec["pretrained"] if arm == "pretrained" else spec["scratch"]
    label = f"{task_name}_{arm}_{int(round(100 * fraction))}pct"
    extra = [f"train.max_train_minutes={minutes}", f"data.train_fraction={fraction}", "export.formats=[saved_model]"]
    if arm == "pretrained":
        extra.append(f"model.encoder.pretrained={artifact_dir}")
    config = _config(pipeline, label, arguments, extra)
    keras.backend.clear_session()
    task = get_task(config)
    summary = task.train()
    dev = task.evaluate("dev")
    test = task.evaluate("test")
    row = {
        "arm": arm,
        "pipeline": f"pipelines/{pipeline}",
        "train_fraction": fraction,
        "budget_minutes": minutes,
        # Both tasks report percent.
        f"test_{spec['score']}": test[spec["score"]],
        f"dev_{spec['score']}": dev[spec["score"]],
        "train_minutes": summary["train_seconds"] / 60.0,
        "epochs_run": summary["epochs_run"],
        "curve": {"epoch_end_minutes": [s / 60.0 for s in summary["epoch_end_seconds"]], "dev": summary.get(spec["curve"], [])},
    }
    if arm == "pretrained":
        row["export_verification"] = task.export().get("verification")
    print(json.dumps(row, indent=2), flush=True)
    return row


def committed_scratch_row(task_name: str) -> dict:
    file_name, path, score_key = TASKS[task_name]["committed"]
    report = json.loads((ROOT / "benchmarks" / "results" / file_name).read_text())
    row = report
    for key in path:
        row = row[key]
    score = TASKS[task_name]["score"]
    return {
        "arm": "scratch",
        "train_fraction": 1.0,
        "reused_from": f"benchmarks/results/{file_name} ({'/'.join(path)})",
        f"test_{score}": row[score_key],
        f"dev_{score}": row.get(f"dev_{score}"),
        "train_minutes": row.get("train_seconds", 0.0) / 60.0,
        "command": row.get("command"),
        "date": row.get("date"),
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=os.environ.get("NLP_APPS_DATA", "../shared/data"))
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--pretrain-minutes", type=float, default=40.0)
    parser.add_argument("--full-minutes", type=float, default=30.0)
    parser.add_argument("--small-minutes", type=float, default=10.0)
    parser.add_argument("--fraction", type=float, default=0.1)
    parser.add_argument("--arms", nargs="+", default=["pretrained_full", "scratch_full", "pretrained_small", "scratch_small"])
    parser.add_argument("--skip-pretrain", action="store_true", help="reuse the artifact of an earlier run")
    parser.add_argument("--reuse-scratch", action="store_true", help="take the from-scratch 100 %% row from the committed results")
    parser.add_argument("--set", action="append", default=[], help="extra config override for every run")
    parser.add_argument("--output", default=str(RESULTS))
    arguments = parser.parse_args(argv)
    arguments.data_dir = str(Path(arguments.data_dir).resolve())
    output = Path(arguments.output)
    report = load_report(output, "tasks")
    suffix = f"_{int(round(100 * arguments.fraction))}pct"
    for task_name in arguments.tasks:
        spec = TASKS[task_name]
        entry = report["tasks"].setdefault(task_name, {"arms": {}})
        entry.update(run_record(argv))
        if not arguments.skip_pretrain:
            entry["pretraining"] = pretrain(task_name, arguments)
            report[f"pretrain_minutes_{task_name}"] = entry["pretraining"]["train_minutes"]
            save_report(output, report)
        for arm_name in arguments.arms:
            arm, size = arm_name.split("_")
            fraction = 1.0 if size == "full" else arguments.fraction
            if arm_name == "scratch_full" and arguments.reuse_scratch:
                row = committed_scratch_row(task_name)
            else:
                row = fine_tune(task_name, arm, fraction, arguments.full_minutes if size == "full" else arguments.small_minutes, arguments)
            row["date_finished"] = run_record(argv)["date"]
            entry["arms"][arm_name] = row
            key = spec["key"] + f"_{arm}" + ("" if size == "full" else suffix)
            report[key] = row[f"test_{spec['score']}"]
            save_report(output, report)
    return report


if __name__ == "__main__":
    main()
