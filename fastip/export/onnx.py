"""torch -> ONNX: dynamic batch/height/width, opset >= 17, full checker, shape inference, metadata."""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path

from fastip.errors import ExportError
from fastip.export.source import ModelSource
from fastip.spec import TensorSpec

MIN_OPSET = 17
PROBE_SIZE = (40, 56)


def output_specs(source: ModelSource) -> list[TensorSpec]:
    """Output names and shapes, found by one probe forward (spatial dims scale with the input)."""
    if source.outputs is not None:  # an imported ONNX: probed when it was read
        return source.outputs
    import torch

    names = list(getattr(source.deploy, "output_names", None) or getattr(source.module, "output_names", None) or [])
    shape = [d if isinstance(d, int) else p for d, p in zip(source.input.shape, (1, 3, *PROBE_SIZE))]
    with torch.inference_mode():
        outs = source.deploy(torch.zeros(shape))
    outs = outs if isinstance(outs, (tuple, list)) else (outs,)
    if not names:
        names = ["output"] if len(outs) == 1 else [f"output{i}" for i in range(len(outs))]
    if len(names) != len(outs):
        raise ExportError(f"model declares outputs {names} but returns {len(outs)} tensors")
    return spatial_output_specs(source.input, shape, names, [o.numpy() for o in outs])


def spatial_output_specs(input_spec: TensorSpec, probe: list[int], names: list[str], outs: list) -> list[TensorSpec]:
    """Output specs from one probe run: batch is N, spatial dims scale the input's dynamic H and W by an integer."""
    specs = []
    for name, out in zip(names, outs):
        lead = input_spec.shape[0] if input_spec.shape and isinstance(input_spec.shape[0], int) else "N"
        dims: list[int | str] = [lead, *out.shape[1:]]
        if out.ndim == 4 and len(input_spec.shape) == 4:
            for axis in (2, 3):
                in_dim = input_spec.shape[axis]
                if isinstance(in_dim, str):
                    ratio = out.shape[axis] / probe[axis]
                    if ratio != int(ratio):
                        raise ExportError(f"output {name} axis {axis} is {out.shape[axis]} for input {probe[axis]}: not an integer scale")
                    dims[axis] = in_dim if ratio == 1 else f"{in_dim}*{int(ratio)}"
        specs.append(TensorSpec(name, tuple(dims), layout="NCHW" if out.ndim == 4 else "N..."))
    return specs


def export_onnx(source: ModelSource, outputs: list[TensorSpec], path: Path, *, opset: int = MIN_OPSET,
                metadata: dict[str, str] | None = None) -> None:
    """Export the deploy form to a single validated ONNX file at `path`."""
    import onnx
    import torch

    if opset < MIN_OPSET:
        raise ExportError(f"opset {opset} is too old; fastip exports opset {MIN_OPSET} or newer")
    spec = source.input
    probe = [d if isinstance(d, int) else p for d, p in zip(spec.shape, (1, 3, *PROBE_SIZE))]
    dynamic = {spec.name: {i: d for i, d in enumerate(spec.shape) if isinstance(d, str)}}
    for out in outputs:
        dynamic[out.name] = {i: _axis_name(d) for i, d in enumerate(out.shape) if isinstance(d, str)}
    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(source.deploy, (torch.zeros(probe),), buffer, dynamo=False, opset_version=opset,
                              input_names=[spec.name], output_names=[o.name for o in outputs],
                              dynamic_axes=dynamic, do_constant_folding=True)
    except Exception as exc:  # the exporter raises many types for unsupported ops
        raise ExportError(f"torch.onnx.export failed for {source.name}: {exc}") from exc
    model = onnx.load_from_string(buffer.getvalue())
    model.producer_name = "fastip"
    model.doc_string = f"{source.name} ({source.family}) exported by fastip"
    for key, value in (metadata or {}).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    try:
        onnx.checker.check_model(model, full_check=True)
        model = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    except Exception as exc:  # onnx raises ValidationError / InferenceError
        raise ExportError(f"exported ONNX for {source.name} fails the ONNX checker: {exc}") from exc
    if model.ByteSize() > 1_800_000_000:
        raise ExportError(f"{source.name} is too large for a single-file ONNX; external data is not supported yet")
    path.write_bytes(model.SerializeToString())


def _axis_name(dim: str) -> str:
    return dim.replace("*", "x")


def onnx_metadata(source: ModelSource, inputs: list[TensorSpec], outputs: list[TensorSpec]) -> dict[str, str]:
    """What ONNX metadata_props carry, so a host holding only model.onnx still knows the model."""
    return {
        "fastip.model": source.name,
        "fastip.family": source.family,
        "fastip.io": json.dumps(source.io.to_dict(), sort_keys=True),
        "fastip.inputs": json.dumps([t.to_dict() for t in inputs]),
        "fastip.outputs": json.dumps([t.to_dict() for t in outputs]),
    }
