"""Pipelines: pre-processing + Session + post-processing, driven by the manifest, the same on every backend."""

from __future__ import annotations

import os
import threading
from typing import Any

import numpy as np

from fastip.conversion import to_image, to_tensor
from fastip.errors import InputError
from fastip.images import as_uint8_rgb
from fastip.runtimes.base import Session
from fastip.spec import ImageIO


def pad_to_multiple(image: np.ndarray, multiple: int) -> np.ndarray:
    """Pad an HWC image at the bottom/right to a multiple of `multiple` (mirrored, or edge-repeated when tiny)."""
    h, w = image.shape[:2]
    ph, pw = -h % multiple, -w % multiple
    if ph or pw:
        image = np.pad(image, ((0, ph), (0, pw), (0, 0)), mode="reflect" if min(h, w) > max(ph, pw) else "edge")
    return image


MAX_PIXELS = 64_000_000  # above this, one float32 CAN32 activation alone exceeds 8 GB


def check_size(image: np.ndarray, max_pixels: int, multiple: int = 1) -> None:
    """Refuse images whose activations would not fit in memory, naming the fix; the size counted is the padded one."""
    h, w = (-(-side // multiple) * multiple for side in image.shape[:2])
    if h * w > max_pixels:
        raise InputError(f"image is {w}x{h} = {h * w / 1e6:.0f} MP, above the {max_pixels / 1e6:.0f} MP limit; "
                         "use tiled inference (`fastip run --tile 512`) or raise max_pixels")


class ImagePipeline:
    """Image in, image out (CAN, SR and custom image-to-image models)."""

    def __init__(self, session: Session, io: ImageIO, *, max_pixels: int = MAX_PIXELS):
        if io.output != "image":
            raise InputError(f"ImagePipeline needs a model with image output, not {io.output!r}")
        self.session = session
        self.io = io
        self.max_pixels = max_pixels
        self.input_name = session.inputs[0].name
        self.output_name = session.outputs[0].name
        self._buffers = threading.local()  # per thread: a session may be shared by threads

    def _input_buffer(self, h: int, w: int) -> np.ndarray:
        """This thread's float32 input tensor for an h x w image, reused while the size stays the same."""
        buffer = getattr(self._buffers, "input", None)
        if buffer is None or buffer.shape != (1, 3, h, w):
            buffer = self._buffers.input = np.empty((1, 3, h, w), np.float32)
        return buffer

    def __call__(self, image: np.ndarray) -> np.ndarray:
        return self.batch([image])[0]

    def batch(self, images: list[np.ndarray]) -> list[np.ndarray]:
        """Images of one size in one Session run (batch N), each result as `pipeline(image)` would give it."""
        images = [as_uint8_rgb(image) for image in images]
        if not images or len({image.shape for image in images}) != 1:
            raise InputError(f"a batch needs one or more images of one size, got shapes {[i.shape for i in images]}")
        check_size(images[0], self.max_pixels, self.io.size_multiple)
        h, w = images[0].shape[:2]
        padded = [pad_to_multiple(image, self.io.size_multiple) for image in images]
        if len(padded) == 1:  # the common case: this thread's reused input tensor
            x = to_tensor(padded[0], self.io, out=self._input_buffer(*padded[0].shape[:2]))
        else:
            x = np.concatenate([to_tensor(image, self.io) for image in padded])
        out = self.session.run({self.input_name: x})[self.output_name]
        s = self.io.scale_factor
        # convert only the pixels that are kept
        return [to_image(out[i:i + 1, ..., : h * s, : w * s], self.io) for i in range(len(images))]

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> "ImagePipeline":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_pipeline(bundle: str | os.PathLike, backend: str = "ort", **options: Any):
    """The family's pipeline over `runtimes.open(bundle, backend, **options)`."""
    from fastip import runtimes
    from fastip.bundle import Bundle

    loaded = bundle if isinstance(bundle, Bundle) else Bundle.load(bundle)
    session = runtimes.open(loaded, backend, **options)
    io = loaded.manifest.io
    if io.output == "detections":
        from fastip.detection.pipeline import FacePipeline

        return FacePipeline(session, io)
    return ImagePipeline(session, io)
