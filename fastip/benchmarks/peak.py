"""This machine's measured FP32 peak: a large single-precision GEMM (numpy's BLAS) timed for a few hundred ms.

GEMM is the densest FP32 work a CPU does (fused multiply-adds from registers and cache), so its best
rate is a practical ceiling for convolution kernels on the same cores; GFLOP/s of a network are
reported as a percentage of it. It runs in a fresh worker pinned to the benchmarked thread count.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

GEMM_SIZE = 1024  # 2.1 GFLOP per product; A, B and C (12 MiB) exceed L2 but BLAS blocks them into cache
PEAK_SECONDS = 0.3


@dataclass(frozen=True)
class Peak:
    """Best measured FP32 rate at a thread count (None: the library's default, all usable cores)."""

    gflop_per_s: float
    threads: int | None
    method: str
    runs: int

    def to_dict(self) -> dict[str, Any]:
        return {"gflop_per_s": self.gflop_per_s, "threads": self.threads, "method": self.method, "runs": self.runs}


def measure_peak(threads: int | None = None, *, seconds: float = PEAK_SECONDS, size: int = GEMM_SIZE) -> Peak:
    """Time float32 size x size GEMMs for about `seconds`; the best run is the peak (load only slows runs down)."""
    rng = np.random.default_rng(0)
    a = rng.random((size, size), dtype=np.float32)
    b = rng.random((size, size), dtype=np.float32)
    c = np.empty((size, size), np.float32)
    np.matmul(a, b, out=c)  # first call: thread pool start-up and page faults
    best, runs, started = float("inf"), 0, time.perf_counter()
    while runs < 3 or time.perf_counter() - started < seconds:
        t0 = time.perf_counter()
        np.matmul(a, b, out=c)
        best = min(best, time.perf_counter() - t0)
        runs += 1
    return Peak(gflop_per_s=2.0 * size**3 / best / 1e9, threads=threads, method=f"numpy float32 GEMM {size}^3", runs=runs)


def format_peaks(peaks: dict[str, Any]) -> str:
    """'threads=2: 61.3 (numpy float32 GEMM 1024^3)' per measured thread count."""
    parts = []
    for threads, peak in peaks.items():
        label = "auto" if threads == "None" else threads
        value = f"{peak['gflop_per_s']:.1f} ({peak.get('method', '')})" if "gflop_per_s" in peak else peak.get("error", "?")
        parts.append(f"threads={label}: {value}")
    return "; ".join(parts) or "not measured"


def percent_of_peak(gflop_per_s: float | None, peaks: dict[str, Any], threads: int | None) -> float | None:
    """A row's GFLOP/s as a percentage of the peak measured at its thread count, when both are known."""
    peak = peaks.get(str(threads)) if peaks else None
    rate = peak.get("gflop_per_s") if isinstance(peak, dict) else None
    return 100.0 * gflop_per_s / rate if gflop_per_s and rate else None
