"""Train a super-resolution network: L1 loss on random crops of bicubic-downscaled images, flips/rotations."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from fastip.errors import InputError
from fastip.train.data import downscale, load_images, random_crops
from fastip.train.loop import Progress, Task, TrainConfig, TrainResult, fit, stderr_progress
from fastip.train.metrics import to_uint8

RESOLUTIONS = (1.0, 0.7)  # each training image also at 70 %, for more varied texture scales


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


def _pairs(images, scale: int, max_side: int, fractions: tuple[float, ...]) -> list[tuple[np.ndarray, np.ndarray]]:
    pairs = []
    for image in images:
        for f in fractions:
            hr = downscale(image.pixels, max(8 * scale, round(max_side * f)))
            lr = bicubic_down(hr, scale)
            pairs.append((lr, hr[:lr.shape[0] * scale, :lr.shape[1] * scale]))
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
    train = _pairs(load_images(data), scale, max_side, RESOLUTIONS)
    held = load_images(val, held_out=True)
    held_pairs = _pairs(held, scale, max_side, (1.0,))
    baseline = sr_metrics([(bicubic_up(lr, scale), hr) for lr, hr in held_pairs], scale)
    progress(f"{model}: {len(train)} training pairs; bicubic on held-out: "
             f"PSNR {baseline['psnr']:.2f} dB (Y {baseline['psnr_y']:.2f})  SSIM {baseline['ssim']:.4f}, borders cropped by {scale}")

    torch.manual_seed(config.seed)
    net = spec.build()
    if type(net).__name__ == "FSRCNN":
        paper_init(net)
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
                         params={"scale": scale, "max_side": max_side, "resolutions": list(RESOLUTIONS),
                                 "crop_lr": config.crop, "batch": config.batch, "lr": config.lr,
                                 "lr_final": config.lr_final, "seed": config.seed, "threads": config.threads})
    result.write_json(out.with_name(f"{out.stem}.json"))
    return result
