"""uint8 HxWx3 images <-> float NCHW tensors, in row blocks that stay in cache, without whole-image temporaries.

Each block of rows is transposed as uint8 (cheap) and scaled as one contiguous float pass, so the
conversions cost a few memory passes over cache-resident data instead of several over the whole frame.
The arithmetic is the manifest's formula (ImageIO) in float32, operation by operation in the same
order as the plain numpy expression, so results are bit-identical to it; steps that are identities
for the manifest at hand (adding 0, dividing by 1) are skipped, which changes no value.
"""

from __future__ import annotations

import numpy as np

from fastip.errors import InputError
from fastip.images import as_uint8_rgb
from fastip.spec import ImageIO

BLOCK_BYTES = 1 << 19  # float32 bytes of one row block: about half of a core's L2 on current x86 CPUs


def block_rows(width: int) -> int:
    """Rows per block for an image `width` pixels wide."""
    return max(1, BLOCK_BYTES // (12 * width))


def to_tensor(image: np.ndarray, io: ImageIO, *, out: np.ndarray | None = None) -> np.ndarray:
    """uint8 HWC RGB -> float32 1x3xHxW in the model's value range, colour order and normalisation.

    x = (pixel * ((hi - lo) / 255) + lo - mean) / std in float32; `out` (float32 1x3xHxW, C-contiguous) is
    filled and returned when given.
    """
    image = as_uint8_rgb(image)
    h, w = image.shape[:2]
    if out is None:
        out = np.empty((1, 3, h, w), np.float32)
    elif out.shape != (1, 3, h, w) or out.dtype != np.float32 or not out.flags.c_contiguous:
        raise InputError(f"to_tensor needs a C-contiguous float32 (1, 3, {h}, {w}) buffer, got {out.dtype} {out.shape}")
    source = image[..., ::-1] if io.colour_order == "BGR" else image
    lo, hi = io.value_range
    scale, shift = np.float32((hi - lo) / 255.0), np.float32(lo)
    mean, std = np.asarray(io.mean, np.float32).reshape(3, 1, 1), np.asarray(io.std, np.float32).reshape(3, 1, 1)
    rows = block_rows(w)
    staging = np.empty((3, min(rows, h), w), np.uint8)
    for r0 in range(0, h, rows):
        r1 = min(h, r0 + rows)
        u8, x = staging[:, : r1 - r0], out[0, :, r0:r1]
        np.copyto(u8, source[r0:r1].transpose(2, 0, 1))
        np.multiply(u8, scale, out=x, dtype=np.float32)
        if shift:
            np.add(x, shift, out=x)
        if mean.any():
            np.subtract(x, mean, out=x)
        if (std != 1).any():
            np.divide(x, std, out=x)
    return out


def to_image(tensor: np.ndarray, io: ImageIO, *, out: np.ndarray | None = None) -> np.ndarray:
    """float 1x3xHxW model output -> uint8 HWC RGB (inverse of to_tensor, rounded and clipped; NaN becomes 0).

    `out` (uint8 HxWx3) is filled and returned when given.
    """
    if tensor.ndim != 4 or tensor.shape[0] != 1 or tensor.shape[1] != 3:
        raise InputError(f"expected a 1x3xHxW image tensor, got shape {tensor.shape}")
    h, w = tensor.shape[2:]
    if out is None:
        out = np.empty((h, w, 3), np.uint8)
    elif out.shape != (h, w, 3) or out.dtype != np.uint8:
        raise InputError(f"to_image needs a uint8 ({h}, {w}, 3) buffer, got {out.dtype} {out.shape}")
    lo, hi = io.value_range
    mean, std = np.asarray(io.mean, np.float32).reshape(3, 1, 1), np.asarray(io.std, np.float32).reshape(3, 1, 1)
    scale, shift = np.float32(255.0 / (hi - lo)), np.float32(lo)
    order = (2, 1, 0) if io.colour_order == "BGR" else (0, 1, 2)
    rows = block_rows(w)
    floats, staging = np.empty((3, min(rows, h), w), np.float32), np.empty((3, min(rows, h), w), np.uint8)
    for r0 in range(0, h, rows):
        r1 = min(h, r0 + rows)
        x, u8 = floats[:, : r1 - r0], staging[:, : r1 - r0]
        source = tensor[0, :, r0:r1]
        if (std != 1).any():
            np.multiply(source, std, out=x, dtype=np.float32)
            source = x
        if mean.any():
            np.add(source, mean, out=x, dtype=np.float32)
            source = x
        if shift:
            np.subtract(source, shift, out=x, dtype=np.float32)
            source = x
        np.multiply(source, scale, out=x, dtype=np.float32)
        np.rint(x, out=x)
        np.clip(x, 0, 255, out=x)  # keeps NaN; the sum below is finite unless one is present
        if not np.isfinite(x.sum()):
            x[np.isnan(x)] = 0
        np.copyto(u8, x, casting="unsafe")
        np.stack([u8[c] for c in order], axis=-1, out=out[r0:r1])
    return out
