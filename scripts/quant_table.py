"""Model x backend x precision: latency median and quality vs FP32, as a Markdown table.

CAN models run at 1920x1080, SR models at 960x540 input (1080p output at x2), face models at
their fixed input size. Models without shipped weights get seeded random weights (stated in
the table), since identity-initialised networks say nothing about quantization.

    python scripts/quant_table.py --models can32 espcn_x2 --runs 3 -o out/quant_table.md
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from fastip.benchmarks.latency import Budget, measure

SIZES = {"can": (1080, 1920), "sr": (540, 960)}


def seeded_source(name: str, seed: int = 0):
    """The registry model with its shipped weights, or seeded random weights when none ship."""
    import torch

    from fastip import models
    from fastip.export.source import deploy_form, resolve

    source = resolve(name, weights=None if models.get(name).default_weights else "none")  # perturbed below
    if models.get(name).default_weights:
        return source, models.get(name).default_weights
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for key, tensor in source.module.state_dict().items():
            if tensor.is_floating_point() and tensor.ndim >= 2:
                tensor.add_(torch.randn(tensor.shape, generator=gen) * (0.05 / tensor[0].numel()) ** 0.5)
    source.deploy = deploy_form(source.module)
    return source, f"seeded random (seed {seed})"


def median_ms(session, feed: dict, runs: int) -> float:
    return measure(lambda: session.run(feed), Budget(warmup=1, min_runs=runs, min_time=0)).p50


def rows_for(name: str, root: Path, runs: int, threads: int | None, cache_dir: str, min_psnr: float | None) -> list[str]:
    from fastip import runtimes
    from fastip.export import export_model

    source, weights = seeded_source(name)
    int8 = export_model(source, root / f"{name}-int8", target="openvino", precision="int8", cache_dir=cache_dir,
                        allow_fallback=True, **({"min_psnr": min_psnr} if min_psnr is not None else {}))
    fp16 = export_model(source, root / f"{name}-fp16", target="ort", precision="fp16", allow_fallback=True)
    spec = int8.manifest.inputs[0]
    h, w = SIZES.get(source.family, tuple(spec.shape[2:4]))
    feed = {spec.name: np.random.default_rng(0).random((1, 3, h, w), np.float32)}
    quality = {}
    for record, bundle in ((int8.manifest.extra.get("quantization", {}), int8), (fp16.manifest.extra.get("quantization", {}), fp16)):
        by_name = {c["name"]: c for c in record.get("candidates", [])}
        for role, chosen in (record.get("chosen") or {}).items():
            quality[role] = _quality(by_name[chosen]) + f" ({chosen})"
    rows = []
    plan = [("ort", "fp32", int8, "onnx"), ("openvino", "fp32", int8, "openvino"), ("ort", "int8", int8, "onnx_int8"),
            ("openvino", "int8", int8, "openvino_int8"), ("ort", "fp16", fp16, "onnx_fp16")]
    for backend, precision, bundle, role in plan:
        if role not in bundle.manifest.artifacts:
            rows.append(f"| {name} | {backend} | {precision} | — | not shipped (gate: see manifest) |")
            continue
        with runtimes.open(bundle, backend, precision=precision, threads=threads) as session:
            ms = median_ms(session, feed, runs)
        q = "reference" if precision == "fp32" else quality.get(role, "—")
        rows.append(f"| {name} ({weights}) | {backend} | {precision} | {ms:.1f} @ {h}x{w} | {q} |")
    return rows


def _quality(candidate: dict) -> str:
    m = candidate["metrics"]
    if "psnr_vs_fp32" in m:
        text = f"PSNR {m['psnr_vs_fp32']:.1f} dB, SSIM {m['ssim_vs_fp32']:.4f} vs FP32"
        if "psnr_vs_hr" in m:
            text += f"; HR PSNR drop {m['hr_psnr_drop']:.3f} dB"
        return text
    return f"IoU {m.get('mean_iou') or 0:.3f}, score diff {m.get('max_score_diff') or 0:.3f}, recall {m['recall']:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["can32", "espcn_x2", "blazeface_front"])
    parser.add_argument("--runs", type=int, default=3, help="timed runs per variant (median reported)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--min-psnr", type=float, help="INT8 gate threshold (dB vs FP32) instead of the family default")
    parser.add_argument("-o", "--out", help="also write the table here")
    args = parser.parse_args(argv)
    lines = ["| model (weights) | backend | precision | latency median ms | quality (gate candidate kept) |",
             "|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            lines += rows_for(name, Path(tmp), args.runs, args.threads, str(Path(tmp) / "calibration-cache"),
                              args.min_psnr)
            print("\n".join(lines[-5:]), flush=True)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
