"""Context Aggregation Network (CAN).

Chen, Xu, Koltun, "Fast Image Processing with Fully-Convolutional Networks", ICCV 2017.
Dilated 3x3 convolutions at full resolution (dilation 1, 2, 4, ... doubling per layer), each
followed by the adaptive normalisation Psi(x) = lambda*x + mu*Norm(x) and a leaky ReLU (0.2),
then one non-dilated 3x3 layer and a 1x1 projection to RGB. Identity initialisation makes the
untrained network the identity map.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fastip.models.checkpoint import fit_state, read_weights
from fastip.models.registry import get as _get_spec
from fastip.models.registry import register_model
from fastip.spec import ImageIO

NORM_MODES = ("instance", "batch", "none", "shift")
EPS = 1e-3  # the paper's code uses slim.batch_norm's default epsilon
LAST_INIT_STD = 0.1  # initial weights from the input-unreached hidden channels to the output (see reset_identity)
CAN_IO = ImageIO(colour_order="RGB", value_range=(0.0, 1.0))


class AdaptiveNorm(nn.Module):
    """lambda*x + mu*Norm(x): learned scalars per layer, Norm with a learned shift and no scale.

    `instance` normalises with the current image's statistics (the paper's batch norm at batch
    size 1); `batch` uses running statistics, so it is affine at inference and folds into the conv.
    `none` is the identity and `shift` adds the learned shift only (x + beta): training modes whose
    weights ship as the equivalent `batch` CAN. The convs have no bias, so without a shift the hidden
    layers compute functions that scale with the input (f(cx) = c f(x)), e.g. no tone curves.
    """

    def __init__(self, channels: int, mode: str = "batch", momentum: float = 0.01):
        super().__init__()
        if mode not in NORM_MODES:
            raise ValueError(f"norm mode must be one of {NORM_MODES}, not {mode!r}")
        self.mode = mode
        self.momentum = momentum
        self.lam = nn.Parameter(torch.ones(()))
        self.mu = nn.Parameter(torch.zeros(()))
        self.beta = nn.Parameter(torch.zeros(channels))
        if mode == "batch":
            self.register_buffer("running_mean", torch.zeros(channels))
            self.register_buffer("running_var", torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "none":
            return x
        if self.mode == "shift":
            return x + self.beta.view(1, -1, 1, 1)
        if self.mode == "instance":
            normed = F.instance_norm(x, bias=self.beta, eps=EPS)
        else:
            normed = F.batch_norm(x, self.running_mean, self.running_var, bias=self.beta,
                                  training=self.training, momentum=self.momentum, eps=EPS)
        return self.lam * x + self.mu * normed

    def affine(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-channel (scale, shift) equal to this norm at inference; not for `instance`."""
        if self.mode == "instance":
            raise ValueError("instance norm depends on the image and cannot be folded")
        if self.mode in ("none", "shift"):
            shift = self.beta if self.mode == "shift" else torch.zeros_like(self.beta)
            return torch.ones_like(self.beta), shift
        inv_std = torch.rsqrt(self.running_var + EPS)
        scale = self.lam + self.mu * inv_std
        shift = self.mu * (self.beta - self.running_mean * inv_std)
        return scale, shift


