"""Quality of a reduced-precision artifact against the FP32 model, per family, on images held out from calibration.

CAN and custom image models: PSNR/SSIM against FP32 (and against the reference operator when the
weights name one). SR: PSNR against FP32 and against the high-resolution image the input was
downscaled from. Face: box IoU, score drift, recall and precision of detections against FP32.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from fastip.benchmarks.quality import psnr
from fastip.calibration.data import quality_images
from fastip.spec import ImageIO, TensorSpec

DEFAULT_MIN_PSNR = {"can": 40.0, "sr": 35.0, "custom": 35.0}
CAN_SIZE = (192, 256)
SR_LOW_SIZE = (64, 96)
# Large cases: the longest side (the output's, for SR) of extra held-out images, so that an artifact whose error
# grows with the image (CAN's widest dilations see content, not padding, only in large images) is caught.
LARGE_SIDE = 1280
LARGE_COUNT = 2


@dataclass(frozen=True)
class QualityThresholds:
    """What a reduced-precision artifact must reach to be written as good."""

    min_psnr: float | None = None  # dB vs FP32 (image models); None: the family default above
    max_hr_drop: float = 0.5  # SR: dB of PSNR vs the HR image it may lose against FP32
    min_iou: float = 0.85  # face: mean IoU of matched boxes vs FP32
    max_score_diff: float = 0.05  # face: largest score change of a matched box
    min_recall: float = 1.0  # face: share of FP32 detections found (and precision alike)

    def psnr_for(self, family: str) -> float:
        return self.min_psnr if self.min_psnr is not None else DEFAULT_MIN_PSNR.get(family, DEFAULT_MIN_PSNR["custom"])

    def to_dict(self, family: str) -> dict[str, float]:
        if family == "face":
            return {"min_iou": self.min_iou, "max_score_diff": self.max_score_diff, "min_recall": self.min_recall}
        data = {"min_psnr_vs_fp32": self.psnr_for(family)}
        if family == "sr":
            data["max_hr_psnr_drop"] = self.max_hr_drop
        return data


@dataclass(frozen=True)
class QualityCase:
    """One held-out image prepared for a family: the feed, and what its output is compared with."""

    label: str
    feed: dict[str, np.ndarray]
    image: np.ndarray  # face: the original image; SR: the HR image; CAN: the input image
    operator_output: np.ndarray | None = None  # CAN: the reference operator's result (uint8)


def quality_cases(family: str, io: ImageIO, input_spec: TensorSpec, operator: tuple[str, dict] | None = None) -> list[QualityCase]:
    """Held-out bundled images prepared as the family's quality check needs them."""
    from PIL import Image

    from fastip.images import sample_image
    from fastip.pipeline import to_tensor

    cases = []
    for name in quality_images(family):
        image = sample_image(name)
        if family == "face":
            cases.append(QualityCase(name, {}, image))
            continue
        if family == "sr":
            s = io.scale_factor
            lh, lw = SR_LOW_SIZE
            hr = np.asarray(Image.fromarray(image).resize((lw * s, lh * s), Image.BICUBIC))
            low = np.asarray(Image.fromarray(hr).resize((lw, lh), Image.BICUBIC))
            cases.append(QualityCase(f"{name}@{lh}x{lw}", {input_spec.name: to_tensor(low, io)}, hr))
            continue
        h, w = [d if isinstance(d, int) else default for d, default in zip(input_spec.shape[2:4], CAN_SIZE)]
        small = np.asarray(Image.fromarray(image).resize((w, h), Image.BICUBIC))
        reference = _apply_operator(operator, small) if operator else None
        cases.append(QualityCase(f"{name}@{h}x{w}", {input_spec.name: to_tensor(small, io)}, small, reference))
    return cases + (large_cases(family, io, input_spec) if family != "face" else [])


def large_cases(family: str, io: ImageIO, input_spec: TensorSpec, count: int = LARGE_COUNT) -> list[QualityCase]:
    """LARGE_SIDE cases: training-split photographs when the photo cache is fetched, else the quality images enlarged.

    The operator is not applied to them (at this size some take minutes): they are compared with FP32 only.
    """
    if any(isinstance(d, int) for d in input_spec.shape[2:4]):  # a fixed-size input has no large case
        return []
    named = cached_photos(count)
    if not named:
        from fastip.images import sample_image

        named = [(name, sample_image(name)) for name in quality_images(family)[:count]]
    return [large_case(family, io, input_spec, name, image) for name, image in named]


def cached_photos(count: int, *, held_out: bool = False) -> list[tuple[str, np.ndarray]]:
    """`count` fetched photographs of a split at least LARGE_SIDE long, in a fixed order (sha256 of the name).

    [] when no photographs are cached. The gate takes the training split (never used to measure weights)."""
    import hashlib

    from fastip.errors import FastipError

    try:
        from fastip.images import read_image
        from fastip.train.data import is_held_out_photo
        from fastip.train.photos import cache_dir, load_index

        folder = cache_dir()
        photos = [p for p in load_index(folder) if is_held_out_photo(p.name) == held_out and (folder / p.file).is_file()]
    except (FastipError, ImportError, OSError):  # no fetched photographs: the bundled images stand in
        return []
    photos = [p for p in photos if max(p.width, p.height) >= LARGE_SIDE]
    photos.sort(key=lambda p: hashlib.sha256(p.name.encode()).hexdigest())
    return [(p.name, read_image(folder / p.file)) for p in photos[:count]]


