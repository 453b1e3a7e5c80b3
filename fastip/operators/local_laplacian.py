"""Local Laplacian filtering (fast, sampled-intensity version): detail manipulation and photographic style transfer."""

from __future__ import annotations

from functools import lru_cache
from typing import Callable

import numpy as np

from fastip.operators import deps
from fastip.operators.registry import check_range, register_operator

_NOISE_LEVEL = 0.01  # below this intensity difference detail is not boosted, so noise is not amplified


def _levels(shape: tuple[int, ...]) -> int:
    """Pyramid depth leaving a coarsest level of at least about 4 pixels on the short side."""
    return max(1, int(np.floor(np.log2(max(min(shape[:2]), 1) / 4.0))) + 1)


def gaussian_pyramid(image: np.ndarray, levels: int) -> list[np.ndarray]:
    """[image, half, quarter, ...] with `levels` entries (cv2.pyrDown, 5-tap binomial kernel)."""
    cv2 = deps.cv2("local Laplacian filtering")
    pyramid = [np.ascontiguousarray(image, dtype=np.float32)]
    for _ in range(levels - 1):
        pyramid.append(cv2.pyrDown(pyramid[-1]))
    return pyramid


def laplacian_pyramid(image: np.ndarray, levels: int, gaussian: list[np.ndarray] | None = None) -> list[np.ndarray]:
    """Band-pass levels plus the coarsest Gaussian level as the last entry."""
    cv2 = deps.cv2("local Laplacian filtering")
    gaussian = gaussian or gaussian_pyramid(image, levels)
    bands = [fine - cv2.pyrUp(coarse, dstsize=fine.shape[1::-1]) for fine, coarse in zip(gaussian, gaussian[1:])]
    return bands + [gaussian[-1]]


def collapse(pyramid: list[np.ndarray]) -> np.ndarray:
    """Invert `laplacian_pyramid`."""
    cv2 = deps.cv2("local Laplacian filtering")
    out = pyramid[-1]
    for band in reversed(pyramid[:-1]):
        out = band + cv2.pyrUp(out, dstsize=band.shape[1::-1])
    return out


Remap = Callable[[np.ndarray, float, int], np.ndarray]  # (image, reference intensity g, level) -> remapped image


def fast_local_laplacian(lightness: np.ndarray, remap: Remap, samples: int, level_dependent: bool = False) -> np.ndarray:
    """Aubry et al.'s fast local Laplacian filter: remap at `samples` intensities, interpolate Laplacian coefficients."""
    levels = _levels(lightness.shape)
    gaussian = gaussian_pyramid(lightness, levels)
    out = [np.zeros_like(g) for g in gaussian[:-1]] + [gaussian[-1]]
    gammas = np.linspace(0.0, 1.0, samples)
    step = gammas[1] - gammas[0]
    for gamma in gammas:
        weights = [np.maximum(0.0, 1.0 - np.abs(g - gamma) / step) for g in gaussian[:-1]]
        if level_dependent:
            bands = [laplacian_pyramid(remap(lightness, gamma, level), level + 2)[level] for level in range(levels - 1)]
        else:
            bands = laplacian_pyramid(remap(lightness, gamma, 0), levels)[:-1]
        for level, (weight, band) in enumerate(zip(weights, bands)):
            out[level] += weight * band
    return collapse(out)


def _detail_remap(sigma_r: float, alpha: float, beta: float) -> Remap:
    def remap(i: np.ndarray, g: float, _level: int) -> np.ndarray:
        d = i - g
        a = np.abs(d)
        t = np.minimum(a / sigma_r, 1.0)
        detail = t**alpha
        if alpha < 1.0:
            x = np.clip((a - _NOISE_LEVEL) / _NOISE_LEVEL, 0.0, 1.0)
            smooth = x * x * (3.0 - 2.0 * x)
            detail = smooth * detail + (1.0 - smooth) * t
        edge = beta * np.maximum(a - sigma_r, 0.0)
        return (g + np.sign(d) * (sigma_r * detail + edge)).astype(np.float32)

    return remap


