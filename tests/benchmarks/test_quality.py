"""PSNR and SSIM against known values and scikit-image; Y-channel conversion and SR border crop."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fastip.benchmarks.quality import bicubic_downscale, crop_border, psnr, rgb_to_y, sr_quality, ssim
from fastip.errors import InputError


def test_psnr_known_values():
    a = np.zeros((8, 8, 3), np.uint8)
    b = a.copy()
    b[...] = 1  # mse 1
    assert psnr(a, b) == pytest.approx(20 * math.log10(255))
    assert psnr(a, a) == float("inf")
    with pytest.raises(InputError, match="differ in shape"):
        psnr(a, b[:4])


def test_ssim_matches_scikit_image(astronaut):
    skimage_metrics = pytest.importorskip("skimage.metrics")
    a = astronaut[100:164, 200:280]
    rng = np.random.default_rng(0)
    b = np.clip(a + rng.normal(0, 12, a.shape), 0, 255).astype(np.uint8)
    expected = skimage_metrics.structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                                     data_range=255, channel_axis=-1)
    assert ssim(a, b) == pytest.approx(expected, abs=1e-9)
    assert ssim(a, a) == pytest.approx(1.0)


def test_luma_and_crop():
    white, black = np.full((4, 4, 3), 255, np.uint8), np.zeros((4, 4, 3), np.uint8)
    assert rgb_to_y(white) == pytest.approx(np.full((4, 4), 235.0))
    assert rgb_to_y(black) == pytest.approx(np.full((4, 4), 16.0))
    assert crop_border(np.zeros((10, 12)), 2).shape == (6, 8)


def test_sr_quality_of_bicubic_roundtrip(astronaut):
    hr = astronaut[:64, :96]
    lr = bicubic_downscale(hr, 2)
    assert lr.shape == (32, 48, 3)
    metrics = sr_quality(hr.copy(), hr, 2, "hr")
    assert metrics["hr_psnr_y"] == float("inf") and metrics["hr_ssim_rgb"] == pytest.approx(1.0)
    with pytest.raises(InputError, match="multiple of the scale"):
        bicubic_downscale(hr[:63], 2)
