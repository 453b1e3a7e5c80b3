"""Single-image haze removal with the dark channel prior."""

from __future__ import annotations

import numpy as np

from fastip.operators import deps
from fastip.operators.registry import check_range, register_operator


def dark_channel(image: np.ndarray, patch: int) -> np.ndarray:
    """Minimum over the colour channels and a patch x patch square window."""
    cv2 = deps.cv2("the dark channel")
    kernel = np.ones((patch, patch), np.uint8)
    return cv2.erode(np.ascontiguousarray(image.min(axis=2), dtype=np.float32), kernel, borderType=cv2.BORDER_REPLICATE)


def atmospheric_light(image: np.ndarray, dark: np.ndarray, top_fraction: float) -> np.ndarray:
    """Mean colour of the pixels whose dark channel is in the brightest `top_fraction` (He et al. pick from these)."""
    count = max(1, int(round(top_fraction * dark.size)))
    brightest = np.argpartition(dark.ravel(), dark.size - count)[dark.size - count:]
    return image.reshape(-1, 3)[brightest].mean(axis=0)


@register_operator("dehaze")
def dehaze(image: np.ndarray, *, patch: int = 15, omega: float = 0.95, t_min: float = 0.1, radius: int = 40,
           eps: float = 1e-3, top_fraction: float = 0.001) -> np.ndarray:
    """Dark-channel-prior dehazing with the transmission refined by a guided filter.

    K. He, J. Sun, X. Tang, "Single image haze removal using dark channel prior", CVPR 2009 (TPAMI 33(12), 2011);
    refinement by K. He, J. Sun, X. Tang, "Guided image filtering", ECCV 2010.

    patch: side of the dark-channel window in pixels.
    omega: fraction of haze removed (below 1 keeps some haze for depth perception).
    t_min: lower bound of the transmission, limits noise amplification in dense haze.
    radius: guided filter radius in pixels.
    eps: guided filter regularisation; smaller follows image edges more closely.
    top_fraction: fraction of haziest pixels whose mean colour estimates the atmospheric light.
    """
    check_range("patch", patch, 1, 255)
    check_range("omega", omega, 0.0, 1.0)
    check_range("t_min", t_min, 0.0, 1.0, open_low=True)
    check_range("radius", radius, 1)
    check_range("eps", eps, 0.0, open_low=True)
    check_range("top_fraction", top_fraction, 0.0, 1.0, open_low=True)
    cv2 = deps.cv2("the dehaze operator", contrib=True)
    image = np.ascontiguousarray(image, dtype=np.float32)
    light = np.maximum(atmospheric_light(image, dark_channel(image, patch), top_fraction), 0.05).astype(np.float32)
    transmission = 1.0 - omega * dark_channel(image / light, patch)
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    transmission = cv2.ximgproc.guidedFilter(gray, transmission, radius, eps)
    transmission = np.maximum(transmission, t_min)[..., None]
    return (image - light) / transmission + light
