"""Image files in and out, and the natural test images that ship inside installed packages."""

from __future__ import annotations

import contextlib
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


# Larger files are refused from their header, before any pixel is decoded (a PNG or JPEG can
# declare 65000x65000 in a few bytes). 150 MP leaves room for tiled runs above the pipelines'
# 64 MP limit and stays under Pillow's own decompression-bomb error (about 179 MP).
MAX_IMAGE_PIXELS = 150_000_000
# Modes Pillow reads with 8 bits per sample; converted to RGB as they are.
_EIGHT_BIT_MODES = ("RGB", "L", "RGBA", "P", "PA", "LA", "La", "RGBa", "CMYK", "YCbCr", "1")
_SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")
# EXIF orientation -> the numpy steps that undo it (as ImageOps.exif_transpose does)
_ORIENTATION = {
    2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1), 6: lambda a: np.rot90(a, -1), 7: lambda a: a[::-1, ::-1].swapaxes(0, 1),
    8: lambda a: np.rot90(a, 1),
}


def read_image(path: str | os.PathLike, *, max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """Read an image file as uint8 HWC RGB; `sample:NAME` reads a bundled one.

    Grayscale is expanded and alpha dropped; 16-bit samples become round(v * 255 / 65535), float
    samples are taken as [0, 1]; the EXIF orientation is applied, so the array looks as viewers
    show the file. Files declaring more than `max_pixels` are refused before decoding."""
    import warnings

    from PIL import Image, UnidentifiedImageError

    if str(path).startswith("sample:"):
        return sample_image(str(path)[len("sample:"):])
    path = Path(path)
    if not path.is_file():
        raise InputError(f"image file not found: {path}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:  # reads the header only
                width, height = img.size
                if width * height > max_pixels:
                    raise InputError(_too_big(path, width, height, max_pixels))
                pixels = _rgb_pixels(img, path)
                orientation = img.getexif().get(0x0112)
    except Image.DecompressionBombError as exc:
        raise InputError(f"{path} declares more pixels than an image may have ({exc}); "
                         f"the limit is {max_pixels / 1e6:.0f} MP: downscale it") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise InputError(f"cannot read {path} as an image ({exc}); give a PNG, JPEG, BMP, PPM or TIFF file") from exc
    if orientation in _ORIENTATION:
        pixels = _ORIENTATION[orientation](pixels)
    return np.ascontiguousarray(pixels)


def _too_big(path: Path, width: int, height: int, max_pixels: int) -> str:
    return (f"{path} is {width}x{height} = {width * height / 1e6:.0f} MP, above the {max_pixels / 1e6:.0f} MP "
            "image limit; downscale it, or pass a larger max_pixels to read_image")


def scale_16_to_8(values: np.ndarray) -> np.ndarray:
    """16-bit samples to 8 bits as round(v * 255 / 65535), the same integers the C++ host computes."""
    wide = np.clip(values, 0, 65535).astype(np.uint32)
    return ((wide * 255 + 32767) // 65535).astype(np.uint8)


def _rgb_pixels(img, path: Path) -> np.ndarray:
    """Decode an opened Pillow image to uint8 HWC RGB."""
    rawmode = img.tile[0][3] if img.format == "PNG" and len(img.tile) == 1 else None
    if rawmode in ("RGB;16B", "RGBA;16B", "LA;16B"):
        return scale_16_to_8(_png_samples_16(path, rawmode))
    if img.mode in _SIXTEEN_BIT_MODES:
        return _grey_to_rgb(scale_16_to_8(np.asarray(img)))
    if img.mode == "F":
        grey = np.rint(np.clip(np.nan_to_num(np.asarray(img, np.float32)), 0.0, 1.0) * 255.0)
        return _grey_to_rgb(grey.astype(np.uint8))
    if img.mode not in _EIGHT_BIT_MODES:
        raise InputError(f"unsupported image mode {img.mode!r} in {path}; save it as 8- or 16-bit RGB or grayscale")
    return np.asarray(img.convert("RGB"), dtype=np.uint8)


def _png_samples_16(path: Path, rawmode: str) -> np.ndarray:
    """The RGB samples of a 16-bit colour (or grey+alpha) PNG with all 16 bits; Pillow keeps only the high byte.

    The decoder is asked for other raw modes of the same bits per pixel (so the same unfiltering):
    a big-endian stream read as little-endian ('RGB;16L') yields the low bytes, and grey+alpha read
    as 8-bit RGBA yields (grey high, grey low, alpha high, alpha low)."""
    from PIL import Image

    def decode(raw: str) -> np.ndarray:
        with Image.open(path) as again:
            again.tile = [tuple(tile[:3]) + (raw,) for tile in again.tile]
            again.load()
            return np.asarray(again, dtype=np.uint16)

    if rawmode == "LA;16B":
        bytes_ = decode("RGBA")
        return _grey_to_rgb((bytes_[..., 0] << 8) | bytes_[..., 1])
    return ((decode(rawmode) << 8) | decode(rawmode[:-1] + "L"))[..., :3]


def _grey_to_rgb(grey: np.ndarray) -> np.ndarray:
    return np.repeat(grey[..., None], 3, axis=2)


def write_image(path: str | os.PathLike, image: np.ndarray) -> Path:
    """Write a uint8 HWC RGB (or HW grayscale) image atomically; the format follows the suffix."""
    from PIL import Image

    path = Path(path)
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise InputError(f"cannot tell the image format of {path}; use one of {', '.join(IMAGE_SUFFIXES)}")
    image = as_uint8_rgb(image, allow_gray=True)
    if path.is_dir():
        raise InputError(f"{path} is a directory; -o needs an image file name such as {path / 'out.png'}")
    fmt = Image.registered_extensions()[path.suffix.lower()]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return write_atomic(path, lambda handle: Image.fromarray(image).save(handle, format=fmt))
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}; choose a writable path with free space "
                         "(nothing was written)") from exc


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
