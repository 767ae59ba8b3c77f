"""CoNLL-2003 English NER: BiLSTM-CRF quality and speed on this machine's CPU.

Trains on eng.train within a time budget, selects the model on eng.testa by
entity F1 (checkpoint of the best epoch), reports seqeval strict IOB2 F1 on
eng.testa (dev) and eng.testb (test), training tokens/s, and the batch-1
latency of the exported string-in SavedModel on a 20-word sentence.
Variants are the ablations: without CRF (softmax) and without character features.

    python benchmarks/ner_conll2003.py --data-dir ../shared/data --minutes 60 --variants crf_char
"""

import argparse
import json
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from nlp_apps.config import load_config  # noqa: E402
from nlp_apps.export.versions import latest_version_dir  # noqa: E402
from nlp_apps.tasks.ner.task import NERTask  # noqa: E402
from reporting import load_report, run_record, save_report  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "ner_conll2003.json"
VARIANTS = {
    "crf_char": [],
    "softmax_char": ["model.use_crf=false"],
    "crf_no_char": ["model.encoder.char_embedding_dim=0"],
}
SENTENCE_20_WORDS = (
    "Germany 's representative to the European Union 's veterinary committee Werner Zwingmann said on "
    "Wednesday consumers should buy sheep"
)


def saved_model_latency_ms(config, repeats: int = 50) -> float:
    """Median batch-1 latency of the exported SavedModel (strings in, entities out)."""
    export_dir = latest_version_dir(config.export_dir())
    loaded = tf.saved_model.load(str(export_dir))
    serve = loaded.signatures["serving_default"]
    texts = tf.constant([SENTENCE_20_WORDS])
    for _ in range(5):
        serve(texts=texts)
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        serve(texts=texts)
        timings.append(1000 * (time.perf_counter() - started))
    return statistics.median(timings)


def run_variant(name: str, arguments) -> dict:
    overrides = [
        f"data.data_dir={arguments.data_dir}",
        f"output_dir={ROOT / 'benchmarks' / 'runs' / ('ner_conll2003_' + name)}",
        f"export.output_dir={ROOT / 'benchmarks' / 'runs' / ('ner_conll2003_' + name) / 'export'}",
        f"train.max_train_minutes={arguments.minutes}",
        "export.formats=[saved_model]",
    ] + VARIANTS[name] + arguments.set
    config = load_config([ROOT / "pipelines" / "ner_conll2003.yaml"], overrides)
    keras.backend.clear_session()
    cpu_started = time.process_time()
    task = NERTask(config)
    summary = task.train()
    cpu_seconds = time.process_time() - cpu_started
    dev = task.evaluate("dev")
    test = task.evaluate("test")
    task.export()
    row = {
        "variant": name,
        "overrides": VARIANTS[name] + arguments.set,
        "test_f1": test["f1"],
        "dev_f1": dev["f1"],
        "test_per_type_f1": {key: value["f1"] for key, value in test["per_type"].items()},
        "train_seconds": summary["train_seconds"],
        "train_cpu_seconds": cpu_seconds,
        "epochs_run": summary["epochs_run"],
        "tokens_per_s": summary["tokens_per_s"],
        "dev_f1_per_epoch": summary["dev_f1_per_epoch"],
        "latency_ms_batch1": saved_model_latency_ms(config),
    }
    print(json.dumps(row, indent=2), flush=True)
    return row


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=os.environ.get("NLP_APPS_DATA", "../shared/data"))
    parser.add_argument("--minutes", type=float, default=60.0, help="training time budget per variant")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--set", action="append", default=[], help="extra config override for every variant")
    parser.add_argument("--output", default=str(RESULTS))
    arguments = parser.parse_args(argv)
    arguments.data_dir = str(Path(arguments.data_dir).resolve())

    output = Path(arguments.output)
    report = load_report(output, "variants")
    for name in arguments.variants:
        row = run_variant(name, arguments)
        row.update(run_record(argv, arguments.minutes))
        report["variants"][name] = row
        if name == "crf_char":
            report.update({key: row[key] for key in ("test_f1", "dev_f1", "train_seconds", "latency_ms_batch1", "tokens_per_s")})
        save_report(output, report)
    return report


if __name__ == "__main__":
    main()
