"""L0 gradient minimisation smoothing (Xu et al. 2011), solved by half-quadratic splitting with FFTs."""

from __future__ import annotations

import numpy as np

from fastip.operators.registry import check_range, register_operator

_MARGIN = 16
_BETA_MAX = 1e5  # the paper's stopping value of the half-quadratic weight


def _difference_spectra(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Fourier multipliers of the periodic forward differences along x and y on an h x w grid."""
    dx = np.zeros((h, w), np.float64)
    dx[0, 0], dx[0, -1] = -1.0, 1.0  # circular convolution with dx gives S[i, j+1] - S[i, j]
    dy = np.zeros((h, w), np.float64)
    dy[0, 0], dy[-1, 0] = -1.0, 1.0
    return np.fft.rfft2(dx), np.fft.rfft2(dy)


@register_operator("l0_smoothing")
def l0_smoothing(image: np.ndarray, *, lam: float = 0.02, kappa: float = 2.0) -> np.ndarray:
    """L0 gradient minimisation: flattens regions while keeping their sharp boundaries.

    L. Xu, C. Lu, Y. Xu, J. Jia, "Image smoothing via L0 gradient minimization", ACM TOG 30(6) (SIGGRAPH Asia), 2011
    (Algorithm 1: beta from 2*lam to 1e5, colour gradients thresholded jointly, the S step solved with FFTs).

    lam: weight of the L0 gradient count; larger gives fewer, flatter regions.
    kappa: growth factor of the half-quadratic penalty per iteration (> 1; smaller is slower and more accurate).
    """
    check_range("lam", lam, 0.0, open_low=True)
    check_range("kappa", kappa, 1.0, open_low=True)
    h, w = image.shape[:2]
    # The FFT solve is periodic; a mirrored margin keeps opposite borders from bleeding into each other.
    my, mx = min(_MARGIN, h), min(_MARGIN, w)
    f = np.pad(image.astype(np.float64), ((my, my), (mx, mx), (0, 0)), mode="symmetric")
    fx, fy = _difference_spectra(*f.shape[:2])
    f_image = np.fft.rfft2(f, axes=(0, 1))
    denominator_grad = (np.abs(fx) ** 2 + np.abs(fy) ** 2)[..., None]
    s = f
    beta = 2.0 * lam
    while beta < _BETA_MAX:
        gx = np.roll(s, -1, axis=1) - s
        gy = np.roll(s, -1, axis=0) - s
        flat = (gx**2 + gy**2).sum(axis=2, keepdims=True) < lam / beta  # h-v subproblem: hard threshold, jointly over RGB
        gx[np.broadcast_to(flat, gx.shape)] = 0.0
        gy[np.broadcast_to(flat, gy.shape)] = 0.0
        # S subproblem: (1 + beta D^T D) S = I + beta D^T (h, v), with D^T D diagonal in the Fourier domain
        numerator = f_image + beta * (np.conj(fx)[..., None] * np.fft.rfft2(gx, axes=(0, 1))
                                      + np.conj(fy)[..., None] * np.fft.rfft2(gy, axes=(0, 1)))
        s = np.fft.irfft2(numerator / (1.0 + beta * denominator_grad), s=f.shape[:2], axes=(0, 1))
        beta *= kappa
    return s[my:my + h, mx:mx + w].astype(np.float32)
