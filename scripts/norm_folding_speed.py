"""Latency of CAN with folded batch norms vs per-image instance norms, on ONNX Runtime and OpenVINO."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from fastip import runtimes
from fastip.benchmarks.latency import Budget, measure
from fastip.export import export_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="can32")
    parser.add_argument("--size", default="1080x1920", help="HxW")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    h, w = map(int, args.size.split("x"))
    feed = {"input": np.random.default_rng(0).random((1, 3, h, w), dtype=np.float32)}
    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        for norm in ("batch", "instance"):
            bundle = export_model(args.model, Path(tmp) / norm, target="openvino", norm=norm, weights="none")  # timing only
            for backend in ("ort", "openvino"):
                with runtimes.open(bundle, backend, threads=args.threads) as session:
                    stats = measure(lambda: session.run(feed), Budget(warmup=1, min_runs=args.runs, min_time=0))
                    rows.append((norm, backend, stats.p50))
    print(f"| {args.model} norm | backend | median ms at {w}x{h} |\n|---|---|---|")
    for norm, backend, ms in rows:
        print(f"| {norm} | {backend} | {ms:.0f} |")


if __name__ == "__main__":
    main()
