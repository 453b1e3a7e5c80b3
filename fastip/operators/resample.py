"""Bicubic resampling: the reference the super-resolution family is measured against."""

from __future__ import annotations

import numpy as np

from fastip.errors import InputError
from fastip.operators.registry import as_float_rgb, to_input_dtype


def bicubic_upscale(image: np.ndarray, scale: float) -> np.ndarray:
    """Upscale an HxWx3 uint8 or float [0, 1] image by `scale` with PIL's bicubic filter (Keys cubic, a = -0.5)."""
    from PIL import Image

    if isinstance(scale, bool) or not isinstance(scale, (int, float, np.integer, np.floating)) or not scale > 0:
        raise InputError(f"scale must be a positive number such as 2, 3 or 4, got {scale!r}")
    image = np.asarray(image)
    rgb = as_float_rgb(image)
    h, w = rgb.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    if image.dtype == np.uint8:
        return np.asarray(Image.fromarray(image).resize(size, Image.BICUBIC))
    # PIL resamples 8-bit RGB only; float channels go through mode "F" one at a time.
    channels = [np.asarray(Image.fromarray(rgb[..., c], mode="F").resize(size, Image.BICUBIC)) for c in range(3)]
    return to_input_dtype(np.clip(np.stack(channels, axis=-1), 0.0, 1.0), rgb.dtype)
