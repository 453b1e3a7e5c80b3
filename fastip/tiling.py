"""Tiled inference: overlapping tiles whose halo covers the receptive field, so tiled == untiled.

A fully-convolutional model's output pixel depends only on input pixels within its receptive-field
radius. Cutting the input into tiles, padding each with a halo at least that radius wide (clipped at
the image border, where the model zero-pads exactly as it would untiled) and keeping only each
tile's centre gives the untiled result up to floating-point summation order.

Radii (input pixels each side; for SR, low-resolution pixels):
- ESPCN 5-3-3 convs: 2 + 1 + 1 = 4.
- FSRCNN: 5x5 + four 3x3 = 6, plus the 9x9 stride-s transposed conv, ceil(4/s) + 1.
- EDSR-baseline: 35 3x3 convs at low resolution (skips add no reach) and one after the pixel
  shuffle: 36 (x4: 37).
- CAN32: 3x3 convs with dilations 1..128 and a 3x3: 1 + 2 + ... + 128 + 1 = 256 (field 513 px);
  CAN24: 128. Fast mode: f * (CAN radius + guided filter reach) at full resolution.
CAN tiling is exact but costly: a halo of 256 px makes a 512 px tile compute (512 + 2*256)^2, four
times its own area; use tiles of 1024 px or more for CAN32 (2.25x), or fast mode, whose low-resolution
activations rarely need tiling. Models with instance normalisation normalise each tile with its own
statistics, so no halo makes them tile-invariant: they are refused.
The radius comes from manifest.extra["receptive_field"] when an exporter recorded it, else from the
registry model rebuilt without weights (an imported model only from code the caller names or trusts).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np

from fastip.errors import InputError
from fastip.images import as_uint8_rgb
from fastip.pipeline import pad_to_multiple, to_image, to_tensor
from fastip.progress import RateProgress
from fastip.runtimes.base import Session
from fastip.spec import ImageIO

TILE = 512


@dataclass(frozen=True)
class ReceptiveField:
    """How far an output pixel sees: `radius` input pixels each side; tiles start at multiples of `align`."""

    radius: int
    scale: int = 1  # output pixels per input pixel
    align: int = 1

    def to_dict(self) -> dict[str, int]:
        return {"radius": self.radius, "scale": self.scale, "align": self.align}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ReceptiveField":
        from fastip.errors import BundleError
        from fastip.spec import MAX_SCALE_FACTOR, MAX_SIDE, MAX_SIZE_MULTIPLE, is_int

        values = (data.get("radius"), data.get("scale", 1), data.get("align", 1)) if isinstance(data, dict) else ()
        highs = (MAX_SIDE, MAX_SCALE_FACTOR, MAX_SIZE_MULTIPLE)
        if len(values) != 3 or not all(is_int(v) and 0 <= v <= high for v, high in zip(values, highs)) or 0 in values[1:]:
            raise BundleError(f"malformed manifest: receptive_field must be {{radius, scale, align}} integers, not {data!r:.80}")
        return cls(*values)


class NotTileableError(InputError):
    """The model's output depends on the whole image (e.g. instance norm), so tiles would change it."""


