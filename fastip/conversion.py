"""uint8 HxWx3 images <-> float NCHW tensors, in row blocks that stay in cache, without whole-image temporaries.

Each block of rows is transposed as uint8 (cheap) and scaled as one contiguous float pass, so the
conversions cost a few memory passes over cache-resident data instead of several over the whole frame.
The arithmetic is the manifest's formula (ImageIO) in float32, operation by operation in the same
order as the plain numpy expression, so results are bit-identical to it; steps that are identities
for the manifest at hand (adding 0, dividing by 1) are skipped, which changes no value.
Large images spread their row blocks over the CPUs this process may use (numpy releases the GIL in
these loops): every pixel is still computed by the same operations, so the split changes no value.
Where OpenCV is installed, its split/merge move the bytes between interleaved and planar layouts
(~6x faster than numpy's strided copies); they only move bytes, so the values are the same either way.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import numpy as np

from fastip.errors import InputError
from fastip.images import as_uint8_rgb
from fastip.spec import ImageIO

BLOCK_BYTES = 1 << 19  # float32 bytes of one row block: about half of a core's L2 on current x86 CPUs
PARALLEL_PIXELS = 1 << 18  # below this many pixels, handing row blocks to other threads costs more than it saves
MAX_WORKERS = 4  # conversions are memory-bound: more threads than this add nothing

_pool: tuple[int, int, ThreadPoolExecutor] | None = None  # (pid that made it, threads, pool); a forked child makes its own
_pool_lock = threading.Lock()
_opencv: list = []  # [cv2 module or None], filled on first use


def _cv2():
    """OpenCV when installed (only its byte-moving split/merge are used), else None."""
    if not _opencv:
        try:
            import cv2
        except ImportError:
            cv2 = None
        _opencv.append(cv2)
    return _opencv[0]


def _planes_from(pixels: np.ndarray, planes: np.ndarray, order: tuple[int, int, int]) -> None:
    """planes[c] = pixels[..., order[c]] for rows of an HxWx3 uint8 image into a 3xHxW uint8 array."""
    cv2 = _cv2()
    if cv2 is not None and pixels.flags.c_contiguous:
        targets = [None, None, None]
        for c, channel in enumerate(order):
            targets[channel] = planes[c]
        made = cv2.split(pixels, targets)
        if all(m is t for m, t in zip(made, targets)):
            return
    for c, channel in enumerate(order):
        np.copyto(planes[c], pixels[..., channel])


def _pixels_from(planes: np.ndarray, pixels: np.ndarray, order: tuple[int, int, int]) -> None:
    """pixels[..., c] = planes[order[c]]: planar uint8 rows into an interleaved HxWx3 uint8 array."""
    cv2 = _cv2()
    if cv2 is not None and pixels.flags.c_contiguous:
        if cv2.merge([planes[c] for c in order], pixels) is pixels:
            return
    np.stack([planes[c] for c in order], axis=-1, out=pixels)


def block_rows(width: int) -> int:
    """Rows per block for an image `width` pixels wide."""
    return max(1, BLOCK_BYTES // (12 * width))


def conversion_workers() -> int:
    """Threads one conversion spreads its row blocks over: the CPUs this process may use, at most MAX_WORKERS."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # no affinity on this platform
        cpus = os.cpu_count() or 1
    return max(1, min(MAX_WORKERS, cpus))


def _executor(workers: int) -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None or _pool[0] != os.getpid() or _pool[1] < workers:
            _pool = (os.getpid(), workers, ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fastip-convert"))
        return _pool[2]


def _over_rows(h: int, w: int, convert: Callable[[int, int], None]) -> None:
    """Call convert(r0, r1) on row ranges covering 0..h: one range, or whole blocks split among the workers.

    The calling thread converts the first share itself instead of only waiting for the pool.
    """
    rows = block_rows(w)
    workers = conversion_workers() if h * w >= PARALLEL_PIXELS else 1
    blocks = -(-h // rows)
    workers = min(workers, blocks)
    if workers == 1:
        convert(0, h)
        return
    per = -(-blocks // workers) * rows
    bounds = [(r0, min(h, r0 + per)) for r0 in range(0, h, per)]
    futures = [_executor(workers - 1).submit(convert, r0, r1) for r0, r1 in bounds[1:]]
    try:
        convert(*bounds[0])
    finally:
        for future in futures:
            future.result()


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
    order = (2, 1, 0) if io.colour_order == "BGR" else (0, 1, 2)
    lo, hi = io.value_range
    scale, shift = np.float32((hi - lo) / 255.0), np.float32(lo)
    mean, std = np.asarray(io.mean, np.float32).reshape(3, 1, 1), np.asarray(io.std, np.float32).reshape(3, 1, 1)
    centre, divide = bool(mean.any()), bool((std != 1).any())
    rows = block_rows(w)

    def convert(start: int, stop: int) -> None:
        staging = np.empty((3, min(rows, stop - start), w), np.uint8)
        for r0 in range(start, stop, rows):
            r1 = min(stop, r0 + rows)
            u8, x = staging[:, : r1 - r0], out[0, :, r0:r1]
            _planes_from(image[r0:r1], u8, order)
            np.multiply(u8, scale, out=x, dtype=np.float32)
            if shift:
                np.add(x, shift, out=x)
            if centre:
                np.subtract(x, mean, out=x)
            if divide:
                np.divide(x, std, out=x)

    _over_rows(h, w, convert)
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
    centre, multiply = bool(mean.any()), bool((std != 1).any())
    order = (2, 1, 0) if io.colour_order == "BGR" else (0, 1, 2)
    rows = block_rows(w)

    def convert(start: int, stop: int) -> None:
        shape = (3, min(rows, stop - start), w)
        floats, staging = np.empty(shape, np.float32), np.empty(shape, np.uint8)
        for r0 in range(start, stop, rows):
            r1 = min(stop, r0 + rows)
            x, u8 = floats[:, : r1 - r0], staging[:, : r1 - r0]
            source = tensor[0, :, r0:r1]
            if multiply:
                np.multiply(source, std, out=x, dtype=np.float32)
                source = x
            if centre:
                np.add(source, mean, out=x, dtype=np.float32)
                source = x
            if shift:
                np.subtract(source, shift, out=x, dtype=np.float32)
                source = x
            np.multiply(source, scale, out=x, dtype=np.float32)
            np.rint(x, out=x)
            np.clip(x, 0, 255, out=x)  # keeps NaN; the maximum below is NaN only if one is present
            if np.isnan(x.max()):
                x[np.isnan(x)] = 0
            np.copyto(u8, x, casting="unsafe")
            _pixels_from(u8, out[r0:r1], order)

    _over_rows(h, w, convert)
    return out
