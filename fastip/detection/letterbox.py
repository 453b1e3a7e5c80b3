"""Letterboxing an image to a detector's fixed input size, and mapping points back to the image."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fastip.errors import InputError


@dataclass(frozen=True)
class Letterbox:
    """How an image was scaled and padded into the model input: input = image * scale + pad, per axis."""

    scale_x: float
    scale_y: float
    pad_x: float
    pad_y: float
    image_size: tuple[int, int]  # (height, width) of the original image
    input_size: tuple[int, int]  # (height, width) of the model input

    def to_image(self, points: np.ndarray) -> np.ndarray:
        """Map (..., 2) x/y points from normalised model-input coordinates to original-image pixels."""
        points = np.asarray(points, dtype=np.float32)
        h, w = self.input_size
        x = (points[..., 0] * w - self.pad_x) / self.scale_x
        y = (points[..., 1] * h - self.pad_y) / self.scale_y
        return np.stack([x, y], axis=-1)


def letterbox(image: np.ndarray, input_size: tuple[int, int], *,
              pad_pixel: tuple[int, int, int] = (0, 0, 0)) -> tuple[np.ndarray, Letterbox]:
    """Resize a uint8 HWC RGB image to fit `input_size` (h, w) keeping its aspect ratio, centred, padded."""
    from PIL import Image

    from fastip.images import as_uint8_rgb

    image = as_uint8_rgb(image)
    ih, iw = image.shape[:2]
    th, tw = (int(v) for v in input_size)
    if th < 1 or tw < 1:
        raise InputError(f"letterbox target size must be positive, got {input_size}")
    scale = min(th / ih, tw / iw)
    nh, nw = max(1, min(th, round(ih * scale))), max(1, min(tw, round(iw * scale)))
    resized = np.asarray(Image.fromarray(image).resize((nw, nh), Image.BILINEAR), dtype=np.uint8)
    canvas = np.empty((th, tw, 3), np.uint8)
    canvas[:] = np.asarray(pad_pixel, np.uint8)
    top, left = (th - nh) // 2, (tw - nw) // 2
    canvas[top:top + nh, left:left + nw] = resized
    # the exact per-axis scale after rounding, so that mapping back lands on the image borders
    return canvas, Letterbox(scale_x=nw / iw, scale_y=nh / ih, pad_x=float(left), pad_y=float(top),
                             image_size=(ih, iw), input_size=(th, tw))
