"""Train a super-resolution network: L1 loss on random crops of bicubic-downscaled images, flips/rotations.

The standard recipe (RECIPES, the defaults of `fastip-train MODEL`): every training image whole at several
fractions of its full resolution (the big photographs at 2560 px and shrunk to 1280 and 640), many small
random crops per step, L1, Adam with cosine decay.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from fastip.errors import InputError
from fastip.train.data import downscale, load_images, random_crops
from fastip.train.loop import Progress, Task, TrainConfig, TrainResult, fit, stderr_progress
from fastip.train.metrics import to_uint8

# Each training image at these fractions of its full resolution: fine texture of the big photographs at 1.0,
# the texture scale of whole images shown at screen size at 0.5 and 0.25.
RESOLUTIONS = (1.0, 0.5, 0.25)
DATA = "samples+photos"

# The recipe of each shipped SR weight: fastip-train's defaults for the model (any flag overrides its field).
RECIPES = {
    "espcn_x2": {"steps": 16000, "batch": 16, "crop": 32, "lr": 1e-3, "lr_final": 1e-5, "eval_every": 4000},
    "espcn_x4": {"steps": 8000, "batch": 16, "crop": 24, "lr": 1e-3, "lr_final": 1e-5, "eval_every": 4000},
    "fsrcnn_x2": {"steps": 3000, "batch": 16, "crop": 32, "lr": 1e-3, "lr_final": 1e-5, "eval_every": 1000},
    "fsrcnn_x4": {"steps": 2000, "batch": 16, "crop": 24, "lr": 1e-3, "lr_final": 1e-5, "eval_every": 1000},
    "edsr_baseline_x2": {"steps": 6000, "batch": 4, "crop": 24, "lr": 3e-4, "lr_final": 1e-6, "eval_every": 2000},
}


def recipe(model: str) -> dict:
    """The training defaults of SR `model` (its RECIPES entry, else the family's)."""
    return dict(RECIPES.get(model, {}))


def recipe_command(model: str, data: str, config: TrainConfig, max_side: int) -> str:
    """The fastip-train command line that repeats a run."""
    return (f"fastip-train {model} --data {data} --steps {config.steps} --batch {config.batch} --crop {config.crop} "
            f"--lr {config.lr:g} --lr-final {config.lr_final:g} --seed {config.seed} --max-side {max_side} "
            f"--threads {config.threads or 1} -o {model}.safetensors")


def bicubic_down(image: np.ndarray, scale: int) -> np.ndarray:
    """PIL bicubic downscale by an integer factor (the image is first cropped to a multiple of it)."""
    from PIL import Image

    h, w = (image.shape[0] // scale) * scale, (image.shape[1] // scale) * scale
    return np.asarray(Image.fromarray(image[:h, :w]).resize((w // scale, h // scale), Image.BICUBIC))


def bicubic_up(image: np.ndarray, scale: int) -> np.ndarray:
    """The bicubic baseline the benchmarks compare against."""
    try:
        from fastip.operators import bicubic_upscale
    except ImportError:  # the operators package is optional for training
        from PIL import Image

        h, w = image.shape[:2]
        return np.asarray(Image.fromarray(image).resize((w * scale, h * scale), Image.BICUBIC))
    return np.asarray(bicubic_upscale(image, scale))


def sr_metrics(pairs: list[tuple[np.ndarray, np.ndarray]], scale: int) -> dict[str, float]:
    """Mean PSNR/SSIM on RGB (psnr, ssim) and on Y (psnr_y, ssim_y), borders cropped by the scale as fastip-bench does."""
    from fastip.benchmarks.quality import sr_quality

    rows = [sr_quality(out, hr, scale, "m") for out, hr in pairs]
    mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
    return {"psnr": mean["m_psnr_rgb"], "ssim": mean["m_ssim_rgb"], "psnr_y": mean["m_psnr_y"], "ssim_y": mean["m_ssim_y"]}


def paper_init(net) -> None:
    """FSRCNN's initialisation (Dong et al. 2016): He-normal convs for PReLU, the deconvolution N(0, 0.001), zero biases.

    PyTorch's default deconvolution init is ~60x larger and starts FSRCNN far from any image.
    """
    import torch
    from torch import nn

    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.ConvTranspose2d):
                nn.init.normal_(m.weight, 0.0, 0.001)
            elif isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, a=0.25, nonlinearity="leaky_relu")
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) and m.bias is not None:
                m.bias.zero_()


def residual_init(net) -> None:
    """Start ESPCN or EDSR at its bicubic skip: the last layer's weights shrunk 100x, its bias zero."""
    import torch

    last = net.tail[-1] if hasattr(net, "tail") else net.body[-1]
    with torch.no_grad():
        last.weight.mul_(0.01)
        last.bias.zero_()


def _pair(hr: np.ndarray, scale: int) -> tuple[np.ndarray, np.ndarray]:
    lr = bicubic_down(hr, scale)
    return lr, hr[:lr.shape[0] * scale, :lr.shape[1] * scale]


def held_out_pairs(images, scale: int, max_side: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(low-resolution, high-resolution) pairs of whole images, the high-resolution one at most `max_side` long."""
    return [_pair(downscale(image.pixels, max(8 * scale, max_side)), scale) for image in images]


def training_pairs(images, scale: int, crop: int, fractions: tuple[float, ...] = RESOLUTIONS) -> list[tuple[np.ndarray, np.ndarray]]:
    """Pairs of every image at each of `fractions` of its full resolution where the low-resolution image holds a crop."""
    pairs = []
    for image in images:
        h, w = image.pixels.shape[:2]
        for f in fractions:
            if f < 1 and min(h, w) * f < crop * scale:
                continue
            pairs.append(_pair(image.pixels if f == 1 else downscale(image.pixels, round(max(h, w) * f)), scale))
    return pairs


def train_sr(model: str, data: str | os.PathLike, out: str | os.PathLike, *, config: TrainConfig | None = None,
             val: str | os.PathLike = "samples", max_side: int = 640, progress: Progress = stderr_progress) -> TrainResult:
    """Train SR `model` (e.g. fsrcnn_x2); `config.crop` is the low-resolution crop size."""
    import torch

    from fastip import models

    config = config or TrainConfig.for_family("sr")
    config.check()
    if config.crop is None:
        raise InputError("super-resolution trains on crops: give --crop (low-resolution pixels, e.g. 32)")
    spec = models.get(model)
    if spec.family != "sr":
        raise InputError(f"{model} is a {spec.family} model, not super-resolution; CAN models need --operator")
    scale = spec.io.scale_factor
    out = Path(out)
    if config.threads:
        torch.set_num_threads(config.threads)
    # the photographs' fixed crops (NAME@SCALE) are left out: SR crops every photograph at random at RESOLUTIONS
    train = training_pairs([i for i in load_images(data) if "@" not in i.name], scale, config.crop)
    held = load_images(val, held_out=True)
    held_pairs = held_out_pairs(held, scale, max_side)
    baseline = sr_metrics([(bicubic_up(lr, scale), hr) for lr, hr in held_pairs], scale)
    progress(f"{model}: {len(train)} training pairs; bicubic on held-out: "
             f"PSNR {baseline['psnr']:.2f} dB (Y {baseline['psnr_y']:.2f})  SSIM {baseline['ssim']:.4f}, borders cropped by {scale}")

    torch.manual_seed(config.seed)
    net = spec.build()
    if type(net).__name__ == "FSRCNN":
        paper_init(net)
    elif type(net).__name__ in ("ESPCN", "EDSR"):
        residual_init(net)
    held_tensors = [(torch.from_numpy(lr.astype(np.float32).transpose(2, 0, 1)[None] / 255.0), hr) for lr, hr in held_pairs]

    def batch(step: int):
        rng = np.random.default_rng((config.seed, step))
        x, y = random_crops(train, config.batch, config.crop, rng, scale=scale)
        return torch.from_numpy(x), torch.from_numpy(y)

    def evaluate(net) -> dict[str, float]:
        return sr_metrics([(to_uint8(net(x)), hr) for x, hr in held_tensors], scale)

    task = Task(batch, torch.nn.functional.l1_loss, evaluate, lambda net: net.state_dict(),
                lambda net, state: net.load_state_dict(state))
    steps, seconds, loss, metrics = fit(net, task, out, config, progress)
    result = TrainResult(out=out, model=model, steps=steps, seconds=round(seconds, 1), loss=loss, metrics=metrics,
                         evaluated_on=tuple(i.name for i in held), baseline={f"bicubic_{k}": v for k, v in baseline.items()},
                         params={"recipe": recipe_command(model, str(data), config, max_side), "data": str(data),
                                 "scale": scale, "max_side": max_side, "resolutions": list(RESOLUTIONS),
                                 "crop_lr": config.crop, "batch": config.batch, "lr": config.lr,
                                 "lr_final": config.lr_final, "seed": config.seed, "threads": config.threads})
    result.write_json(out.with_name(f"{out.stem}.json"))
    return result


def measure_sr(model: str, weights: str | os.PathLike, *, val: str | os.PathLike = DATA, max_side: int = 640,
               min_side: int = 0) -> list[dict]:
    """Per held-out image (whole, at most `max_side` long; those under `min_side` left out): Y and RGB PSNR of the
    model and of bicubic, borders cropped by the scale."""
    import torch

    from fastip import models
    from fastip.benchmarks.quality import sr_quality

    spec = models.get(model)
    scale = spec.io.scale_factor
    net = spec.build(weights=str(weights))
    images = [i for i in load_images(val, held_out=True) if max(i.pixels.shape[:2]) >= min_side]
    rows = []
    for image, (lr, hr) in zip(images, held_out_pairs(images, scale, max_side)):
        with torch.no_grad():
            out = to_uint8(net(torch.from_numpy(lr.astype(np.float32).transpose(2, 0, 1)[None] / 255.0)))
        rows.append({"image": image.name, "size": f"{hr.shape[1]}x{hr.shape[0]}", **sr_quality(out, hr, scale, "model"),
                     **sr_quality(bicubic_up(lr, scale), hr, scale, "bicubic")})
    return rows
