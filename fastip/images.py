"""Image files in and out, and the natural test images that ship inside installed packages."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from fastip.atomic import write_atomic
from fastip.errors import InputError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp")

# name -> (package, path inside the package); every file ships with an installed wheel.
_SAMPLES = {
    "astronaut": ("skimage", "data/astronaut.png"),
    "coffee": ("skimage", "data/coffee.png"),
    "chelsea": ("skimage", "data/chelsea.png"),
    "rocket": ("skimage", "data/rocket.jpg"),
    "hubble_deep_field": ("skimage", "data/hubble_deep_field.jpg"),
    "immunohistochemistry": ("skimage", "data/ihc.png"),
    "retina": ("skimage", "data/retina.jpg"),
    "motorcycle": ("skimage", "data/motorcycle_left.png"),
    "grace_hopper": ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg"),
    "china": ("sklearn", "datasets/images/china.jpg"),
    "flower": ("sklearn", "datasets/images/flower.jpg"),
}
# Greyscale photographs in scikit-image (read as RGB with equal channels): extra training content for
# operators that act on lightness or structure; not in sample_names(), which lists the colour photographs.
GREY_SAMPLES = ("camera", "coins", "moon", "page", "brick", "grass", "gravel", "clock_motion")
_ALL_SAMPLES = {**_SAMPLES, **{name: ("skimage", f"data/{name}.png") for name in GREY_SAMPLES}}


def sample_names() -> list[str]:
    """Names of the bundled natural images whose package is installed here."""
    return [name for name in _SAMPLES if _sample_path(name, strict=False) is not None]


def _sample_path(name: str, *, strict: bool = True) -> Path | None:
    import importlib.util

    if name not in _ALL_SAMPLES:
        raise InputError(f"unknown sample image {name!r}; choose from {', '.join(_ALL_SAMPLES)}")
    package, rel = _ALL_SAMPLES[name]
    spec = importlib.util.find_spec(package)
    path = Path(spec.origin).parent / rel if spec and spec.origin else None
    if path is None or not path.is_file():
        if strict:
            raise InputError(f"sample image {name!r} needs the `{package}` package: pip install {package}")
        return None
    return path


def sample_image(name: str) -> np.ndarray:
    """A bundled natural image as uint8 HWC RGB."""
    return read_image(_sample_path(name))


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as uint8 HWC RGB (grayscale is expanded, alpha dropped); `sample:NAME` reads a bundled one."""
    from PIL import Image, UnidentifiedImageError

    if str(path).startswith("sample:"):
        return sample_image(str(path)[len("sample:"):])
    path = Path(path)
    if not path.is_file():
        raise InputError(f"image file not found: {path}")
    try:
        with Image.open(path) as img:
            img.load()
            if img.mode not in ("RGB", "L", "RGBA", "P", "I;16", "I", "F", "LA", "CMYK", "YCbCr"):
                raise InputError(f"unsupported image mode {img.mode!r} in {path}")
            rgb = img.convert("RGB")
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise InputError(f"cannot read {path} as an image ({exc}); give a PNG, JPEG, BMP, PPM or TIFF file") from exc
    return np.asarray(rgb, dtype=np.uint8).copy()


def write_image(path: str | os.PathLike, image: np.ndarray) -> Path:
    """Write a uint8 HWC RGB (or HW grayscale) image atomically; the format follows the suffix."""
    from PIL import Image

    path = Path(path)
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise InputError(f"cannot tell the image format of {path}; use one of {', '.join(IMAGE_SUFFIXES)}")
    image = as_uint8_rgb(image, allow_gray=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = Image.registered_extensions()[path.suffix.lower()]
    return write_atomic(path, lambda handle: Image.fromarray(image).save(handle, format=fmt))


def as_uint8_rgb(image: np.ndarray, *, allow_gray: bool = False) -> np.ndarray:
    """Check that an array is a non-empty uint8 HWC RGB image (or HW when allowed) and return it."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise InputError(f"expected a uint8 image, got dtype {image.dtype}; convert with np.clip(x * 255, 0, 255).astype(np.uint8)")
    if allow_gray and image.ndim == 2:
        pass
    elif image.ndim != 3 or image.shape[2] != 3:
        raise InputError(f"expected an HxWx3 RGB image, got shape {image.shape}; convert grayscale or RGBA to RGB first")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise InputError(f"image has zero size {image.shape}")
    return image
