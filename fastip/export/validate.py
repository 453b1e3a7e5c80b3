"""Validation of exported artifacts against the PyTorch model on real images at two resolutions."""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from fastip.errors import ValidationError
from fastip.manifest import Validation
from fastip.spec import ImageIO, TensorSpec

VALIDATION_IMAGES = ("astronaut", "coffee")
RTOL = 1e-4  # max abs error allowed, relative to the reference output's range


def validation_sizes(input_spec: TensorSpec, family: str) -> list[tuple[int, int]]:
    """Two (height, width) sizes, the second odd; fixed-size inputs use their one size."""
    h, w = input_spec.shape[2], input_spec.shape[3]
    if isinstance(h, int) and isinstance(w, int):
        return [(h, w)]
    small = family == "sr"
    sizes = [(48, 64), (37, 51)] if small else [(96, 128), (75, 113)]
    return [(h if isinstance(h, int) else a, w if isinstance(w, int) else b) for a, b in sizes]


def validation_feeds(input_spec: TensorSpec, io: ImageIO, family: str) -> list[tuple[str, np.ndarray]]:
    """(label, feed tensor) pairs from bundled natural images, pre-processed as the manifest says."""
    from PIL import Image

    from fastip.images import sample_image
    from fastip.pipeline import to_tensor

    feeds = []
    sizes = validation_sizes(input_spec, family)
    for index, name in enumerate(VALIDATION_IMAGES):
        h, w = sizes[index % len(sizes)]
        image = np.asarray(Image.fromarray(sample_image(name)).resize((w, h), Image.BICUBIC))
        tensor = to_tensor(image, io)
        if input_spec.channels not in (None, 3):
            tensor = np.repeat(tensor.mean(axis=1, keepdims=True), input_spec.channels, axis=1).astype(np.float32)
        feeds.append((f"{name}@{h}x{w}", tensor))
    return feeds


def compare(reference: dict[str, np.ndarray], candidate: dict[str, np.ndarray], rtol: float = RTOL) -> tuple[float, float, float]:
    """(max abs error, PSNR over the reference range, tolerance) across every output."""
    worst_err, worst_psnr, tolerance = 0.0, math.inf, math.inf
    for name, ref in reference.items():
        got = candidate[name]
        if got.shape != ref.shape:
            return math.inf, -math.inf, 0.0
        span = float(ref.max() - ref.min()) or 1.0
        diff = got.astype(np.float64) - ref.astype(np.float64)
        err = float(np.abs(diff).max()) if np.isfinite(diff).all() else math.inf
        mse = float(np.mean(diff ** 2))
        psnr = 10 * math.log10(span ** 2 / mse) if mse > 0 else math.inf
        worst_err = max(worst_err, err)
        worst_psnr = min(worst_psnr, psnr)
        tolerance = min(tolerance, rtol * span)
    return worst_err, worst_psnr, tolerance


def validate(reference_run: Callable[[dict], dict], candidates: dict[tuple[str, str], Callable[[dict], dict]],
             feeds: list[tuple[str, np.ndarray]], input_name: str, *, rtol: float = RTOL,
             progress: Callable[[str], None] = lambda _: None) -> list[Validation]:
    """Run every (artifact, backend) candidate against the reference; raise ValidationError on any miss."""
    records = []
    for label, tensor in feeds:
        feed = {input_name: tensor}
        reference = reference_run(feed)
        for (artifact, backend), run in candidates.items():
            progress(f"validating {artifact} on {backend} with {label}")
            err, psnr, tol = compare(reference, run(feed), rtol)
            records.append(Validation(artifact, backend, label, tuple(tensor.shape), err, psnr, tol, err <= tol))
    failed = [r for r in records if not r.passed]
    if failed:
        lines = "\n".join(f"  {r.artifact} on {r.backend}, {r.image}: max abs error {r.max_abs_error:.3g} > {r.tolerance:.3g}"
                          f" (PSNR {r.psnr:.1f} dB)" for r in failed)
        raise ValidationError(f"exported model does not match PyTorch:\n{lines}")
    return records
