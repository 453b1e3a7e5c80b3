"""A Q/DQ ONNX graph run in PyTorch with fake quantization, so its float weights can be fine-tuned (QAT).

The graph is the very Q/DQ ONNX the calibrator and quantizer write for a candidate: activations are
fake-quantized with the scales and zero points stored in it (what the calibrator set), weights are
fake-quantized per channel (or per tensor) with symmetric scales recomputed from the current float
weights exactly as ONNX Runtime's quantizer computes them at export (absmax / qmax, qmax read from the
stored codes, so 7-bit and reduce-range layers keep theirs), and layers the candidate keeps float stay
float. Gradients pass the rounding straight through (STE) and stop where values clip.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from onnx import numpy_helper
from torch import nn

from fastip.errors import InputError

QUANT_SUFFIX = "_quantized"  # ONNX Runtime's name for a quantized initializer: <float name>_quantized


def _attrs(node) -> dict[str, Any]:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _round_ste(x: torch.Tensor) -> torch.Tensor:
    return x + (torch.round(x) - x).detach()


class QdqGraph(nn.Module):
    """The Q/DQ graph as a module; `float_state()` gives its float initializers by their FP32 ONNX names."""

    def __init__(self, fp32, qdq):
        super().__init__()
        floats = {i.name: numpy_helper.to_array(i) for i in fp32.graph.initializer}
        self.nodes = list(qdq.graph.node)
        self.input_name = fp32.graph.input[0].name
        self.output_name = qdq.graph.output[0].name
        self.weights = nn.ParameterDict()  # float initializers as trained, keyed by a safe name
        self.names: dict[str, str] = {}  # FP32 ONNX initializer name -> key in self.weights
        for name, value in floats.items():
            if value.dtype == np.float32:
                self._add_weight(name, value)
        consts = {i.name: numpy_helper.to_array(i) for i in qdq.graph.initializer}
        self.consts: dict[str, torch.Tensor] = {}
        for name, value in consts.items():
            if name in self.names:
                continue
            self.consts[name] = torch.from_numpy(np.array(value))
        # identities of an initializer (a bias shared by export's deduplication) become weights of their own
        for node in fp32.graph.node:
            if node.op_type == "Identity" and node.input[0] in self.names:
                self._add_weight(node.output[0], floats[node.input[0]])
        self.fake_quant = True

    def _add_weight(self, name: str, value: np.ndarray) -> None:
        key = f"w{len(self.names)}"
        self.weights[key] = nn.Parameter(torch.from_numpy(np.array(value, dtype=np.float32)))
        self.names[name] = key

    def float_state(self) -> dict[str, torch.Tensor]:
        """{FP32 ONNX initializer name: current float value} (detached)."""
        return {name: self.weights[key].detach().clone() for name, key in self.names.items()}

    def activation_scales(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """{tensor quantized: (scale, zero point)} of every activation QuantizeLinear."""
        return {n.input[0]: (self.consts[n.input[1]], self.consts[n.input[2]]) for n in self.nodes
                if n.op_type == "QuantizeLinear" and n.input[1] in self.consts}

    def set_activation_scales(self, qdq) -> int:
        """Take the activation scales and zero points of another Q/DQ graph of the same model; returns how many."""
        values = {i.name: numpy_helper.to_array(i) for i in qdq.graph.initializer}
        count = 0
        for node in self.nodes:
            if node.op_type == "QuantizeLinear":
                for name in node.input[1:3]:
                    if name in values and name in self.consts:
                        self.consts[name] = torch.from_numpy(np.array(values[name]))
                        count += 1
        return count

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        env: dict[str, torch.Tensor] = {self.input_name: x, "": None}
        for node in self.nodes:
            outs = self._run(node, env)
            for name, value in zip(node.output, outs):
                env[name] = value
        return env[self.output_name]

    def _value(self, name: str, env: dict) -> torch.Tensor:
        if name in env:
            return env[name]
        if name in self.names:
            return self.weights[self.names[name]]
        if name in self.consts:
            return self.consts[name]
        raise InputError(f"the Q/DQ graph reads {name!r}, which no node or initializer provides")

    def _run(self, node, env: dict) -> list:
        op, a = node.op_type, _attrs(node)
        if op == "QuantizeLinear":
            return [self._quantize(node, env)]
        if op == "DequantizeLinear":
            return [self._dequantize(node, env)]
        if op == "Identity" and node.output[0] in self.names:
            return [self.weights[self.names[node.output[0]]]]
        inputs = [self._value(n, env) if n else None for n in node.input]
        fn = _OPS.get(op)
        if fn is None:
            raise InputError(f"quantization-aware training does not run ONNX op {op} (node {node.name}); "
                             f"it runs {', '.join(sorted(_OPS))} and Q/DQ")
        out = fn(inputs, a)
        return list(out) if isinstance(out, tuple) else [out]

    def _quantize(self, node, env: dict) -> torch.Tensor:
        x = self._value(node.input[0], env)
        scale, zero = self.consts[node.input[1]], self.consts[node.input[2]]
        if not self.fake_quant:
            return x
        info = np.iinfo(zero.numpy().dtype)
        return torch.fake_quantize_per_tensor_affine(x, float(scale), int(zero), int(info.min), int(info.max))

    def _dequantize(self, node, env: dict) -> torch.Tensor:
        source = node.input[0]
        if source in env:  # the DQ of an activation Q: the fake-quantized value already
            return env[source]
        name = source[:-len(QUANT_SUFFIX)] if source.endswith(QUANT_SUFFIX) else source
        if name not in self.names:
            raise InputError(f"the Q/DQ graph dequantizes {source!r}, whose float initializer is not in the FP32 model")
        w = self.weights[self.names[name]]
        codes = self.consts[source]
        if not self.fake_quant or codes.dtype == torch.int32:  # int32 biases: step in_scale*w_scale, negligible
            return w
        qmax = float(codes.abs().max()) if codes.numel() else 127.0
        qmax = qmax if qmax > 0 else 127.0
        scale = self.consts[node.input[1]]
        if scale.numel() > 1:
            axis = int(_attrs(node).get("axis", 1))
            dims = [d for d in range(w.dim()) if d != axis]
            absmax = w.detach().abs().amax(dim=dims, keepdim=True)
        else:
            absmax = w.detach().abs().max()
        step = torch.where(absmax > 0, absmax / qmax, torch.ones_like(absmax))
        return torch.clamp(_round_ste(w / step), -qmax, qmax) * step


def _conv(inputs, a):
    x, w, b = (inputs + [None])[:3]
    pads = a.get("pads", [0] * 4)
    half = len(pads) // 2
    if pads[:half] != pads[half:]:
        x = F.pad(x, [p for i in reversed(range(half)) for p in (pads[i], pads[i + half])])
        padding = 0
    else:
        padding = tuple(pads[:half])
    return F.conv2d(x, w, b, stride=tuple(a.get("strides", [1, 1])), padding=padding,
                    dilation=tuple(a.get("dilations", [1, 1])), groups=int(a.get("group", 1)))


def _conv_transpose(inputs, a):
    x, w, b = (inputs + [None])[:3]
    pads = a.get("pads", [0] * 4)
    return F.conv_transpose2d(x, w, b, stride=tuple(a.get("strides", [1, 1])), padding=tuple(pads[:2]),
                              output_padding=tuple(a.get("output_padding", [0, 0])),
                              dilation=tuple(a.get("dilations", [1, 1])), groups=int(a.get("group", 1)))


def _instance_norm(inputs, a):
    x, scale, bias = inputs
    return F.instance_norm(x, weight=scale, bias=bias, eps=float(a.get("epsilon", 1e-5)))


def _depth_to_space(inputs, a):
    x, block = inputs[0], int(a["blocksize"])
    if a.get("mode", b"DCR") in (b"CRD", "CRD"):
        return F.pixel_shuffle(x, block)
    n, c, h, w = x.shape
    y = x.reshape(n, block, block, c // block ** 2, h, w).permute(0, 3, 4, 1, 5, 2)
    return y.reshape(n, c // block ** 2, h * block, w * block)


def _clip(inputs, a):
    lo = inputs[1] if len(inputs) > 1 and inputs[1] is not None else a.get("min")
    hi = inputs[2] if len(inputs) > 2 and inputs[2] is not None else a.get("max")
    return torch.clamp(inputs[0], None if lo is None else float(lo), None if hi is None else float(hi))


def _prelu(inputs, a):
    x, slope = inputs
    return torch.where(x >= 0, x, x * slope)


_OPS = {
    "Conv": _conv,
    "ConvTranspose": _conv_transpose,
    "LeakyRelu": lambda i, a: F.leaky_relu(i[0], float(a.get("alpha", 0.01))),
    "Relu": lambda i, a: F.relu(i[0]),
    "PRelu": _prelu,
    "Sigmoid": lambda i, a: torch.sigmoid(i[0]),
    "Tanh": lambda i, a: torch.tanh(i[0]),
    "Clip": _clip,
    "Add": lambda i, a: i[0] + i[1],
    "Sub": lambda i, a: i[0] - i[1],
    "Mul": lambda i, a: i[0] * i[1],
    "Div": lambda i, a: i[0] / i[1],
    "Identity": lambda i, a: i[0],
    "Constant": lambda i, a: torch.from_numpy(np.array(numpy_helper.to_array(a["value"]))),
    "InstanceNormalization": _instance_norm,
    "DepthToSpace": _depth_to_space,
}
