"""INT8 metrics of shipped CAN weights on the held-out split: the artifact the gate keeps, run on ONNX Runtime.

At the training size (--max-side, 320) against the operator and against FP32, and at LARGE_SIDE (1280)
against FP32 on the held-out images (the fetched held-out photographs too, when cached).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

from fastip.errors import InputError

LARGE_PHOTOS = 2  # held-out photographs measured at LARGE_SIDE besides the bundled held-out pair


def int8_metrics(model: str, weights: str, *, candidates: list[str] | None = None, val: str | os.PathLike = "samples",
                 max_side: int = 320, cache_dir: str | os.PathLike | None = None,
                 progress: Callable[[str], None] = lambda _: None, **quant_options: Any) -> tuple[dict, dict]:
    """({int8_psnr, int8_ssim, int8_psnr_vs_fp32, int8_psnr_vs_fp32_large}, {candidate, float layers, images})."""
    from fastip import models
    from fastip.calibration.quality import LARGE_SIDE, large_case, cached_photos
    from fastip.export import export_model
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
    held = load_images(val, held_out=True)
    pairs = _pairs(held, params["operator"], dict(params.get("operator_params") or {}), TargetCache(cache_dir),
                   max_side, (1.0,))
    with tempfile.TemporaryDirectory(prefix="fastip-int8m-") as tmp:
        base = params.get("qat", {}).get("from_weights", weights)
        wanted = candidates or ([f"qat-{weights}"] if base != weights else None)
        bundle = export_model(model, Path(tmp) / "b", weights=base, target="ort", precision="int8",
                              candidates=wanted, progress=progress, **quant_options)
        m = bundle.manifest
        io, spec = m.io, m.inputs[0]
        fp32 = OrtSession(bundle.path / m.artifacts["onnx"], m.inputs, m.outputs)
        int8 = OrtSession(bundle.path / m.artifacts["onnx_int8"], m.inputs, m.outputs)
        try:
            def run(session, image):
                out = next(iter(session.run({spec.name: to_tensor(image, io)}).values()))
                return to_image(out.astype(np.float32), io)

            rows = [(run(int8, x), run(fp32, x), y) for x, y in pairs]
            large = [i.pixels for i in held] + [p for _, p in cached_photos(LARGE_PHOTOS, held_out=True)]
            cases = [large_case("can", io, spec, "held", image).image for image in large]
            vs_large = [psnr(run(int8, x), run(fp32, x)) for x in cases]
        finally:
            fp32.close()
            int8.close()
        record = m.extra["quantization"]
        chosen = record["chosen"]["onnx_int8"]
        settings = next(c["settings"] for c in record["candidates"] if c["name"] == chosen)
    metrics = {"int8_psnr": float(np.mean([psnr(q, y) for q, _, y in rows])),
               "int8_ssim": float(np.mean([ssim(q, y) for q, _, y in rows])),
               "int8_psnr_vs_fp32": float(min(psnr(q, f) for q, f, _ in rows)),
               "int8_psnr_vs_fp32_large": float(min(vs_large))}
    info = {"candidate": chosen, "float_layers": list(settings.get("nodes_excluded") or []),
            "from_weights": base, "large_side": LARGE_SIDE, "large_images": len(cases),
            "evaluated_on": ", ".join(i.name for i in held)}
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
