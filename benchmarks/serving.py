"""Serving benchmark (issue 18): in-process SavedModel speed, then `nlp-apps serve` under concurrent load.

For each model given with `--model NAME=CONFIG,RUN_DIR` (a pipeline config
and the run directory of a model trained on real data), this exports a
SavedModel version through `nlp-apps export` (into
`benchmarks/runs/serving_models/NAME/`), then measures:

1. in-process: batch-1 latency p50/p99 over `--latency-calls` real test
   inputs, and throughput at batch 32 (examples/s), calling the SavedModel
   signature directly (tokenization included: the signatures take strings);
2. the server (`nlp-apps serve` in its own process, loopback) under
   `--clients` concurrent clients for `--seconds` each: an asyncio loop of
   httpx clients, each sending one real test input per request (row format)
   and waiting for the answer before sending the next (a closed loop, so
   the load is bounded); requests/s, latency p50/p99, error count, and the
   server's RSS at start and after each level;
3. the same at `--compare-clients` clients against a second server with
   batching off (`--max-batch-size 1`): the gain of server-side batching.

Inputs: CoNLL-2003 eng.testb sentences (tokens joined by spaces), IMDB test
reviews (the first ones of at most `--max-text-chars` characters),
Multi30k test2016 English sources; translation uses `translate_greedy` in
both parts (set `--translation-signature translate` for beam search).
Client and server share the machine's cores: on 2 cores the load generator
takes part of the CPU the server could use, which the results say.

    python benchmarks/serving.py --data-dir ../shared/data \\
        --model ner=pipelines/ner_conll2003.yaml,benchmarks/runs/deploy_ner \\
        --model sentiment=pipelines/sentiment_imdb.yaml,benchmarks/runs/deploy_sentiment \\
        --model translation=pipelines/translation_multi30k_en_de.yaml,benchmarks/runs/deploy_translation
"""

import argparse
import asyncio
import itertools
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import httpx  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from reporting import run_record, save_report  # noqa: E402

from nlp_apps.config import load_config  # noqa: E402
from nlp_apps.data.columns import column  # noqa: E402
from nlp_apps.tasks.registry import get_task  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "benchmarks" / "results" / "serving.json"
MODELS_DIR = ROOT / "benchmarks" / "runs" / "serving_models"


def test_texts(task, limit, max_chars):
    data = task.read_split("test")
    if task.name == "ner":
        texts = [" ".join(tokens) for tokens in column(data, "tokens")]
    elif task.name == "sentiment":
        texts = column(data, "text")
    elif task.name == "translation":
        texts = column(data, "source")
    else:
        raise ValueError(f"--model: task {task.name!r} is not benchmarked here")
    texts = [text for text in texts if text.strip() and len(text) <= max_chars]
    return texts[:limit]


def signature_of(task_name, arguments):
    return arguments.translation_signature if task_name == "translation" else "serving_default"


def input_name(task_name):
    return "text" if task_name == "translation" else "texts"


def percentiles(values):
    values = np.asarray(values, dtype=np.float64) * 1000.0
    return {"p50_ms": float(np.percentile(values, 50)), "p99_ms": float(np.percentile(values, 99)), "mean_ms": float(values.mean())}


def in_process(export_dir, task_name, texts, arguments):
    loaded = tf.saved_model.load(str(export_dir))
    function = loaded.signatures[signature_of(task_name, arguments)]
    key = input_name(task_name)
    for text in texts[:5]:
        function(**{key: tf.constant([text])})
    timings = []
    for text in itertools.islice(itertools.cycle(texts), arguments.latency_calls):
        started = time.perf_counter()
        function(**{key: tf.constant([text])})
        timings.append(time.perf_counter() - started)
    batches = [texts[index:index + 32] for index in range(0, min(len(texts), 32 * arguments.throughput_batches), 32)]
    batches = [batch for batch in batches if len(batch) == 32]
    function(**{key: tf.constant(batches[0])})
    started = time.perf_counter()
    for batch in batches:
        function(**{key: tf.constant(batch)})
    seconds = time.perf_counter() - started
    return {
        "batch_1_latency": percentiles(timings),
        "batch_1_calls": len(timings),
        "batch_32_examples_per_second": 32 * len(batches) / seconds,
        "batch_32_batches": len(batches),
    }


