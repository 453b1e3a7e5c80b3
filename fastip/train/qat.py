"""Quantization-aware fine-tuning of a shipped CAN weight: its Q/DQ graph with fake quantization, trained further.

The start is the shipped FP32 weight (`--from-weights`); the graph is the Q/DQ ONNX that `fastip-export
--precision int8` writes for the named candidate (calibrated on the same images with the same plan, the
same layers kept float). The loss mixes the operator's output and the FP32 model's output (`distill`, the
teacher's share), since the gate measures the INT8 artifact against that FP32 model. Activation scales are
re-collected by the calibrator from the current weights every `recalibrate_every` steps. The result is an
ordinary CAN weight (batch-norm form); `fastip-export --precision int8` quantizes it and its gate decides.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fastip.errors import InputError
from fastip.train.loop import Progress, Task, TrainConfig, TrainResult, fit, stderr_progress

DEFAULT_CANDIDATE = "u8-per-channel"
DEFAULT_DISTILL = 0.9
DEFAULT_RECALIBRATE = 250


@dataclass(frozen=True)
class QatScheme:
    """What the fake quantization copies: a gate candidate, the layers it keeps float, and its calibration."""

    candidate: str = DEFAULT_CANDIDATE
    float_layers: tuple[str, ...] = ()
    calib: str | None = None  # folder of calibration images; None: the bundled samples (as fastip-export)
    calib_count: int | None = None
    calib_shape: str | None = None
    calib_seed: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "float_layers": list(self.float_layers)}


class QatModel:
    """The fake-quantized graph of a CAN plus what it was built from, and the way back to a CAN state dict."""

    def __init__(self, model: str, from_weights: str, scheme: QatScheme, tmp: Path):
        from fastip.calibration import data as calib_data
        from fastip.calibration.quantize import candidates_for, named_model, weight_layers
        from fastip.export.onnx import export_onnx, output_specs
        from fastip.export.source import resolve
        from fastip.train.qat_graph import QdqGraph

        self.source = resolve(model, weights=from_weights)
        if self.source.family != "can":
            raise InputError(f"--qat fine-tunes CAN weights; {model} is a {self.source.family} model")
        self.settings = candidates_for("ort", [scheme.candidate])[0]
        self.fp32_path = tmp / "fp32.onnx"
        export_onnx(self.source, output_specs(self.source), self.fp32_path)
        layers = [name for name, _ in weight_layers(self.fp32_path)]
        unknown = [n for n in scheme.float_layers if n not in layers]
        if unknown:
            raise InputError(f"--qat-float-layers names {unknown}, not weight layers of {model}; "
                             f"its layers: {', '.join(layers)}")
        self.scheme, self.tmp = scheme, tmp
        images = calib_data.load_images(scheme.calib, "can")
        plan = calib_data.make_plan(self.source.input, self.source.io, "can", count=scheme.calib_count,
                                    seed=scheme.calib_seed, shape=scheme.calib_shape)
        self.feeds = list(calib_data.calibration_feeds(images, plan, self.source.input, self.source.io))
        self.calibration = {"images": list(images.names), **plan.to_dict()}
        self.graph = QdqGraph(named_model(self.fp32_path), self._quantized(self.fp32_path))
        self.fused = self.source.deploy is not self.source.module

    def _quantized(self, fp32_path: Path):
        import onnx

        from fastip.calibration.quantize import quantize_qdq
        from fastip.calibration.ranges import CalibrationMethod, collect_ranges

        ranges = collect_ranges(fp32_path, self.feeds, CalibrationMethod.MINMAX, "qat")
        out = self.tmp / "qdq.onnx"
        quantize_qdq(fp32_path, ranges, self.settings, out, float_nodes=self.scheme.float_layers)
        return onnx.load(str(out))

    def recalibrate(self) -> int:
        """Collect activation ranges of the current weights with the calibrator and take its scales."""
        from onnx import numpy_helper

        from fastip.calibration.quantize import named_model

        model = named_model(self.fp32_path)
        state = self.graph.float_state()
        for init in model.graph.initializer:
            if init.name in state:
                init.CopyFrom(numpy_helper.from_array(state[init.name].numpy(), init.name))
        path = self.tmp / "current.onnx"
        path.write_bytes(model.SerializeToString())
        return self.graph.set_activation_scales(self._quantized(path))

    def can_state(self) -> dict:
        """The current weights as a state dict of the CAN (batch-norm form when the export folded its norms)."""
        import torch

        from fastip.models.can import EPS

        state = self.graph.float_state()
        module = self.source.module
        if not self.fused:
            own = module.state_dict()
            missing = [k for k in own if k not in state and not k.endswith(("running_mean", "running_var"))]
            if missing:
                raise InputError(f"the ONNX of {self.source.name} lacks weights {missing[:3]}; it cannot be fine-tuned")
            return {k: (state[k].reshape(v.shape) if k in state else v.clone()) for k, v in own.items()}
        # fused CAN: layer i is deploy[i] = (conv with bias, leaky ReLU); a batch norm with mean 0, var 1,
        # mu 1 and lam 1 - 1/sqrt(1 + eps) is scale 1 and shift beta, so conv weight and beta take the fused values.
        out = {}
        for i, layer in enumerate(module.layers):
            width = layer.conv.out_channels
            out[f"layers.{i}.conv.weight"] = state[f"{i}.0.weight"]
            bias = state.get(f"{i}.0.bias", torch.zeros(width))
            out[f"layers.{i}.norm.beta"] = bias
            out[f"layers.{i}.norm.mu"] = torch.ones(())
            out[f"layers.{i}.norm.lam"] = 1.0 - torch.rsqrt(torch.tensor(1.0 + EPS))
            out[f"layers.{i}.norm.running_mean"] = torch.zeros(width)
            out[f"layers.{i}.norm.running_var"] = torch.ones(width)
        last = len(module.layers)
        out["last.weight"], out["last.bias"] = state[f"{last}.weight"], state[f"{last}.bias"]
        return out

    def load_can_state(self, state: dict) -> None:
        """Inverse of can_state (resume): put a CAN state dict back into the graph's float weights."""
        from fastip.models.checkpoint import load_strict

        module = type(self.source.module)(depth=len(self.source.module.layers) + 1,
                                          width=self.source.module.last.in_channels, norm=self.source.module.norm_mode)
        load_strict(module, state, "resume", self.source.name)
        deploy = module.fuse() if self.fused else module
        values = deploy.state_dict()
        import torch

        with torch.no_grad():
            for name, key in self.graph.names.items():
                if name in values:
                    self.graph.weights[key].copy_(values[name].reshape(self.graph.weights[key].shape))


