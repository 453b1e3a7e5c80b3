"""Super-resolution networks, RGB in [0, 1], each for x2, x3 and x4.

- ESPCN: Shi et al., "Real-Time Single Image and Video Super-Resolution Using an Efficient
  Sub-Pixel Convolutional Neural Network", CVPR 2016 (5-3-3 convs, tanh, pixel shuffle).
- FSRCNN: Dong, Loy, Tang, "Accelerating the Super-Resolution Convolutional Neural Network",
  ECCV 2016 (d=56, s=12, m=4, PReLU, 9x9 transposed conv).

ESPCN and FSRCNN here predict a residual over a fixed bicubic upsample (BicubicSkip): colours and
flat areas pass through linearly, so the output reaches white and black and keeps every hue, and
the networks spend their capacity on detail. Without it both reconstruct the whole image through
a few nonlinear channels and shift colours they saw little of.
- EDSR-baseline: Lim et al., "Enhanced Deep Residual Networks for Single Image Super-Resolution",
  CVPRW 2017 (16 residual blocks, 64 channels, no batch norm, pixel-shuffle upsampler). Here its
  upsampler's output is added to the same bicubic skip in place of the paper's added-back RGB mean: from
  the first step the network starts at bicubic and learns the detail, which a CPU training budget of
  thousands (not the paper's 300,000) of steps can reach.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from fastip.models.checkpoint import load_into
from fastip.models.registry import get as _get_spec
from fastip.models.registry import register_model
from fastip.spec import ImageIO

SCALES = (2, 3, 4)
DIV2K_MEAN = (0.4488, 0.4371, 0.4040)  # EDSR subtracts the DIV2K RGB mean


def keys_cubic(x: float, a: float = -0.5) -> float:
    """Keys' cubic convolution kernel (a = -0.5, as PIL's bicubic)."""
    x = abs(x)
    if x <= 1:
        return (a + 2) * x ** 3 - (a + 3) * x ** 2 + 1
    return a * x ** 3 - 5 * a * x ** 2 + 8 * a * x - 4 * a if x < 2 else 0.0


def bicubic_phases(scale: int) -> torch.Tensor:
    """(scale, 5) taps: row j weighs low-resolution pixels i-2..i+2 for high-resolution pixel i*scale + j."""
    rows = []
    for j in range(scale):
        offset = (j + 0.5) / scale - 0.5
        taps = [keys_cubic(offset - t) for t in range(-2, 3)]
        rows.append([w / math.fsum(taps) for w in taps])
    return torch.tensor(rows, dtype=torch.float32)


class BicubicSkip(nn.Module):
    """Bicubic upsampling as one fixed grouped 5x5 convolution to channels*scale^2 sub-pixel planes (edges replicated).

    Its output is in pixel-shuffle layout, so a network adds its residual before the shuffle; it exports as
    Slices, Concats and one Conv. Not a learned weight: it is rebuilt from the scale and is not saved with the weights.
    """

    radius = 2

    def __init__(self, scale: int, channels: int = 3):
        super().__init__()
        phases = bicubic_phases(scale)
        kernel = torch.einsum("yk,xl->yxkl", phases, phases).reshape(scale * scale, 1, 5, 5)
        self.register_buffer("weight", kernel.repeat(channels, 1, 1, 1), persistent=False)
        self.channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(_edge_pad(x, self.radius), self.weight, groups=self.channels)


def _edge_pad(x: torch.Tensor, r: int) -> torch.Tensor:
    """Replicate the outermost rows and columns `r` times: exports as constant Slices and Concats, whose shapes
    ONNX shape inference follows (F.pad's replicate mode exports computed pads that it cannot)."""
    x = torch.cat([x[:, :, :1]] * r + [x] + [x[:, :, -1:]] * r, dim=2)
    return torch.cat([x[:, :, :, :1]] * r + [x] + [x[:, :, :, -1:]] * r, dim=3)


def _with_skip(main: nn.Module, skip: BicubicSkip, scale: int | None = None):
    """Receptive field of a network that adds `main` to the bicubic skip: the wider of the two branches, at `main`'s
    scale unless given (fastip.tiling adds layers up in definition order, which fits chains only)."""
    from fastip.tiling import ReceptiveField, receptive_field

    field = receptive_field(main)
    return ReceptiveField(max(field.radius, skip.radius), scale or field.scale, 1)


class ESPCN(nn.Module):
    """Feature extraction at low resolution, then one sub-pixel convolution layer, added to a bicubic upsample."""

    def __init__(self, scale: int, channels: int = 3):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, 64, 5, padding=2), nn.Tanh(),
            nn.Conv2d(64, 32, 3, padding=1), nn.Tanh(),
            nn.Conv2d(32, channels * scale * scale, 3, padding=1),
        )
        self.skip = BicubicSkip(scale, channels)
        self.shuffle = nn.PixelShuffle(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shuffle(self.body(x) + self.skip(x))

    def receptive_field(self):
        return _with_skip(self.body, self.skip, self.shuffle.upscale_factor)


class FSRCNN(nn.Module):
    """Feature extraction, shrinking, mapping, expanding, then a transposed conv upsampler, added to a bicubic upsample."""

    def __init__(self, scale: int, channels: int = 3, d: int = 56, s: int = 12, m: int = 4):
        super().__init__()
        layers = [nn.Conv2d(channels, d, 5, padding=2), nn.PReLU(d), nn.Conv2d(d, s, 1), nn.PReLU(s)]
        for _ in range(m):
            layers += [nn.Conv2d(s, s, 3, padding=1), nn.PReLU(s)]
        layers += [nn.Conv2d(s, d, 1), nn.PReLU(d)]
        self.body = nn.Sequential(*layers)
        self.deconv = nn.ConvTranspose2d(d, channels, 9, stride=scale, padding=4, output_padding=scale - 1)
        self.skip = BicubicSkip(scale, channels)
        self.shuffle = nn.PixelShuffle(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.deconv(self.body(x)) + self.shuffle(self.skip(x))

    def fuse(self) -> nn.Module:
        """Deploy form: the transposed conv as the equal sub-pixel conv at low resolution (SubPixelFSRCNN)."""
        return SubPixelFSRCNN(self).eval()

    def receptive_field(self):
        return _with_skip(nn.Sequential(self.body, self.deconv), self.skip)


def subpixel_weights(deconv: nn.ConvTranspose2d) -> tuple[torch.Tensor, torch.Tensor, int]:
    """(weight, bias, radius) of the convolution at input resolution whose pixel-shuffled output equals `deconv`.

    Output pixel s*i + p of a transposed conv (stride s, padding P, kernel K) sums taps k = s*d + p + P over inputs
    i - d; so sub-pixel plane (o, py, px) is a plain conv whose tap at offset -d holds the transposed kernel's tap k.
    For FSRCNN's 9x9 kernel that is a 5x5 conv at x2 and x3 and a 3x3 one at x4, each into out*s^2 channels.
    """
    s, pad, k = deconv.stride[0], deconv.padding[0], deconv.kernel_size[0]
    w = deconv.weight.detach()  # (in, out, k, k)
    taps = {p: [d for d in range(-k, k + 1) if 0 <= s * d + p + pad < k] for p in range(s)}
    radius = max(abs(d) for ds in taps.values() for d in ds)
    n_in, n_out = w.shape[:2]
    weight = torch.zeros(n_out * s * s, n_in, 2 * radius + 1, 2 * radius + 1, dtype=w.dtype)
    for o in range(n_out):
        for py in range(s):
            for px in range(s):
                for dy in taps[py]:
                    for dx in taps[px]:
                        weight[o * s * s + py * s + px, :, radius - dy, radius - dx] = w[:, o, s * dy + py + pad, s * dx + px + pad]
    bias = deconv.bias.detach().repeat_interleave(s * s) if deconv.bias is not None else torch.zeros(n_out * s * s)
    return weight, bias, radius


class SubPixelFSRCNN(nn.Module):
    """FSRCNN's deploy form: body, the deconvolution as a sub-pixel conv added to the bicubic skip, one pixel shuffle.

    The same function as FSRCNN (to float rounding): the transposed conv scatters into the high-resolution grid,
    which backends run as a col2im GEMM; as a conv at low resolution it runs in their direct-convolution kernels.
    """

    def __init__(self, net: FSRCNN):
        super().__init__()
        self.body = net.body
        weight, bias, radius = subpixel_weights(net.deconv)
        self.tail = nn.Conv2d(weight.shape[1], weight.shape[0], weight.shape[2], padding=radius)
        with torch.no_grad():
            self.tail.weight.copy_(weight)
            self.tail.bias.copy_(bias)
        self.skip = net.skip
        self.shuffle = net.shuffle

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shuffle(self.tail(self.body(x)) + self.skip(x))


class ResBlock(nn.Module):
    """conv-ReLU-conv with an identity skip, no batch norm."""

    def __init__(self, feats: int, res_scale: float = 1.0):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(feats, feats, 3, padding=1), nn.ReLU(inplace=True),
                                  nn.Conv2d(feats, feats, 3, padding=1))
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x) * self.res_scale