def large_case(family: str, io: ImageIO, input_spec: TensorSpec, name: str, image: np.ndarray) -> QualityCase:
    """`image` resized to a longest side of LARGE_SIDE (SR: the HR image), prepared as the family needs."""
    from PIL import Image

    from fastip.pipeline import to_tensor

    h, w = image.shape[:2]
    step = io.scale_factor * max(io.size_multiple, 1) if family == "sr" else max(io.size_multiple, 1)
    f = LARGE_SIDE / max(h, w)
    size = (max(step, round(w * f / step) * step), max(step, round(h * f / step) * step))
    resample = Image.LANCZOS if f < 1 else Image.BICUBIC
    big = np.asarray(Image.fromarray(image).resize(size, resample))
    if family == "sr":
        s = io.scale_factor
        low = np.asarray(Image.fromarray(big).resize((size[0] // s, size[1] // s), Image.BICUBIC))
        return QualityCase(f"{name}@{low.shape[0]}x{low.shape[1]} large", {input_spec.name: to_tensor(low, io)}, big)
    return QualityCase(f"{name}@{size[1]}x{size[0]} large", {input_spec.name: to_tensor(big, io)}, big)


def _apply_operator(operator: tuple[str, dict], image: np.ndarray) -> np.ndarray | None:
    try:
        from fastip import operators
    except ImportError:
        return None
    name, params = operator
    return operators.apply(name, image, **params)


def ssim(a: np.ndarray, b: np.ndarray) -> float | None:
    """SSIM of two uint8 HWC images as fastip-bench computes it (None without SciPy)."""
    try:
        import scipy.ndimage  # noqa: F401  (the Gaussian window)
    except ImportError:
        return None
    from fastip.benchmarks.quality import ssim as gaussian_ssim

    return gaussian_ssim(a, b)


class QualityProbe:
    """Measures sessions against the FP32 reference session on fixed held-out cases."""

    def __init__(self, family: str, io: ImageIO, reference, cases: list[QualityCase], thresholds: QualityThresholds):
        self.family, self.io, self.cases, self.thresholds = family, io, cases, thresholds
        self._reference = [self._outputs(reference, case) for case in self.cases]
        self.baseline = self._baseline()

    def _outputs(self, session, case: QualityCase) -> Any:
        if self.family == "face":
            from fastip.detection.pipeline import FacePipeline

            return FacePipeline(session, self.io)(case.image)
        from fastip.pipeline import to_image

        out = next(iter(session.run(case.feed).values()))
        return to_image(out.astype(np.float32), self.io)

    def _baseline(self) -> dict[str, Any]:
        """FP32's own numbers: detections found, PSNR vs HR (and bicubic), PSNR vs the operator."""
        if self.family == "face":
            return {"fp32_detections": [len(r) for r in self._reference]}
        data: dict[str, Any] = {}
        if self.family == "sr":
            from PIL import Image

            data["fp32_psnr_vs_hr"] = [psnr(r, c.image) for r, c in zip(self._reference, self.cases)]
            data["bicubic_psnr_vs_hr"] = []
            for case in self.cases:
                hr_h, hr_w = case.image.shape[:2]
                s = self.io.scale_factor
                low = np.asarray(Image.fromarray(case.image).resize((hr_w // s, hr_h // s), Image.BICUBIC))
                up = np.asarray(Image.fromarray(low).resize(case.image.shape[1::-1], Image.BICUBIC))
                data["bicubic_psnr_vs_hr"].append(psnr(up, case.image))
        if any(c.operator_output is not None for c in self.cases):
            data["fp32_psnr_vs_operator"] = [psnr(r, c.operator_output) for r, c in zip(self._reference, self.cases)
                                             if c.operator_output is not None]
        return data

    def measure(self, session) -> tuple[dict[str, Any], float, bool]:
        """(metrics, score: higher is better, passed) of a session against FP32."""
        outputs = [self._outputs(session, case) for case in self.cases]
        if self.family == "face":
            return self._face(outputs)
        t = self.thresholds
        p = [psnr(o, r) for o, r in zip(outputs, self._reference)]
        metrics: dict[str, Any] = {"psnr_vs_fp32": min(p), "psnr_vs_fp32_per_image": p,
                                   "ssim_vs_fp32": min((ssim(o, r) or math.nan) for o, r in zip(outputs, self._reference))}
        passed = min(p) >= t.psnr_for(self.family)
        if self.family == "sr":
            hr = [psnr(o, c.image) for o, c in zip(outputs, self.cases)]
            drop = max(b - h for b, h in zip(self.baseline["fp32_psnr_vs_hr"], hr))
            metrics.update(psnr_vs_hr=hr, hr_psnr_drop=drop)
            passed = passed and drop <= t.max_hr_drop
        ops = [psnr(o, c.operator_output) for o, c in zip(outputs, self.cases) if c.operator_output is not None]
        if ops:
            metrics["psnr_vs_operator"] = ops
        return metrics, min(p), passed

    def _face(self, detections: list) -> tuple[dict[str, Any], float, bool]:
        from fastip.detection.agreement import Agreement, compare_detections

        pooled = Agreement.combine(compare_detections(d, r) for d, r in zip(detections, self._reference))
        metrics = pooled.to_dict()
        mean_iou = pooled.mean_iou if pooled.mean_iou is not None else (1.0 if not pooled.num_reference else 0.0)
        drift = pooled.max_score_diff or 0.0
        t = self.thresholds
        passed = (min(pooled.recall, pooled.precision) >= t.min_recall and mean_iou >= t.min_iou
                  and drift <= t.max_score_diff)
        return metrics, mean_iou * min(pooled.recall, pooled.precision) - drift, passed
