"""An existing ONNX file as an export source: checked, given an image I/O spec, NCHW inside, validated against itself.

The bundle's `model.onnx` is the user's graph with fastip's metadata (and Transposes at the edges when the
file is NHWC); the reference every artifact is validated against is the original file on ONNX Runtime.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np

from fastip.errors import ExportError, InputError, require
from fastip.spec import ImageIO, TensorSpec

MIN_IMPORT_OPSET = 13  # per-channel Q/DQ (INT8) needs 13; older graphs are upgraded with onnx.version_converter
FAMILIES = ("can", "sr", "face", "custom")
LAYOUTS = ("NCHW", "NHWC")
_UPGRADE = ("python -c \"import onnx; from onnx import version_converter as v; "
            "onnx.save(v.convert_version(onnx.load('IN.onnx'), 17), 'OUT.onnx')\"")


@dataclass(frozen=True)
class ImportOptions:
    """How the ONNX file's image input and output are to be read (`fastip-export FILE.onnx --family ...` flags)."""

    family: str
    layout: str = "NCHW"
    value_range: tuple[float, float] | None = None  # default (0, 1); BlazeFace (-1, 1)
    colour_order: str = "RGB"
    scale: int | None = None  # SR: checked against the graph (derived from it when absent)
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)

    def check(self) -> None:
        if self.family not in FAMILIES:
            raise InputError(f"--family must be one of {', '.join(FAMILIES)}, not {self.family!r}")
        if self.layout not in LAYOUTS:
            raise InputError(f"--layout must be NCHW or NHWC, not {self.layout!r}")
        if self.scale is not None and self.scale < 1:
            raise InputError(f"--scale must be a positive integer, not {self.scale}")


def parse_numbers(text: str | None, count: int, flag: str) -> tuple[float, ...] | None:
    """'0,255' -> (0.0, 255.0); None stays None."""
    if text is None:
        return None
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != count:
        raise InputError(f"{flag} takes {count} comma-separated numbers, e.g. {','.join(['0'] * (count - 1) + ['1'])}; got {text!r}")
    return values


def is_onnx_path(model: str) -> bool:
    """Whether an export argument names an ONNX file rather than a registry model or `module:function`."""
    return str(model).lower().endswith(".onnx")


def import_onnx(path: str | os.PathLike, options: ImportOptions):
    """A ModelSource for an existing ONNX file; one InputError/ExportError line for anything fastip cannot take."""
    from fastip.export.source import ModelSource

    options.check()
    path = Path(path)
    if not path.is_file():
        raise InputError(f"ONNX file not found: {path}")
    onnx = require("onnx", "ort", "importing an ONNX model")
    original = path.read_bytes()
    try:
        model = onnx.load_from_string(original)
    except Exception as exc:  # protobuf DecodeError and friends
        raise InputError(f"{path} is not a readable ONNX model: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from exc
    _check_model(model, path)
    graph_input = _image_input(model, path, options.layout)
    prepared = _to_nchw(model, graph_input.name) if options.layout == "NHWC" else model
    input_spec = TensorSpec(graph_input.name, _nchw_dims(prepared, graph_input.name))
    reference = _OriginalOnnx(original, options.layout, path)
    try:
        outputs = _probe_outputs(reference, input_spec, path)
    except Exception:
        reference.close()
        raise
    io = _image_io(options, input_spec, outputs, path)
    if io.input_size is not None:
        input_spec = TensorSpec(input_spec.name, (input_spec.shape[0], 3, *io.input_size))
    record = {"kind": "onnx", "file": path.name, "sha256": hashlib.sha256(original).hexdigest(), "weights": None,
              "layout": options.layout, "opset": _opset(model)}
    return ModelSource(path.stem, options.family, io, None, None, input_spec, record,
                       onnx_model=prepared, outputs=outputs, reference=reference)


def _opset(model) -> int:
    return max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)


def _check_model(model, path: Path) -> None:
    import onnx

    opset = _opset(model)
    if opset < MIN_IMPORT_OPSET:
        raise InputError(f"{path.name} uses ONNX opset {opset}, too old: fastip imports opset {MIN_IMPORT_OPSET} or newer; "
                         f"upgrade it with {_UPGRADE}")
    if any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer):
        raise InputError(f"{path.name} keeps its weights in external data files; save it as one file "
                         "(onnx.save(model, path, save_as_external_data=False)) and import that")
    unknown = sorted({n.op_type for n in model.graph.node if n.domain in ("", "ai.onnx")
                      and not onnx.defs.has(n.op_type, "")})
    foreign = sorted({f"{n.domain}:{n.op_type}" for n in model.graph.node if n.domain not in ("", "ai.onnx")})
    if unknown:
        raise InputError(f"{path.name} uses operators that are not ONNX operators: {', '.join(unknown)}; "
                         "export it again with standard operators")
    try:
        onnx.checker.check_model(model)
    except Exception as exc:  # ValidationError
        raise InputError(f"{path.name} fails the ONNX checker: {str(exc).splitlines()[0]}") from exc
    if foreign:
        try:
            _ort_session(model.SerializeToString())
        except Exception as exc:  # onnxruntime's NotImplemented / InvalidGraph
            raise InputError(f"{path.name} uses operators ONNX Runtime does not know: {', '.join(foreign)} "
                             f"({str(exc).splitlines()[0][:160]})") from exc


