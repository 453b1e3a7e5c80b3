"""L0 gradient minimisation smoothing."""

from __future__ import annotations

import numpy as np

from fastip.operators import deps
from fastip.operators.registry import check_range, register_operator

_MARGIN = 16


@register_operator("l0_smoothing")
def l0_smoothing(image: np.ndarray, *, lam: float = 0.02, kappa: float = 2.0) -> np.ndarray:
    """L0 gradient minimisation: flattens regions while keeping their sharp boundaries (cv2.ximgproc.l0Smooth).

    L. Xu, C. Lu, Y. Xu, J. Jia, "Image smoothing via L0 gradient minimization", ACM TOG 30(6) (SIGGRAPH Asia), 2011.

    lam: weight of the L0 gradient count; larger gives fewer, flatter regions.
    kappa: growth factor of the half-quadratic penalty per iteration (> 1; smaller is slower and more accurate).
    """
    check_range("lam", lam, 0.0, open_low=True)
    check_range("kappa", kappa, 1.0, open_low=True)
    cv2 = deps.cv2("the l0_smoothing operator", contrib=True)
    # OpenCV's float path returns out-of-range values; 16-bit keeps the [0, 1] scale with sub-8-bit precision.
    src = np.round(image * 65535.0).astype(np.uint16)
    h, w = src.shape[:2]
    # The FFT solver wraps around; a mirrored margin keeps opposite borders from bleeding into each other
    # (and lifts images below OpenCV's 2x2 minimum).
    my, mx = min(_MARGIN, max(h, 2)), min(_MARGIN, max(w, 2))
    src = np.pad(src, ((my, my), (mx, mx), (0, 0)), mode="symmetric")
    out = cv2.ximgproc.l0Smooth(src, None, lam, kappa)[my:my + h, mx:mx + w]
    return out.astype(np.float32) / 65535.0