def cpu_seconds(pid):
    """User + system CPU seconds of a process, all its threads."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


class ServerProcess:
    def __init__(self, extra, log_path):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(log_path, "w")
        command = [sys.executable, "-m", "nlp_apps", "serve", "--model-base", str(MODELS_DIR), "--port", str(self.port), *extra]
        self.command = " ".join(["nlp-apps", *command[3:]])
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}; see {log_path}")
            try:
                if httpx.get(f"{self.url}/demo/models", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(1)
        self.started_rss_mb = rss_mb(self.process.pid)

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=60)
        self.log.close()


def level_row(clients, elapsed, latencies, errors, error_samples):
    """One load level's result: requests/s, latency percentiles, errors (with a few samples)."""
    row = {"clients": clients, "seconds": elapsed, "requests": len(latencies), "requests_per_second": len(latencies) / elapsed, "errors": errors}
    if latencies:
        row["latency"] = percentiles(latencies)
    if error_samples:
        row["error_samples"] = error_samples
    return row


async def load(url, name, task_name, texts, clients, seconds, arguments):
    if arguments.client == "aiohttp":
        return await load_aiohttp(url, name, task_name, texts, clients, seconds, arguments)
    body_signature = signature_of(task_name, arguments)
    latencies, errors, error_samples = [], 0, []
    counter = itertools.count()
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=120) as http:
        async def client():
            nonlocal errors
            while time.monotonic() < deadline:
                text = texts[next(counter) % len(texts)]
                started = time.perf_counter()
                try:
                    response = await http.post(f"/v1/models/{name}:predict", json={"signature_name": body_signature, "instances": [text]})
                    ok = response.status_code == 200 and len(response.json()["predictions"]) == 1
                except (httpx.HTTPError, ValueError, KeyError) as error:
                    ok, response = False, error
                if ok:
                    latencies.append(time.perf_counter() - started)
                else:
                    errors += 1
                    if len(error_samples) < 3:
                        error_samples.append(getattr(response, "text", repr(response))[:200])

        started = time.monotonic()
        await asyncio.gather(*[client() for _ in range(clients)])
        elapsed = time.monotonic() - started
    return level_row(clients, elapsed, latencies, errors, error_samples)


