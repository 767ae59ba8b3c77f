"""Reliability (issue 19): distributed equality, kill -9 / --resume trials, probes of hostile input.

    python benchmarks/reliability.py [--trials 10] [--epochs 6] [--output benchmarks/results/reliability.json]

Sections (each also summarised at the top level):

- `distributed`: `benchmarks/replica_equality.py` (one step on 2 logical
  CPUs under MirroredStrategy vs one device, per task model) ->
  `distributed_max_relative_loss_diff`.
- `kill_resume`: one uninterrupted reference run of the NER sample, then
  `--trials` runs killed with SIGKILL — half at a random moment, half aimed
  at the checkpoint write of a random epoch (killed as soon as its
  temporary folder appears) — each resumed with `--resume` until it completes. A trial is
  *lost* when a resume fails or the final `history.csv` or `best.keras`
  weights differ from the reference -> `kill_resume_trials`,
  `kill_resume_lost`.

- `fuzz`: the four bundled samples trained briefly and exported, then
  `--fuzz-cases` hypothesis-generated batches per string-in signature
  (random Unicode with control, zero-width, right-to-left and astral
  characters, NUL, empty strings, 0-4 texts per batch, one text beyond the
  length limit in some) -> `fuzz_cases_total`, `fuzz_crashes` (calls that
  raised, or returned a result count other than the batch size).
- `length_limit`: per signature the seconds of one call on a text of
  exactly its `max_input_chars` -> `max_request_seconds_at_length_limit`.

Every training is a fresh `nlp-apps train` process, as a user runs it (the
samples for `fuzz` train in this process).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reporting import run_record, save_report  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PIPELINE = "pipelines/ner_sample.yaml"


def replica_equality() -> dict:
    started = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "replica_equality.py")], capture_output=True, text=True, cwd=ROOT, timeout=900
    )
    if completed.returncode != 0:
        return {"error": completed.stderr[-2000:]}
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    rows = {}
    for name, row in result.items():
        if not isinstance(row, dict):
            continue
        rows[name] = {
            **row,
            "relative_loss_diff": abs(row["mirrored_loss"] - row["single_loss"]) / max(abs(row["single_loss"]), 1e-12),
        }
    return {"replicas": result["replicas"], "models": rows, "seconds": round(time.perf_counter() - started, 1)}


def train_command(run_dir: Path, epochs: int, resume: bool = False) -> list[str]:
    command = [
        sys.executable, "-m", "nlp_apps", "train", "-c", PIPELINE,
        "--set", f"output_dir={run_dir}", "--set", "train.verbose=0", "--set", f"train.epochs={epochs}",
    ]
    return command + (["--resume"] if resume else [])


def final_state(run_dir: Path) -> dict:
    """The history and best-model weights a finished run ends with."""
    import keras
    import numpy as np

    from nlp_apps.tasks.ner.model import SequenceTagger  # noqa: F401  (registered for loading)

    model = keras.saving.load_model(run_dir / "best.keras", compile=False)
    return {
        "history": (run_dir / "history.csv").read_text(),
        "weights": [np.asarray(weight) for weight in model.get_weights()],
    }


def max_weight_difference(reference: dict, state: dict) -> float:
    import numpy as np

    return max(float(np.max(np.abs(a - b))) for a, b in zip(reference["weights"], state["weights"]))


def kill_when(process: subprocess.Popen, run_dir: Path, aimed_epoch: int | None, delay: float) -> str:
    """Kills `process` with SIGKILL: at `delay` seconds, or while the checkpoint of `aimed_epoch` is being written."""
    backup = run_dir / "backup"
    started = time.perf_counter()
    while process.poll() is None:
        elapsed = time.perf_counter() - started
        if aimed_epoch is not None:
            writing = list(backup.glob(f".epoch-{aimed_epoch:04d}.tmp-*")) if backup.is_dir() else []
            if writing:
                process.send_signal(signal.SIGKILL)
                return f"during the write of epoch-{aimed_epoch:04d}"
        elif elapsed > delay:
            process.send_signal(signal.SIGKILL)
            return f"at {elapsed:.1f} s"
        time.sleep(0.002 if aimed_epoch is not None else 0.05)
    return "finished before the kill"


def kill_resume_trials(trials: int, epochs: int, seed: int) -> dict:
    work = Path(tempfile.mkdtemp(prefix="reliability-"))
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    try:
        started = time.perf_counter()
        reference_dir = work / "reference"
        subprocess.run(train_command(reference_dir, epochs), check=True, cwd=ROOT, env=environment,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=900)
        reference_seconds = time.perf_counter() - started
        reference = final_state(reference_dir)
        generator = random.Random(seed)
        rows = []
        for trial in range(trials):
            run_dir = work / f"trial-{trial}"
            aimed = trial % 2 == 1
            # Start-up is most of a short run: aim the random kills over the training part.
            delay = generator.uniform(0.55, 0.95) * reference_seconds
            aimed_epoch = generator.randint(1, epochs - 1) if aimed else None
            process = subprocess.Popen(train_command(run_dir, epochs), cwd=ROOT, env=environment,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            moment = kill_when(process, run_dir, aimed_epoch, delay)
            process.wait()
            resumes, error = 0, None
            while not moment.startswith("finished"):
                completed = subprocess.run(train_command(run_dir, epochs, resume=True), cwd=ROOT, env=environment,
                                           capture_output=True, text=True, timeout=900)
                resumes += 1
                if completed.returncode == 0:
                    break
                if "no complete checkpoint" in completed.stderr or "no checkpoint to resume from" in completed.stderr:
                    # Killed before the first epoch ended: nothing to resume, a fresh start is the documented way on.
                    moment += " (before the first checkpoint: restarted)"
                    completed = subprocess.run(train_command(run_dir, epochs), cwd=ROOT, env=environment,
                                               capture_output=True, text=True, timeout=900)
                    if completed.returncode == 0:
                        break
                error = completed.stderr.strip().splitlines()[-1] if completed.stderr.strip() else f"exit {completed.returncode}"
                break
            row = {"trial": trial, "aimed_at_checkpoint_write": aimed, "killed": moment, "resume_runs": resumes}
            if error is None:
                state = final_state(run_dir)
                row["same_history"] = state["history"] == reference["history"]
                row["max_weight_diff"] = max_weight_difference(reference, state)
                row["lost"] = not (row["same_history"] and row["max_weight_diff"] <= 1e-6)
            else:
                row["error"] = error
                row["lost"] = True
            print(json.dumps(row), flush=True)
            rows.append(row)
        return {
            "pipeline": PIPELINE,
            "epochs": epochs,
            "reference_seconds": round(reference_seconds, 1),
            "trials": rows,
            "seconds": round(time.perf_counter() - started, 1),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


SAMPLES = {
    "ner_sample": "pipelines/ner_sample.yaml",
    "sentiment_sample": "pipelines/sentiment_sample.yaml",
    "translation_sample": "pipelines/translation_sample.yaml",
    "lm_sample": "pipelines/lm_sample.yaml",
}
SENTENCE = "EU rejects German call to boycott British lamb . Peter Blackburn met officials in New York . "


def exported_samples(root: Path) -> dict:
    """`{name: (loaded SavedModel, manifest)}` of the four samples (2 epochs each, SavedModel only)."""
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers the ops the SavedModels use)

    from nlp_apps.config import load_config
    from nlp_apps.tasks.registry import get_task

    exported = {}
    for name, pipeline in SAMPLES.items():
        config = load_config([pipeline], [
            f"output_dir={root / 'runs' / name}", f"export.output_dir={root / 'models' / name}", "train.verbose=0",
            "train.epochs=2", "export.formats=[saved_model]", "export.verify=false",
        ])
        task = get_task(config)
        task.train()
        manifest = task.export()
        exported[name] = (tf.saved_model.load(manifest["export_dir"]), manifest)
    return exported


def signature_calls(exported: dict) -> dict:
    """`{"model/signature": (call(texts) -> outputs, name of an output with one row per text, limit)}`."""
    import tensorflow as tf

    def call(model, signature, argument, **extra):
        function = model.signatures[signature]
        constants = {key: tf.constant(value) for key, value in extra.items()}
        return lambda texts: function(**{argument: tf.constant(texts, tf.string)}, **constants)

    generate = {"max_length": 20, "temperature": 0.8, "top_k": 10, "top_p": 0.95, "seed": tf.constant(7, tf.int64)}
    table = {
        "ner_sample/serving_default": ("ner_sample", "serving_default", "texts", {}, "num_tokens"),
        "sentiment_sample/serving_default": ("sentiment_sample", "serving_default", "texts", {}, "label"),
        "translation_sample/translate": ("translation_sample", "translate", "text", {}, "translation"),
        "translation_sample/translate_greedy": ("translation_sample", "translate_greedy", "text", {}, "translation"),
        "lm_sample/score": ("lm_sample", "score", "text", {}, "perplexity"),
        "lm_sample/generate": ("lm_sample", "generate", "prompt", generate, "text"),
    }
    calls = {}
    for key, (name, signature, argument, extra, row_output) in table.items():
        model, manifest = exported[name]
        calls[key] = (call(model, signature, argument, **extra), row_output, manifest["task_info"]["max_input_chars"])
    return calls


def fuzz(calls: dict, cases: int) -> dict:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    hostile = "\u200b\u200c\u200d\u2060\ufeff\u202e\u061c\u05d0\u0627\x00\x01\x1b\x7f\x85\u2028\U0001f600\u0301"
    text = st.text(alphabet=st.one_of(st.characters(codec="utf-8"), st.sampled_from(hostile), st.sampled_from(" .,-'\"\nA")),
                   max_size=300)
    rows = {}
    for key, (function, row_output, limit) in calls.items():
        long_text = st.just(SENTENCE * (limit // len(SENTENCE) + 2))
        batches = st.lists(st.one_of(text, text, text, long_text), min_size=0, max_size=4)
        counts = {"cases": 0, "crashes": 0, "examples": []}

        @settings(max_examples=cases, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(texts=batches)
        def run(texts):
            counts["cases"] += 1
            try:
                outputs = function(texts)
                if outputs[row_output].shape[0] != len(texts):
                    raise AssertionError(f"{outputs[row_output].shape[0]} results for {len(texts)} texts")
            except Exception as error:  # noqa: BLE001 - a crash is what is counted
                counts["crashes"] += 1
                if len(counts["examples"]) < 3:
                    counts["examples"].append({"texts": [t[:80] for t in texts], "error": str(error)[:300]})

        started = time.perf_counter()
        run()
        rows[key] = {**counts, "seconds": round(time.perf_counter() - started, 1)}
        print(json.dumps({key: rows[key]}), flush=True)
    return rows


def length_limit(calls: dict) -> dict:
    rows = {}
    for key, (function, _, limit) in calls.items():
        text = (SENTENCE * (limit // len(SENTENCE) + 1))[:limit]
        function(["warm up"])
        started = time.perf_counter()
        outputs = function([text])
        seconds = time.perf_counter() - started
        rows[key] = {"max_input_chars": limit, "seconds": round(seconds, 3),
                     "truncated": bool(outputs["truncated"][0]) if "truncated" in outputs else None}
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--fuzz-cases", type=int, default=100, help="hypothesis batches per signature")
    parser.add_argument("--skip-kill-resume", action="store_true", help="only the other sections (for a quick re-run)")
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "reliability.json"))
    arguments = parser.parse_args(argv)
    report = {**run_record(argv)}
    report["distributed"] = replica_equality()
    models = report["distributed"].get("models", {})
    report["distributed_max_relative_loss_diff"] = max((row["relative_loss_diff"] for row in models.values()), default=None)
    report["distributed_max_weight_diff"] = max((row["max_weight_diff"] for row in models.values()), default=None)
    if not arguments.skip_kill_resume:
        report["kill_resume"] = kill_resume_trials(arguments.trials, arguments.epochs, arguments.seed)
        trials = report["kill_resume"]["trials"]
        report["kill_resume_trials"] = len(trials)
        report["kill_resume_lost"] = sum(row["lost"] for row in trials)
        # Of the trials: killed after a checkpoint existed (resumed), before one (restarted), or not killed at all.
        report["kill_resume_resumed"] = sum("restarted" not in row["killed"] and "finished" not in row["killed"] for row in trials)
        report["kill_resume_restarted"] = sum("restarted" in row["killed"] for row in trials)
    with tempfile.TemporaryDirectory(prefix="reliability-samples-") as root:
        calls = signature_calls(exported_samples(Path(root)))
        report["fuzz"] = fuzz(calls, arguments.fuzz_cases)
        report["fuzz_cases_total"] = sum(row["cases"] for row in report["fuzz"].values())
        report["fuzz_crashes"] = sum(row["crashes"] for row in report["fuzz"].values())
        report["length_limit"] = length_limit(calls)
        report["max_request_seconds_at_length_limit"] = max(row["seconds"] for row in report["length_limit"].values())
    save_report(Path(arguments.output), report)
    print(json.dumps({key: value for key, value in report.items() if not isinstance(value, dict)}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
