"""Server-side batching: concurrent requests for one signature run as one batch.

Requests wait in a bounded queue; when an inference slot is free, a worker
takes the first one and every one queued behind it (up to `max_batch_size`
examples), runs the signature once on the concatenated inputs (in a thread,
so the event loop keeps accepting), and gives each request its own rows
back. See `Batcher` for when it waits for more. Outputs padded along inner axes
(NER tokens, sentiment words) are cut back to the request's own extent with
the padding values the model card declares, so a batched answer equals the
answer the request would have got alone.

A full queue is answered at once with 503 (TF Serving's "unavailable"),
never by waiting without bound. If a batch fails, each of its requests is
run alone, so one bad request cannot fail the others.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time

import numpy as np

from nlp_apps.serving.rest import RequestError


@dataclasses.dataclass
class BatchingOptions:
    max_batch_size: int = 32
    max_wait_seconds: float = 0.005
    max_queue: int = 512

    def __post_init__(self):
        if self.max_batch_size < 1:
            raise ValueError(f"--max-batch-size: expected an integer >= 1, got {self.max_batch_size}")
        if self.max_wait_seconds < 0:
            raise ValueError(f"--batch-wait-ms: expected a number >= 0, got {self.max_wait_seconds * 1000:g}")
        if self.max_queue < 1:
            raise ValueError(f"--max-queue: expected an integer >= 1, got {self.max_queue}")


@dataclasses.dataclass
class _Pending:
    arrays: dict
    size: int
    future: asyncio.Future


def trim_padding(array: np.ndarray, padding) -> np.ndarray:
    """Cuts trailing positions that hold only `padding` from every axis after the first."""
    if array.ndim < 2 or padding is None:
        return array
    is_padding = array == (padding.encode("utf-8") if isinstance(padding, str) and array.dtype == object else padding)
    slices = [slice(None)]
    for axis in range(1, array.ndim):
        others = tuple(index for index in range(array.ndim) if index != axis)
        real = ~np.all(is_padding, axis=others)
        extent = int(np.max(np.nonzero(real)[0]) + 1) if real.any() else 0
        slices.append(slice(0, extent))
    return array[tuple(slices)]


def split_outputs(outputs: dict, sizes: list, padding: dict) -> list:
    """Per request: its rows of each output, trimmed of the batch's extra padding."""
    parts, start = [], 0
    for size in sizes:
        part = {}
        for name, value in outputs.items():
            rows = value[start:start + size] if value.ndim else value
            part[name] = trim_padding(rows, padding.get(name))
        parts.append(part)
        start += size
    return parts


class Batcher:
    """Batches the requests of one signature; `await submit(arrays, size)` returns that request's outputs.

    Up to `concurrency` batches run at once (the executor's threads). A
    batch starts as soon as a slot is free, with every request queued by
    then: at low load a request runs at once, alone (no waiting for company);
    under load, requests pile up while the slots are busy and the next batch
    takes them all (up to `max_batch_size`). `max_wait_seconds` adds a wait
    for more only while another batch is running.
    """

    def __init__(self, signature, options: BatchingOptions, executor, label: str, concurrency: int = 1):
        self.signature = signature
        self.options = options
        self.executor = executor
        self.label = label
        self.concurrency = concurrency
        self.queue: asyncio.Queue | None = None
        self.worker: asyncio.Task | None = None
        self.in_flight = 0
        self.batches = 0
        self.examples = 0

    def _start(self):
        # One worker per event loop (a test client may run each request in a loop of its own).
        loop = asyncio.get_running_loop()
        if self.worker is None or self.worker.get_loop() is not loop or self.worker.done():
            self.queue = asyncio.Queue(maxsize=self.options.max_queue)
            self.slots = asyncio.Semaphore(self.concurrency)
            self.in_flight = 0
            self.worker = loop.create_task(self._work())

    async def submit(self, arrays: dict, size: int) -> dict:
        self._start()
        future = asyncio.get_running_loop().create_future()
        try:
            self.queue.put_nowait(_Pending(arrays, size, future))
        except asyncio.QueueFull:
            raise RequestError(
                f"server busy: the batching queue of {self.label} is full ({self.options.max_queue} requests); retry later", status=503
            ) from None
        return await future

    async def _work(self):
        loop = asyncio.get_running_loop()
        while True:
            first = await self.queue.get()
            await self.slots.acquire()
            batch, rows = [first], first.size
            deadline = time.monotonic() + (self.options.max_wait_seconds if self.in_flight else 0.0)
            while rows < self.options.max_batch_size:
                remaining = deadline - time.monotonic()
                try:
                    pending = self.queue.get_nowait() if remaining <= 0 else await asyncio.wait_for(self.queue.get(), remaining)
                except (asyncio.QueueEmpty, asyncio.TimeoutError):
                    break
                batch.append(pending)
                rows += pending.size
            self.in_flight += 1
            loop.create_task(self._run_and_release(loop, batch))

    async def _run_and_release(self, loop, batch):
        try:
            await self._run(loop, batch)
        finally:
            self.in_flight -= 1
            self.slots.release()

    async def _run(self, loop, batch):
        batch = [pending for pending in batch if not pending.future.done()]  # a client that went away
        if not batch:
            return
        arrays = {name: np.concatenate([pending.arrays[name] for pending in batch]) for name in self.signature.inputs}
        try:
            outputs = await loop.run_in_executor(self.executor, self.signature, arrays)
        except Exception as error:  # noqa: BLE001 - retried alone below, then reported per request
            if len(batch) == 1:
                _settle(batch[0].future, error=error)
                return
            for pending in batch:
                await self._run(loop, [pending])
            return
        self.batches += 1
        self.examples += sum(pending.size for pending in batch)
        for pending, part in zip(batch, split_outputs(outputs, [pending.size for pending in batch], self.signature.padding)):
            _settle(pending.future, result=part)


def _settle(future, result=None, error=None):
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
