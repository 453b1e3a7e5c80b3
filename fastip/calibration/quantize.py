"""Quantized and half-precision artifacts: Q/DQ ONNX from cached ranges, NNCF OpenVINO IR, FP16 ONNX."""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import logging
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from fastip.calibration.ranges import TensorRanges
from fastip.errors import ExportError, require

WEIGHT_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")
# operators that rebuild resolution; quantizing them (or the layer that feeds them) hurts most
UPSAMPLING_OPS = ("DepthToSpace", "ConvTranspose", "Resize", "Upsample")
ACTIVATION_OPS = ("Relu", "LeakyRelu", "PRelu", "Clip", "Sigmoid", "HardSigmoid", "Tanh")


class ActivationType(str, enum.Enum):
    """8-bit activation encodings; TensorRT takes symmetric int8 only."""

    UINT8 = "uint8"  # asymmetric, zero point anywhere
    INT8_SYMMETRIC = "int8-symmetric"  # zero point 0


class Engine(str, enum.Enum):
    """Who inserts the quantization: ONNX Runtime's Q/DQ quantizer, or NNCF on the OpenVINO IR."""

    ORT_QDQ = "ort-qdq"
    NNCF = "nncf"


@dataclass(frozen=True)
class QuantSettings:
    """One quantization candidate the gate tries."""

    name: str
    engine: Engine = Engine.ORT_QDQ
    activations: ActivationType = ActivationType.UINT8
    per_channel: bool = True
    reduce_range: bool = False  # 7-bit weights: avoids u8*s8 pair-sum overflow on CPUs without VNNI
    keep_ends: bool = False  # first and last weight layers and upsampling ops stay in float
    first_layer_7bit: bool = False  # 7-bit weights where the image enters (dense full-range codes saturate non-VNNI kernels)

    def to_dict(self) -> dict:
        return {k: (v.value if isinstance(v, enum.Enum) else v) for k, v in asdict(self).items()}

    def without_saturation(self) -> "QuantSettings":
        """A twin for kernels whose 8-bit pair sums saturate: 7-bit weights in the layers the image enters.

        That is where activation codes are dense and near 255; NNCF's default overflow fix (first layer) does the same.
        Candidates named reduce-range keep 7-bit weights everywhere, which costs about 6 dB on CAN.
        """
        if self.engine is Engine.NNCF or self.reduce_range or self.first_layer_7bit:
            return self
        return dataclasses.replace(self, name=f"{self.name}-7bit-input", first_layer_7bit=True)


CANDIDATES = (
    QuantSettings("u8-per-channel"),
    QuantSettings("u8-per-channel-reduce-range", reduce_range=True),
    QuantSettings("u8-per-channel-keep-ends", keep_ends=True),
    QuantSettings("u8-per-channel-reduce-range-keep-ends", reduce_range=True, keep_ends=True),
    QuantSettings("s8-symmetric-per-channel", activations=ActivationType.INT8_SYMMETRIC),
    QuantSettings("s8-symmetric-per-channel-keep-ends", activations=ActivationType.INT8_SYMMETRIC, keep_ends=True),
    QuantSettings("u8-per-tensor", per_channel=False),
    QuantSettings("nncf-mixed", engine=Engine.NNCF),
    QuantSettings("nncf-mixed-keep-ends", engine=Engine.NNCF, keep_ends=True),
)


def candidates_for(target: str, names: Iterable[str] | None = None) -> list[QuantSettings]:
    """The candidates that fit a target (TensorRT: symmetric int8 only; NNCF: OpenVINO only), optionally by name."""
    chosen = [c for c in CANDIDATES if c.engine is Engine.ORT_QDQ or target == "openvino"]
    if target == "trt":
        chosen = [c for c in chosen if c.activations is ActivationType.INT8_SYMMETRIC]
    if names is not None:
        wanted = list(names)
        known = {c.name: c for c in chosen}
        unknown = [n for n in wanted if n not in known]
        if unknown:
            from fastip.errors import InputError

            raise InputError(f"unknown quantization candidates {unknown} for target {target}; choose from {', '.join(known)}")
        chosen = [known[n] for n in wanted]
    return chosen


