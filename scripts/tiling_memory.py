"""Peak memory of tiled vs untiled SR inference on a large image, each run in a fresh process.

  python scripts/tiling_memory.py --model espcn_x2 --size 2000x2000 --tiles 0,512,256 --backend ort

Each child process opens the bundle, runs the pipeline once on a WxH image (0 = untiled) and reports
its peak resident set size (VmHWM: unlike ru_maxrss it is not inherited from the parent across
fork + exec) and the peak after opening the session only; the parent checks every tiled result
against the untiled one.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _image(w: int, h: int) -> np.ndarray:
    from PIL import Image

    from fastip.images import sample_image

    return np.asarray(Image.fromarray(sample_image("retina")).resize((w, h), Image.BICUBIC))


def _peak_rss_mib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024)
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


def child(bundle: str, size: str, tile: int, backend: str, threads: int, out: str) -> None:
    from fastip.pipeline import open_pipeline
    from fastip.tiling import TiledPipeline

    w, _, h = size.partition("x")
    image = _image(int(w), int(h))
    if tile:
        pipeline = TiledPipeline.open(bundle, backend, tile=tile, threads=threads)
    else:
        pipeline = open_pipeline(bundle, backend, threads=threads)
    opened_mib = _peak_rss_mib()
    t0 = time.perf_counter()
    with pipeline:
        result = pipeline(image)
    seconds = time.perf_counter() - t0
    np.save(out, result)
    print(json.dumps({"tile": tile, "halo": getattr(pipeline, "halo", None), "seconds": round(seconds, 2),
                      "peak_rss_mib": _peak_rss_mib(),
                      "peak_rss_after_open_mib": opened_mib, "output": list(result.shape)}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="espcn_x2")
    parser.add_argument("--size", default="2000x2000", help="low-resolution input WxH")
    parser.add_argument("--tiles", default="0,512,256", help="comma list of tile sizes in input pixels; 0 = untiled")
    parser.add_argument("--backend", default="ort")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--child", nargs=2, metavar=("BUNDLE", "TILE"), help=argparse.SUPPRESS)
    parser.add_argument("--npy", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.size, int(args.child[1]), args.backend, args.threads, args.npy)
        return 0
    from fastip.export import export_model

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        bundle = export_model(args.model, Path(tmp) / args.model)
        untiled = None
        for tile in (int(t) for t in args.tiles.split(",")):
            npy = str(Path(tmp) / f"out{tile}.npy")
            cmd = [sys.executable, __file__, "--child", str(bundle.root), str(tile), "--size", args.size,
                   "--backend", args.backend, "--threads", str(args.threads), "--npy", npy]
            row = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
            result = np.load(npy)
            if tile == 0:
                untiled = result
            elif untiled is not None:
                diff = np.abs(result.astype(int) - untiled)
                row["max_abs_diff_vs_untiled"] = int(diff.max())
                row["pixels_differing"] = int((diff > 0).sum())
            row.update(model=args.model, size=args.size, backend=args.backend)
            print(json.dumps(row), flush=True)
            rows.append(row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
