"""Fast mode vs full-resolution CAN: latency at 1080p/4K and PSNR/SSIM against the reference operator.

latency: every model exported to a temporary bundle and timed on one backend (median of --runs after one
warm-up run, runs interleaved across models; the timing does not depend on the weights).
quality: for each operator, the base CAN with that operator's weights, its fast variants with the same
weights, and the "oracle" fast mode (the operator itself run at 1/f resolution, then guided-upsampled:
the best any low-resolution network could do through this upsampler), all against the operator at full
resolution, on the held-out images (native size) and on a 2x2 mosaic of sample images at --sizes.

  python scripts/fast_mode_table.py latency --models can24,can24_fast2,can24_fast4 --sizes 1920x1080,3840x2160
  python scripts/fast_mode_table.py finetune --base can24 --operators rof --weights /tmp/fastip-train/{op}.pt --out-dir ft
  python scripts/fast_mode_table.py quality --base can24 --operators rof,tv_l1 --weights /tmp/fastip-train/{op}.pt \
      --tuned 'ft/{op}_fast{f}.safetensors'
  python scripts/fast_mode_table.py publish --quality q.json --finetune ft.json   # ship the fine-tuned weights

publish copies each fine-tuned weight into fastip/models/weights/ and lists it in index.json with its held-out
metrics from a `quality --sizes "" -o q.json` run (native-size held-out images) and the cost from `finetune -o`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from fastip import operators, runtimes
from fastip.benchmarks.quality import psnr, ssim
from fastip.export import export_model
from fastip.images import sample_image
from fastip.pipeline import to_image, to_tensor


def _size(text: str) -> tuple[int, int]:
    w, _, h = text.partition("x")
    return int(h), int(w)


def _bundle(model: str, root: Path, weights: str | None = None):
    return export_model(model, root / f"{model}-{abs(hash(weights))}", target="openvino", weights=weights)


def latency(args: argparse.Namespace) -> list[dict]:
    """Runs interleaved across models (one run of each in turn), so shared-CPU load hits all of them alike."""
    rows = []
    names = args.models.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        sessions = [runtimes.open(_bundle(m, Path(tmp), "none"), args.backend, threads=args.threads) for m in names]
        try:
            for size in args.sizes.split(","):
                h, w = _size(size)
                feed = {"input": np.random.default_rng(0).random((1, 3, h, w), dtype=np.float32)}
                times: dict[str, list[float]] = {m: [] for m in names}
                for session in sessions:
                    session.run(feed)
                for _ in range(args.runs):
                    for model, session in zip(names, sessions):
                        t0 = time.perf_counter()
                        session.run(feed)
                        times[model].append((time.perf_counter() - t0) * 1e3)
                for model in names:
                    row = {"model": model, "size": size, "backend": args.backend, "threads": args.threads,
                           "median_ms": round(statistics.median(times[model]), 1),
                           "runs_ms": [round(t, 1) for t in times[model]]}
                    print(json.dumps(row), file=sys.stderr, flush=True)
                    rows.append(row)
        finally:
            for session in sessions:
                session.close()
    return rows


MOSAIC = ("hubble_deep_field", "motorcycle", "rocket", "grace_hopper")  # the 1080p/4K quality image, 2x2
HELD_OUT = ("grace_hopper", "china")  # never seen by fastip-train's CANs: measured at native size


def _mosaic(size: str) -> np.ndarray:
    """A WxH natural image: four sample images, each centre-cropped to the tile's aspect and resized."""
    from PIL import Image

    h, w = _size(size)
    th, tw = h // 2, w // 2
    out = np.zeros((h, w, 3), np.uint8)
    for i, name in enumerate(MOSAIC):
        src = sample_image(name)
        ch = min(src.shape[0], round(src.shape[1] * th / tw))
        cw = min(src.shape[1], round(ch * tw / th))
        top, left = (src.shape[0] - ch) // 2, (src.shape[1] - cw) // 2
        tile = Image.fromarray(src[top:top + ch, left:left + cw]).resize((tw, th), Image.LANCZOS)
        out[(i // 2) * th:(i // 2 + 1) * th, (i % 2) * tw:(i % 2 + 1) * tw] = np.asarray(tile)
    return out


def _images(sizes: str) -> list[tuple[str, np.ndarray]]:
    images = [(name, sample_image(name)) for name in HELD_OUT]
    return images + [(f"mosaic@{s}", _mosaic(s)) for s in sizes.split(",") if s]


def _oracle(image: np.ndarray, operator: str, factor: int) -> np.ndarray:
    """The operator at 1/factor resolution, upsampled by the same guided filter the fast models use."""
    import torch

    from fastip.models.can import CAN_IO
    from fastip.models.fast import GuidedUpsample, downsample, pad_to_multiple

    x = pad_to_multiple(torch.from_numpy(to_tensor(image, CAN_IO)), factor)
    low = downsample(x, factor)
    low_out = operators.apply(operator, np.ascontiguousarray(low[0].permute(1, 2, 0).numpy()))
    low_out = torch.from_numpy(np.ascontiguousarray(low_out.transpose(2, 0, 1))[None])
    out = GuidedUpsample(factor)(low, low_out, x)[..., :image.shape[0], :image.shape[1]]
    return to_image(out.numpy(), CAN_IO)


def quality(args: argparse.Namespace) -> list[dict]:
    rows = []
    images = _images(args.sizes)
    factors = [int(f) for f in args.factors.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        for op in args.operators.split(","):
            weights = args.weights.format(op=op)
            bundles = {m: _bundle(m, Path(tmp), weights) for m in [args.base] + [f"{args.base}_fast{f}" for f in factors]}
            if args.tuned:
                bundles.update({f"{args.base}_fast{f}+ft": _bundle(f"{args.base}_fast{f}", Path(tmp), args.tuned.format(op=op, f=f))
                                for f in factors})
            for label, image in images:
                t0 = time.perf_counter()
                reference = operators.apply(op, image)
                op_ms = (time.perf_counter() - t0) * 1e3
                feed = {"input": to_tensor(image, bundles[args.base].manifest.io)}
                results = {}
                for model, bundle in bundles.items():
                    with runtimes.open(bundle, args.backend, threads=args.threads) as session:
                        results[model] = to_image(session.run(feed)["output"], bundle.manifest.io)
                for f in factors:
                    results[f"oracle_fast{f}"] = _oracle(image, op, f)
                results["input"] = image
                for name, out in results.items():
                    row = {"operator": op, "image": label, "model": name, "psnr": round(psnr(out, reference), 2),
                           "ssim": round(ssim(out, reference), 4), "operator_ms": round(op_ms)}
                    print(json.dumps(row), file=sys.stderr, flush=True)
                    rows.append(row)
    return rows


def finetune(args: argparse.Namespace) -> list[dict]:
    """Fine-tune each fast variant end to end from the base CAN's weights, on the training images at --max-side."""
    from fastip import models
    from fastip.models.checkpoint import save_state_dict
    from fastip.models.fast import finetune as finetune_fast
    from fastip.train.data import downscale, load_images
    from fastip.train.targets import TargetCache

    import torch

    torch.set_num_threads(args.threads)
    out_dir = Path(args.out_dir)
    cache = TargetCache(args.cache)
    rows = []
    for op in args.operators.split(","):
        inputs = [downscale(image.pixels, args.max_side) for image in load_images("samples")]
        pairs = [(x, cache.target(x, op, {})) for x in inputs]
        weights = args.weights.format(op=op)
        if weights in models.get(args.base).weights:  # the base CAN's, not an earlier fine-tune shipped under that name
            weights = str(models.get(args.base).weights[weights].path)
        for f in (int(f) for f in args.factors.split(",")):
            model = models.get(f"{args.base}_fast{f}").build(weights=weights)
            t0 = time.perf_counter()
            finetune_fast(model, pairs, steps=args.steps, crop=args.crop, batch=args.batch,
                          progress=lambda m: print(m, file=sys.stderr, flush=True))
            path = save_state_dict(model.state_dict(), out_dir / f"{op}_fast{f}.safetensors")
            rows.append({"operator": op, "factor": f, "steps": args.steps, "seconds": round(time.perf_counter() - t0),
                         "max_side": args.max_side, "crop": args.crop or "whole images", "batch": args.batch,
                         "weights": str(path)})
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return rows


def publish(args: argparse.Namespace) -> list[dict]:
    """List fine-tuned fast weights in index.json with their measured held-out metrics."""
    from fastip.models.checkpoint import load_state_dict, save_state_dict
    from fastip.models.registry import WEIGHTS_DIR
    from fastip.errors import FastipError
    from fastip.train.publish import read_index, write_index
    from fastip.train.shipping import check_shippable

    quality_rows = json.loads(Path(args.quality).read_text())
    tuned = json.loads(Path(args.finetune).read_text())

    def mean(op: str, model: str, key: str) -> float:
        values = [r[key] for r in quality_rows if r["operator"] == op and r["model"] == model]
        if not values:
            raise SystemExit(f"no {model} rows for {op} in {args.quality}")
        return round(float(np.mean(values)), 4)

    entries = []
    for row in tuned:
        op, f = row["operator"], row["factor"]
        model = f"{args.base}_fast{f}"
        file = f"{model}_{op}.safetensors"
        images = list(dict.fromkeys(r["image"] for r in quality_rows if r["operator"] == op))
        entry = {
            "model": model, "name": op, "file": file,
            "description": f"{model} approximating the {op} operator: the {args.base} '{op}' weights fine-tuned end to end "
                           "through the guided upsampling",
            "metrics": {"psnr": mean(op, f"{model}+ft", "psnr"), "ssim": mean(op, f"{model}+ft", "ssim"),
                        f"full_resolution_{args.base}_psnr": mean(op, args.base, "psnr")},
            "evaluated_on": ", ".join(images) + " (native size)",
            "params": {"operator": op, "operator_params": dict(operators.get(op).defaults), "base": args.base,
                       "base_weights": op, "factor": f, "steps": row["steps"], "train_seconds": row["seconds"],
                       "max_side": row.get("max_side", 640), "crop": row.get("crop", 256), "batch": row.get("batch", 4), "lr": row.get("lr", 2e-4), "seed": 0}}
        try:  # the shipping rule: >= 2 dB over the unchanged input at 1280 px, no held-out photograph below it
            entry["evaluation"] = check_shippable(entry, row["weights"])
        except FastipError as exc:
            print(f"not published: {exc}", file=sys.stderr)
            continue
        save_state_dict(load_state_dict(row["weights"]), WEIGHTS_DIR / file)
        entries.append(entry)
    write_index(read_index(), upsert=entries)
    for e in entries:
        print(f"published {e['model']}/{e['name']}: {e['metrics']}", file=sys.stderr)
    return entries


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("latency")
    p.add_argument("--models", default="can24,can24_fast2,can24_fast4,can24_fast8,can32,can32_fast2,can32_fast4,can32_fast8")
    p.add_argument("--sizes", default="1920x1080,3840x2160")
    p.add_argument("--runs", type=int, default=3)
    p.set_defaults(func=latency)
    p = sub.add_parser("quality")
    p.add_argument("--base", default="can24")
    p.add_argument("--operators", default="rof,tv_l1,l0_smoothing")
    p.add_argument("--weights", default="{op}", help="weights per operator: a shipped name or a path, {op} substituted")
    p.add_argument("--factors", default="2,4,8")
    p.add_argument("--sizes", default="1920x1080")
    p.add_argument("--tuned", help="fine-tuned fast weights, {op} and {f} substituted (adds rows <model>+ft)")
    p.set_defaults(func=quality)
    p = sub.add_parser("finetune")
    p.add_argument("--base", default="can24")
    p.add_argument("--operators", default="rof,tv_l1,l0_smoothing")
    p.add_argument("--weights", default="{op}")
    p.add_argument("--factors", default="2,4")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--max-side", type=int, default=640)
    p.add_argument("--crop", type=int, help="crop side in full-resolution pixels (default: whole images)")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--cache", help="operator target cache (fastip-train's --cache)")
    p.add_argument("--out-dir", default="fast-weights")
    p.set_defaults(func=finetune)
    p = sub.add_parser("publish")
    p.add_argument("--base", default="can24")
    p.add_argument("--quality", required=True, help="rows of `quality --sizes '' --tuned ... -o`")
    p.add_argument("--finetune", required=True, help="rows of `finetune -o`")
    p.set_defaults(func=publish)
    for p in sub.choices.values():
        p.add_argument("--backend", default="openvino")
        p.add_argument("--threads", type=int, default=2)
        p.add_argument("-o", "--out", help="write the rows as JSON here")
    args = parser.parse_args()
    rows = args.func(args)
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