def named_model(onnx_path: Path):
    """The ONNX model with every node named (the quantizer's exclusion lists go by name)."""
    import onnx

    model = onnx.load(str(onnx_path))
    seen = set()
    for index, node in enumerate(model.graph.node):
        if not node.name or node.name in seen:
            node.name = f"{node.op_type}_{index}"
        seen.add(node.name)
    return model


def with_activations(model, names: Iterable[str]) -> list[str]:
    """The named nodes plus the activation each float weight layer alone feeds.

    Left between Q/DQ pairs, a float Conv -> Q is re-quantized by ONNX Runtime's optimiser (it becomes a
    QLinearConv with weights of its own choosing), so a layer kept float takes its activation with it.
    """
    wanted = set(names)
    consumers: dict[str, list] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    for node in model.graph.node:
        if node.name in wanted and node.op_type in WEIGHT_OPS and node.output:
            after = consumers.get(node.output[0], [])
            if len(after) == 1 and after[0].op_type in ACTIVATION_OPS:
                wanted.add(after[0].name)
    return sorted(wanted)


def excluded_nodes(model) -> list[str]:
    """Names of the first and last weight layers and every upsampling node."""
    weighted = [n.name for n in model.graph.node if n.op_type in WEIGHT_OPS]
    ends = {weighted[0], weighted[-1]} if weighted else set()
    return sorted(ends | {n.name for n in model.graph.node if n.op_type in UPSAMPLING_OPS})


def input_layers(model) -> list:
    """Weight nodes the graph input reaches without passing another weight node."""
    consumers: dict[str, list] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    initializers = {i.name for i in model.graph.initializer}
    frontier = [i.name for i in model.graph.input if i.name not in initializers]
    seen, found = set(frontier), set()
    while frontier:
        for node in consumers.get(frontier.pop(), []):
            if node.op_type in WEIGHT_OPS:
                found.add(node.output[0])
                continue
            for out in node.output:
                if out not in seen:
                    seen.add(out)
                    frontier.append(out)
    return [node for node in model.graph.node if node.output and node.output[0] in found]


def weight_layers(onnx_path: Path) -> list[tuple[str, str]]:
    """(node name, op type) of every weight layer, in graph order: what the mixed-precision search may keep float."""
    return [(n.name, n.op_type) for n in named_model(onnx_path).graph.node if n.op_type in WEIGHT_OPS]


def quantize_qdq(onnx_path: Path, ranges: TensorRanges, settings: QuantSettings, out: Path,
                 float_nodes: Iterable[str] = ()) -> list[str]:
    """Write an explicitly quantized Q/DQ ONNX (int8 weights, 8-bit activations) from cached ranges; returns excluded nodes."""
    require("onnxruntime", "ort", "INT8 quantization")
    import onnx
    from onnxruntime.quantization import CalibrationMethod as OrtMethod, QuantType
    from onnxruntime.quantization.calibrate import TensorData, TensorsData
    from onnxruntime.quantization.qdq_quantizer import QDQQuantizer

    model = named_model(onnx_path)
    model = onnx.shape_inference.infer_shapes(model)
    exclude = with_activations(model, set(excluded_nodes(model) if settings.keep_ends else []) | set(float_nodes))
    data = {name: TensorData(lowest=np.float32(lo), highest=np.float32(hi)) for name, lo, hi in ranges.ranges}
    symmetric = settings.activations is ActivationType.INT8_SYMMETRIC
    activation_type = QuantType.QInt8 if symmetric else QuantType.QUInt8
    options = {"ActivationSymmetric": symmetric, "WeightSymmetric": True}
    if settings.first_layer_7bit and not settings.reduce_range:
        inits = {i.name for i in model.graph.initializer}
        options["TensorQuantOverrides"] = {
            n.input[1]: [{"reduce_range": True, **({"axis": int(n.op_type == "ConvTranspose")} if settings.per_channel else {})}]
            for n in input_layers(model) if len(n.input) > 1 and n.input[1] in inits and n.name not in exclude}
    ops = sorted({n.op_type for n in model.graph.node} - {"Identity"})
    logging.getLogger().setLevel(max(logging.getLogger().level, logging.ERROR))  # the quantizer's advice is noise here
    try:
        quantizer = QDQQuantizer(model, settings.per_channel, settings.reduce_range, QuantType.QInt8, activation_type,
                                 TensorsData(OrtMethod.MinMax, data), [], exclude, ops, options)
        quantizer.quantize_model()
        quantizer.model.save_model_to_file(str(out), False)
    except (RuntimeError, ValueError, KeyError) as exc:
        raise ExportError(f"Q/DQ quantization ({settings.name}) of {onnx_path} failed: {exc}") from exc
    return exclude


