"""`nlp-apps serve`: TF Serving REST conformance, bad-input probes, batching that returns each client its own answer."""

import asyncio
import base64
import json

import httpx
import numpy as np
import pytest
import tensorflow as tf
from starlette.testclient import TestClient

from nlp_apps.serving.app import Server, build_app, warm_up
from nlp_apps.serving.batching import BatchingOptions, trim_padding
from nlp_apps.serving.models import ModelRepository
from nlp_apps.serving.rest import Limits

NER_TEXTS = ["Orin Lindqvar visited Valdoria on Sunday .", "Greyfield United beat Valdoria .", "x", "Zürich 🙂 東京 مرحبا"]


@pytest.fixture(scope="module")
def server(served_models):
    models, _ = served_models
    server = Server(ModelRepository(models), BatchingOptions(max_batch_size=32, max_wait_seconds=0.05), Limits(max_text_chars=2000, max_instances=16))
    warm_up(server)
    return server


@pytest.fixture(scope="module")
def client(server):
    with TestClient(build_app(server), raise_server_exceptions=False) as client:
        yield client


def direct_call(served_models, name, texts):
    models, manifests = served_models
    loaded = tf.saved_model.load(manifests[name]["export_dir"])
    outputs = loaded.signatures["serving_default"](texts=tf.constant(texts))
    return {key: value.numpy() for key, value in outputs.items()}


