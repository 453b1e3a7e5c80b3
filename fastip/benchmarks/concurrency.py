"""Latency and throughput with batches and several calls in flight: OpenVINO's AsyncInferQueue, threads elsewhere."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from fastip.benchmarks.latency import Budget, measure, summarize
from fastip.benchmarks.result import LatencyStats
from fastip.errors import InputError


@dataclass(frozen=True)
class Load:
    """Per-call latency, images per second over the timed wall time, and what the backend chose for itself."""

    latency: LatencyStats
    images_per_s: float
    backend_info: dict[str, Any] = field(default_factory=dict)


def batched(feed: dict[str, np.ndarray], batch: int) -> dict[str, np.ndarray]:
    """The batch-1 feed repeated `batch` times along axis 0 (a fresh contiguous array per input)."""
    if batch == 1:
        return feed
    return {name: np.ascontiguousarray(np.repeat(value, batch, axis=0)) for name, value in feed.items()}


def fixed_batch_reason(inputs, batch: int) -> str | None:
    """Why a model cannot take `batch` images per call (a fixed leading dimension), or None."""
    for spec in inputs:
        lead = spec.shape[0] if spec.shape else None
        if batch != 1 and isinstance(lead, int) and lead != batch:
            return (f"input {spec.name!r} has a fixed batch of {lead} (shape {list(spec.shape)}); "
                    f"measure it with --batch {lead}")
    return None


def openvino_info(session) -> dict[str, Any]:
    """The devices, streams, threads and optimal request count OpenVINO picked for the compiled model."""
    info: dict[str, Any] = {}
    for key, name in (("EXECUTION_DEVICES", "devices"), ("NUM_STREAMS", "streams"), ("INFERENCE_NUM_THREADS", "threads"),
                      ("OPTIMAL_NUMBER_OF_INFER_REQUESTS", "optimal_requests")):
        try:
            value = session._compiled.get_property(key)  # the wrapped ov.CompiledModel
        except Exception:  # a plugin that does not report the property
            continue
        if isinstance(value, (list, tuple)):  # EXECUTION_DEVICES: the real devices behind AUTO, MULTI, ...
            value = ",".join(map(str, value))
        info[name] = int(value) if str(value).lstrip("-").isdigit() else str(value)
    return info


def measure_load(session, feed: dict[str, np.ndarray], *, batch: int, requests: int, budget: Budget) -> Load:
    """Time `session` on `feed` repeated to `batch` images with `requests` calls in flight at once."""
    if requests < 1 or batch < 1:
        raise InputError("batch and requests must be positive integers")
    feed = batched(feed, batch)
    info = openvino_info(session) if session.backend == "openvino" else {}
    if requests == 1:
        stats = measure(lambda: session.run(feed), budget)
        return Load(stats, batch * stats.count * 1000.0 / sum(stats.samples_ms), info)
    if session.backend == "openvino":
        stats, wall = _openvino_queue(session._compiled, feed, requests, budget)
    elif session.backend in ("ort", "torch"):
        stats, wall = _threads(lambda: session.run(feed), requests, budget)
    else:
        raise InputError(f"several requests in flight are measured on ort, openvino and torch, not {session.backend}")
    return Load(stats, batch * stats.count / wall, info)


def _openvino_queue(compiled, feed: dict[str, np.ndarray], requests: int, budget: Budget) -> tuple[LatencyStats, float]:
    """Keep `requests` jobs of an AsyncInferQueue busy; a job's latency runs from start_async to its callback."""
    import openvino as ov

    queue = ov.AsyncInferQueue(compiled, requests)
    finished: list[tuple[float, float]] = []
    queue.set_callback(lambda request, started: finished.append((started, time.perf_counter())))
    for _ in range(budget.warmup * requests):
        queue.start_async(feed, userdata=time.perf_counter(), share_inputs=True)
    queue.wait_all()
    finished.clear()
    started = time.perf_counter()
    submitted = 0
    while submitted < budget.max_runs and (submitted < budget.min_runs or time.perf_counter() - started < budget.min_time):
        queue.get_idle_request_id()  # wait for a free job first, so the latency excludes queueing
        queue.start_async(feed, userdata=time.perf_counter(), share_inputs=True)
        submitted += 1
    queue.wait_all()
    done = list(finished)
    return summarize([(end - begin) * 1000.0 for begin, end in done]), max(end for _, end in done) - started


def _threads(call: Callable[[], Any], requests: int, budget: Budget) -> tuple[LatencyStats, float]:
    """`requests` threads calling one session in a loop until the budget's run count and time are both reached."""
    samples: list[tuple[float, float]] = []  # (latency ms, completion time); list.append is atomic
    errors: list[BaseException] = []
    started = [time.perf_counter()]
    # The barrier's action runs once, before any thread is released: the clock starts with the first timed call.
    gate = threading.Barrier(requests + 1, action=lambda: started.__setitem__(0, time.perf_counter()))

    def more() -> bool:
        n = len(samples)
        return n < budget.max_runs and (n < budget.min_runs or time.perf_counter() - started[0] < budget.min_time)

    def worker() -> None:
        try:
            for _ in range(budget.warmup):
                call()
        except BaseException as exc:  # reported by the caller; the barrier must still be reached
            errors.append(exc)
        gate.wait()
        while not errors and more():
            t0 = time.perf_counter()
            try:
                call()
            except BaseException as exc:
                errors.append(exc)
                return
            t1 = time.perf_counter()
            samples.append(((t1 - t0) * 1000.0, t1))

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(requests)]
    for thread in threads:
        thread.start()
    gate.wait()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return summarize([ms for ms, _ in samples]), max(end for _, end in samples) - started[0]
