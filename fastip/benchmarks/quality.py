"""Image quality: PSNR, SSIM (Wang et al. 2004: gaussian window sigma 1.5, K1 0.01, K2 0.03), Y-channel variants for SR."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from fastip.errors import InputError

SSIM_SIGMA = 1.5
SSIM_TRUNCATE = 3.5  # an 11x11 window at sigma 1.5
K1, K2 = 0.01, 0.03


def _pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise InputError(f"images to compare differ in shape: {a.shape} vs {b.shape}")
    if a.size == 0:
        raise InputError("cannot compare empty images")
    return a.astype(np.float64), b.astype(np.float64)


def psnr(a: np.ndarray, b: np.ndarray, *, data_range: float = 255.0) -> float:
    """Peak signal-to-noise ratio in dB (+inf for identical images)."""
    a, b = _pair(a, b)
    mse = float(np.mean((a - b) ** 2))
    return float("inf") if mse == 0 else float(10.0 * np.log10(data_range**2 / mse))


def ssim(a: np.ndarray, b: np.ndarray, *, data_range: float = 255.0) -> float:
    """Mean SSIM over the image (averaged over channels for HxWxC), window borders excluded."""
    from scipy.ndimage import gaussian_filter

    a, b = _pair(a, b)
    if a.ndim == 3:
        return float(np.mean([ssim(a[..., c], b[..., c], data_range=data_range) for c in range(a.shape[2])]))
    if a.ndim != 2:
        raise InputError(f"SSIM takes HxW or HxWxC images, got shape {a.shape}")
    pad = int(SSIM_TRUNCATE * SSIM_SIGMA + 0.5)
    if min(a.shape) <= 2 * pad:
        raise InputError(f"SSIM needs images larger than {2 * pad + 1} pixels per side, got {a.shape}")

    def blur(x: np.ndarray) -> np.ndarray:
        return gaussian_filter(x, SSIM_SIGMA, truncate=SSIM_TRUNCATE, mode="reflect")

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a * mu_a
    var_b = blur(b * b) - mu_b * mu_b
    cov = blur(a * b) - mu_a * mu_b
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return float(s[pad:-pad, pad:-pad].mean())


def rgb_to_y(image: np.ndarray) -> np.ndarray:
    """BT.601 luma of a uint8-range RGB image, in [16, 235] (as MATLAB's rgb2ycbcr, the SR convention)."""
    x = np.asarray(image, dtype=np.float64)
    if x.ndim != 3 or x.shape[2] != 3:
        raise InputError(f"expected an HxWx3 RGB image, got shape {x.shape}")
    return 16.0 + (65.481 * x[..., 0] + 128.553 * x[..., 1] + 24.966 * x[..., 2]) / 255.0


def crop_border(image: np.ndarray, pixels: int) -> np.ndarray:
    """Drop `pixels` rows and columns from every side (SR evaluation crops the scale factor)."""
    return image[pixels:-pixels, pixels:-pixels] if pixels > 0 else image


def compare_images(candidate: np.ndarray, reference: np.ndarray, prefix: str) -> dict[str, float]:
    """RGB PSNR and SSIM of two uint8 images as {prefix_psnr, prefix_ssim}."""
    return {f"{prefix}_psnr": psnr(candidate, reference), f"{prefix}_ssim": ssim(candidate, reference)}


def sr_quality(output: np.ndarray, hr: np.ndarray, scale: int, prefix: str) -> dict[str, float]:
    """PSNR and SSIM on Y and on RGB against the high-resolution image, borders cropped by the scale."""
    out, ref = crop_border(output, scale), crop_border(hr, scale)
    y_out, y_ref = rgb_to_y(out), rgb_to_y(ref)
    return {f"{prefix}_psnr_y": psnr(y_out, y_ref), f"{prefix}_ssim_y": ssim(y_out, y_ref),
            f"{prefix}_psnr_rgb": psnr(out, ref), f"{prefix}_ssim_rgb": ssim(out, ref)}


def bicubic_downscale(hr: np.ndarray, scale: int) -> np.ndarray:
    """The low-resolution input for SR evaluation: HR downscaled by `scale` with (antialiased) bicubic."""
    from PIL import Image

    h, w = hr.shape[:2]
    if h % scale or w % scale:
        raise InputError(f"HR size {w}x{h} is not a multiple of the scale {scale}")
    return np.asarray(Image.fromarray(hr).resize((w // scale, h // scale), Image.BICUBIC))


def face_agreement(candidate: Sequence[Sequence[dict[str, Any]]], reference: Sequence[Sequence[dict[str, Any]]],
                   prefix: str) -> dict[str, float]:
    """Box agreement (recall, precision, mean IoU) of per-image detection records against reference ones."""
    from fastip.detection.agreement import Agreement, compare_detections
    from fastip.detection.types import Detection

    combined = Agreement.combine(
        compare_detections([Detection.from_dict(d) for d in cand], [Detection.from_dict(d) for d in ref])
        for cand, ref in zip(candidate, reference))
    out = {f"{prefix}_recall": combined.recall, f"{prefix}_precision": combined.precision}
    if combined.mean_iou is not None:
        out[f"{prefix}_mean_iou"] = combined.mean_iou
    return out


def mean_metrics(per_image: Sequence[dict[str, float]]) -> dict[str, float]:
    """Average each metric over images (PSNR averaged in dB, as SR papers do)."""
    keys = per_image[0].keys() if per_image else ()
    return {k: float(np.mean([m[k] for m in per_image])) for k in keys}
