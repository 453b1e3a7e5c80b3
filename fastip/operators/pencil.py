"""Pencil drawing: a directional stroke layer times a tone layer rendered with a pencil texture."""

from __future__ import annotations

import numpy as np

from fastip.operators import deps, weighted_laplacian
from fastip.operators.registry import check_range, register_operator

_DIRECTIONS = 8
# Tone model of pencil sketches (Lu et al., Sec. 3.2), intensities in [0, 1]: bright layer, mid-tone, dark layer.
_SIGMA_BRIGHT, _MID_RANGE, _DARK_MEAN, _DARK_SIGMA = 9 / 255, (105 / 255, 225 / 255), 90 / 255, 11 / 255
_TONE_WEIGHTS = (52.0, 37.0, 11.0)


def _line_kernels(size: int) -> list[np.ndarray]:
    """Normalised line-segment kernels through the centre at `_DIRECTIONS` evenly spaced angles."""
    cv2 = deps.cv2("the pencil operator")
    base = np.zeros((size, size), np.float32)
    base[size // 2, :] = 1.0
    centre = ((size - 1) / 2.0, (size - 1) / 2.0)
    kernels = []
    for k in range(_DIRECTIONS):
        rotated = cv2.warpAffine(base, cv2.getRotationMatrix2D(centre, 180.0 * k / _DIRECTIONS, 1.0), (size, size))
        kernels.append(rotated / max(rotated.sum(), 1e-6))
    return kernels


def stroke_layer(gray: np.ndarray, size: int) -> np.ndarray:
    """1 - strokes: gradients are assigned to their dominant line direction and redrawn as lines along it."""
    cv2 = deps.cv2("the pencil operator")
    gx = np.zeros_like(gray)
    gy = np.zeros_like(gray)
    gx[:, :-1] = np.diff(gray, axis=1)
    gy[:-1] = np.diff(gray, axis=0)
    magnitude = np.sqrt(gx * gx + gy * gy)
    kernels = _line_kernels(size)
    responses = np.stack([cv2.filter2D(magnitude, -1, k, borderType=cv2.BORDER_REFLECT) for k in kernels])
    winner = responses.argmax(axis=0)
    strokes = sum(cv2.filter2D(np.where(winner == i, magnitude, 0.0).astype(np.float32), -1, k,
                               borderType=cv2.BORDER_REFLECT) for i, k in enumerate(kernels))
    scale = max(float(np.percentile(strokes, 99.5)), 1e-6)
    return 1.0 - np.clip(strokes / scale, 0.0, 1.0)


def _tone_target(gray: np.ndarray) -> np.ndarray:
    """Histogram-match `gray` to the parametric pencil tone distribution."""
    v = np.linspace(0.0, 1.0, 256)
    bright = np.exp(-(1.0 - v) / _SIGMA_BRIGHT) / _SIGMA_BRIGHT
    mid = ((v >= _MID_RANGE[0]) & (v <= _MID_RANGE[1])) / (_MID_RANGE[1] - _MID_RANGE[0])
    dark = np.exp(-((v - _DARK_MEAN) ** 2) / (2 * _DARK_SIGMA**2)) / np.sqrt(2 * np.pi * _DARK_SIGMA**2)
    density = sum(w * p / p.sum() for w, p in zip(_TONE_WEIGHTS, (bright, mid, dark)))
    target_cdf = np.cumsum(density) / density.sum()
    ranks = np.argsort(np.argsort(gray.ravel(), kind="stable"), kind="stable")
    source_cdf = (ranks + 0.5) / gray.size
    return np.interp(source_cdf, target_cdf, v).reshape(gray.shape).astype(np.float32)


def pencil_texture(shape: tuple[int, int], seed: int) -> np.ndarray:
    """A procedural hatching texture in about [0.45, 0.95]: seeded noise smeared along a 45 degree stroke direction."""
    cv2 = deps.cv2("the pencil operator")
    rng = np.random.default_rng(seed)
    noise = rng.random(shape, dtype=np.float32)
    kernel = np.eye(9, dtype=np.float32)[::-1] / 9.0
    hatch = cv2.filter2D(noise, -1, kernel, borderType=cv2.BORDER_REFLECT)
    hatch = (hatch - hatch.mean()) / max(float(hatch.std()), 1e-6)
    return np.clip(0.7 + 0.08 * hatch, 0.45, 0.95).astype(np.float32)


@register_operator("pencil")
def pencil(image: np.ndarray, *, stroke_size: float = 0.03, texture_smoothness: float = 0.2, color: bool = False,
           seed: int = 0) -> np.ndarray:
    """Pencil drawing: line-convolution stroke map times a tone map rendered with a fitted pencil texture.

    C. Lu, L. Xu, J. Jia, "Combining sketch and tone for pencil drawing production", NPAR 2012.

    stroke_size: stroke line length as a fraction of the shorter image side.
    texture_smoothness: smoothness weight lambda of the texture exponent fit (a sparse solve).
    color: keep the input's chroma (colour pencil) instead of gray replicated to RGB.
    seed: seed of the procedural pencil texture.
    """
    check_range("stroke_size", stroke_size, 0.0, 0.5, open_low=True)
    check_range("texture_smoothness", texture_smoothness, 0.0, open_low=True)
    cv2 = deps.cv2("the pencil operator")
    image = np.ascontiguousarray(image, dtype=np.float32)
    ycrcb = cv2.cvtColor(image, cv2.COLOR_RGB2YCrCb)
    gray = ycrcb[..., 0]
    size = max(3, int(round(stroke_size * min(gray.shape))) | 1)
    strokes = stroke_layer(gray, size)
    tone = cv2.blur(_tone_target(gray), (3, 3))
    texture = pencil_texture(gray.shape, seed)
    # Fit beta with texture**beta ~ tone, smooth in beta (Lu et al., Eq. 9), so hatching density follows the tone.
    log_h = np.log(texture).astype(np.float64)
    log_j = np.log(np.clip(tone, 1e-3, 1.0)).astype(np.float64)
    h, w = gray.shape
    beta = weighted_laplacian.solve(log_h * log_h, np.full((h, w - 1), texture_smoothness),
                                    np.full((h - 1, w), texture_smoothness), log_h * log_j)
    drawing = np.clip(strokes * texture ** beta, 0.0, 1.0)
    if not color:
        return np.repeat(drawing[..., None], 3, axis=2)
    ycrcb[..., 0] = drawing
    return cv2.cvtColor(ycrcb, cv2.COLOR_YCrCb2RGB)
