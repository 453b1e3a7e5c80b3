"""Train a CAN to approximate a reference operator (Chen, Xu, Koltun 2017): MSE in RGB, identity init.

Targets are the operator applied to whole (downscaled) images at several resolutions, cached on disk;
training sees those pairs whole (or random aligned crops, if asked) with random flips and rotations.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from fastip.errors import InputError
from fastip.train.data import NamedImage, data_set_name, downscale, load_images, photometric_variant, random_crops
from fastip.train.loop import Progress, Task, TrainConfig, TrainResult, fit, stderr_progress
from fastip.train.metrics import mean_metrics, to_uint8
from fastip.train.synthetic import synthetic_images
from fastip.train.targets import TargetCache

RESOLUTIONS = (1.0, 0.75, 0.5)  # resolution randomisation: each image at these fractions of --max-side
LOSSES = ("mse", "gradient")


def gradient_loss(output, target):
    """MSE plus the MSE of the horizontal and vertical differences: flat regions must be flat, edges where the target's are.

    Operators that make hard local decisions (L0 smoothing, detail enhancement) are near-copies of their input in
    MSE terms; the difference term weights what they change, the texture they remove and the edges they keep.
    """
    import torch.nn.functional as F

    def diffs(x):
        return x[..., 1:, :] - x[..., :-1, :], x[..., :, 1:] - x[..., :, :-1]

    (oy, ox), (ty, tx) = diffs(output), diffs(target)
    return F.mse_loss(output, target) + F.mse_loss(oy, ty) + F.mse_loss(ox, tx)


def windows_of(image: np.ndarray, count: int, max_side: int, rng: np.random.Generator) -> list[np.ndarray]:
    """`count` random windows (sides 0.5-1 x max_side) of the image shrunk to a long side of at most 2 x max_side.

    Each window is a training image of its own (the operator runs on the window), unlike a crop of a whole
    image's target: more content, tones and histograms from few photographs, at a finer scale.
    """
    x = downscale(image, 2 * max_side)
    h, w = x.shape[:2]
    out = []
    for _ in range(count):
        wh, ww = (min(n, int(rng.integers(max_side // 2, max_side + 1))) for n in (h, w))
        top, left = int(rng.integers(0, h - wh + 1)), int(rng.integers(0, w - ww + 1))
        out.append(np.ascontiguousarray(x[top:top + wh, left:left + ww]))
    return out


def _pairs(images, operator: str, params: dict[str, Any], cache: TargetCache, max_side: int,
           fractions: tuple[float, ...], variants: int = 0, windows: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    pairs = []
    for i, image in enumerate(images):
        scaled = [downscale(image.pixels, max(16, round(max_side * f))) for f in fractions]
        for j, x in enumerate(scaled + windows_of(image.pixels, windows, max_side, np.random.default_rng((i, 0, 0, 1)))):
            inputs = [x] + [photometric_variant(x, k, np.random.default_rng((i, j, k))) for k in range(1, variants + 1)]
            pairs += [(v, cache.target(v, operator, params)) for v in inputs]
    return pairs


def held_out_metrics(net, pairs: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, float]:
    """Mean PSNR/SSIM of `net` (in eval mode, no grad) on (input, operator output) uint8 pairs."""
    import torch

    with torch.no_grad():
        return mean_metrics([(to_uint8(net(torch.from_numpy(x.astype(np.float32).transpose(2, 0, 1)[None] / 255.0))), y)
                             for x, y in pairs])


def measure_can(model: str, weights: str | os.PathLike, operator: str, *, params: dict[str, Any] | None = None,
                norm: str | None = None, max_side: int = 320, val: str | os.PathLike = "samples",
                cache_dir: str | os.PathLike | None = None) -> dict[str, float]:
    """Held-out PSNR/SSIM of CAN weights against `operator`, measured as training measures them."""
    from fastip import models

    params = dict(params or {})
    held_pairs = _pairs(load_images(val, held_out=True), operator, params, TargetCache(cache_dir), max_side, (1.0,))
    net = models.get(model).build(weights=str(weights), norm=norm)
    return held_out_metrics(net.eval(), held_pairs)


def _batch_norm_form(model) -> dict:
    """The state dict of a norm="none"/"shift" CAN as the equivalent default (batch-norm) CAN.

    Running statistics 0 and 1 make the batch norm lambda*x + mu*(x/sqrt(1 + eps) + beta): mu = 0 gives
    `none`'s x; mu = 1 and lambda = 1 - 1/sqrt(1 + eps) give `shift`'s x + beta.
    """
    import torch

    from fastip.models.can import EPS

    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    for name, module in model.named_modules():
        if type(module).__name__ == "AdaptiveNorm":
            state[f"{name}.running_mean"] = torch.zeros_like(module.beta)
            state[f"{name}.running_var"] = torch.ones_like(module.beta)
            if module.mode == "shift":
                state[f"{name}.mu"] = torch.ones_like(module.mu)
                state[f"{name}.lam"] = 1.0 - torch.rsqrt(torch.tensor(1.0 + EPS, dtype=module.lam.dtype))
    return state


def train_can(model: str, operator: str, data: str | os.PathLike, out: str | os.PathLike, *,
              config: TrainConfig | None = None, params: dict[str, Any] | None = None, val: str | os.PathLike = "samples",
              norm: str = "none", max_side: int = 320, variants: int = 0, windows: int = 0, synthetic: int = 0,
              cache_dir: str | os.PathLike | None = None, loss: str = "mse", context: bool = False,
              progress: Progress = stderr_progress) -> TrainResult:
    """Train CAN `model` (e.g. can24) on operator `operator`; writes weights to `out` (+ .state.pt, .json).

    `variants` adds that many photometric variants (haze, then tone/colour changes) of every training image,
    `windows` that many random windows of it (see windows_of); `synthetic` adds that many dead-leaves images
    (fastip.train.synthetic) to the training images. `loss` is `mse` (the paper's) or `gradient` (gradient_loss);
    `context` adds the CAN's global-context branch (fastip.models.can.GlobalContext).
    """
    import time

    import torch

    from fastip import models

    config = config or TrainConfig.for_family("can")
    config.check()
    crop = config.crop or max_side  # whole images unless asked: see fastip.train.loop.FAMILY_DEFAULTS
    spec = models.get(model)
    if spec.family != "can":
        raise InputError(f"{model} is a {spec.family} model; --operator training needs a CAN (can24, can32)")
    if max_side < 32:
        raise InputError(f"--max-side must be >= 32, not {max_side}")
    params = dict(params or {})
    from fastip import operators

    if operator in operators.list_operators():
        params = operators.get(operator).check_params(params)  # record the full parameter set
    out = Path(out)
    if config.threads:
        torch.set_num_threads(config.threads)
    cache = TargetCache(cache_dir)
    t0 = time.perf_counter()
    if loss not in LOSSES:
        raise InputError(f"--loss must be one of {', '.join(LOSSES)}, not {loss!r}")
    if min(variants, windows, synthetic) < 0:
        raise InputError(f"--variants, --windows and --synthetic must be >= 0, not {variants}, {windows}, {synthetic}")
    photos = load_images(data)
    train_images = photos + [NamedImage(f"dead_leaves_{i}", x)
                             for i, x in enumerate(synthetic_images(synthetic, max_side, config.seed))]
    train = _pairs(train_images, operator, params, cache, max_side, RESOLUTIONS, variants, windows)
    held = load_images(val, held_out=True)
    held_pairs = _pairs(held, operator, params, cache, max_side, (1.0,))
    progress(f"{operator}: {len(train)} training pairs, {len(held_pairs)} held-out "
             f"({cache.misses} computed, {cache.hits} cached in {time.perf_counter() - t0:.1f} s)")

    torch.manual_seed(config.seed)
    net = spec.build(norm=norm, **({"context": True} if context else {}))

    def batch(step: int):
        rng = np.random.default_rng((config.seed, step))
        x, y = random_crops(train, config.batch, crop, rng)
        return torch.from_numpy(x), torch.from_numpy(y)

    def evaluate(net) -> dict[str, float]:
        return held_out_metrics(net, held_pairs)

    def export_state(net) -> dict:
        return _batch_norm_form(net) if norm in ("none", "shift") else net.state_dict()

    def import_state(net, state: dict) -> None:
        if norm in ("none", "shift"):
            state = {k: v for k, v in state.items() if not k.endswith(("running_mean", "running_var"))}
        net.load_state_dict(state)

    task = Task(batch, gradient_loss if loss == "gradient" else torch.nn.functional.mse_loss, evaluate, export_state, import_state)
    steps, seconds, last_loss, metrics = fit(net, task, out, config, progress)
    result = TrainResult(out=out, model=model, steps=steps, seconds=round(seconds, 1), loss=last_loss, metrics=metrics,
                         evaluated_on=tuple(i.name for i in held),
                         params={"operator": operator, "operator_params": params, "norm": norm,
                                 "data": [i.name for i in photos], "data_set": data_set_name(data),
                                 "max_side": max_side, "resolutions": list(RESOLUTIONS), "variants": variants, "windows": windows, "synthetic": synthetic, "crop": crop,
                                 "batch": config.batch, "lr": config.lr, "lr_final": config.lr_final,
                                 "seed": config.seed, "threads": config.threads, "loss": loss, "context": context})
    result.write_json(out.with_name(f"{out.stem}.json"))
    return result
