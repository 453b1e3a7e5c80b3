"""The training loop shared by CAN and SR: Adam with cosine decay, checkpoints, resume, held-out progress."""

from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from fastip.errors import BundleError, InputError
from fastip.models.checkpoint import save_state_dict
from fastip.progress import RateProgress

Progress = Callable[[str], None]


def stderr_progress(line: str) -> None:
    """Print a progress line to stderr, flushed (training logs are often redirected to files)."""
    print(line, file=sys.stderr, flush=True)


# Per model family: crops per step and crop side. CAN trains on whole images (crop None: --max-side), as in the
# paper: in crops its deepest dilations (64, 128) see mostly zero padding, in whole images content. SR crops are
# low-resolution pixels.
FAMILY_DEFAULTS = {"can": {"batch": 1, "crop": None}, "sr": {"batch": 16, "crop": 32}}


@dataclass
class TrainConfig:
    """How long and how to train; every field has a CLI flag of the same name."""

    steps: int = 2000
    batch: int = 1
    crop: int | None = None  # None: whole images (CAN only)
    lr: float = 1e-3
    lr_final: float = 1e-5  # cosine decay from lr to lr_final over `steps`
    seed: int = 0
    threads: int | None = None
    checkpoint_every: int = 250
    eval_every: int = 250
    progress_every: float = 10.0  # seconds between progress lines (step, loss, step/s, ETA)
    resume: bool = False

    @classmethod
    def for_family(cls, family: str, **given: Any) -> TrainConfig:
        """The config for a model family: its FAMILY_DEFAULTS, overridden by the `given` values that are not None."""
        return cls(**{**FAMILY_DEFAULTS[family], **{k: v for k, v in given.items() if v is not None}})

    def check(self) -> None:
        for name in ("steps", "batch", "crop", "checkpoint_every", "eval_every"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise InputError(f"--{name.replace('_', '-')} must be >= 1, not {getattr(self, name)}")
        if not self.progress_every >= 0:
            raise InputError(f"--progress-every must be >= 0 seconds, not {self.progress_every}")
        if not (self.lr > 0 and self.lr_final >= 0):
            raise InputError(f"--lr must be > 0 and --lr-final >= 0, not {self.lr} and {self.lr_final}")
        if self.threads is not None and self.threads < 1:
            raise InputError(f"--threads must be >= 1, not {self.threads}")

    def lr_at(self, step: int) -> float:
        t = min(step, self.steps) / self.steps
        return self.lr_final + 0.5 * (self.lr - self.lr_final) * (1.0 + math.cos(math.pi * t))


@dataclass
class TrainResult:
    """What a run produced: the weight file, its held-out metrics and what it cost."""

    out: Path
    model: str
    steps: int
    seconds: float
    loss: float
    metrics: dict[str, float]
    evaluated_on: tuple[str, ...]
    baseline: dict[str, float] = field(default_factory=dict)  # e.g. bicubic PSNR/SSIM for SR
    params: dict[str, Any] = field(default_factory=dict)

    def write_json(self, path: str | os.PathLike) -> Path:
        """Write this result next to the weights (atomic)."""
        path = Path(path)
        data = asdict(self)
        data["out"] = str(self.out)
        tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)
        return path


def state_path(out: Path) -> Path:
    """The optimizer/step file beside a weight file: weights/x.pt -> weights/x.state.pt."""
    return out.with_name(f"{out.stem}.state.pt")


@dataclass
class Task:
    """What the loop needs from a family: batches, a loss, held-out metrics and state (de)serialisation."""

    batch: Callable[[int], tuple[Any, Any]]  # step -> (input, target) tensors, deterministic in step
    loss: Callable[[Any, Any], Any]
    evaluate: Callable[[Any], dict[str, float]]  # model -> {"psnr": .., "ssim": ..}
    export_state: Callable[[Any], dict]  # model -> state dict as shipped
    import_state: Callable[[Any, dict], None]  # inverse of export_state


def fit(model, task: Task, out: Path, config: TrainConfig, progress: Progress = stderr_progress) -> tuple[int, float, float, dict]:
    """Train `model` in place; returns (steps, seconds, last loss, held-out metrics)."""
    import torch

    from fastip.models.checkpoint import load_state_dict

    config.check()
    if config.threads:
        torch.set_num_threads(config.threads)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=config.lr)
    step, seconds = 0, 0.0
    if config.resume and out.is_file() and state_path(out).is_file():
        task.import_state(model, load_state_dict(out))
        try:
            state = torch.load(state_path(out), map_location="cpu", weights_only=True)
            optimizer.load_state_dict(state["optimizer"])
        except Exception as exc:  # torch raises many types for a damaged or foreign file
            raise BundleError(f"cannot resume from {state_path(out)}: {exc}; delete it or train without --resume") from exc
        step, seconds = int(state["step"]), float(state["seconds"])
        progress(f"resumed {out} at step {step}")
    elif config.resume:
        progress(f"nothing to resume at {out}; starting at step 0")

    loss_value, window, metrics = float("nan"), [], {}
    started = time.perf_counter() - seconds
    ticker = RateProgress(config.steps, progress, start=step, every=config.progress_every)
    recent: list[float] = []
    model.train()
    while step < config.steps:
        x, y = task.batch(step)
        for group in optimizer.param_groups:
            group["lr"] = config.lr_at(step)
        optimizer.zero_grad(set_to_none=True)
        loss = task.loss(model(x), y)
        loss.backward()
        optimizer.step()
        step += 1
        loss_value = float(loss.detach())
        if not math.isfinite(loss_value):
            raise InputError(f"training diverged at step {step} (loss {loss_value}); lower --lr (now {config.lr})")
        window.append(loss_value)
        recent.append(loss_value)
        last = step == config.steps
        if not last and ticker.update(step, f"loss {np.mean(recent):.3e}"):
            recent = []
        if step % config.eval_every == 0 or last:
            metrics = _evaluate(model, task)
            elapsed = time.perf_counter() - started
            progress(f"step {step}/{config.steps}  loss {np.mean(window):.3e}  lr {config.lr_at(step):.1e}  "
                     f"held-out PSNR {metrics['psnr']:.2f} dB  SSIM {metrics['ssim']:.4f}  "
                     f"({elapsed / max(step, 1):.3f} s/step avg, {elapsed:.0f} s)")
            window = []
        if step % config.checkpoint_every == 0 or last:
            _checkpoint(model, optimizer, task, out, step, time.perf_counter() - started)
    if not metrics:
        metrics = _evaluate(model, task)
    return step, time.perf_counter() - started, loss_value, metrics


def _evaluate(model, task: Task) -> dict[str, float]:
    import torch

    model.eval()
    with torch.no_grad():
        metrics = task.evaluate(model)
    model.train()
    return metrics


def _checkpoint(model, optimizer, task: Task, out: Path, step: int, seconds: float) -> None:
    import torch

    save_state_dict(task.export_state(model), out)
    path = state_path(out)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        torch.save({"optimizer": optimizer.state_dict(), "step": step, "seconds": seconds}, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