def train_qat(model: str, operator: str, from_weights: str, data: str | os.PathLike, out: str | os.PathLike, *,
              config: TrainConfig | None = None, scheme: QatScheme | None = None, distill: float = DEFAULT_DISTILL,
              recalibrate_every: int = DEFAULT_RECALIBRATE, params: dict[str, Any] | None = None,
              val: str | os.PathLike = "samples", max_side: int = 320, cache_dir: str | os.PathLike | None = None,
              progress: Progress = stderr_progress) -> TrainResult:
    """Fine-tune shipped CAN weights `from_weights` through their Q/DQ graph against `operator` and the FP32 model."""
    import torch

    from fastip import operators
    from fastip.train.can import RESOLUTIONS, _pairs, held_out_metrics
    from fastip.train.data import data_set_name, load_images, random_crops
    from fastip.train.targets import TargetCache

    config = config or TrainConfig.for_family("can", lr=1e-4, lr_final=1e-6)
    config.check()
    scheme = scheme or QatScheme()
    if not 0.0 <= distill <= 1.0:
        raise InputError(f"--distill is the FP32 teacher's share of the loss, in [0, 1]; not {distill}")
    if recalibrate_every < 1:
        raise InputError(f"--recalibrate-every must be >= 1 step, not {recalibrate_every}")
    if config.threads:
        torch.set_num_threads(config.threads)
    params = dict(params or {})
    if operator in operators.list_operators():
        params = operators.get(operator).check_params(params)
    _check_operator(model, from_weights, operator, params)
    out = Path(out)
    crop = config.crop or max_side
    with tempfile.TemporaryDirectory(prefix="fastip-qat-") as tmp:
        qat = QatModel(model, from_weights, scheme, Path(tmp))
        cache = TargetCache(cache_dir)
        photos = load_images(data)
        train = _pairs(photos, operator, params, cache, max_side, RESOLUTIONS)
        held = load_images(val, held_out=True)
        held_pairs = _pairs(held, operator, params, cache, max_side, (1.0,))
        teacher = qat.source.deploy.eval()
        progress(f"QAT of {model}/{from_weights} as {scheme.candidate} ({len(scheme.float_layers)} float layers): "
                 f"{len(train)} training pairs, {len(held_pairs)} held-out; teacher share {distill}")
        calibrated = [-1]

        def batch(step: int):
            if step // recalibrate_every != calibrated[0]:  # also right after a resume
                calibrated[0] = step // recalibrate_every
                if step:
                    qat.recalibrate()
            rng = np.random.default_rng((config.seed, step))
            x, y = random_crops(train, config.batch, crop, rng)
            x = torch.from_numpy(x)
            with torch.no_grad():
                t = teacher(x)
            return x, (torch.from_numpy(y), t)

        def loss(output, targets):
            y, t = targets
            mse = torch.nn.functional.mse_loss
            return (1.0 - distill) * mse(output, y) + distill * mse(output, t)

        task = Task(batch, loss, lambda net: held_out_metrics(net, held_pairs), lambda net: qat.can_state(),
                    lambda net, state: qat.load_can_state(state))
        steps, seconds, last_loss, metrics = fit(qat.graph, task, out, config, progress)
        qat.recalibrate()
        metrics = {f"qat_{k}": v for k, v in held_out_metrics(qat.graph.eval(), held_pairs).items()}
        qat.graph.fake_quant = False
        metrics.update(held_out_metrics(qat.graph, held_pairs))
        norm = "batch" if qat.fused else qat.source.module.norm_mode
    result = TrainResult(out=out, model=model, steps=steps, seconds=round(seconds, 1), loss=last_loss, metrics=metrics,
                         evaluated_on=tuple(i.name for i in held),
                         params={"operator": operator, "operator_params": params, "norm": norm,
                                 "data": [i.name for i in photos], "data_set": data_set_name(data), "max_side": max_side,
                                 "resolutions": list(RESOLUTIONS), "crop": crop, "batch": config.batch,
                                 "lr": config.lr, "lr_final": config.lr_final, "seed": config.seed,
                                 "threads": config.threads,
                                 "qat": {"from_weights": from_weights, **scheme.to_dict(), "distill": distill,
                                         "recalibrate_every": recalibrate_every, "calibration": qat.calibration}})
    result.write_json(out.with_name(f"{out.stem}.json"))
    return result


def _check_operator(model: str, from_weights: str, operator: str, params: dict) -> None:
    """A shipped start weight must have been trained on the same operator (QAT does not change the task)."""
    from fastip import models

    shipped = models.get(model).weights.get(from_weights)
    if shipped is None:
        return
    trained = dict(shipped.params).get("operator")
    if trained is not None and trained != operator:
        raise InputError(f"{model}/{from_weights} approximates {trained}, not {operator}; "
                         f"pass --operator {trained} or another --from-weights")