class EDSR(nn.Module):
    """EDSR-baseline: mean shift, head conv, residual body with a long skip, pixel-shuffle tail, added to a bicubic upsample."""

    def __init__(self, scale: int, channels: int = 3, feats: int = 64, blocks: int = 16):
        super().__init__()
        self.register_buffer("mean", torch.tensor(DIV2K_MEAN).view(1, 3, 1, 1))
        self.head = nn.Conv2d(channels, feats, 3, padding=1)
        self.body = nn.Sequential(*[ResBlock(feats) for _ in range(blocks)], nn.Conv2d(feats, feats, 3, padding=1))
        up: list[nn.Module] = []
        for step in ([2, 2] if scale == 4 else [scale]):
            up += [nn.Conv2d(feats, feats * step * step, 3, padding=1), nn.PixelShuffle(step)]
        self.tail = nn.Sequential(*up, nn.Conv2d(feats, channels, 3, padding=1))
        self.skip = BicubicSkip(scale, channels)
        self.shuffle = nn.PixelShuffle(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.head(x - self.mean)
        f = f + self.body(f)
        return self.tail(f) + self.shuffle(self.skip(x))

    def receptive_field(self):
        return _with_skip(nn.Sequential(self.head, self.body, self.tail), self.skip)


def _sr_io(scale: int) -> ImageIO:
    return ImageIO(colour_order="RGB", value_range=(0.0, 1.0), scale_factor=scale)


def _build(name: str, cls: type[nn.Module], scale: int, weights: str | None) -> nn.Module:
    model = cls(scale)
    load_into(model, weights, _get_spec(name))
    return model.eval()


def _register(arch: str, cls: type[nn.Module], scale: int, description: str) -> None:
    name = f"{arch}_x{scale}"

    def builder(*, weights: str | None = None) -> nn.Module:
        return _build(name, cls, scale, weights)

    builder.__name__ = builder.__qualname__ = name
    builder.__doc__ = f"{description}, x{scale}."
    register_model(family="sr", io=_sr_io(scale), description=f"{description}, x{scale}")(builder)


for _scale in SCALES:
    _register("espcn", ESPCN, _scale, "ESPCN (Shi et al. 2016)")
    _register("fsrcnn", FSRCNN, _scale, "FSRCNN (Dong et al. 2016)")
    _register("edsr_baseline", EDSR, _scale, "EDSR-baseline (Lim et al. 2017)")
