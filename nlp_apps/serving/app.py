"""The HTTP server of `nlp-apps serve`: TF Serving's REST API, a demo page, never a crash on bad input.

Routes (https://www.tensorflow.org/tfx/serving/api_rest):

- `GET  /v1/models/<name>[/versions/<v>]`            model status
- `GET  /v1/models/<name>[/versions/<v>]/metadata`   signature defs
- `POST /v1/models/<name>[/versions/<v>]:predict`    `instances` or `inputs`
- `GET  /`                                           the demo page
- `GET  /demo/models`                                what the demo page lists

Errors are JSON `{"error": message}`: 400 for a request the signature cannot
take (malformed JSON, wrong types, too large, empty batch), 404 for an
unknown model, version or route, 503 when the batching queue is full, and
500 only for a failure inside the model (logged, the server goes on).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import re
from importlib import resources

import numpy as np
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route

from nlp_apps.serving.batching import Batcher, BatchingOptions, split_outputs
from nlp_apps.serving.models import ModelNotFound, ModelRepository
from nlp_apps.serving.rest import Limits, RequestError, parse_body, parse_predict, predict_response, signature_name_of, tensor_info

LOG = logging.getLogger("nlp_apps.serving")
_MODEL_PATH = re.compile(r"^(?P<name>[^/:]+)(?:/versions/(?P<version>[^/:]+))?(?P<rest>/metadata|:[A-Za-z]+)?$")


def _error(message: str, status: int) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


class Server:
    """The models, their batchers and the executor that runs the signatures."""

    def __init__(self, repository: ModelRepository, batching: BatchingOptions | None, limits: Limits, inference_threads: int = 2):
        self.repository = repository
        self.batching = batching
        self.limits = limits
        self.inference_threads = inference_threads
        self.executor = concurrent.futures.ThreadPoolExecutor(max_workers=inference_threads, thread_name_prefix="inference")
        self.batchers = {}

    def batcher(self, served, signature):
        key = (served.name, served.version, signature.name)
        if key not in self.batchers:
            self.batchers[key] = Batcher(
                signature, self.batching, self.executor, f"{served.name}:{signature.name}", concurrency=self.inference_threads
            )
        return self.batchers[key]

    async def predict(self, served, signature, request) -> dict:
        if self.batching is not None and signature.batchable and self.batching.max_batch_size > 1:
            return await self.batcher(served, signature).submit(request.arrays, request.batch_size)
        outputs = await asyncio.get_running_loop().run_in_executor(self.executor, signature, request.arrays)
        # Cut to the request's own extent, as a batched answer is, so both are the same.
        return split_outputs(outputs, [request.batch_size], signature.padding)[0]


def _parse_version(text):
    if text is None:
        return None
    if not text.isdigit():
        raise RequestError(f"version {text!r} is not an integer")
    return int(text)


def build_app(server: Server) -> Starlette:
    async def models_route(request: Request):
        match = _MODEL_PATH.match(request.path_params["path"])
        if not match:
            return _error(f"Malformed request: {request.method} {request.url.path}", 404)
        try:
            version = _parse_version(match["version"])
            served = server.repository.get(match["name"], version)
        except RequestError as error:
            return _error(str(error), error.status)
        except ModelNotFound as error:
            return _error(str(error), 404)
        rest = match["rest"]
        if request.method == "GET" and rest is None:
            return JSONResponse({"model_version_status": [
                {"version": str(served.version), "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
            ]})
        if request.method == "GET" and rest == "/metadata":
            return JSONResponse(_metadata(served))
        if request.method == "POST" and rest == ":predict":
            return await _predict(request, served)
        if request.method == "POST" and rest in (":classify", ":regress"):
            return _error(f"{rest[1:]} is not supported by these models; use :predict", 400)
        return _error(f"Malformed request: {request.method} {request.url.path}", 404)

    async def _predict(request: Request, served):
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > server.limits.max_body_bytes:
            return _error(f"request body of {declared} bytes is over the limit of {server.limits.max_body_bytes} bytes", 400)
        body = await request.body()
        try:
            parsed = parse_body(body, server.limits)
            try:
                signature = server.repository.signature(served, signature_name_of(parsed))
            except KeyError as error:
                raise RequestError(error.args[0]) from None
            predict = parse_predict(parsed, signature, server.limits)
            outputs = await server.predict(served, signature, predict)
        except RequestError as error:
            return _error(str(error), error.status)
        except Exception as error:  # noqa: BLE001 - a model failure must not take the server down
            LOG.exception("predict failed for %s", served.name)
            return _error(f"the model failed on this request: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}", 500)
        # One example: already cut to its extent; several: each row to its own.
        several = predict.row_format and signature.batchable and predict.batch_size > 1
        rows = split_outputs(outputs, [1] * predict.batch_size, signature.padding) if several else None
        return JSONResponse(predict_response(outputs, predict.row_format, rows))

    async def demo_page(request: Request):
        page = resources.files("nlp_apps.serving").joinpath("demo.html").read_text(encoding="utf-8")
        return HTMLResponse(page)

    async def demo_models(request: Request):
        return JSONResponse({
            name: {
                "version": served.version,
                "task": served.task,
                "task_info": served.card.get("task_info", {}),
                "signatures": {key: {"inputs": list(signature.inputs)} for key, signature in served.signatures.items()},
            }
            for name, served in server.repository.models.items()
        })

    async def not_found(request: Request, exc):
        return _error(f"Malformed request: {request.method} {request.url.path}", 404)

    async def internal(request: Request, exc):
        LOG.exception("unhandled error", exc_info=exc)
        return _error("internal server error", 500)

    routes = [
        Route("/", demo_page),
        Route("/demo/models", demo_models),
        Route("/v1/models/{path:path}", models_route, methods=["GET", "POST"]),
    ]
    return Starlette(routes=routes, exception_handlers={404: not_found, 405: not_found, Exception: internal})


def _metadata(served) -> dict:
    signature_def = {}
    for name, signature in served.signatures.items():
        signature_def[name] = {
            "inputs": {key: tensor_info(spec, f"{name}_{key}:0") for key, spec in signature.inputs.items()},
            "outputs": {key: tensor_info(spec, f"StatefulPartitionedCall:{index}") for index, (key, spec) in enumerate(signature.outputs.items())},
            "method_name": "tensorflow/serving/predict",
        }
    return {
        "model_spec": {"name": served.name, "signature_name": "", "version": str(served.version)},
        "metadata": {"signature_def": {"signature_def": signature_def}},
    }


def warm_up(server: Server) -> None:
    """Replays each model's TF Serving warm-up requests once, as TF Serving does at load.

    A batchable signature also runs one full batch (`max_batch_size` copies
    of its first, typical, warm-up input): TensorFlow's allocator then holds
    the memory of a full batch from the start, instead of growing under the
    first load.
    """
    from nlp_apps.export.serving_warmup import WARMUP_RELATIVE_PATH, read_warmup_requests

    full_batch = server.batching.max_batch_size if server.batching is not None else 1
    for served in server.repository.models.values():
        path = served.path / WARMUP_RELATIVE_PATH
        if not path.is_file():
            continue
        for signature_name, inputs in read_warmup_requests(path):
            signature = served.signatures.get(signature_name)
            if signature is None:
                continue
            arrays = {name: np.asarray(value) for name, value in inputs.items()}
            signature(arrays)
            if signature.batchable and full_batch > 1 and len(next(iter(arrays.values()))):
                # The first warm-up input is the typical one (the others are edge cases).
                signature({name: np.repeat(value[:1], full_batch, axis=0) for name, value in arrays.items()})
