"""What a benchmark runs on: bundles (given, or exported to a temporary directory) and images at each size."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from fastip.bundle import Bundle
from fastip.errors import BundleError, InputError

DEFAULT_SAMPLE = "astronaut"


def parse_size(text: str) -> tuple[int, int]:
    """'1920x1080' -> (1920, 1080) as (width, height)."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not match or int(match.group(1)) < 1 or int(match.group(2)) < 1:
        raise InputError(f"bad size {text!r}; write WIDTHxHEIGHT, e.g. 512x512 or 1920x1080")
    return int(match.group(1)), int(match.group(2))


def fit_image(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Scale `image` to cover width x height (bicubic), then centre-crop to exactly that size."""
    from PIL import Image

    h, w = image.shape[:2]
    scale = max(width / w, height / h)
    size = (max(width, round(w * scale)), max(height, round(h * scale)))
    resized = np.asarray(Image.fromarray(image).resize(size, Image.BICUBIC)) if size != (w, h) else image
    top, left = (resized.shape[0] - height) // 2, (resized.shape[1] - width) // 2
    return np.ascontiguousarray(resized[top:top + height, left:left + width])


def load_images(folder: str | None) -> list[tuple[str, np.ndarray]]:
    """(name, uint8 RGB image) for every image file in `folder`, or the default bundled sample."""
    from fastip.images import IMAGE_SUFFIXES, read_image, sample_image

    if folder is None:
        return [(DEFAULT_SAMPLE, sample_image(DEFAULT_SAMPLE))]
    root = Path(folder)
    files = sorted(root.iterdir()) if root.is_dir() else [root] if root.is_file() else []
    files = [f for f in files if f.suffix.lower() in IMAGE_SUFFIXES]
    if not files:
        raise InputError(f"--images {folder}: no image files found ({', '.join(IMAGE_SUFFIXES)}); give a folder of images")
    return [(f.name, read_image(f)) for f in files]


@dataclass
class PreparedBundles:
    """The bundle to run at each precision, or why that precision cannot run."""

    bundles: dict[str, Bundle] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    fallbacks: dict[str, str] = field(default_factory=dict)  # precisions the gate sent back to FP32, as allowed
    exported: bool = False


def looks_like_path(target: str) -> bool:
    """A bundle path rather than a registry name."""
    return "/" in target or "\\" in target or target.startswith(".") or Path(target).exists()


def prepare_bundles(target: str, precisions: tuple[str, ...], workdir: Path, *, weights: str | None = None,
                    progress: Callable[[str], None] = lambda _: None, quant: dict | None = None) -> PreparedBundles:
    """Load the bundle at `target`, or export the registry model `target` (OpenVINO target) once per precision.

    `quant` (min_psnr, allow_fallback, ...) goes to the fp16/int8 exports; a precision that falls back to
    FP32 is skipped with the gate's reason.
    """
    prepared = PreparedBundles()
    if looks_like_path(target):
        if weights:
            raise InputError("--weights applies to a model name; an existing bundle already holds its weights")
        if quant:
            raise InputError(f"{', '.join('--' + k.replace('_', '-') for k in quant)} apply to a model name that "
                             "fastip-bench exports; an existing bundle was gated when it was exported")
        bundle = Bundle.load(target)
        for precision in precisions:
            prepared.bundles[precision] = bundle
        return prepared
    from fastip import models
    from fastip.export import export_model

    models.get(target)  # unknown names fail here, with suggestions
    prepared.exported = True
    progress(f"exporting {target} (fp32) to a temporary bundle")
    fp32 = export_model(target, workdir / "fp32", target="openvino", weights=weights)
    for precision in precisions:
        if precision == "fp32":
            prepared.bundles[precision] = fp32
            continue
        progress(f"exporting {target} ({precision})")
        try:
            bundle = export_model(target, workdir / precision, target="openvino", precision=precision, weights=weights,
                                  **(quant or {}))
            fallback = bundle.manifest.extra.get("quantization", {}).get("fallback")
            if bundle.manifest.precision != precision and fallback:
                prepared.fallbacks[precision] = (f"{precision} fell back to {fallback} (--allow-fallback): "
                                                 f"{bundle.manifest.extra['quantization'].get('reason', '')}")
            else:
                prepared.bundles[precision] = bundle
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # the quantization path may be missing or fail its gate: report, don't abort
            prepared.skipped[precision] = f"{precision} export failed: {type(exc).__name__}: {exc}"
    return prepared


def require_artifact(bundle: Bundle, backend: str, precision: str) -> str | None:
    """Why `bundle` cannot run `precision` on `backend` (None when it can)."""
    from fastip.runtimes import PRECISION_ROLES

    if backend == "torch":
        if precision != "fp32":
            return "the torch backend runs fp32 only"
        return None if "torch" in bundle.manifest.artifacts else "the bundle carries no PyTorch weights"
    if backend == "trt":
        return None
    onnx_role, ir_role = PRECISION_ROLES[precision]
    roles = (onnx_role,) if backend == "ort" else (ir_role, onnx_role)
    if any(r is not None and r in bundle.manifest.artifacts for r in roles):
        return None
    return f"bundle has no {precision} artifact for {backend} (it has: {', '.join(bundle.manifest.artifacts)})"


def check_bundle_path(target: str) -> None:
    """Raise BundleError when a path-like target is not a bundle directory."""
    if looks_like_path(target) and not Path(target).is_dir():
        raise BundleError(f"bundle not found: {target}; export one with `fastip-export MODEL -o {target}` or give a model name")
