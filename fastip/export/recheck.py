"""`fastip validate`: rerun every artifact of a bundle against its reference on real images, with stated tolerances.

The reference is the PyTorch model when the bundle carries `weights.safetensors` of a registry model (and
PyTorch is installed), else the FP32 ONNX on ONNX Runtime. FP32 artifacts must match to `rtol` x the
reference output's range (as at export); FP16/INT8 artifacts must meet the quality gate recorded in the
manifest at quantization (PSNR vs FP32 for image models, box IoU and recall for detectors).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from fastip.bundle import Bundle
from fastip.errors import InputError
from fastip.export.validate import RTOL, compare

# artifact role -> (precision, backends that run it)
ROLE_BACKENDS = {"onnx": ("fp32", ("ort", "openvino")), "openvino": ("fp32", ("openvino",)),
                 "onnx_fp16": ("fp16", ("ort",)), "onnx_int8": ("int8", ("ort", "openvino")),
                 "openvino_int8": ("int8", ("openvino",)), "engine": (None, ("trt",))}
DEFAULT_IMAGES = ("astronaut", "coffee", "chelsea")
MAX_SIDE = 512


@dataclass(frozen=True)
class Check:
    """One artifact on one backend against the reference on one image."""

    artifact: str
    backend: str
    image: str
    metric: str  # "max abs error", "PSNR vs reference (dB)" or "box IoU vs reference"
    value: float
    limit: float
    passed: bool
    detail: str = ""

    def line(self) -> str:
        verdict = "ok  " if self.passed else "FAIL"
        relation = ("<=" if self.passed else ">") if self.metric == "max abs error" else (">=" if self.passed else "<")
        return (f"{verdict} {self.artifact} on {self.backend}, {self.image}: {self.metric} {self.value:.4g} {relation} "
                f"{self.limit:.4g}" + (f" ({self.detail})" if self.detail else ""))


@dataclass(frozen=True)
class BundleValidation:
    """Every check of one `validate_bundle` call, and what it was checked against."""

    bundle: str
    reference: str
    checks: tuple[Check, ...]
    skipped: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]


def load_images(images: str | os.PathLike | None, max_side: int = MAX_SIDE) -> list[tuple[str, np.ndarray]]:
    """(label, uint8 RGB) pairs: the files in a folder (or one file), else bundled photographs; longest side capped."""
    from fastip.images import IMAGE_SUFFIXES, read_image, sample_image

    if images is None:
        pairs = [(name, sample_image(name)) for name in DEFAULT_IMAGES]
    else:
        root = Path(images)
        if root.is_dir():
            files = sorted(p for p in root.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not files:
                raise InputError(f"no images in {root}; give a folder with {', '.join(IMAGE_SUFFIXES)} files")
        elif root.is_file():
            files = [root]
        else:
            raise InputError(f"--images {root} is neither a folder nor an image file")
        pairs = [(p.name, read_image(p)) for p in files]
    return [(label, _fit(image, max_side)) for label, image in pairs]


def _fit(image: np.ndarray, max_side: int) -> np.ndarray:
    from PIL import Image

    h, w = image.shape[:2]
    scale = max_side / max(h, w)
    if scale >= 1:
        return image
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(image).resize(size, Image.BICUBIC))


def reference_session(bundle: Bundle):
    """(session, description): PyTorch for a registry model with weights, else the FP32 ONNX on ONNX Runtime."""
    import importlib.util

    m = bundle.manifest
    if "torch" in m.artifacts and m.source.get("kind") == "registry" and importlib.util.find_spec("torch"):
        from fastip.export.source import rebuild_module
        from fastip.runtimes.torch import TorchSession

        return TorchSession(rebuild_module(bundle), m.inputs, m.outputs), f"PyTorch ({m.artifacts['torch']})"
    from fastip.runtimes.ort import OrtSession

    return OrtSession(bundle.path("onnx"), m.inputs, m.outputs), f"{m.artifacts['onnx']} on ort"


def _open(bundle: Bundle, role: str, backend: str):
    m = bundle.manifest
    if backend == "trt":
        from fastip import runtimes

        return runtimes.open(bundle, "trt", precision=_engine_precision(bundle))
    if backend == "openvino":
        from fastip.runtimes.openvino import OpenVinoSession

        return OpenVinoSession(bundle.path(role), m.inputs, m.outputs)
    from fastip.runtimes.ort import OrtSession

    return OrtSession(bundle.path(role), m.inputs, m.outputs)


def _engine_precision(bundle: Bundle) -> str:
    built_from = (bundle.manifest.extra.get("tensorrt") or {}).get("source_role") or "onnx"
    return ROLE_BACKENDS.get(built_from, ("fp32",))[0] or "fp32"


def _gate(bundle: Bundle) -> dict[str, float]:
    record = bundle.manifest.extra.get("quantization") or {}
    return dict(record.get("thresholds") or {})


def validate_bundle(path: str | os.PathLike | Bundle, *, backends: list[str] | None = None,
                    images: str | os.PathLike | None = None, rtol: float = RTOL, max_side: int = MAX_SIDE,
                    progress: Callable[[str], None] = lambda _: None) -> BundleValidation:
    """Run every artifact of the bundle on each asked backend against the reference; nothing raises on a mismatch."""
    from fastip.runtimes import BACKENDS, available_backends

    bundle = path if isinstance(path, Bundle) else Bundle.load(path)
    asked = list(backends) if backends else [b for b in ("ort", "openvino", "trt") if b in available_backends()]
    for b in asked:
        if b not in BACKENDS or b == "torch":
            raise InputError(f"unknown backend {b!r} for validate; choose from ort, openvino, trt")
        if b not in available_backends():
            raise InputError(f"backend {b!r} is not installed here; available: {', '.join(available_backends())}")
    cases = load_images(images, max_side)
    reference, described = reference_session(bundle)
    checks: list[Check] = []
    skipped: list[str] = []
    try:
        expected = [(label, image, _outputs(bundle, reference, image)) for label, image in cases]
        for role, filename in bundle.manifest.artifacts.items():
            if role == "torch":
                continue
            precision, runs_on = ROLE_BACKENDS[role]
            precision = precision or _engine_precision(bundle)
            for backend in runs_on:
                if backend not in asked:
                    continue
                if role == "onnx" and backend == "ort" and "on ort" in described:
                    skipped.append(f"{filename} on ort is the reference itself")
                    continue
                progress(f"validating {filename} on {backend}")
                session = _open(bundle, role, backend)
                try:
                    for label, image, ref in expected:
                        checks.append(_check(bundle, session, filename, backend, label, image, ref, precision, rtol))
                finally:
                    session.close()
    finally:
        reference.close()
    return BundleValidation(str(bundle.root), described, tuple(checks), tuple(skipped))


def _outputs(bundle: Bundle, session, image: np.ndarray) -> Any:
    """Raw output tensors (and detections for a detector) of `session` on `image`, pre-processed as the manifest says."""
    m = bundle.manifest
    if m.io.output == "detections":
        from fastip.detection.pipeline import FacePipeline

        pipe = FacePipeline(session, m.io)
        tensor, _ = pipe.preprocess(image)
        return {"tensors": session.run({m.inputs[0].name: tensor}), "detections": pipe(image)}
    from fastip.pipeline import pad_to_multiple, to_tensor

    image = pad_to_multiple(image, m.io.size_multiple) if m.io.size_multiple > 1 else image
    return {"tensors": session.run({m.inputs[0].name: to_tensor(image, m.io)})}


def _check(bundle: Bundle, session, artifact: str, backend: str, label: str, image: np.ndarray, ref: dict,
           precision: str, rtol: float) -> Check:
    got = _outputs(bundle, session, image)
    shape = "x".join(str(d) for d in image.shape[:2])
    label = f"{label}@{shape}"
    if precision == "fp32":
        err, psnr, tol = compare(ref["tensors"], got["tensors"], rtol)
        return Check(artifact, backend, label, "max abs error", err, tol, err <= tol,
                     f"PSNR {psnr:.1f} dB" if math.isfinite(psnr) else "identical")
    gate = _gate(bundle)
    if "detections" in ref:
        from fastip.detection.agreement import compare_detections

        agreement = compare_detections(got["detections"], ref["detections"])
        iou = agreement.mean_iou if agreement.mean_iou is not None else (1.0 if not agreement.num_reference else 0.0)
        recall = min(agreement.recall, agreement.precision)
        limit = float(gate.get("min_iou", 0.85))
        passed = iou >= limit and recall >= float(gate.get("min_recall", 1.0))
        return Check(artifact, backend, label, "box IoU vs reference", iou, limit, passed,
                     f"recall/precision {recall:.2f}, {precision} gate")
    value = _psnr(bundle, ref["tensors"], got["tensors"])
    limit = float(gate.get("min_psnr_vs_fp32", 35.0))
    return Check(artifact, backend, label, "PSNR vs reference (dB)", value, limit, value >= limit, f"{precision} gate")


def _psnr(bundle: Bundle, reference: dict, candidate: dict) -> float:
    """Worst PSNR over the outputs: on the uint8 images the pipeline writes, or on the raw tensors of other outputs."""
    from fastip.benchmarks.quality import psnr
    from fastip.pipeline import to_image

    io = bundle.manifest.io
    worst = math.inf
    for name, ref in reference.items():
        got = candidate[name]
        if ref.ndim == 4 and ref.shape[:2] == (1, 3) and got.shape == ref.shape:
            value = psnr(to_image(got.astype(np.float32), io), to_image(ref.astype(np.float32), io))
        else:
            value = compare({name: ref}, {name: got})[1]
        worst = min(worst, value)
    return worst