def receptive_field(module) -> ReceptiveField:
    """The receptive field of a convolutional nn.Module, from its layers in definition order (an upper bound)."""
    from torch import nn

    from fastip.models.can import AdaptiveNorm, GlobalContext
    from fastip.models.fast import FastCAN

    if isinstance(module, FastCAN):
        inner = receptive_field(module.can)
        return ReceptiveField(module.receptive_field_radius(inner.radius), 1, module.factor)
    if callable(getattr(module, "receptive_field", None)):
        return module.receptive_field()  # parallel branches, which a walk in definition order would add up
    radius, scale = 0.0, 1  # radius in input pixels; scale = this layer's resolution / the input's
    passthrough = (nn.ReLU, nn.LeakyReLU, nn.PReLU, nn.Tanh, nn.Sigmoid, nn.Identity, nn.GELU, nn.SiLU, nn.ELU,
                   nn.BatchNorm2d, AdaptiveNorm)  # per-pixel at inference
    for name, layer in module.named_modules():
        if isinstance(layer, (nn.InstanceNorm2d, nn.GroupNorm, nn.LayerNorm)) or (
                isinstance(layer, AdaptiveNorm) and layer.mode == "instance"):
            raise NotTileableError(f"{type(module).__name__} normalises with per-image statistics ({name or 'model'}: "
                                   f"{type(layer).__name__}), so each tile would be normalised differently; "
                                   "run it untiled, or use weights trained with a norm that folds (--norm batch)")
        if isinstance(layer, GlobalContext):
            raise NotTileableError(f"{type(module).__name__} feeds statistics of the whole image back ({name}), so each "
                                   "tile would see different ones; run it untiled")
        if isinstance(layer, nn.Conv2d):
            (kh, kw), (dh, dw) = layer.kernel_size, layer.dilation
            radius += max(dh * (kh - 1), dw * (kw - 1)) / 2 / scale
        elif isinstance(layer, nn.ConvTranspose2d):
            k, s, p = layer.kernel_size[0], layer.stride[0], layer.padding[0]
            radius += (math.ceil(max(p, k - 1 - p) / s) + 1) / scale  # output o reads inputs (o + p - k + 1)/s .. (o + p)/s
            scale *= s
        elif isinstance(layer, nn.PixelShuffle):
            scale *= layer.upscale_factor
        elif list(layer.children()) or isinstance(layer, passthrough):
            continue  # containers: their leaves are visited on their own
        else:
            raise InputError(f"cannot derive the receptive field of layer {name} ({type(layer).__name__}); pass halo=")
    return ReceptiveField(math.ceil(radius), scale, 1)


def registry_receptive_field(model: str, **build_kwargs: Any) -> ReceptiveField:
    """The receptive field of a registry model, built without weights."""
    from fastip import models

    return receptive_field(models.get(model).build(weights=None, **build_kwargs))


def bundle_receptive_field(bundle, *, builder: Callable[[], Any] | str | None = None,
                           trust_code: bool = False) -> ReceptiveField:
    """A bundle's receptive field: manifest.extra["receptive_field"] if recorded, else from its model's layers.

    The model is built as `runtimes.open(..., backend="torch")` builds it: registry models only, unless the
    caller passes `builder` or `trust_code=True`.
    """
    from fastip.bundle import Bundle
    from fastip.export.source import untrained_module

    bundle = bundle if isinstance(bundle, Bundle) else Bundle.load(bundle)
    recorded = bundle.manifest.extra.get("receptive_field")
    if recorded:
        return ReceptiveField.from_dict(recorded)
    return receptive_field(untrained_module(bundle, builder=builder, trust_code=trust_code))


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def tile_spans(size: int, tile: int, halo: int) -> Iterator[tuple[int, int, int, int]]:
    """(start, stop) of each tile's kept part and (start, stop) of its haloed input, along one axis."""
    for start in range(0, size, tile):
        stop = min(start + tile, size)
        yield start, stop, max(0, start - halo), min(size, stop + halo)