def _image_input(model, path: Path, layout: str):
    """The one float32 rank-4 graph input with 3 channels on the layout's channel axis."""
    initializers = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    if len(inputs) != 1:
        raise InputError(f"{path.name} has {len(inputs)} inputs ({', '.join(i.name for i in inputs)}); "
                         "fastip imports image models with exactly one image input")
    graph_input = inputs[0]
    tensor = graph_input.type.tensor_type
    dims = [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim]
    if tensor.elem_type != 1 or len(dims) != 4:
        raise InputError(f"{path.name}'s input {graph_input.name!r} is not an image: expected a float32 "
                         f"{layout} tensor of rank 4, got rank {len(dims)} of ONNX type {tensor.elem_type}")
    channels = dims[1] if layout == "NCHW" else dims[3]
    if channels != 3:
        other = "NHWC" if layout == "NCHW" else "NCHW"
        hint = f"; is it {other}? pass --layout {other}" if (dims[3] if layout == "NCHW" else dims[1]) == 3 else ""
        raise InputError(f"{path.name}'s input {graph_input.name!r} has {channels} channels on the {layout} channel "
                         f"axis; fastip imports 3-channel image models{hint}")
    return graph_input


def _to_nchw(model, input_name: str):
    """A copy of an NHWC graph taking and giving NCHW tensors: Transposes at the input and at rank-4 outputs."""
    import onnx
    from onnx import helper

    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    inner_in = f"{input_name}__nhwc"
    outputs = [o for o in graph.output if len(o.type.tensor_type.shape.dim) == 4]
    renames = {o.name: f"{o.name}__nhwc" for o in outputs}
    for node in graph.node:
        node.input[:] = [inner_in if n == input_name else renames.get(n, n) for n in node.input]
        node.output[:] = [renames.get(n, n) for n in node.output]
    graph.node.insert(0, helper.make_node("Transpose", [input_name], [inner_in], perm=[0, 2, 3, 1],
                                          name="fastip_nchw_to_nhwc"))
    for out in outputs:
        graph.node.append(helper.make_node("Transpose", [renames[out.name]], [out.name], perm=[0, 3, 1, 2],
                                           name=f"fastip_{out.name}_to_nchw"))
        _permute_dims(out, (0, 3, 1, 2))
    graph_in = next(i for i in graph.input if i.name == input_name)
    _permute_dims(graph_in, (0, 3, 1, 2))
    return model


def _permute_dims(value_info, perm: tuple[int, ...]) -> None:
    dims = [type(d)() for d in value_info.type.tensor_type.shape.dim]
    old = list(value_info.type.tensor_type.shape.dim)
    for i, p in enumerate(perm):
        dims[i].CopyFrom(old[p])
    del value_info.type.tensor_type.shape.dim[:]
    value_info.type.tensor_type.shape.dim.extend(dims)


def _nchw_dims(model, input_name: str) -> tuple[int | str, ...]:
    """The NCHW input shape with dynamic dims named N, H, W (as fastip's own exports name them)."""
    graph_input = next(i for i in model.graph.input if i.name == input_name)
    dims = []
    for axis, d in enumerate(graph_input.type.tensor_type.shape.dim):
        if d.HasField("dim_value") and d.dim_value > 0:
            dims.append(d.dim_value)
        else:
            dims.append("NCHW"[axis])
            d.dim_param = "NCHW"[axis]
    return tuple(dims)


def _ort_session(data: bytes):
    ort = require("onnxruntime", "ort", "importing an ONNX model")
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


