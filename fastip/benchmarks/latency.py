"""The latency harness: warm-up, timed runs until a minimum count and time, statistics, fresh worker processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from fastip.benchmarks.result import CV_WARNING, LatencyStats
from fastip.errors import FastipError, InputError


@dataclass(frozen=True)
class Budget:
    """How long to measure: `warmup` untimed runs, then at least `min_runs` timed runs and `min_time` seconds."""

    warmup: int = 2
    min_runs: int = 10
    min_time: float = 1.0
    max_runs: int = 10_000

    def check(self) -> None:
        if self.warmup < 0 or self.min_runs < 1 or self.min_time < 0 or self.max_runs < self.min_runs:
            raise InputError(f"need warmup >= 0, min-runs >= 1, min-time >= 0 (got {self.warmup}, {self.min_runs}, {self.min_time})")


def summarize(samples_ms: list[float] | tuple[float, ...]) -> LatencyStats:
    """Percentiles (linear interpolation, as numpy), mean, population std, min and max of timed samples."""
    if not samples_ms:
        raise InputError("no timed samples to summarize")
    x = np.asarray(samples_ms, dtype=np.float64)
    p50, p90, p99 = (float(v) for v in np.percentile(x, [50, 90, 99]))
    return LatencyStats(samples_ms=tuple(float(v) for v in x), p50=p50, p90=p90, p99=p99, mean=float(x.mean()),
                        std=float(x.std()), min=float(x.min()), max=float(x.max()))


def measure(call: Callable[[], Any], budget: Budget = Budget(), *, clock: Callable[[], float] = time.perf_counter) -> LatencyStats:
    """Time `call()` after `budget.warmup` untimed calls, until both the run count and the time are reached."""
    budget.check()
    for _ in range(budget.warmup):
        call()
    samples: list[float] = []
    started = clock()
    while len(samples) < budget.max_runs and (len(samples) < budget.min_runs or clock() - started < budget.min_time):
        t0 = clock()
        call()
        samples.append((clock() - t0) * 1000.0)
    return summarize(samples)


def measure_pair(fastip_call: Callable[[], Any], raw_call: Callable[[], Any], runs: int) -> tuple[LatencyStats, LatencyStats]:
    """Interleave two calls of the same model so load drifts hit both alike; returns their statistics."""
    a: list[float] = []
    b: list[float] = []
    for _ in range(max(1, runs)):
        for call, samples in ((fastip_call, a), (raw_call, b)):
            t0 = time.perf_counter()
            call()
            samples.append((time.perf_counter() - t0) * 1000.0)
    return summarize(a), summarize(b)


def variation_warning(stats: LatencyStats, bound: float = CV_WARNING) -> str | None:
    """A warning when run-to-run variation exceeds `bound` (coefficient of variation)."""
    if stats.count >= 2 and stats.cv > bound:
        return (f"run-to-run variation {stats.cv:.0%} exceeds {bound:.0%} (std {stats.std:.1f} ms on mean "
                f"{stats.mean:.1f} ms): the machine was busy or the run too short; rerun with more --min-runs")
    return None


class WorkerError(FastipError):
    """A benchmark worker process failed; the message carries its last error lines."""


def run_worker(spec: dict[str, Any], *, threads: int | None = None, timeout: float | None = None) -> dict[str, Any]:
    """Run `python -m fastip.benchmarks.worker` with `spec` on stdin in a fresh process; returns its JSON reply."""
    env = dict(os.environ)
    if threads:
        # Libraries read these at import: set them before the worker starts.
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            env[var] = str(threads)
    proc = subprocess.Popen([sys.executable, "-m", "fastip.benchmarks.worker"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        out, err = proc.communicate(json.dumps(spec), timeout=timeout)
    except BaseException:  # Ctrl-C or timeout: never leave a worker running behind us
        proc.kill()
        proc.wait()
        raise
    try:
        reply = json.loads(out.strip().splitlines()[-1]) if out.strip() else None
    except json.JSONDecodeError:
        reply = None
    if reply is None:
        tail = " | ".join(err.strip().splitlines()[-3:]) or f"exit code {proc.returncode}"
        raise WorkerError(f"benchmark worker died ({tail})")
    if "error" in reply:
        raise WorkerError(reply["error"])
    return reply
