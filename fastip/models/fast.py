"""Fast mode: a CAN run at 1/f resolution, restored to full resolution by guided upsampling.

He & Sun, "Fast Guided Filter", arXiv 1505.00996 (2015): compute the guided filter's linear
coefficients on subsampled images, upsample them, apply them to the full-resolution guide.
Wu, Zheng, Zhang, Huang, "Fast End-to-End Trainable Guided Filter", CVPR 2018: the same as a
differentiable layer after a low-resolution network, trainable end to end.

Per output channel c, with guide I_c (the low-resolution input) and filter input p_c (the CAN's
low-resolution output), over (2r+1)^2 windows:
    A = cov(I, p) / (var(I) + eps),  b = mean(p) - A * mean(I)
then the window means of A and b are bilinearly upsampled and out = A_hr * I_hr + b_hr.
Sizes not divisible by f: the input's bottom/right edge is replicated up to a multiple of f, and
the output is cropped back. Everything is plain tensor ops (pad, avg-pool, resize, slice), so it
exports into one ONNX graph with dynamic height and width.
"""

from __future__ import annotations

import os
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fastip.errors import InputError
from fastip.models.can import CAN, CAN_IO, saved_norm
from fastip.models.checkpoint import fit_state, load_state_dict
from fastip.models.registry import get as _get_spec
from fastip.models.registry import register_model

FACTORS = (2, 4, 8)
RADIUS = 1  # box radius at low resolution: 3x3 windows there, (3f)^2 pixels at full resolution
EPS = 1e-4  # regularisation on [0, 1] images; ~1% of the intensity range squared