class _OriginalOnnx:
    """The user's own file on ONNX Runtime, fed and read in NCHW (transposed here when the file is NHWC)."""

    def __init__(self, data: bytes, layout: str, path: Path):
        try:
            self._session = _ort_session(data)
        except Exception as exc:  # onnxruntime's Fail / InvalidGraph / NotImplemented
            raise InputError(f"ONNX Runtime cannot load {path.name}: {str(exc).splitlines()[0][:200]}") from exc
        self.nhwc = layout == "NHWC"
        self.input = self._session.get_inputs()[0].name
        self.names = [o.name for o in self._session.get_outputs()]

    def run(self, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        x = next(iter(feed.values()))
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1)) if self.nhwc else x
        outs = self._session.run(self.names, {self.input: x})
        return {n: (np.ascontiguousarray(o.transpose(0, 3, 1, 2)) if self.nhwc and o.ndim == 4 else o)
                for n, o in zip(self.names, outs)}

    def close(self) -> None:
        self._session = None


def _probe_outputs(reference: _OriginalOnnx, input_spec: TensorSpec, path: Path) -> list[TensorSpec]:
    """Output specs from one run of the original at a probe size; spatial dims named from the input's."""
    from fastip.export.onnx import PROBE_SIZE, spatial_output_specs

    shape = [d if isinstance(d, int) else p for d, p in zip(input_spec.shape, (1, 3, *PROBE_SIZE))]
    try:
        outs = reference.run({input_spec.name: np.zeros(shape, np.float32)})
    except Exception as exc:  # onnxruntime raises for shapes the graph cannot take
        raise ExportError(f"{path.name} does not run on a {shape[2]}x{shape[3]} image in ONNX Runtime: "
                          f"{str(exc).splitlines()[0][:200]}") from exc
    return spatial_output_specs(input_spec, shape, list(outs), list(outs.values()))


def _image_io(options: ImportOptions, input_spec: TensorSpec, outputs: list[TensorSpec], path: Path) -> ImageIO:
    """The pre/post-processing spec from the flags, checked against what the graph does."""
    family = options.family
    value_range = tuple(options.value_range) if options.value_range else None
    if family == "face":
        return _face_io(input_spec, path, value_range)
    image_outs = [o for o in outputs if o.rank == 4 and o.shape[1] == 3]
    if family in ("can", "sr") and (len(outputs) != 1 or not image_outs):
        raise InputError(f"--family {family} needs one 3-channel image output; {path.name} gives "
                         f"{', '.join(f'{o.name} {list(o.shape)}' for o in outputs)}; use --family custom")
    scale = _scale(image_outs[0], input_spec) if image_outs else 1
    if family == "can" and scale != 1:
        raise InputError(f"{path.name} changes the image size by {scale}x; a CAN keeps it: use --family sr")
    if family == "sr" and options.scale is not None and options.scale != scale:
        raise InputError(f"--scale {options.scale} does not match {path.name}, which upscales by {scale}")
    io = ImageIO(colour_order=options.colour_order, value_range=value_range or (0.0, 1.0), mean=tuple(options.mean),
                 std=tuple(options.std), scale_factor=scale if family != "custom" or image_outs else 1)
    try:
        io.check()
    except Exception as exc:  # BundleError: describe it as bad flags
        raise InputError(f"bad I/O flags: {exc}") from exc
    return io


def _scale(output: TensorSpec, input_spec: TensorSpec) -> int:
    dim = output.shape[2]
    if isinstance(dim, int):
        h = input_spec.shape[2]
        return dim // h if isinstance(h, int) and h and dim % h == 0 else 1
    return int(dim.split("*")[1]) if "*" in dim else 1


def _face_io(input_spec: TensorSpec, path: Path, value_range) -> ImageIO:
    """A BlazeFace-style detector: anchors and decoding from the registered BlazeFace of the same input size."""
    import dataclasses

    from fastip import models

    size = tuple(input_spec.shape[2:4])
    for name in models.list_models(family="face"):
        io = models.get(name).io
        if io.input_size == size:
            return dataclasses.replace(io, value_range=value_range or io.value_range)
    sizes = sorted({models.get(n).io.input_size for n in models.list_models(family="face")})
    raise InputError(f"--family face takes a BlazeFace-style detector with a fixed input of "
                     f"{' or '.join(f'{h}x{w}' for h, w in sizes)}; {path.name} takes {size[0]}x{size[1]}")


def write_imported(model, path: Path, metadata: dict[str, str]) -> None:
    """Write the prepared graph with fastip's metadata_props (replacing any earlier fastip.* entries)."""
    import onnx

    model = onnx.ModelProto.FromString(model.SerializeToString())
    kept = [(p.key, p.value) for p in model.metadata_props if not p.key.startswith("fastip.")]
    del model.metadata_props[:]
    for key, value in [*kept, *metadata.items()]:
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    try:
        onnx.checker.check_model(model)
    except Exception as exc:  # ValidationError
        raise ExportError(f"the prepared ONNX fails the ONNX checker: {str(exc).splitlines()[0]}") from exc
    path.write_bytes(model.SerializeToString())
