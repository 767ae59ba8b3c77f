"""Training throughput of an LSTM language-model step with and without length bucketing.

Trains a 2-layer, 256-unit LSTM LM on PTB sentences (one sentence per example,
next-word prediction) for the same number of steps twice: once with batches
grouped by length (`tf.data` bucketing) and once with shuffled batches padded
to their longest sentence. Reports real (non-padding) tokens per second and
the fraction of padded positions, and writes benchmarks/results/bucketing.json.

    python benchmarks/bucketing.py --data-dir ../shared/data --steps 150
"""

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from nlp_apps.config import EncoderConfig  # noqa: E402
from nlp_apps.data.batching import bucket_boundaries_from_lengths, make_batches, padding_fraction  # noqa: E402
from nlp_apps.data.files import resolve_data_path  # noqa: E402
from nlp_apps.data.plain_text_reader import read_plain_text  # noqa: E402
from nlp_apps.encoders.registry import build_encoder  # noqa: E402
from nlp_apps.text.vocabulary import Vocabulary  # noqa: E402
from reporting import run_record, save_report  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "bucketing.json"


def build_language_model(vocabulary_size: int) -> keras.Model:
    encoder = build_encoder(
        EncoderConfig(cell_type="lstm", embedding_dim=256, units=256, num_layers=2, bidirectional=False),
        vocabulary_size=vocabulary_size,
    )
    token_ids = keras.Input((None,), dtype="int32", name="token_ids")
    logits = keras.layers.Dense(vocabulary_size, name="next_word")(encoder(token_ids))
    model = keras.Model(token_ids, logits)
    model.compile(optimizer=keras.optimizers.Adam(1e-3, global_clipnorm=5.0), loss=masked_loss)
    return model


def masked_loss(targets, logits):
    losses = keras.losses.sparse_categorical_crossentropy(targets, logits, from_logits=True)
    mask = tf.cast(targets > 0, losses.dtype)
    return tf.reduce_sum(losses * mask) / tf.maximum(tf.reduce_sum(mask), 1.0)


def shift_for_next_word(batch):
    ids = batch["token_ids"]
    return ids[:, :-1], ids[:, 1:]


def measure(model, batches, steps: int, warmup: int) -> dict:
    """Runs `warmup` untimed steps (tracing), then times `steps` steps."""
    iterator = iter(batches.repeat())
    real_tokens = 0
    padded_positions = 0
    for _ in range(warmup):
        inputs, targets = next(iterator)
        model.train_on_batch(inputs, targets)
    started = time.perf_counter()
    cpu_started = time.process_time()
    for _ in range(steps):
        inputs, targets = next(iterator)
        model.train_on_batch(inputs, targets)
        real_tokens += int(tf.math.count_nonzero(targets))
        padded_positions += int(tf.size(targets))
    seconds = time.perf_counter() - started
    return {
        "tokens_per_s": real_tokens / seconds,
        "seconds": seconds,
        "cpu_seconds": time.process_time() - cpu_started,
        "steps": steps,
        "real_tokens": real_tokens,
        "padding_fraction": 1.0 - real_tokens / padded_positions,
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=os.environ.get("NLP_APPS_DATA", "../shared/data"))
    parser.add_argument("--sentences", type=int, default=20000, help="PTB training sentences to draw batches from")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--num-buckets", type=int, default=10)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--output", default=str(RESULTS))
    arguments = parser.parse_args(argv)

    keras.utils.set_random_seed(1234)
    path = resolve_data_path("ptb/ptb.train.txt", arguments.data_dir)
    sentences = [line.split() + ["<eos>"] for line in read_plain_text(path)["text"][: arguments.sentences]]
    vocabulary = Vocabulary.build(sentences, extra_special_tokens=("<s>",))
    start = vocabulary.token_to_id("<s>")
    token_ids = [[start] + vocabulary.encode(sentence) for sentence in sentences]
    features = {"token_ids": tf.ragged.constant(token_ids, dtype=tf.int32)}
    lengths = [len(ids) for ids in token_ids]
    boundaries = bucket_boundaries_from_lengths(lengths, arguments.num_buckets)

    results = {}
    for mode, bucket_boundaries in (("bucketed", boundaries), ("padded", None)):
        batches = make_batches(
            features, batch_size=arguments.batch_size, bucket_boundaries=bucket_boundaries, shuffle=True, seed=1234, length_key="token_ids"
        )
        dataset_padding = padding_fraction(batches, "token_ids")
        model = build_language_model(len(vocabulary))
        measured = measure(model, batches.map(shift_for_next_word), arguments.steps, arguments.warmup)
        measured["dataset_padding_fraction"] = dataset_padding
        results[mode] = measured
        print(f"{mode}: {measured['tokens_per_s']:.0f} tokens/s, padding {measured['padding_fraction']:.1%} "
              f"(whole data set {dataset_padding:.1%}), {measured['seconds']:.1f} s", flush=True)

    report = {
        "benchmark": "bucketing",
        "model": "2-layer 256-unit LSTM LM (embedding 256, softmax over the vocabulary), sentence-level",
        "data": f"PTB train, first {len(sentences)} sentences, vocabulary {len(vocabulary)}",
        "batch_size": arguments.batch_size,
        "bucket_boundaries": [int(b) for b in boundaries],
        "tokens_per_s_bucketed": results["bucketed"]["tokens_per_s"],
        "tokens_per_s_padded": results["padded"]["tokens_per_s"],
        "speedup": results["bucketed"]["tokens_per_s"] / results["padded"]["tokens_per_s"],
        "padding_fraction_bucketed": results["bucketed"]["dataset_padding_fraction"],
        "padding_fraction_padded": results["padded"]["dataset_padding_fraction"],
        "runs": results,
        **run_record(argv),
    }
    save_report(Path(arguments.output), report)
    print(json.dumps({key: value for key, value in report.items() if key != "runs"}, indent=2))
    return report


if __name__ == "__main__":
    main()
