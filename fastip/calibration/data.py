"""Calibration data: images from a folder, a list of arrays or the bundled samples, pre-processed as the manifest says.

Grayscale inputs (a single-channel PNG, an HxW or HxWx1 array) are converted to RGB by
repeating the channel and counted in the record; arrays with 2 or more than 3 channels are
rejected. Images smaller than the crop are enlarged (bicubic) until the crop fits.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from fastip.errors import InputError
from fastip.images import IMAGE_SUFFIXES, read_image
from fastip.spec import ImageIO, TensorSpec

MIN_IMAGES = 2
DEFAULT_COUNT = 8
DEFAULT_SEED = 0
DEFAULT_CROP = {"can": (128, 128), "sr": (64, 64), "custom": (128, 128)}
# images used to measure quality; the bundled calibration set leaves them out
QUALITY_IMAGES = {"face": ("astronaut", "grace_hopper")}
QUALITY_IMAGES_DEFAULT = ("astronaut", "coffee")


def quality_images(family: str) -> tuple[str, ...]:
    """Names of the bundled images the quality gate measures on for a family."""
    return QUALITY_IMAGES.get(family, QUALITY_IMAGES_DEFAULT)


@dataclass(frozen=True)
class CalibrationImages:
    """Loaded calibration images (uint8 HWC RGB) with where they came from."""

    images: tuple[np.ndarray, ...]
    names: tuple[str, ...]
    origin: str  # a folder path, "arrays", or "bundled samples"
    grayscale_converted: int = 0

    def digest(self) -> str:
        """sha256 over every image's shape and pixels, in order."""
        h = hashlib.sha256()
        for image in self.images:
            h.update(repr(image.shape).encode())
            h.update(np.ascontiguousarray(image).tobytes())
        return h.hexdigest()


def load_images(calib: str | os.PathLike | Sequence[np.ndarray] | None, family: str, *,
                min_images: int = MIN_IMAGES) -> CalibrationImages:
    """Read calibration images from a folder, a list of arrays, or (None) the bundled samples."""
    if calib is None:
        from fastip.images import sample_image, sample_names

        names = tuple(n for n in sample_names() if n not in quality_images(family))
        loaded = CalibrationImages(tuple(sample_image(n) for n in names), names,
                                   f"bundled samples ({', '.join(names)})")
    elif isinstance(calib, (str, os.PathLike)):
        loaded = _load_folder(Path(calib))
    else:
        images, gray = [], 0
        for index, array in enumerate(calib):
            image, converted = _to_rgb(np.asarray(array), f"calibration array {index}")
            images.append(image)
            gray += converted
        loaded = CalibrationImages(tuple(images), tuple(f"array{i}" for i in range(len(images))), "arrays", gray)
    if len(loaded.images) < min_images:
        raise InputError(f"calibration needs at least {min_images} images; found {len(loaded.images)} in {loaded.origin}"
                         f"{_skipped_note(calib)}")
    return loaded


def _load_folder(folder: Path) -> CalibrationImages:
    from PIL import Image

    if not folder.is_dir():
        raise InputError(f"--calib {folder} is not a directory of images")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    images, gray = [], 0
    for path in files:
        try:  # the same decoding as `fastip run` (16-bit, float, EXIF, size limit); the header says if it was grey
            images.append(read_image(path))
            with Image.open(path) as img:
                gray += img.mode in ("L", "LA", "La", "1", "F", "I") or img.mode.startswith("I;16")
        except (InputError, OSError, SyntaxError, ValueError) as exc:
            raise InputError(f"calibration image {path} cannot be read ({exc}); remove it or replace it with a PNG/JPEG") from exc
    return CalibrationImages(tuple(images), tuple(p.name for p in files), str(folder), gray)


def _skipped_note(calib) -> str:
    if isinstance(calib, (str, os.PathLike)) and Path(calib).is_dir():
        others = [p.name for p in Path(calib).iterdir() if p.is_file() and p.suffix.lower() not in IMAGE_SUFFIXES]
        if others:
            shown = ", ".join(sorted(others)[:5]) + (", ..." if len(others) > 5 else "")
            return f" (ignored {len(others)} non-image files: {shown}; image suffixes: {', '.join(IMAGE_SUFFIXES)})"
    return ""


def _to_rgb(array: np.ndarray, what: str) -> tuple[np.ndarray, int]:
    """uint8 HWC RGB and 1 if the input was grayscale (converted), else 0."""
    if array.dtype != np.uint8:
        raise InputError(f"{what} must be uint8, got {array.dtype}")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim == 2:
        return np.ascontiguousarray(np.repeat(array[..., None], 3, axis=2)), 1
    if array.ndim != 3 or array.shape[2] != 3:
        raise InputError(f"{what} has shape {array.shape}; calibration takes RGB (HxWx3) or grayscale (HxW) images")
    if min(array.shape[:2]) < 1:
        raise InputError(f"{what} is empty")
    return np.ascontiguousarray(array), 0


