"""Image quality of a uint8 result against its reference: PSNR and SSIM on RGB."""

from __future__ import annotations

import numpy as np


def psnr(result: np.ndarray, reference: np.ndarray) -> float:
    """PSNR in dB over all RGB values, peak 255 (capped at 100 dB for identical images, so means stay finite)."""
    from fastip.benchmarks.quality import psnr as exact_psnr

    return min(exact_psnr(result, reference), 100.0)


def ssim(result: np.ndarray, reference: np.ndarray) -> float:
    """Mean SSIM over the RGB channels, as fastip-bench computes it (Gaussian 11x11 window, data range 255)."""
    from fastip.benchmarks.quality import ssim as gaussian_ssim

    return gaussian_ssim(result, reference)


def mean_metrics(pairs: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, float]:
    """Mean PSNR and SSIM over (result, reference) pairs."""
    return {"psnr": float(np.mean([psnr(a, b) for a, b in pairs])),
            "ssim": float(np.mean([ssim(a, b) for a, b in pairs]))}


def to_uint8(tensor) -> np.ndarray:
    """A 1x3xHxW float tensor in [0, 1] -> uint8 HWC (rounded and clipped, as a pipeline would)."""
    x = tensor.detach().cpu().numpy()[0].transpose(1, 2, 0)
    return np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)