def _with_lightness(image: np.ndarray, transform: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Apply `transform` to CIELab L/100 and keep the chroma."""
    cv2 = deps.cv2("local Laplacian filtering")
    lab = cv2.cvtColor(np.ascontiguousarray(image, dtype=np.float32), cv2.COLOR_RGB2Lab)
    lab[..., 0] = np.clip(transform(lab[..., 0] / 100.0), 0.0, 1.0) * 100.0
    return cv2.cvtColor(lab, cv2.COLOR_Lab2RGB)


@register_operator("local_laplacian_detail")
def local_laplacian_detail(image: np.ndarray, *, sigma_r: float = 0.2, alpha: float = 0.25, beta: float = 1.0,
                           samples: int = 10) -> np.ndarray:
    """Multi-scale detail manipulation by local Laplacian filtering of CIELab lightness, halo-free.

    S. Paris, S. W. Hasinoff, J. Kautz, "Local Laplacian filters: edge-aware image processing with a Laplacian
    pyramid", ACM TOG 30(4) (SIGGRAPH), 2011; M. Aubry, S. Paris, S. W. Hasinoff, J. Kautz, F. Durand, "Fast local
    Laplacian filters: theory and applications", ACM TOG 33(5), 2014.

    sigma_r: intensity difference (lightness in [0, 1]) separating detail from edges.
    alpha: detail exponent; below 1 enhances detail, above 1 smooths it.
    beta: edge amplitude gain; below 1 compresses the tonal range.
    samples: number of sampled intensity levels of the fast algorithm.
    """
    check_range("sigma_r", sigma_r, 0.0, 1.0, open_low=True)
    check_range("alpha", alpha, 0.0, 4.0, open_low=True)
    check_range("beta", beta, 0.0, 4.0)
    check_range("samples", samples, 2, 256)
    remap = _detail_remap(sigma_r, alpha, beta)
    return _with_lightness(image, lambda lightness: fast_local_laplacian(lightness, remap, samples))


def _match_histogram(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    quantiles = np.linspace(0.0, 1.0, 1025)
    return np.interp(values, np.quantile(values, quantiles), np.quantile(reference, quantiles)).astype(np.float32)


def _band_energy(lightness: np.ndarray, levels: int) -> np.ndarray:
    return np.array([np.abs(band).mean() for band in laplacian_pyramid(lightness, levels)[:-1]])


@lru_cache(maxsize=4)
def _reference_lightness(name: str, long_side: int) -> np.ndarray:
    """The model photograph's CIELab L/100, resized so its long side matches the input's (band energies compare)."""
    from fastip.images import sample_image

    cv2 = deps.cv2("local Laplacian style transfer")
    ref = sample_image(name).astype(np.float32) / 255.0
    scale = long_side / max(ref.shape[:2])
    size = (max(1, round(ref.shape[1] * scale)), max(1, round(ref.shape[0] * scale)))
    ref = cv2.resize(ref, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    return cv2.cvtColor(ref, cv2.COLOR_RGB2Lab)[..., 0] / 100.0


@register_operator("local_laplacian_style")
def local_laplacian_style(image: np.ndarray, *, reference: str = "rocket", strength: float = 1.0,
                          sigma_r: float = 0.2, samples: int = 8) -> np.ndarray:
    """Photographic style transfer: match a model photograph's tones, then its detail per pyramid level by local Laplacian filtering.

    M. Aubry, S. Paris, S. W. Hasinoff, J. Kautz, F. Durand, "Fast local Laplacian filters: theory and applications",
    ACM TOG 33(5), 2014 (style transfer after S. Bae, S. Paris, F. Durand, "Two-scale tone management for
    photographic look", ACM TOG 25(3), 2006).

    reference: the model photograph, a bundled sample image name (see fastip.images.sample_names()).
    strength: 0 keeps the input, 1 fully matches the model's tones and detail.
    sigma_r: intensity difference (lightness in [0, 1]) separating detail from edges.
    samples: number of sampled intensity levels of the fast algorithm.
    """
    check_range("strength", strength, 0.0, 1.0)
    check_range("sigma_r", sigma_r, 0.0, 1.0, open_low=True)
    check_range("samples", samples, 2, 256)

    def transfer(lightness: np.ndarray) -> np.ndarray:
        model = _reference_lightness(reference, max(lightness.shape))
        matched = (1 - strength) * lightness + strength * _match_histogram(lightness, model)
        levels = _levels(lightness.shape)
        ratio = _band_energy(model, levels) / np.maximum(_band_energy(matched, levels), 1e-6)
        gains = np.clip(ratio, 0.25, 4.0) ** strength

        def remap(i: np.ndarray, g: float, level: int) -> np.ndarray:
            d = i - g
            a = np.abs(d)
            return (g + np.sign(d) * (gains[level] * np.minimum(a, sigma_r) + np.maximum(a - sigma_r, 0.0))).astype(np.float32)

        return fast_local_laplacian(matched, remap, samples, level_dependent=True)

    return _with_lightness(image, transfer)