async def load_aiohttp(url, name, task_name, texts, clients, seconds, arguments):
    """The same closed loop with aiohttp's client, which costs less CPU per request than httpx's."""
    import aiohttp

    body_signature = signature_of(task_name, arguments)
    latencies, errors, error_samples = [], 0, []
    counter = itertools.count()
    deadline = time.monotonic() + seconds
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(url, connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as http:
        async def client():
            nonlocal errors
            while time.monotonic() < deadline:
                text = texts[next(counter) % len(texts)]
                started = time.perf_counter()
                problem = None
                try:
                    async with http.post(f"/v1/models/{name}:predict", json={"signature_name": body_signature, "instances": [text]}) as response:
                        answer = await response.json(content_type=None)
                        ok = response.status == 200 and len(answer["predictions"]) == 1
                        problem = None if ok else json.dumps(answer)[:200]
                except (aiohttp.ClientError, asyncio.TimeoutError, ValueError, KeyError) as error:
                    ok, problem = False, repr(error)[:200]
                if ok:
                    latencies.append(time.perf_counter() - started)
                else:
                    errors += 1
                    if len(error_samples) < 3:
                        error_samples.append(problem)

        started = time.monotonic()
        await asyncio.gather(*[client() for _ in range(clients)])
        elapsed = time.monotonic() - started
    return level_row(clients, elapsed, latencies, errors, error_samples)


def export(name, config_path, run_dir, arguments):
    model_base = MODELS_DIR / name
    shutil.rmtree(model_base, ignore_errors=True)
    overrides = [f"output_dir={run_dir}", f"export.output_dir={model_base}", "export.formats=[saved_model]"]
    if arguments.data_dir:
        overrides.append(f"data.data_dir={arguments.data_dir}")
    command = [sys.executable, "-m", "nlp_apps", "export", "-c", config_path]
    for override in overrides:
        command += ["--set", override]
    started = time.perf_counter()
    subprocess.run(command, check=True)
    config = load_config([config_path], overrides)
    return config, model_base / "1", time.perf_counter() - started


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=os.environ.get("NLP_APPS_DATA", ""))
    parser.add_argument("--model", action="append", required=True, metavar="NAME=CONFIG,RUN_DIR")
    parser.add_argument("--clients", default="8,32,128", help="concurrency levels, comma-separated")
    parser.add_argument("--compare-clients", type=int, default=32, help="level at which batching is compared with none")
    parser.add_argument("--seconds", type=float, default=60.0, help="seconds per load level")
    parser.add_argument("--latency-calls", type=int, default=200)
    parser.add_argument("--throughput-batches", type=int, default=10)
    parser.add_argument("--max-text-chars", type=int, default=10_000, help="the server's limit; longer test inputs are skipped")
    parser.add_argument("--translation-signature", default="translate_greedy")
    parser.add_argument("--max-batch-size", type=int, default=32)
    parser.add_argument("--batch-wait-ms", type=float, default=5.0)
    parser.add_argument("--client", choices=("httpx", "aiohttp"), default="httpx", help="the load generator's HTTP client")
    parser.add_argument("--output", default=str(OUTPUT))
    arguments = parser.parse_args(argv)
    levels = [int(level) for level in arguments.clients.split(",")]
    started_all = time.perf_counter()
    MODELS_DIR.mkdir(parents=True, exist_ok=True)
    report = {"serving": {}, **run_record(argv)}

    models = {}
    for spec in arguments.model:
        name, _, paths = spec.partition("=")
        config_path, _, run_dir = paths.partition(",")
        config, export_dir, export_seconds = export(name, config_path, run_dir, arguments)
        task = get_task(config)
        texts = test_texts(task, 2000, arguments.max_text_chars)
        models[name] = (task.name, texts)
        entry = {
            "task": task.name, "config": config_path, "run_dir": run_dir, "export_seconds": export_seconds,
            "signature": signature_of(task.name, arguments), "test_inputs": len(texts),
            "mean_input_chars": float(np.mean([len(text) for text in texts])),
        }
        entry["in_process"] = in_process(export_dir, task.name, texts, arguments)
        print(name, json.dumps(entry["in_process"]), flush=True)
        report["serving"][name] = entry

    log_dir = ROOT / "benchmarks" / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    batching_flags = ["--max-batch-size", str(arguments.max_batch_size), "--batch-wait-ms", str(arguments.batch_wait_ms),
                      "--max-text-chars", str(arguments.max_text_chars)]
    rss_growth = []
    for label, flags in (("batching", batching_flags), ("no_batching", ["--max-batch-size", "1", "--max-text-chars", str(arguments.max_text_chars)])):
        server = ServerProcess(flags, log_dir / f"serving_{label}.log")
        report[f"server_{label}"] = {"command": server.command, "rss_start_mb": server.started_rss_mb}
        try:
            for name, (task_name, texts) in models.items():
                rows = []
                for clients in (levels if label == "batching" else [arguments.compare_clients]):
                    server_cpu, client_cpu = cpu_seconds(server.process.pid), time.process_time()
                    row = asyncio.run(load(server.url, name, task_name, texts, clients, arguments.seconds, arguments))
                    # Where the 2 cores went: the server (HTTP, JSON, TensorFlow) and this load generator.
                    row["server_cpu_seconds"] = cpu_seconds(server.process.pid) - server_cpu
                    row["client_cpu_seconds"] = time.process_time() - client_cpu
                    row["server_rss_mb_after"] = rss_mb(server.process.pid)
                    rows.append(row)
                    print(label, name, json.dumps(row), flush=True)
                report["serving"][name][f"server_{label}"] = rows
        finally:
            report[f"server_{label}"]["rss_end_mb"] = rss_mb(server.process.pid)
            server.stop()
        start, peak = report[f"server_{label}"]["rss_start_mb"], max(
            [report[f"server_{label}"]["rss_end_mb"]]
            + [row["server_rss_mb_after"] for entry in report["serving"].values() for row in entry.get(f"server_{label}", [])]
        )
        report[f"server_{label}"]["rss_growth_fraction"] = (peak - start) / start
        rss_growth.append((peak - start) / start)

    speedups = {}
    for name, entry in report["serving"].items():
        batched = next(row for row in entry["server_batching"] if row["clients"] == arguments.compare_clients)
        alone = entry["server_no_batching"][0]
        speedups[name] = batched["requests_per_second"] / alone["requests_per_second"]
        entry["batching_speedup"] = speedups[name]
    report["server_errors_total"] = sum(
        row["errors"] for entry in report["serving"].values() for key in ("server_batching", "server_no_batching") for row in entry[key]
    )
    report["batching_speedup_32_clients"] = speedups
    report["batching_speedup_32_clients_min"] = min(speedups.values())
    report["rss_growth_fraction_max"] = max(rss_growth)
    report["total_minutes"] = (time.perf_counter() - started_all) / 60.0
    report["notes"] = [
        "client and server share the machine's cores (loopback); the load generator's CPU is not available to the server",
        f"closed-loop clients: each waits for its answer before the next request; {arguments.seconds:g} s per level",
    ]
    report["load_client"] = arguments.client
    save_report(Path(arguments.output), report)
    print(json.dumps({key: report[key] for key in ("server_errors_total", "batching_speedup_32_clients", "rss_growth_fraction_max")}, indent=2))


if __name__ == "__main__":
    main()
