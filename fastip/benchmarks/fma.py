"""The CPU's FP32 fused multiply-add ceiling, measured by a 12-chain FMA loop on every thread.

A GEMM (`peak.py`) is the densest work a library does, but its loads and packing keep it 5-15% under
what the FMA units can issue; this loop is the ceiling itself: twelve independent `vfmadd231ps`
chains on registers (more than latency x issue width on any x86 core since Haswell), no memory
traffic. It is 131 bytes of x86-64 machine code (System V calling convention: `rdi` = iterations),
listed below with its assembly, mapped executable and called through ctypes, which releases the GIL,
so N Python threads run it on N cores at once. The AVX-512 variant runs only where the CPU reports
`avx512f`, the AVX2 one where it reports `avx` and `fma`; elsewhere there is no FMA figure and the
GEMM stands alone. FLOPs: iterations x 12 x lanes x 2.
"""

from __future__ import annotations

import ctypes
import mmap
import platform
import threading
import time

CHAINS = 12
_YMM = bytes.fromhex(
    "c5fc57c0"  # vxorps %ymm0,%ymm0,%ymm0
    "c5f457c9"  # vxorps %ymm1,%ymm1,%ymm1
    "c5ec57d2"  # vxorps %ymm2,%ymm2,%ymm2
    "c5e457db"  # vxorps %ymm3,%ymm3,%ymm3
    "c5dc57e4"  # vxorps %ymm4,%ymm4,%ymm4
    "c5d457ed"  # vxorps %ymm5,%ymm5,%ymm5
    "c5cc57f6"  # vxorps %ymm6,%ymm6,%ymm6
    "c5c457ff"  # vxorps %ymm7,%ymm7,%ymm7
    "c4413c57c0"  # vxorps %ymm8,%ymm8,%ymm8
    "c4413457c9"  # vxorps %ymm9,%ymm9,%ymm9
    "c4412c57d2"  # vxorps %ymm10,%ymm10,%ymm10
    "c4412457db"  # vxorps %ymm11,%ymm11,%ymm11
    "c4411c57e4"  # vxorps %ymm12,%ymm12,%ymm12
    "c4411457ed"  # vxorps %ymm13,%ymm13,%ymm13
    "c4c215b8c4"  # vfmadd231ps %ymm12,%ymm13,%ymm0
    "c4c215b8cc"  # vfmadd231ps %ymm12,%ymm13,%ymm1
    "c4c215b8d4"  # vfmadd231ps %ymm12,%ymm13,%ymm2
    "c4c215b8dc"  # vfmadd231ps %ymm12,%ymm13,%ymm3
    "c4c215b8e4"  # vfmadd231ps %ymm12,%ymm13,%ymm4
    "c4c215b8ec"  # vfmadd231ps %ymm12,%ymm13,%ymm5
    "c4c215b8f4"  # vfmadd231ps %ymm12,%ymm13,%ymm6
    "c4c215b8fc"  # vfmadd231ps %ymm12,%ymm13,%ymm7
    "c44215b8c4"  # vfmadd231ps %ymm12,%ymm13,%ymm8
    "c44215b8cc"  # vfmadd231ps %ymm12,%ymm13,%ymm9
    "c44215b8d4"  # vfmadd231ps %ymm12,%ymm13,%ymm10
    "c44215b8dc"  # vfmadd231ps %ymm12,%ymm13,%ymm11
    "48ffcf"  # dec %rdi
    "75bf"  # jne 3e
    "c5f877"  # vzeroupper
    "c3"  # ret
)
_ZMM = bytes.fromhex(
    "62f17d48efc0"  # vpxord %zmm0,%zmm0,%zmm0
    "62f17548efc9"  # vpxord %zmm1,%zmm1,%zmm1
    "62f16d48efd2"  # vpxord %zmm2,%zmm2,%zmm2
    "62f16548efdb"  # vpxord %zmm3,%zmm3,%zmm3
    "62f15d48efe4"  # vpxord %zmm4,%zmm4,%zmm4
    "62f15548efed"  # vpxord %zmm5,%zmm5,%zmm5
    "62f14d48eff6"  # vpxord %zmm6,%zmm6,%zmm6
    "62f14548efff"  # vpxord %zmm7,%zmm7,%zmm7
    "62513d48efc0"  # vpxord %zmm8,%zmm8,%zmm8
    "62513548efc9"  # vpxord %zmm9,%zmm9,%zmm9
    "62512d48efd2"  # vpxord %zmm10,%zmm10,%zmm10
    "62512548efdb"  # vpxord %zmm11,%zmm11,%zmm11
    "62511d48efe4"  # vpxord %zmm12,%zmm12,%zmm12
    "62511548efed"  # vpxord %zmm13,%zmm13,%zmm13
    "62d21548b8c4"  # vfmadd231ps %zmm12,%zmm13,%zmm0
    "62d21548b8cc"  # vfmadd231ps %zmm12,%zmm13,%zmm1
    "62d21548b8d4"  # vfmadd231ps %zmm12,%zmm13,%zmm2
    "62d21548b8dc"  # vfmadd231ps %zmm12,%zmm13,%zmm3
    "62d21548b8e4"  # vfmadd231ps %zmm12,%zmm13,%zmm4
    "62d21548b8ec"  # vfmadd231ps %zmm12,%zmm13,%zmm5
    "62d21548b8f4"  # vfmadd231ps %zmm12,%zmm13,%zmm6
    "62d21548b8fc"  # vfmadd231ps %zmm12,%zmm13,%zmm7
    "62521548b8c4"  # vfmadd231ps %zmm12,%zmm13,%zmm8
    "62521548b8cc"  # vfmadd231ps %zmm12,%zmm13,%zmm9
    "62521548b8d4"  # vfmadd231ps %zmm12,%zmm13,%zmm10
    "62521548b8dc"  # vfmadd231ps %zmm12,%zmm13,%zmm11
    "48ffcf"  # dec %rdi
    "75b3"  # jne d7
    "c5f877"  # vzeroupper
    "c3"  # ret
)