def box_mean(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean over (2r+1)^2 windows; windows at the border average only the pixels inside the image."""
    return F.avg_pool2d(x, 2 * radius + 1, stride=1, padding=radius, count_include_pad=False)


def pad_to_multiple(x: torch.Tensor, factor: int) -> torch.Tensor:
    """Replicate the bottom/right edge until height and width are multiples of `factor`."""
    h, w = x.shape[-2], x.shape[-1]
    return F.pad(x, (0, (factor - w % factor) % factor, 0, (factor - h % factor) % factor), mode="replicate")


def downsample(x: torch.Tensor, factor: int) -> torch.Tensor:
    """Area downsampling by `factor` of the edge-padded image (ceil(H/f) x ceil(W/f))."""
    return F.avg_pool2d(pad_to_multiple(x, factor), factor, stride=factor)


class GuidedUpsample(nn.Module):
    """Fast guided filter: coefficients from (guide_lr, out_lr), applied to guide_hr (channel-wise)."""

    def __init__(self, factor: int, radius: int = RADIUS, eps: float = EPS):
        super().__init__()
        if radius < 1 or eps <= 0:
            raise ValueError(f"guided filter needs radius >= 1 and eps > 0, got {radius}, {eps}")
        self.factor = factor
        self.radius = radius
        self.eps = eps

    def coefficients(self, guide_lr: torch.Tensor, out_lr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Window-averaged linear coefficients (A, b) at low resolution."""
        r = self.radius
        mean_i, mean_p = box_mean(guide_lr, r), box_mean(out_lr, r)
        cov_ip = box_mean(guide_lr * out_lr, r) - mean_i * mean_p
        var_i = box_mean(guide_lr * guide_lr, r) - mean_i * mean_i
        a = cov_ip / (var_i + self.eps)
        b = mean_p - a * mean_i
        return box_mean(a, r), box_mean(b, r)

    def forward(self, guide_lr: torch.Tensor, out_lr: torch.Tensor, guide_hr: torch.Tensor) -> torch.Tensor:
        """`guide_hr` is `factor` times the size of `guide_lr` (pad it with `pad_to_multiple`)."""
        a, b = self.coefficients(guide_lr, out_lr)
        # A and b stay apart from the start: stacking them into one tensor costs a Concat at low resolution
        # and two channel Slices at full resolution in the exported graph, where ONNX Runtime's Slice copies
        # (two Resizes of 3 channels write what one of 6 did). An exact factor-f resize keeps pixel centres aligned.
        a = F.interpolate(a, scale_factor=self.factor, mode="bilinear", align_corners=False)
        b = F.interpolate(b, scale_factor=self.factor, mode="bilinear", align_corners=False)
        return a * guide_hr + b


class FastCAN(nn.Module):
    """A CAN applied at 1/`factor` resolution, upsampled by a guided filter guided by the input."""

    def __init__(self, can: nn.Module, factor: int, *, radius: int = RADIUS, eps: float = EPS):
        super().__init__()
        if factor not in FACTORS:
            raise InputError(f"fast-mode factor must be one of {FACTORS}, not {factor}")
        self.factor = factor
        self.can = can
        self.upsample = GuidedUpsample(factor, radius, eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2], x.shape[-1]
        padded = pad_to_multiple(x, self.factor)
        low = F.avg_pool2d(padded, self.factor, stride=self.factor)
        return self.upsample(low, self.can(low), padded)[..., :h, :w]  # one crop, at the very end

    @property
    def norm_mode(self) -> str:
        """The inner CAN's norm (recorded by the export: instance norms do not tile)."""
        return self.can.norm_mode

    def fuse(self) -> "FastCAN":
        """Deploy form: the inner CAN's norms folded; the guided upsampling has nothing to fold."""
        fuse = getattr(self.can, "fuse", None)
        inner = fuse() if callable(fuse) else self.can
        return FastCAN(inner, self.factor, radius=self.upsample.radius, eps=self.upsample.eps).eval()

    def receptive_field_radius(self, can_radius: int) -> int:
        """Full-resolution pixels each side that can affect one output pixel, given the CAN's low-res radius."""
        # CAN + two box filters + one bilinear neighbour at low resolution, plus the pooling cell
        return self.factor * (can_radius + 2 * self.upsample.radius + 1) + self.factor


def to_fast(can: nn.Module, factor: int, *, radius: int = RADIUS, eps: float = EPS) -> FastCAN:
    """Wrap a (trained or training) CAN for fast mode; its parameters stay shared, for end-to-end fine-tuning."""
    return FastCAN(can, factor, radius=radius, eps=eps)


def min_training_crop(factor: int) -> int:
    """Smallest useful full-resolution crop for end-to-end training: 32 low-resolution pixels a side."""
    return 32 * factor


def finetune(model: FastCAN, pairs: Sequence[tuple[np.ndarray, np.ndarray]], *, steps: int = 300, batch: int = 1,
             crop: int | None = None, lr: float = 2e-4, seed: int = 0,
             progress: Callable[[str], None] = lambda _: None) -> FastCAN:
    """Train the inner CAN through the guided upsampling on full-resolution (input, operator output) uint8 pairs.

    MSE against the operator at full resolution, Adam with cosine decay, whole images (or random aligned
    crops of `crop` px) with flips/rotations; whole images by default, because in a crop the deep dilations
    see zero padding where a whole image has content. The model stays in eval mode, so batch norms act
    with their running statistics. Start from the base CAN's weights; the result loads as
    `<base>_fast<f>` weights (save `model.state_dict()`).
    """
    from fastip.train.data import random_crops

    if crop is not None and crop < min_training_crop(model.factor):
        raise InputError(f"fast-mode fine-tuning at factor {model.factor} needs crops of at least "
                         f"{min_training_crop(model.factor)} px, not {crop}")
    if crop is not None and any(min(x.shape[:2]) < crop for x, _ in pairs):
        raise InputError(f"fast-mode fine-tuning with {crop} px crops needs images of at least {crop} px a side")
    size = crop or max(max(x.shape[:2]) for x, _ in pairs)  # random_crops returns whole images at this size
    rng = np.random.default_rng(seed)
    optimizer = torch.optim.Adam(model.can.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps, eta_min=lr / 100)
    model.eval()  # norms keep their running statistics: they fold at export exactly as trained
    for step in range(1, steps + 1):
        x, y = (torch.from_numpy(a) for a in random_crops(list(pairs), batch, size, rng))
        loss = F.mse_loss(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        if step % 50 == 0 or step == steps:
            progress(f"fast{model.factor} fine-tune step {step}/{steps} loss {loss.item():.3e}")
    return model.eval()


def read_fast_weights(weights: str | os.PathLike, name: str, base: str) -> tuple[str, dict]:
    """The file and inner-CAN state dict of `weights`: the fast model's own shipped names, the base CAN's names,
    or a file of either layout."""
    own, base_spec = _get_spec(name), _get_spec(base)
    text = str(weights)
    own.refuse_withdrawn(text)  # before the base CAN's weights of that name, which it did not beat
    if text in own.weights:
        path = own.weights[text].path
    elif text in base_spec.weights:
        path = base_spec.weights[text].path
    elif os.path.splitext(text)[1]:
        path = text
    else:
        base_spec.refuse_withdrawn(text)
        shipped = sorted({*own.weights, *base_spec.weights})
        raise InputError(f"model {name!r} (fast {base}) has no weights named {text!r}; shipped: "
                         f"{', '.join(shipped) or 'none'}; or give a .pt/.safetensors path")
    # a fast model's state dict is the CAN's under "can."; a base CAN checkpoint fits as is
    return str(path), {k.removeprefix("can."): v for k, v in load_state_dict(path).items()}


_BASES = {"can24": (9, 24), "can32": (10, 32)}


def _register(base: str, factor: int) -> None:
    name = f"{base}_fast{factor}"
    depth, width = _BASES[base]

    def builder(*, weights: str | None = None, norm: str | None = None, radius: int = RADIUS,
                eps: float = EPS) -> FastCAN:
        read = None if weights is None else read_fast_weights(weights, name, base)
        can = CAN(depth=depth, width=width, norm=norm or saved_norm(read and read[1]))  # the weights' norm
        if read is not None:
            fit_state(can, read[1], read[0], _get_spec(name))
        return FastCAN(can, factor, radius=radius, eps=eps).eval()

    builder.__name__ = builder.__qualname__ = name
    builder.__doc__ = f"{base.upper()} at 1/{factor} resolution with fast guided upsampling."
    register_model(family="can", io=CAN_IO,
                   description=f"{base.upper()} at 1/{factor} resolution + fast guided upsampling (fast mode)")(builder)


for _base in _BASES:
    for _factor in FACTORS:
        _register(_base, _factor)


def base_model(name: str) -> str | None:
    """The base CAN of a fast-mode model name (`can32_fast4` -> `can32`), else None."""
    base, sep, factor = name.partition("_fast")
    return base if sep and base in _BASES and factor.isdigit() and int(factor) in FACTORS else None
