"""Deploy form of an instance-norm CAN: per-image statistics measured at low resolution, folded into the convs.

An instance-norm layer computes lambda*y + mu*((y - mean_c) / sqrt(var_c + eps) + beta_c) from its conv output
y, with mean_c and var_c taken over the whole image: a per-channel affine whose coefficients depend on the image.
At full resolution that costs extra passes over every feature map (InstanceNormalization, Mul, Mul, Add) and
keeps the leaky ReLU out of the conv. Here the same network first runs on the image area-downsampled by
`factor` (1/factor^2 of the work) to measure every layer's mean and variance; those become each layer's
(scale, shift), folded into the full-resolution conv's weights and bias, so the full-resolution pass is
Conv + LeakyRelu only, as for folded batch norms. Statistics of a whole photograph change little when it is
shrunk, so the output stays close to the exact instance norm (measured per weight in the README).

The folded weights are per image, so this form runs one image per call (its exported input has batch 1).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

STATS_FACTORS = (1, 2, 4, 8)  # 1: the exact instance norm (statistics of the full-resolution feature maps)
# Registry CANs deploy exact instance norms unless told otherwise: on a 2-core AVX2 CPU at 1080p the folded form
# measured no faster (per-image conv weights leave ONNX Runtime's blocked-layout kernels, and OpenVINO adds the
# per-image bias as a separate pass), so the approximation buys nothing there by default.
DEFAULT_STATS_FACTOR = 1


def layer_affine(norm: nn.Module, y: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel (scale, shift) of `norm` (an instance AdaptiveNorm) on conv output `y` of one image."""
    var, mean = torch.var_mean(y[0], dim=(1, 2), unbiased=False)
    inv_std = torch.rsqrt(var + eps)
    return norm.lam + norm.mu * inv_std, norm.mu * (norm.beta - mean * inv_std)


class LowResStatsCAN(nn.Module):
    """An instance-norm CAN whose per-layer statistics come from the image downsampled by `factor`."""

    def __init__(self, can: nn.Module, factor: int, eps: float):
        super().__init__()
        if factor not in STATS_FACTORS[1:]:
            raise ValueError(f"low-resolution statistics need a factor in {STATS_FACTORS[1:]}, not {factor}")
        self.can = can
        self.factor = factor
        self.eps = eps  # the adaptive norm's epsilon, as in the exact instance norm
        self.fixed_batch = 1  # the folded weights belong to one image

    def affines(self, x: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(scale, shift) of every layer, measured by running the network on `x` area-downsampled by `factor`."""
        h = F.avg_pool2d(x, self.factor, stride=self.factor)  # floor: a last partial row/column adds nothing to means
        out = []
        for layer in self.can.layers:
            y = layer.conv(h)
            scale, shift = layer_affine(layer.norm, y, self.eps)
            h = F.leaky_relu(y * scale.view(1, -1, 1, 1) + shift.view(1, -1, 1, 1), 0.2)
            out.append((scale, shift))
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        for layer, (scale, shift) in zip(self.can.layers, self.affines(x)):
            conv = layer.conv
            weight = conv.weight * scale.view(-1, 1, 1, 1)
            h = F.leaky_relu(F.conv2d(h, weight, shift, padding=conv.padding, dilation=conv.dilation), 0.2)
        return self.can.last(h)

    @property
    def norm_mode(self) -> str:
        return "instance"

    def fuse(self) -> "LowResStatsCAN":
        return self


def deploy_stats_factor(norm_mode: str, factor: int | None) -> int:
    """The statistics factor a registry CAN deploys with: `factor`, else the default for instance norms (1 otherwise)."""
    from fastip.errors import InputError

    if factor is None:
        return DEFAULT_STATS_FACTOR if norm_mode == "instance" else 1
    if isinstance(factor, bool) or factor not in STATS_FACTORS:
        raise InputError(f"norm_stats must be one of {', '.join(map(str, STATS_FACTORS))} (1: exact instance norm), "
                         f"not {factor!r}")
    if factor != 1 and norm_mode != "instance":
        raise InputError(f"norm_stats applies to instance-norm weights; these fold their {norm_mode!r} norm already")
    return factor


def stats_form(can: nn.Module, factor: int, eps: float) -> nn.Module:
    """The deploy form of an instance-norm CAN with statistics at 1/`factor` resolution (1: the CAN itself, exact)."""
    if factor not in STATS_FACTORS:
        raise ValueError(f"instance-norm statistics factor must be one of {STATS_FACTORS}, not {factor}")
    if factor != 1 and getattr(can, "context", None) is not None:
        raise ValueError("low-resolution instance-norm statistics do not cover a global-context CAN; use norm_stats=1")
    return can if factor == 1 else LowResStatsCAN(can, factor, eps).eval()