@dataclass(frozen=True)
class CalibrationPlan:
    """How calibration feeds are drawn: `count` crops of `shape` (h, w) with `seed`, or letterboxed to a fixed size."""

    count: int
    seed: int
    shape: tuple[int, int]
    letterbox: bool  # fixed-size (detector) inputs: letterbox the whole image instead of cropping

    def to_dict(self) -> dict:
        return {"count": self.count, "seed": self.seed, "shape": list(self.shape),
                "sampling": "letterbox" if self.letterbox else "random crop"}


def make_plan(input_spec: TensorSpec, io: ImageIO, family: str, *, count: int | None = None, seed: int | None = None,
              shape: tuple[int, int] | str | None = None,
              bounds: tuple[tuple[int, int], tuple[int, int]] | None = None) -> CalibrationPlan:
    """Check the requested calibration shape against the model's input (and optional min/max bounds)."""
    count = DEFAULT_COUNT if count is None else int(count)
    if count < 1:
        raise InputError(f"--calib-count must be at least 1, got {count}")
    fixed = tuple(d if isinstance(d, int) else None for d in input_spec.shape[2:4])
    if isinstance(shape, str):
        shape = parse_hw(shape)
    if io.input_size is not None or all(fixed):
        size = tuple(io.input_size or fixed)
        if shape is not None and tuple(shape) != size:
            raise InputError(f"calibration shape {shape[0]}x{shape[1]} is outside the model's input: it takes {size[0]}x{size[1]} only")
        return CalibrationPlan(count, DEFAULT_SEED if seed is None else int(seed), size, True)
    shape = tuple(shape) if shape is not None else DEFAULT_CROP.get(family, DEFAULT_CROP["custom"])
    for axis, (want, got) in enumerate(zip(fixed, shape)):
        if want is not None and want != got:
            raise InputError(f"calibration shape {shape[0]}x{shape[1]} does not fit the input's fixed size {fixed}")
    if io.size_multiple > 1 and (shape[0] % io.size_multiple or shape[1] % io.size_multiple):
        raise InputError(f"calibration shape {shape[0]}x{shape[1]} must be a multiple of {io.size_multiple}")
    if bounds is not None:
        (lo_h, lo_w), (hi_h, hi_w) = bounds
        if not (lo_h <= shape[0] <= hi_h and lo_w <= shape[1] <= hi_w):
            raise InputError(f"calibration shape {shape[0]}x{shape[1]} is outside the dynamic range "
                             f"{lo_h}x{lo_w} .. {hi_h}x{hi_w}; pass --calib-shape inside it")
    return CalibrationPlan(count, DEFAULT_SEED if seed is None else int(seed), (int(shape[0]), int(shape[1])), False)


def parse_hw(text: str) -> tuple[int, int]:
    """'128x96' -> (128, 96)."""
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise InputError(f"a calibration shape is HxW with positive integers, like 128x128; got {text!r}")
    return int(parts[0]), int(parts[1])


def calibration_feeds(images: CalibrationImages, plan: CalibrationPlan, input_spec: TensorSpec,
                      io: ImageIO) -> Iterator[dict[str, np.ndarray]]:
    """Yield `plan.count` feeds ({input name: NCHW float32}) the way `Session.run` takes them."""
    from fastip.pipeline import to_tensor

    rng = np.random.default_rng(plan.seed)
    for index in range(plan.count):
        image = images.images[index % len(images.images)]
        if plan.letterbox:
            patch = _letterbox(image, plan.shape)
        else:
            patch = _random_crop(image, plan.shape, rng)
        yield {input_spec.name: to_tensor(patch, io)}


def _random_crop(image: np.ndarray, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    from PIL import Image

    h, w = image.shape[:2]
    th, tw = shape
    if h < th or w < tw:
        scale = max(th / h, tw / w)
        h, w = max(th, round(h * scale)), max(tw, round(w * scale))
        image = np.asarray(Image.fromarray(image).resize((w, h), Image.BICUBIC))
    top = int(rng.integers(0, h - th + 1))
    left = int(rng.integers(0, w - tw + 1))
    return np.ascontiguousarray(image[top:top + th, left:left + tw])


def _letterbox(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    try:
        from fastip.detection.letterbox import letterbox
    except ImportError:  # detection package absent: a plain resize keeps calibration possible
        from PIL import Image

        return np.asarray(Image.fromarray(image).resize((size[1], size[0]), Image.BILINEAR))
    return letterbox(image, size)[0]