def quantize_nncf(ir_path: Path, feeds: list[dict[str, np.ndarray]], settings: QuantSettings, out: Path) -> list[str]:
    """Quantize an OpenVINO IR with NNCF's post-training quantization; returns ignored node types."""
    ov = require("openvino", "openvino", "OpenVINO INT8")
    nncf = require("nncf", "openvino", "NNCF quantization")
    logging.getLogger("nncf").setLevel(logging.ERROR)
    model = ov.Core().read_model(str(ir_path))
    ignored = None
    types: list[str] = []
    if settings.keep_ends:
        ops = [op for op in model.get_ordered_ops() if op.get_type_name() in ("Convolution", "GroupConvolution",
                                                                               "ConvolutionBackpropData", "MatMul")]
        names = [ops[0].get_friendly_name(), ops[-1].get_friendly_name()] if ops else []
        types = ["DepthToSpace", "ConvolutionBackpropData", "Interpolate"]
        present = {op.get_type_name() for op in model.get_ordered_ops()}
        ignored = nncf.IgnoredScope(names=names, types=[t for t in types if t in present], validate=False)
        types = names + [t for t in types if t in present]
    try:
        # NNCF draws progress bars on stdout; fastip keeps stdout for results (JSON, paths) and sends them to stderr.
        with contextlib.redirect_stdout(sys.stderr):
            quantized = nncf.quantize(model, nncf.Dataset(feeds), subset_size=len(feeds),
                                      preset=nncf.QuantizationPreset.MIXED, ignored_scope=ignored)
        ov.save_model(quantized, str(out), compress_to_fp16=False)
    except Exception as exc:  # NNCF raises many internal types; any failure disqualifies this candidate
        raise ExportError(f"NNCF quantization ({settings.name}) of {ir_path} failed: {exc}") from exc
    return types


def convert_fp16(onnx_path: Path, out: Path) -> None:
    """Write an FP16 copy of an ONNX model whose inputs and outputs stay FP32."""
    require("onnxruntime", "ort", "FP16 conversion")
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = onnx.load(str(onnx_path))
    try:
        half = convert_float_to_float16(model, keep_io_types=True, disable_shape_infer=False)
        _sort_topologically(half.graph)
        onnx.checker.check_model(half, full_check=False)
    except Exception as exc:  # the converter and checker raise assorted types
        raise ExportError(f"FP16 conversion of {onnx_path} failed: {exc}") from exc
    onnx.save(half, str(out))


def _sort_topologically(graph) -> None:
    """Reorder nodes so each comes after its producers (the converter appends its input casts at the end)."""
    available = {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        ready = [n for n in pending if all(name in available for name in n.input)]
        if not ready:
            raise ExportError("the FP16 graph has a cycle or a dangling input")
        for node in ready:
            ordered.append(node)
            available.update(node.output)
        pending = [n for n in pending if all(n is not r for r in ready)]
    copies = [type(n)() for n in ordered]
    for copy, node in zip(copies, ordered):
        copy.CopyFrom(node)
    del graph.node[:]
    graph.node.extend(copies)
