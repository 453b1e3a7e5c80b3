"""Export: torch -> validated ONNX, optionally OpenVINO IR, written as an atomic bundle."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Callable

from fastip.bundle import Bundle, BundleWriter
from fastip.errors import InputError
from fastip.export.onnx import MIN_OPSET, export_onnx, onnx_metadata, output_specs
from fastip.export.source import ModelSource, resolve
from fastip.export.validate import RTOL, validate, validation_feeds
from fastip.manifest import Manifest
from fastip.progress import heartbeat
from fastip.versions import tool_versions

TARGETS = ("onnx", "ort", "openvino", "trt")
PRECISIONS = ("fp32", "fp16", "int8")

__all__ = ["TARGETS", "export_model", "resolve"]


def stderr_progress(message: str, _start=[time.perf_counter()]) -> None:  # noqa: B006 - shared clock on purpose
    print(f"[{time.perf_counter() - _start[0]:6.1f}s] {message}", file=sys.stderr, flush=True)


def export_model(model: str | ModelSource, out: str | os.PathLike, *, target: str = "onnx", precision: str = "fp32",
                 weights: str | None = None, norm: str | None = None, norm_stats: int | None = None,
                 input_shape: str | None = None, opset: int = MIN_OPSET, rtol: float = RTOL, overwrite: bool = True,
                 device: str | None = None,
                 progress: Callable[[str], None] = lambda _: None, **quant_options) -> Bundle:
    """Export a registry model (or `pkg.module:fn`) to a validated bundle at `out`; nothing is left on failure.

    `device` (target openvino): the OpenVINO device (CPU, GPU, AUTO, ...) the IR is compiled and validated on.
    """
    from fastip.runtimes import check_device

    if target not in TARGETS:
        raise InputError(f"unknown target {target!r}; choose from {', '.join(TARGETS)}")
    if precision not in PRECISIONS:
        raise InputError(f"unknown precision {precision!r}; choose from {', '.join(PRECISIONS)}")
    check_device(device, "openvino" if target == "openvino" else target, fix="use --target openvino")
    if quant_options and precision == "fp32" and target != "trt":
        raise InputError(f"options {sorted(quant_options)} apply to --precision int8/fp16 or --target trt only")
    source = model if isinstance(model, ModelSource) else None
    if source is None:
        _refuse_qat_weights(model, weights)
        progress(f"building {model}")
        source = resolve(model, weights=weights, norm=norm, norm_stats=norm_stats, input_shape=input_shape)
    outputs = output_specs(source)
    with BundleWriter(out, overwrite=overwrite) as writer:
        root = writer.dir
        metadata = onnx_metadata(source, [source.input], outputs)
        if source.onnx_model is not None:
            from fastip.export.onnx_import import write_imported

            progress(f"writing the imported {source.record.get('file')} with fastip's metadata")
            write_imported(source.onnx_model, root / "model.onnx", metadata)
            artifacts = {"onnx": "model.onnx"}
        else:
            from fastip.models.checkpoint import save_state_dict

            artifacts = {"onnx": "model.onnx", "torch": "weights.safetensors"}
            progress(f"exporting {source.name} to ONNX (opset {opset})")
            with heartbeat(progress, "exporting to ONNX"):
                export_onnx(source, outputs, root / "model.onnx", opset=opset, metadata=metadata)
            save_state_dict(source.module.state_dict(), root / "weights.safetensors")
        if target == "openvino":
            from fastip.export.openvino import convert_to_ir

            progress("converting to OpenVINO IR")
            with heartbeat(progress, "converting to OpenVINO IR"):
                convert_to_ir(root / "model.onnx", root / "model.xml")
            artifacts["openvino"] = "model.xml"
        with heartbeat(progress, "validating"):
            records = _validate_fp32(source, outputs, root, artifacts, rtol, progress, device)
        manifest = Manifest(model=source.name, family=source.family, io=source.io, inputs=[source.input],
                            outputs=outputs, artifacts=artifacts, source=source.record, validation=records,
                            versions=tool_versions(), extra=_receptive_field(source),
                            untrained=bool(source.record.get("untrained")))
        if precision != "fp32" or target == "trt":
            from fastip.calibration.targets import add_precision_artifacts

            with heartbeat(progress, f"building the {precision} artifacts"):
                manifest = add_precision_artifacts(source, manifest, root, target=target, precision=precision,
                                                   device=device, progress=progress, **quant_options)
        bundle = writer.commit(manifest)
    progress(f"wrote {Path(out)} ({', '.join(bundle.manifest.artifacts.values())})")
    return bundle


def _receptive_field(source: ModelSource) -> dict:
    """Record how far an output pixel sees, so tiled inference needs no PyTorch; absent when not derivable."""
    from fastip.errors import FastipError
    from fastip.tiling import receptive_field

    if source.module is None:  # an imported ONNX: no layers to derive it from
        return {}
    try:
        return {"receptive_field": receptive_field(source.module).to_dict()}
    except FastipError:  # per-image normalisation or layers the derivation does not know
        return {}


def _validate_fp32(source: ModelSource, outputs, root: Path, artifacts: dict[str, str], rtol: float,
                   progress: Callable[[str], None], device: str | None = None) -> list:
    from fastip.runtimes.ort import OrtSession
    from fastip.runtimes.torch import TorchSession

    inputs = [source.input]
    reference = source.reference if source.deploy is None else TorchSession(source.deploy, inputs, outputs)
    candidates = {("onnx", "ort"): OrtSession(root / "model.onnx", inputs, outputs)}
    if "openvino" in artifacts:
        from fastip.runtimes.openvino import OpenVinoSession

        on = "openvino" if device in (None, "CPU") else f"openvino:{device}"
        candidates[("openvino", on)] = OpenVinoSession(root / artifacts["openvino"], inputs, outputs,
                                                       device=device or "CPU")
    try:
        feeds = validation_feeds(source.input, source.io, source.family)
        return validate(reference.run, {k: s.run for k, s in candidates.items()}, feeds, source.input.name,
                        rtol=rtol, progress=progress)
    finally:
        for session in candidates.values():
            session.close()
        if source.deploy is not None:  # an imported ONNX keeps its reference for the next export
            reference.close()


def _refuse_qat_weights(model: str, weights: str | None) -> None:
    """QAT weights are fit to their INT8 graph (worse than their start weights in float): never exported on their own."""
    from fastip import models

    if ":" in model or weights is None or model not in models.list_models():
        return
    shipped = models.get(model).weights.get(weights)
    qat = dict(shipped.params).get("qat") if shipped is not None else None
    if isinstance(qat, dict):
        start = qat.get("from_weights")
        raise InputError(f"{model} weights {weights!r} are QAT weights, tried as a gate candidate when exporting "
                         f"--weights {start} --precision int8; export that instead")