class CANLayer(nn.Module):
    """Dilated 3x3 conv (no bias, size-preserving zero padding) -> adaptive norm -> leaky ReLU 0.2."""

    def __init__(self, cin: int, cout: int, dilation: int, norm: str):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=dilation, dilation=dilation, bias=False)
        self.norm = AdaptiveNorm(cout, norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(self.norm(self.conv(x)), 0.2)

    def fused(self) -> nn.Sequential:
        """The deploy-time equivalent: one conv with bias and the leaky ReLU."""
        scale, shift = self.norm.affine()
        conv = nn.Conv2d(self.conv.in_channels, self.conv.out_channels, 3, padding=self.conv.padding,
                         dilation=self.conv.dilation, bias=True)
        with torch.no_grad():
            conv.weight.copy_(self.conv.weight * scale.view(-1, 1, 1, 1))
            conv.bias.copy_(shift)
        return nn.Sequential(conv, nn.LeakyReLU(0.2))


class GlobalContext(nn.Module):
    """Whole-image context fed back to every pixel: x + W [mean(x); max(x)], the means and maxima over the image.

    Operators with a global step (dehazing's airlight, a style's histogram) need statistics of the whole image,
    which dilations up to 64-128 px do not reach on large photos (cf. the global path of HDRNet, Gharbi et al. 2017).
    W starts at zero, so the branch starts as the identity; it exports as ReduceMean/ReduceMax, a 1x1 Conv and an Add.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.proj = nn.Conv2d(2 * channels, channels, 1, bias=True)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([x.mean(dim=(2, 3), keepdim=True), x.amax(dim=(2, 3), keepdim=True)], dim=1)
        return x + self.proj(pooled)


class CAN(nn.Module):
    """Context aggregation network of `depth` layers and `width` channels (`context`: + a GlobalContext branch)."""

    def __init__(self, *, depth: int = 10, width: int = 32, norm: str = "batch", channels: int = 3,
                 context: bool = False):
        super().__init__()
        if depth < 3:
            raise ValueError("a CAN needs depth >= 3")
        self.norm_mode = norm
        dilations = [2 ** i for i in range(depth - 2)] + [1]
        layers, cin = [], channels
        for d in dilations:
            layers.append(CANLayer(cin, width, d, norm))
            cin = width
        self.layers = nn.Sequential(*layers)
        # before the last 3x3 layer: the dilated layers' features, pooled over the whole image
        self.context = GlobalContext(width) if context else None
        self.last = nn.Conv2d(width, channels, 1, bias=True)
        self.reset_identity()

    def reset_identity(self) -> None:
        """Identity initialisation: centre tap 1 for channel i -> i, everything else 0 ...

        ... except the projection from the hidden channels the input does not reach (3..width-1) to the
        output, which gets small random weights. Those channels are zero at initialisation, so the network
        is still exactly the identity map; with all-zero weights there too, they would receive no gradient
        ever (zero activation times zero backward signal) and the CAN would train as a 3-channel network.
        """
        with torch.no_grad():
            for conv in [layer.conv for layer in self.layers] + [self.last]:
                conv.weight.zero_()
                k = conv.kernel_size[0] // 2
                for i in range(min(conv.in_channels, conv.out_channels)):
                    conv.weight[i, i, k, k] = 1.0
                if conv.bias is not None:
                    conv.bias.zero_()
            hidden = self.last.weight[:, self.last.out_channels:]
            hidden.normal_(0.0, LAST_INIT_STD)

    @property
    def foldable(self) -> bool:
        return self.norm_mode != "instance"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.context is None:
            return self.last(self.layers(x))
        return self.last(self.layers[-1](self.context(self.layers[:-1](x))))

    def fuse(self) -> nn.Module:
        """Deploy form: norms folded into the convs (conv + leaky ReLU only); `instance` norms fold per image, from
        statistics measured at 1/`norm_stats` resolution (fastip.models.can_stats; 1 keeps the exact instance norm)."""
        if not self.foldable:
            from fastip.models.can_stats import stats_form

            return stats_form(self, getattr(self, "norm_stats", 1), EPS)
        parts = [layer.fused() for layer in self.layers]
        if self.context is not None:
            parts.insert(len(parts) - 1, self.context)
        last = nn.Conv2d(self.last.in_channels, self.last.out_channels, 1, bias=True)
        last.load_state_dict(self.last.state_dict())
        return nn.Sequential(*parts, last).eval()


def saved_norm(state: dict | None) -> str:
    """The norm a CAN state dict was saved in (batch without one): instance-norm CANs have no running statistics."""
    return "batch" if state is None or any(k.endswith("running_mean") for k in state) else "instance"


def saved_context(state: dict | None) -> bool:
    """Whether a CAN state dict holds a global-context branch."""
    return state is not None and any(k.startswith("context.") for k in state)


def _build(name: str, depth: int, width: int, weights: str | None, norm: str | None, norm_stats: int | None,
           context: bool | None) -> CAN:
    from fastip.models.can_stats import deploy_stats_factor

    spec = _get_spec(name)
    read = None if weights is None else read_weights(weights, spec)
    if context is None:
        context = saved_context(read and read[1])
    model = CAN(depth=depth, width=width, norm=norm or saved_norm(read and read[1]), context=context)
    model.norm_stats = deploy_stats_factor(model.norm_mode, norm_stats)
    if read is not None:
        path, state = read
        fit_state(model, state, path, spec)
    return model.eval()


@register_model(family="can", io=CAN_IO, description="CAN, 24 channels, depth 9 (dilations 1..64)")
def can24(*, weights: str | None = None, norm: str | None = None, norm_stats: int | None = None,
          context: bool | None = None) -> CAN:
    """CAN24: 7 dilated layers (1..64), a 3x3 layer and a 1x1 projection, 24 channels; norm and context from the weights by default."""
    return _build("can24", 9, 24, weights, norm, norm_stats, context)


@register_model(family="can", io=CAN_IO, description="CAN, 32 channels, depth 10 (dilations 1..128)")
def can32(*, weights: str | None = None, norm: str | None = None, norm_stats: int | None = None,
          context: bool | None = None) -> CAN:
    """CAN32: 8 dilated layers (1..128), a 3x3 layer and a 1x1 projection, 32 channels; norm and context from the weights by default."""
    return _build("can32", 10, 32, weights, norm, norm_stats, context)
