"""How a CAN weight does on the held-out photographs: PSNR/SSIM against its operator, per image, beside the
PSNR of returning the input unchanged, at a small and a large size; and the rule a weight must pass to ship.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from fastip.errors import InputError
from fastip.train.data import PHOTOS, NamedImage, downscale, load_images
from fastip.train.metrics import psnr, ssim, to_uint8
from fastip.train.targets import TargetCache

SMALL, LARGE = 320, 1280  # longest sides measured: the training size, and large photographs (fast mode: LARGE only)
MIN_GAIN = 2.0  # dB over the input unchanged, on average, that a shipped weight must reach (at rule_size)
MIN_PSNR = 30.0  # dB against its operator, on average, below which a weight approximates some other operator


@dataclass(frozen=True)
class ImageScore:
    """One held-out image at one size: the weight's and the unchanged input's quality against the operator."""

    image: str
    psnr: float
    ssim: float
    input_psnr: float

    @property
    def gain(self) -> float:
        return self.psnr - self.input_psnr


@dataclass(frozen=True)
class Evaluation:
    """A weight on the held-out images shrunk to a longest side of `size` (those at least that large)."""

    size: int
    scores: tuple[ImageScore, ...]

    @property
    def psnr(self) -> float:
        return float(np.mean([s.psnr for s in self.scores]))

    @property
    def ssim(self) -> float:
        return float(np.mean([s.ssim for s in self.scores]))

    @property
    def input_psnr(self) -> float:
        return float(np.mean([s.input_psnr for s in self.scores]))

    @property
    def gain(self) -> float:
        return self.psnr - self.input_psnr

    @property
    def worst(self) -> ImageScore:
        """The image where the weight gains least over the unchanged input."""
        return min(self.scores, key=lambda s: s.gain)

    def failures(self) -> list[str]:
        """Why this measurement breaks the shipping rule (empty when it passes)."""
        out = []
        if self.psnr < MIN_PSNR:
            out.append(f"{self.psnr:.2f} dB against its operator on average at {self.size} px (needs {MIN_PSNR:g})")
        if self.gain < MIN_GAIN:
            out.append(f"{self.gain:+.2f} dB over the unchanged input on average at {self.size} px (needs +{MIN_GAIN:g})")
        below = [s for s in self.scores if s.gain < 0]
        if below:
            w = self.worst
            out.append(f"worse than the unchanged input on {len(below)} of {len(self.scores)} images at {self.size} px "
                       f"(worst {w.image}: {w.psnr:.2f} dB against {w.input_psnr:.2f})")
        return out

    def summary(self) -> dict[str, Any]:
        """What index.json keeps of this measurement."""
        w = self.worst
        return {"images": len(self.scores), "psnr": round(self.psnr, 2), "ssim": round(self.ssim, 4),
                "input_psnr": round(self.input_psnr, 2), "gain": round(self.gain, 2),
                "worst": {"image": w.image, "psnr": round(w.psnr, 2), "input_psnr": round(w.input_psnr, 2)}}


@functools.lru_cache(maxsize=4)
def held_out_at(size: int, data: str = PHOTOS) -> tuple[NamedImage, ...]:
    """The held-out images of `data` shrunk to a longest side of `size`: above SMALL, only those at least that long.

    Kept for the process: reading and checking the photographs costs more than a small CAN's forward pass.
    """
    return tuple(NamedImage(i.name, downscale(i.pixels, size)) for i in _held_out(data)
                 if size <= SMALL or max(i.pixels.shape[:2]) >= size)


@functools.lru_cache(maxsize=1)
def _held_out(data: str) -> tuple[NamedImage, ...]:
    return tuple(load_images(data, held_out=True))


def measured_sizes(model: str) -> tuple[int, ...]:
    """The sizes a weight of `model` is measured at: fast-mode models at LARGE, full-resolution CANs at SMALL and LARGE."""
    return (LARGE,) if "_fast" in model else (SMALL, LARGE)


def rule_size(model: str) -> int:
    """The size the shipping rule holds a weight of `model` to: the training size, fast-mode models' LARGE."""
    return LARGE if "_fast" in model else SMALL


def evaluate_weight(model: str, weights: str | os.PathLike, operator: str, *, params: dict[str, Any] | None = None,
                    sizes: tuple[int, ...] | None = None, data: str = PHOTOS, cache_dir: str | os.PathLike | None = None,
                    progress: Callable[[str], None] = lambda _: None) -> list[Evaluation]:
    """Measure `weights` (a shipped name or a file) of CAN `model` against `operator` at each size (default measured_sizes)."""
    import torch

    from fastip import models

    from fastip import operators

    if operator in operators.list_operators():
        params = operators.get(operator).check_params(dict(params or {}))  # the full set, as training caches it
    cache = TargetCache(cache_dir)
    net = models.get(model).build(weights=str(weights)).eval()
    out = []
    for size in sizes or measured_sizes(model):
        scores = []
        images = held_out_at(size, data)
        if not images:
            continue  # e.g. no held-out image of a folder is that large
        for image in images:
            target = cache.target(image.pixels, operator, dict(params or {}))
            with torch.no_grad():
                result = to_uint8(net(torch.from_numpy(image.pixels.astype(np.float32).transpose(2, 0, 1)[None] / 255.0)))
            scores.append(ImageScore(image.name, psnr(result, target), ssim(result, target), psnr(image.pixels, target)))
            progress(f"{model}/{weights} {size} px {image.name}: {scores[-1].psnr:.2f} dB (input {scores[-1].input_psnr:.2f})")
        out.append(Evaluation(size, tuple(scores)))
    if not out:
        raise InputError(f"no held-out image of {data} is {min(sizes or measured_sizes(model))} px long or more")
    return out


def failures(evaluations: list[Evaluation], model: str) -> list[str]:
    """Every way `evaluations` of a `model` weight break the shipping rule (at rule_size(model))."""
    size = rule_size(model)
    held = [e for e in evaluations if e.size == size]
    if not held:
        return [f"not measured at {size} px (no held-out image that large)"]
    return [reason for e in held for reason in e.failures()]


def table_lines(evaluations: list[Evaluation]) -> list[str]:
    """One line per size: mean PSNR/SSIM, the unchanged input, the gain and the worst image."""
    lines = []
    for e in evaluations:
        w = e.worst
        lines.append(f"{e.size:5d} px, {len(e.scores):2d} images: PSNR {e.psnr:.2f} dB SSIM {e.ssim:.4f}; input unchanged "
                     f"{e.input_psnr:.2f} dB; gain {e.gain:+.2f} dB; worst {w.image} {w.psnr:.2f} dB (input {w.input_psnr:.2f})")
    return lines
