"""`nlp-apps serve` for translation and the language model: named signatures, columnar scalars, the CLI server on loopback."""

import json
import os
import socket
import subprocess
import sys
import time

import httpx
import pytest
import tensorflow as tf
from starlette.testclient import TestClient

from nlp_apps.serving.app import Server, build_app
from nlp_apps.serving.batching import BatchingOptions
from nlp_apps.serving.models import ModelRepository
from nlp_apps.serving.rest import Limits

# Trains and exports two more samples (about a minute on 2 cores).
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client(generation_models):
    models, _ = generation_models
    server = Server(ModelRepository(models), BatchingOptions(), Limits())
    with TestClient(build_app(server), raise_server_exceptions=False) as client:
        yield client


def test_translation_signatures_over_rest_equal_the_saved_model(client, generation_models):
    _, manifests = generation_models
    texts = ["A man is riding a bicycle.", "Two dogs play.", ""]
    loaded = tf.saved_model.load(manifests["translation_sample"]["export_dir"])
    for signature in ("translate", "translate_greedy", "serving_default"):
        expected = loaded.signatures[signature](text=tf.constant(texts))
        response = client.post("/v1/models/translation_sample:predict", json={"signature_name": signature, "instances": texts})
        assert response.status_code == 200, response.text
        predictions = response.json()["predictions"]
        assert [row["translation"] for row in predictions] == [value.decode() for value in expected["translation"].numpy()]
    metadata = client.get("/v1/models/translation_sample/metadata").json()["metadata"]["signature_def"]["signature_def"]
    assert {"translate", "translate_greedy", "serving_default"} <= set(metadata)


def test_language_model_generate_takes_scalars_in_the_columnar_format(client, generation_models):
    _, manifests = generation_models
    inputs = {"prompt": ["the", "a"], "max_length": 8, "temperature": 0.0, "top_k": 0, "top_p": 1.0, "seed": 3}
    response = client.post("/v1/models/lm_sample:predict", json={"signature_name": "generate", "inputs": inputs})
    assert response.status_code == 200, response.text
    loaded = tf.saved_model.load(manifests["lm_sample"]["export_dir"])
    arguments = {key: tf.constant(value, dtype=spec.dtype) for key, value in inputs.items()
                 for spec in [loaded.signatures["generate"].structured_input_signature[1][key]]}
    expected = loaded.signatures["generate"](**arguments)
    assert response.json()["outputs"]["text"] == [value.decode() for value in expected["text"].numpy()]
    # Scalars cannot ride in rows; wrong scalar types are named.
    rows = client.post("/v1/models/lm_sample:predict", json={"signature_name": "generate", "instances": [{"prompt": "the"}]})
    assert rows.status_code == 400 and "columnar" in rows.json()["error"]
    wrong = client.post("/v1/models/lm_sample:predict", json={"signature_name": "generate", "inputs": {**inputs, "max_length": "8"}})
    assert wrong.status_code == 400 and "'max_length'" in wrong.json()["error"]
    fractional = client.post("/v1/models/lm_sample:predict", json={"signature_name": "generate", "inputs": {**inputs, "top_k": 2.5}})
    assert fractional.status_code == 400 and "expected an integer" in fractional.json()["error"]
    score = client.post("/v1/models/lm_sample:predict", json={"signature_name": "score", "instances": ["the cat", "a dog"]})
    assert score.status_code == 200 and len(score.json()["predictions"]) == 2


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_cli_serve_answers_on_loopback(generation_models):
    models, _ = generation_models
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "nlp_apps", "serve", "--model-base", str(models), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/v1/models/lm_sample", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(1)
            assert process.poll() is None, process.stdout.read()
        response = httpx.post(
            f"http://127.0.0.1:{port}/v1/models/translation_sample:predict",
            content=json.dumps({"instances": ["Two dogs play."]}), timeout=60,
        )
        assert response.status_code == 200 and "translation" in response.json()["predictions"][0]
        assert httpx.get(f"http://127.0.0.1:{port}/", timeout=10).status_code == 200
    finally:
        process.terminate()
        output = process.communicate(timeout=60)[0]
    assert "serving lm_sample version 1" in output and "serving translation_sample version 1" in output