def test_model_status_and_metadata_follow_tf_serving(client, served_models):
    _, manifests = served_models
    status = client.get("/v1/models/ner_sample")
    assert status.status_code == 200
    assert status.json() == {"model_version_status": [{"version": str(manifests["ner_sample"]["version"]), "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]}
    assert client.get(f"/v1/models/ner_sample/versions/{manifests['ner_sample']['version']}").status_code == 200
    metadata = client.get("/v1/models/sentiment_sample/metadata").json()
    assert metadata["model_spec"] == {"name": "sentiment_sample", "signature_name": "", "version": str(manifests["sentiment_sample"]["version"])}
    signature = metadata["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert signature["inputs"]["texts"]["dtype"] == "DT_STRING"
    assert signature["inputs"]["texts"]["tensor_shape"] == {"dim": [{"size": "-1", "name": ""}], "unknown_rank": False}
    assert signature["outputs"]["probabilities"]["dtype"] == "DT_FLOAT"
    assert signature["method_name"] == "tensorflow/serving/predict"


def test_predict_rows_and_columns_equal_the_saved_model(client, served_models):
    expected = direct_call(served_models, "ner_sample", NER_TEXTS)
    rows = client.post("/v1/models/ner_sample:predict", json={"instances": NER_TEXTS})
    assert rows.status_code == 200, rows.text
    predictions = rows.json()["predictions"]
    assert len(predictions) == len(NER_TEXTS)
    for index, prediction in enumerate(predictions):
        count = int(expected["num_tokens"][index])
        assert prediction["tokens"] == [token.decode() for token in expected["tokens"][index][:count]]
        assert prediction["tags"] == [tag.decode() for tag in expected["tags"][index][:count]]
        for start, end, text in zip(prediction["entity_starts"], prediction["entity_ends"], prediction["entity_texts"]):
            assert NER_TEXTS[index][start:end] == text
    # Columnar, with the input named, at a version given explicitly, binary-safe b64 strings.
    version = served_models[1]["ner_sample"]["version"]
    encoded = [{"b64": base64.b64encode(text.encode()).decode()} for text in NER_TEXTS]
    columns = client.post(f"/v1/models/ner_sample/versions/{version}:predict", json={"signature_name": "serving_default", "inputs": {"texts": encoded}})
    assert columns.status_code == 200, columns.text
    outputs = columns.json()["outputs"]
    assert [len(tokens) for tokens in outputs["tokens"]] == [max(map(int, expected["num_tokens"]))] * len(NER_TEXTS)
    assert outputs["num_tokens"] == expected["num_tokens"].tolist()


def test_sentiment_over_rest_equals_the_saved_model(client, served_models):
    texts = ["A wonderful film. I loved it.", "Dull and far too long.", ""]
    expected = direct_call(served_models, "sentiment_sample", texts)
    predictions = client.post("/v1/models/sentiment_sample:predict", json={"instances": texts}).json()["predictions"]
    for index, prediction in enumerate(predictions):
        np.testing.assert_allclose(prediction["probabilities"], expected["probabilities"][index], atol=1e-5)
        assert prediction["label"] == expected["label"][index].decode()


@pytest.mark.parametrize(
    "body, message",
    [
        (b"{not json", "JSON Parse error"),
        (b"\xff\xfe{}", "not valid UTF-8"),
        (b"[1, 2]", "JSON object"),
        (json.dumps({"instances": []}).encode(), "empty"),
        (json.dumps({"inputs": {"texts": []}}).encode(), "empty batch"),
        (json.dumps({"instances": [1, 2]}).encode(), "instances[0]"),
        (json.dumps({"instances": [["a"]]}).encode(), "expected a string, got a list"),
        (json.dumps({"instances": [None]}).encode(), "got null"),
        (json.dumps({"instances": ["x" * 100_000]}).encode(), "over the limit of 2000"),
        (json.dumps({"instances": ["a"] * 17}).encode(), "over the limit of 16"),
        (json.dumps({"instances": ["a"], "inputs": ["a"]}).encode(), "exactly one of"),
        (json.dumps({"instance": ["a"]}).encode(), "unknown field"),
        (json.dumps({"inputs": {"text": ["a"]}}).encode(), "missing input(s) texts"),
        (json.dumps({"instances": [{"texts": "a", "other": 1}]}).encode(), "unknown input(s) other"),
        (json.dumps({"instances": [{"b64": "!!!"}]}).encode(), "not valid base64"),
        (json.dumps({"instances": [{"b64": base64.b64encode(b"\xff\xfe").decode()}]}).encode(), "not valid UTF-8 text"),
        (json.dumps({"signature_name": "nope", "instances": ["a"]}).encode(), "\\\"nope\\\" not found"),
        (json.dumps({"signature_name": 3, "instances": ["a"]}).encode(), "signature_name"),
    ],
)
def test_bad_requests_get_a_400_with_an_error_field(client, body, message):
    response = client.post("/v1/models/ner_sample:predict", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert message.replace("\\", "") in response.json()["error"]


def test_unknown_models_versions_and_routes_get_404_and_the_server_goes_on(client):
    assert client.get("/v1/models/nope").status_code == 404
    assert "Servable not found" in client.post("/v1/models/nope:predict", json={"instances": ["a"]}).json()["error"]
    assert client.get("/v1/models/ner_sample/versions/99").status_code == 404
    assert client.get("/v1/models/ner_sample/versions/x").status_code == 400
    assert client.get("/v2/elsewhere").json()["error"].startswith("Malformed request")
    assert client.post("/v1/models/ner_sample:classify", json={"examples": []}).status_code == 400
    oversized = client.post("/v1/models/ner_sample:predict", content=b"x" * (5 * 1024 * 1024))
    assert oversized.status_code == 400 and "over the limit" in oversized.json()["error"]
    # NUL, control, zero-width and right-to-left text are plain input.
    odd = ["a\x00b", "\u200b\u200f", "\x07\x1b[31m", "مرحبا بالعالم"]
    response = client.post("/v1/models/ner_sample:predict", json={"instances": odd})
    assert response.status_code == 200 and len(response.json()["predictions"]) == 4


def test_concurrent_clients_are_batched_and_each_gets_its_own_answer(server, served_models):
    texts = [f"{name} visited Valdoria on day {index} ." for index, name in enumerate(["Orin", "Greyfield", "Lindqvar"] * 8)]
    texts += ["", "x " * 40]
    alone = {}
    for text in texts:
        alone[text] = direct_call(served_models, "ner_sample", [text])

    async def clients():
        transport = httpx.ASGITransport(app=build_app(server))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            responses = await asyncio.gather(*[http.post("/v1/models/ner_sample:predict", json={"instances": [text]}) for text in texts])
        return [response.json()["predictions"][0] for response in responses]

    batcher_key = ("ner_sample", served_models[1]["ner_sample"]["version"], "serving_default")
    batches_before = server.batchers[batcher_key].batches if batcher_key in server.batchers else 0
    answers = asyncio.run(clients())
    batcher = server.batchers[batcher_key]
    assert batcher.batches - batches_before < len(texts)  # requests were really combined
    for text, answer in zip(texts, answers):
        expected = alone[text]
        count = int(expected["num_tokens"][0])
        assert answer["tokens"] == [token.decode() for token in expected["tokens"][0][:count]], text
        assert answer["tags"] == [tag.decode() for tag in expected["tags"][0][:count]], text
        assert answer["token_starts"] == expected["token_starts"][0][:count].tolist()
        assert answer["entity_types"] == [entity.decode() for entity in expected["entity_types"][0] if entity]


def test_trim_padding_cuts_each_inner_axis_to_the_real_extent():
    words = np.array([[[b"a", b"b", b""], [b"c", b"", b""], [b"", b"", b""]]], dtype=object)
    assert trim_padding(words, "").tolist() == [[[b"a", b"b"], [b"c", b""]]]
    offsets = np.array([[0, 5, -1, -1]])
    assert trim_padding(offsets, -1).tolist() == [[0, 5]]
    assert trim_padding(np.array([[-1, -1]]), -1).shape == (1, 0)


def test_the_demo_page_is_served(client):
    page = client.get("/")
    assert page.status_code == 200 and "nlp_apps demo" in page.text
    models = client.get("/demo/models").json()
    assert models["ner_sample"]["task"] == "ner" and "serving_default" in models["sentiment_sample"]["signatures"]
