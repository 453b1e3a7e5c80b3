"""This machine's measured FP32 peak: the FMA units' ceiling and a large single-precision GEMM.

The peak is the higher of two measurements, each a few hundred ms: a register-only FMA loop on every
thread (`fma.py`: what the vector units can issue) and numpy's BLAS GEMM (the densest work a library
does; 5-15% under the loop). Networks' GFLOP/s are reported as a percentage of it, and both figures
are kept. It runs in a fresh worker pinned to the benchmarked thread count.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
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
    gemm_gflop_per_s: float | None = None
    fma_gflop_per_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"gflop_per_s": self.gflop_per_s, "threads": self.threads, "method": self.method, "runs": self.runs,
                "gemm_gflop_per_s": self.gemm_gflop_per_s, "fma_gflop_per_s": self.fma_gflop_per_s}


def measure_peak(threads: int | None = None, *, seconds: float = PEAK_SECONDS, size: int = GEMM_SIZE,
                 fma: bool = True) -> Peak:
    """The higher of the FMA loop (`fma=False` skips it) and the best of float32 size^3 GEMMs, each about `seconds`."""
    gemm = measure_gemm(threads, seconds=seconds, size=size)
    if not fma:
        return gemm
    from fastip.benchmarks.environment import cpu_info, usable_cpus
    from fastip.benchmarks.fma import measure_fma

    loop = measure_fma(threads or usable_cpus(), cpu_info()["flags"], seconds=seconds)
    if loop is None or loop[0] <= gemm.gflop_per_s:
        return replace(gemm, fma_gflop_per_s=loop[0] if loop else None)
    return replace(gemm, gflop_per_s=loop[0], method=loop[1], fma_gflop_per_s=loop[0])


def measure_gemm(threads: int | None = None, *, seconds: float = PEAK_SECONDS, size: int = GEMM_SIZE) -> Peak:
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
    rate = 2.0 * size**3 / best / 1e9
    return Peak(gflop_per_s=rate, threads=threads, method=f"numpy float32 GEMM {size}^3", runs=runs, gemm_gflop_per_s=rate)


def format_peaks(peaks: dict[str, Any]) -> str:
    """'threads=2: 79.9 (AVX2 FMA loop, 12 chains x 2 threads; GEMM 68.3)' per measured thread count."""
    parts = []
    for threads, peak in peaks.items():
        label = "auto" if threads == "None" else threads
        gemm = peak.get("gemm_gflop_per_s")
        also = f"; GEMM {gemm:.1f}" if gemm and peak.get("fma_gflop_per_s") == peak.get("gflop_per_s") else ""
        value = f"{peak['gflop_per_s']:.1f} ({peak.get('method', '')}{also})" if "gflop_per_s" in peak else peak.get("error", "?")
        parts.append(f"threads={label}: {value}")
    return "; ".join(parts) or "not measured"


def percent_of_peak(gflop_per_s: float | None, peaks: dict[str, Any], threads: int | None) -> float | None:
    """A row's GFLOP/s as a percentage of the peak measured at its thread count, when both are known."""
    peak = peaks.get(str(threads)) if peaks else None
    rate = peak.get("gflop_per_s") if isinstance(peak, dict) else None
    return 100.0 * gflop_per_s / rate if gflop_per_s and rate else None
