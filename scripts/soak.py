"""Long soak: many thousand small inferences per backend; prints resident memory as it goes.

--vary N draws each input's height and width from [size, size + N): every new size costs OpenVINO a
compiled kernel set, which its bounded runtime cache (fastip.runtimes.openvino.RUNTIME_CACHE) evicts.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from fastip import runtimes
from fastip.export import export_model


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no /proc/self/status")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="espcn_x2")
    parser.add_argument("--runs", type=int, default=50_000)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--backends", default="ort,openvino")
    parser.add_argument("--vary", type=int, default=0, help="vary height and width over this many sizes (0: fixed)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    sizes = rng.integers(args.size, args.size + max(args.vary, 1), (args.runs + 100, 2))
    side = args.size + max(args.vary, 1)
    base = rng.random((1, 3, side, side), dtype=np.float32)

    def feed_for(i: int) -> dict:
        h, w = sizes[i] if args.vary else (args.size, args.size)
        return {"input": np.ascontiguousarray(base[..., :h, :w])}

    with tempfile.TemporaryDirectory() as tmp:
        bundle = export_model(args.model, Path(tmp) / "b", target="openvino")
        for backend in args.backends.split(","):
            with runtimes.open(bundle, backend, threads=1) as session:
                for i in range(100):
                    session.run(feed_for(i))
                start, t0 = rss_mb(), time.perf_counter()
                for i in range(1, args.runs + 1):
                    session.run(feed_for(99 + i))
                    if i % (args.runs // 5) == 0:
                        print(f"{backend}: {i} runs, RSS {rss_mb():.1f} MB (+{rss_mb() - start:.1f})", flush=True)
                print(f"{backend}: {args.runs} runs in {time.perf_counter() - t0:.1f} s, RSS growth {rss_mb() - start:+.1f} MB")


if __name__ == "__main__":
    main()
