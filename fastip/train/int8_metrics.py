"""INT8 metrics of shipped CAN weights on the held-out split: a Q/DQ artifact run on ONNX Runtime's INT8 kernels.

At the training size (--max-side, 320) against the operator and against FP32, and at LARGE_SIDE (1280)
against FP32 on the held-out images (the fetched held-out photographs too, when cached).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from fastip.errors import InputError

LARGE_PHOTOS = 2  # held-out photographs measured at LARGE_SIDE besides the bundled held-out pair


def int8_metrics(model: str, weights: str, *, candidate: str | None = None, val: str | os.PathLike = "samples",
                 max_side: int = 320, cache_dir: str | os.PathLike | None = None) -> tuple[dict, dict]:
    """({int8_psnr, int8_ssim, int8_psnr_vs_fp32, int8_psnr_vs_fp32_large}, {candidate, float layers, ...}).

    The artifact is the Q/DQ ONNX of `candidate` (QAT weights: the scheme they were fine-tuned for, measured
    against the FP32 weights they started from), calibrated as `fastip-export` calibrates, run by ONNX Runtime.
    `held_out_worst_meets_gate_psnr`: whether the worst held-out image, at either size, is within the default
    gate's PSNR of FP32. The gate itself (fastip-export) measures other cases; this is the held-out check.
    """
    from fastip import models
    from fastip.calibration import data as calib_data
    from fastip.calibration.quality import DEFAULT_MIN_PSNR, LARGE_SIDE, cached_photos, large_case
    from fastip.calibration.quantize import candidates_for, quantize_qdq
    from fastip.calibration.ranges import CalibrationMethod, collect_ranges
    from fastip.export.onnx import export_onnx, output_specs
    from fastip.export.source import resolve
    from fastip.pipeline import to_image, to_tensor
    from fastip.runtimes.ort import OrtSession
    from fastip.train.can import _pairs
    from fastip.train.data import load_images
    from fastip.train.metrics import psnr, ssim
    from fastip.train.targets import TargetCache

    shipped = models.get(model).weights.get(weights)
    if shipped is None or "operator" not in dict(shipped.params):
        raise InputError(f"{model}/{weights} is not a shipped CAN operator weight; INT8 metrics measure those")
    params = dict(shipped.params)
    qat = params.get("qat") or {}
    base = qat.get("from_weights", weights)
    name = candidate or qat.get("candidate") or "u8-per-channel"
    twin = name.endswith("-7bit-input")
    settings = candidates_for("ort", [name.removesuffix("-7bit-input")])[0]
    settings = settings.without_saturation() if twin else settings
    held = load_images(val, held_out=True)
    pairs = _pairs(held, params["operator"], dict(params.get("operator_params") or {}), TargetCache(cache_dir),
                   max_side, (1.0,))
    reference, tuned = resolve(model, weights=base), resolve(model, weights=weights)
    io, spec = tuned.io, tuned.input
    with tempfile.TemporaryDirectory(prefix="fastip-int8m-") as tmp:
        fp32, start, quantized = Path(tmp) / "fp32.onnx", Path(tmp) / "start.onnx", Path(tmp) / "int8.onnx"
        export_onnx(tuned, output_specs(tuned), fp32)
        export_onnx(reference, output_specs(reference), start)
        images = calib_data.load_images(None, "can")
        plan = calib_data.make_plan(spec, io, "can")
        feeds = list(calib_data.calibration_feeds(images, plan, spec, io))
        ranges = collect_ranges(fp32, feeds, CalibrationMethod.MINMAX, "int8-metrics")
        excluded = quantize_qdq(fp32, ranges, settings, quantized, float_nodes=qat.get("float_layers") or ())
        outputs = output_specs(reference)
        ref, int8 = OrtSession(start, [spec], outputs), OrtSession(quantized, [spec], outputs)
        try:
            def run(session, image):
                out = next(iter(session.run({spec.name: to_tensor(image, io)}).values()))
                return to_image(out.astype(np.float32), io)

            rows = [(run(int8, x), run(ref, x), y) for x, y in pairs]
            large = [i.pixels for i in held] + [p for _, p in cached_photos(LARGE_PHOTOS, held_out=True)]
            cases = [large_case("can", io, spec, "held", image).image for image in large]
            vs_large = [psnr(run(int8, x), run(ref, x)) for x in cases]
        finally:
            ref.close()
            int8.close()
    metrics = {"int8_psnr": float(np.mean([psnr(q, y) for q, _, y in rows])),
               "int8_ssim": float(np.mean([ssim(q, y) for q, _, y in rows])),
               "int8_psnr_vs_fp32": float(min(psnr(q, f) for q, f, _ in rows)),
               "int8_psnr_vs_fp32_large": float(min(vs_large))}
    worst = min(metrics["int8_psnr_vs_fp32"], metrics["int8_psnr_vs_fp32_large"])
    info = {"candidate": settings.name, "float_layers": excluded, "measured_against": f"{model}/{base} FP32",
            "large_side": LARGE_SIDE, "large_images": len(cases), "evaluated_on": ", ".join(i.name for i in held),
            "held_out_worst_meets_gate_psnr": worst >= DEFAULT_MIN_PSNR["can"], "backend": "ort"}
    return metrics, info


def publish_int8_metrics(model: str, name: str, *, weights_dir: str | os.PathLike | None = None,
                         **options: Any) -> dict:
    """Measure a shipped weight's INT8 artifact (int8_metrics) and record it in its index.json entry."""
    from fastip.models.registry import WEIGHTS_DIR
    from fastip.train.publish import read_index, write_index

    weights_dir = Path(weights_dir or WEIGHTS_DIR)
    index = read_index(weights_dir)
    entry = next((e for e in index if (e["model"], e["name"]) == (model, name)), None)
    if entry is None:
        raise InputError(f"no shipped weight {model}/{name} in {weights_dir / 'index.json'}")
    metrics, info = int8_metrics(model, name, **options)
    entry["metrics"] = {**entry["metrics"], **{k: round(v, 4) for k, v in metrics.items()}}
    entry["params"] = {**entry["params"], "int8": info}
    write_index(index, weights_dir)
    return entry
