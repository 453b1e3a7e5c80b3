"""Training and held-out images: a folder of files, the bundled samples or the fetched photographs, augmented."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fastip.errors import InputError
from fastip.images import GREY_SAMPLES, IMAGE_SUFFIXES, read_image, sample_image

SAMPLES = "samples"
# The bundled natural images split once: training never sees the held-out pair.
TRAIN_SAMPLES = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry",
                 "retina", "motorcycle", "flower")
HELD_OUT = ("grace_hopper", "china")
SAMPLES_GREY = "samples+grey"  # the training samples and scikit-image's 8 greyscale photographs (GREY_SAMPLES)
PHOTOS = "photos"  # the photographs of `fastip data fetch` (fastip.train.photos), training split
SAMPLES_PHOTOS = "samples+photos"  # the training samples and PHOTOS
NAMED_SETS = (SAMPLES, SAMPLES_GREY, PHOTOS, SAMPLES_PHOTOS)
# Random crops of the big training photographs at these fractions of their full resolution: fine texture that a
# whole photo shrunk to --max-side loses (the paper trains at varying resolution). A scale is skipped when the
# photo there is under 1.5 crops long.
PHOTO_SCALES = (1.0, 0.5, 0.25)
PHOTO_CROP = 512


@dataclass(frozen=True)
class NamedImage:
    """An uint8 HWC RGB image with the name it is reported under."""

    name: str
    pixels: np.ndarray


def _folder_images(folder: Path) -> list[NamedImage]:
    if not folder.exists():
        raise InputError(f"data folder not found: {folder}; give a folder of images or `samples`")
    if not folder.is_dir():
        raise InputError(f"--data must be a folder of images or `samples`, not the file {folder}")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise InputError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    return [NamedImage(str(p.relative_to(folder)), read_image(p)) for p in files]


def _sample_images(names: tuple[str, ...]) -> list[NamedImage]:
    return [NamedImage(name, sample_image(name)) for name in names]


def is_held_out_photo(name: str) -> bool:
    """Whether a fetched photograph is in the held-out split: the sha256 of its name is divisible by 5.

    Decided by the name alone, so the split stays put when a package adds, drops or changes a file.
    """
    return int(hashlib.sha256(name.encode()).hexdigest(), 16) % 5 == 0


def _photo_rng(name: str, scale: float) -> np.random.Generator:
    return np.random.default_rng([int(hashlib.sha256(name.encode()).hexdigest()[:12], 16), round(scale * 1000)])


def scale_crops(image: NamedImage, side: int, scales: tuple[float, ...] = PHOTO_SCALES) -> list[NamedImage]:
    """One random side x side crop of `image` shrunk to each of `scales` (where it is >= 1.5 crops long), named NAME@SCALE."""
    h, w = image.pixels.shape[:2]
    out = []
    for scale in scales:
        if scale * max(h, w) < 1.5 * side or scale * min(h, w) < side:
            continue
        x = downscale(image.pixels, round(scale * max(h, w)))
        rng = _photo_rng(image.name, scale)
        top, left = (int(rng.integers(0, n - side + 1)) for n in x.shape[:2])
        out.append(NamedImage(f"{image.name}@{scale:g}", np.ascontiguousarray(x[top:top + side, left:left + side])))
    return out


def _photo_images(held_out: bool, crop_side: int) -> list[NamedImage]:
    from fastip.bundle import sha256_file
    from fastip.train.photos import cache_dir, load_index

    folder = cache_dir()
    images = []
    for photo in load_index(folder):
        if is_held_out_photo(photo.name) != held_out:
            continue
        path = folder / photo.file
        if not path.is_file() or sha256_file(path) != photo.sha256:
            raise InputError(f"{path} is missing or changed since it was fetched; run `fastip data fetch` again")
        image = NamedImage(photo.name, read_image(path))
        images += [image] if held_out else [image] + scale_crops(image, crop_side)
    return images


def data_set_name(data: str | os.PathLike) -> str | None:
    """The named set `data` is (recorded with a run, so that its recipe can be repeated), or None for a folder."""
    return str(data) if str(data) in NAMED_SETS else None


def load_images(data: str | os.PathLike, *, held_out: bool = False, crop_side: int = PHOTO_CROP) -> list[NamedImage]:
    """Images of `data`: a folder; `samples` = the bundled training or held-out split; `samples+grey` = the training
    split and 8 greyscale photographs; `photos` = the fetched photographs' training split, each whole and as
    `crop_side` crops at PHOTO_SCALES; `samples+photos` = both. The held-out split of every named set is grace_hopper
    and china (`photos` sets: and the held-out photographs, whole)."""
    if str(data) not in NAMED_SETS:
        return _folder_images(Path(data))
    photos = str(data) in (PHOTOS, SAMPLES_PHOTOS)
    if held_out:
        return _sample_images(HELD_OUT) + (_photo_images(True, crop_side) if photos else [])
    samples = () if str(data) == PHOTOS else TRAIN_SAMPLES + (GREY_SAMPLES if str(data) == SAMPLES_GREY else ())
    return _sample_images(samples) + (_photo_images(False, crop_side) if photos else [])


def downscale(image: np.ndarray, max_side: int) -> np.ndarray:
    """Shrink (Lanczos) so that the longest side is at most `max_side`; never enlarges."""
    from PIL import Image

    h, w = image.shape[:2]
    if max(h, w) <= max_side:
        return image
    f = max_side / max(h, w)
    size = (max(1, round(w * f)), max(1, round(h * f)))
    return np.asarray(Image.fromarray(image).resize(size, Image.LANCZOS))


def dihedral(image: np.ndarray, k: int) -> np.ndarray:
    """One of the 8 flips/rotations of an HWC image (k in 0..7)."""
    out = np.rot90(image, k % 4, axes=(0, 1))
    return out[:, ::-1] if k >= 4 else out


def random_crops(pairs: list[tuple[np.ndarray, np.ndarray]], batch: int, size: int, rng: np.random.Generator,
                 scale: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """`batch` aligned crops (input size x size, target size*scale) with random flips/rotations, as float32 NCHW in [0,1]."""
    xs, ys = [], []
    for _ in range(batch):
        x, y = pairs[rng.integers(len(pairs))]
        h, w = x.shape[:2]
        cy, cx = rng.integers(0, max(1, h - size + 1)), rng.integers(0, max(1, w - size + 1))
        xc = x[cy:cy + size, cx:cx + size]
        yc = y[cy * scale:(cy + size) * scale, cx * scale:(cx + size) * scale]
        k = int(rng.integers(8))
        xs.append(dihedral(xc, k))
        ys.append(dihedral(yc, k))
    return _to_batch(xs), _to_batch(ys)


def _to_batch(images: list[np.ndarray]) -> np.ndarray:
    h = min(i.shape[0] for i in images)
    w = min(i.shape[1] for i in images)
    stack = np.stack([i[:h, :w] for i in images]).astype(np.float32) / 255.0
    return np.ascontiguousarray(stack.transpose(0, 3, 1, 2))


def photometric_variant(image: np.ndarray, kind: int, rng: np.random.Generator) -> np.ndarray:
    """A new training input from `image`: odd kinds change gamma, contrast and saturation, even kinds add haze
    (I*t + A*(1-t), t rising to the bottom). Few training images otherwise cover few tones, hazes and colour casts."""
    x = image.astype(np.float32) / 255.0
    if kind % 2 == 0:
        h = x.shape[0]
        top, bottom = rng.uniform(0.3, 0.6), rng.uniform(0.6, 0.9)
        t = np.linspace(top, bottom, h, dtype=np.float32)[:, None, None]
        airlight = rng.uniform(0.75, 0.95) + rng.uniform(-0.03, 0.03, 3).astype(np.float32)
        x = x * t + airlight * (1.0 - t)
    else:
        x = x ** np.float32(rng.uniform(0.7, 1.4))
        grey = x.mean(axis=2, keepdims=True)
        x = grey + (x - grey) * np.float32(rng.uniform(0.6, 1.3))
        mean = x.mean()
        x = mean + (x - mean) * np.float32(rng.uniform(0.7, 1.2))
    return np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)