class TiledPipeline:
    """Image in, image out, one haloed tile at a time: memory bounded by the tile, result equal to untiled."""

    def __init__(self, session: Session, io: ImageIO, tile: int = TILE, halo: int | None = None, *,
                 field: ReceptiveField | None = None, model: str | None = None):
        if io.output != "image":
            raise InputError(f"tiling needs a model with image output, not {io.output!r}")
        if tile < 1:
            raise InputError(f"tile must be a positive number of input pixels, not {tile}")
        if field is None and halo is None:
            if model is None:
                raise InputError("TiledPipeline needs halo=, field= or model= to know the receptive field")
            field = registry_receptive_field(model)
        if halo is not None and halo < 0:
            raise InputError(f"halo must be >= 0 input pixels, not {halo}")
        align = math.lcm(field.align if field else 1, io.size_multiple)
        self.session = session
        self.io = io
        self.tile = _round_up(tile, align)
        self.halo = _round_up(field.radius if halo is None else halo, align)
        if self.tile < self.halo:  # each tile computes (tile + 2 halo)^2 pixels: below the halo, mostly overlap
            raise InputError(f"tile {tile} is smaller than the model's halo of {self.halo} input pixels; "
                             f"use --tile {max(self.halo, TILE)} or more (at least {self.halo})")
        self.input_name = session.inputs[0].name
        self.output_name = session.outputs[0].name
        self.progress: Callable[[str], None] | None = None  # gets `tile i/n, tiles/s, ETA` about every 10 s

    @classmethod
    def open(cls, bundle: str | os.PathLike, backend: str = "ort", *, tile: int = TILE, halo: int | None = None,
             builder: Callable[[], Any] | str | None = None, trust_code: bool = False,
             **options: Any) -> "TiledPipeline":
        """Open a bundle for tiled inference; the halo defaults to the model's receptive field."""
        from fastip import runtimes
        from fastip.bundle import Bundle

        loaded = bundle if isinstance(bundle, Bundle) else Bundle.load(bundle)
        if loaded.manifest.io.output != "image":
            raise InputError(f"{loaded.root} is a {loaded.manifest.io.output} model; tiling needs image output")
        field = bundle_receptive_field(loaded, builder=builder, trust_code=trust_code) if halo is None else None
        session = runtimes.open(loaded, backend, builder=builder, trust_code=trust_code, **options)
        return cls(session, loaded.manifest.io, tile, halo, field=field)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        image = as_uint8_rgb(image)
        h, w = image.shape[:2]
        padded = pad_to_multiple(image, self.io.size_multiple)
        s = self.io.scale_factor
        out = np.empty((padded.shape[0] * s, padded.shape[1] * s, 3), np.uint8)
        cells = list(self._grid(*padded.shape[:2]))
        ticker = RateProgress(len(cells), self.progress, what="tile", unit="tile") if self.progress else None
        for done, ((y0, y1, ya, yb), (x0, x1, xa, xb)) in enumerate(cells, 1):
            feed = {self.input_name: to_tensor(padded[ya:yb, xa:xb], self.io)}
            result = self.session.run(feed)[self.output_name]
            crop = result[..., (y0 - ya) * s:(y1 - ya) * s, (x0 - xa) * s:(x1 - xa) * s]
            out[y0 * s:y1 * s, x0 * s:x1 * s] = to_image(np.ascontiguousarray(crop), self.io)
            if ticker is not None:
                ticker.update(done)
        return out[: h * s, : w * s]

    def run_tensor(self, x: np.ndarray) -> np.ndarray:
        """Tile an already pre-processed Nx3xHxW float tensor; returns the full output tensor."""
        s = self.io.scale_factor
        n, c, h, w = x.shape
        out = None
        for (y0, y1, ya, yb), (x0, x1, xa, xb) in self._grid(h, w):
            result = self.session.run({self.input_name: np.ascontiguousarray(x[:, :, ya:yb, xa:xb])})[self.output_name]
            if out is None:
                out = np.empty((n, result.shape[1], h * s, w * s), result.dtype)
            out[:, :, y0 * s:y1 * s, x0 * s:x1 * s] = result[..., (y0 - ya) * s:(y1 - ya) * s, (x0 - xa) * s:(x1 - xa) * s]
        return out

    def _grid(self, h: int, w: int) -> Iterator[tuple[tuple[int, int, int, int], tuple[int, int, int, int]]]:
        for rows in tile_spans(h, self.tile, self.halo):
            for cols in tile_spans(w, self.tile, self.halo):
                yield rows, cols

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> "TiledPipeline":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
