"""Long soak: many thousand small inferences per backend; prints resident memory as it goes."""

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
    args = parser.parse_args()
    feed = {"input": np.random.default_rng(0).random((1, 3, args.size, args.size), dtype=np.float32)}
    with tempfile.TemporaryDirectory() as tmp:
        bundle = export_model(args.model, Path(tmp) / "b", target="openvino")
        for backend in args.backends.split(","):
            with runtimes.open(bundle, backend, threads=1) as session:
                for _ in range(100):
                    session.run(feed)
                start, t0 = rss_mb(), time.perf_counter()
                for i in range(1, args.runs + 1):
                    session.run(feed)
                    if i % (args.runs // 5) == 0:
                        print(f"{backend}: {i} runs, RSS {rss_mb():.1f} MB (+{rss_mb() - start:.1f})", flush=True)
                print(f"{backend}: {args.runs} runs in {time.perf_counter() - t0:.1f} s, RSS growth {rss_mb() - start:+.1f} MB")


if __name__ == "__main__":
    main()
