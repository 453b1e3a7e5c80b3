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
    return cases


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
                low = np.asarray(Image.fromarray(case.image).resize((SR_LOW_SIZE[1], SR_LOW_SIZE[0]), Image.BICUBIC))
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