def kernel_for(flags: list[str] | tuple[str, ...] | set[str]) -> tuple[str, bytes, int] | None:
    """(name, machine code, float32 lanes) of the widest loop this CPU runs, or None (not x86-64 System V)."""
    if platform.machine().lower() not in ("x86_64", "amd64") or platform.system() == "Windows":
        return None
    flags = set(flags)
    if "avx512f" in flags:
        return "AVX-512 FMA loop", _ZMM, 16
    if {"avx", "fma"} <= flags:
        return "AVX2 FMA loop", _YMM, 8
    return None


class _Loop:
    """The machine code in an executable anonymous mapping, callable as loop(iterations)."""

    def __init__(self, code: bytes):
        self._map = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
        self._map.write(code)
        address = ctypes.addressof(ctypes.c_char.from_buffer(self._map))
        self.call = ctypes.CFUNCTYPE(None, ctypes.c_long)(address)

    def __call__(self, iterations: int) -> None:
        self.call(iterations)


def measure_fma(threads: int, flags, *, seconds: float = 0.3) -> tuple[float, str] | None:
    """Best GFLOP/s of `threads` threads each running the FMA loop at once, with the loop's name; None without one."""
    kernel = kernel_for(flags)
    if kernel is None:
        return None
    name, code, lanes = kernel
    try:
        loop = _Loop(code)
    except (OSError, ValueError, TypeError):  # no executable mappings allowed here (W^X policy)
        return None
    loop(1000)
    iterations = 1000  # grow until one round takes ~50 ms, so thread start-up is noise
    while True:
        t0 = time.perf_counter()
        loop(iterations)
        if time.perf_counter() - t0 > 0.05 or iterations > 10**10:
            break
        iterations *= 4
    best, started = 0.0, time.perf_counter()
    while best == 0.0 or time.perf_counter() - started < seconds:
        barrier = threading.Barrier(threads + 1)
        workers = [threading.Thread(target=lambda: (barrier.wait(), loop(iterations))) for _ in range(threads)]
        for w in workers:
            w.start()
        barrier.wait()
        t0 = time.perf_counter()
        for w in workers:
            w.join()
        elapsed = time.perf_counter() - t0
        best = max(best, threads * iterations * CHAINS * lanes * 2 / elapsed / 1e9)
    return best, f"{name}, {CHAINS} chains x {threads} threads"
