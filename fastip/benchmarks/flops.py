"""FLOPs of an ONNX graph at a given input size: Conv/ConvTranspose/MatMul/Gemm MACs via shape inference, 2 FLOP each."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from fastip.errors import BundleError, require

COUNTED = ("Conv", "ConvTranspose", "MatMul", "Gemm", "QLinearConv", "ConvInteger", "QLinearMatMul", "MatMulInteger")


@dataclass(frozen=True)
class FlopCount:
    """Multiply-accumulates of the counted ops; `uncounted` names counted-type nodes whose shapes stayed unknown."""

    macs: int
    uncounted: tuple[str, ...] = ()

    @property
    def flops(self) -> int:
        return 2 * self.macs

    @property
    def complete(self) -> bool:
        return not self.uncounted


def count_macs(model, input_shape: tuple[int, ...] | dict[str, tuple[int, ...]]) -> FlopCount:
    """MACs of an onnx.ModelProto (or path) with its input(s) fixed to `input_shape` (e.g. (1, 3, 512, 512))."""
    onnx = require("onnx", "torch", "counting FLOPs of an ONNX graph")
    if isinstance(model, (str, os.PathLike)):
        model = onnx.load(str(model))
    model = _with_fixed_inputs(model, input_shape)
    try:
        model = onnx.shape_inference.infer_shapes(model, strict_mode=False)
    except Exception as exc:  # onnx raises InferenceError and friends
        raise BundleError(f"ONNX shape inference failed, cannot count FLOPs: {exc}") from exc
    shapes = _known_shapes(model)
    macs, uncounted = 0, []
    for node in model.graph.node:
        if node.op_type not in COUNTED:
            continue
        count = _node_macs(node, shapes)
        if count is None:
            uncounted.append(node.name or node.op_type)
        else:
            macs += count
    return FlopCount(macs=macs, uncounted=tuple(uncounted))


def _with_fixed_inputs(model, input_shape):
    import onnx

    model = onnx.ModelProto.FromString(model.SerializeToString())
    initializers = {t.name for t in model.graph.initializer}
    graph_inputs = [i for i in model.graph.input if i.name not in initializers]
    shapes = input_shape if isinstance(input_shape, dict) else {graph_inputs[0].name: tuple(input_shape)}
    for value in graph_inputs:
        if value.name not in shapes:
            continue
        dims = value.type.tensor_type.shape.dim
        want = shapes[value.name]
        if len(dims) != len(want):
            raise BundleError(f"input {value.name!r} has rank {len(dims)}, got shape {want}")
        for dim, size in zip(dims, want):
            dim.Clear()
            dim.dim_value = int(size)
    # Stale intermediate shapes (with symbolic dims) would shadow the fixed ones.
    del model.graph.value_info[:]
    return model


def _known_shapes(model) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {}
    for init in model.graph.initializer:
        shapes[init.name] = tuple(int(d) for d in init.dims)
    for value in (*model.graph.input, *model.graph.value_info, *model.graph.output):
        tensor = value.type.tensor_type
        if not tensor.HasField("shape"):
            continue
        dims = tensor.shape.dim
        if all(d.HasField("dim_value") for d in dims):
            shapes[value.name] = tuple(int(d.dim_value) for d in dims)
    return shapes


def _node_macs(node, shapes: dict[str, tuple[int, ...]]) -> int | None:
    op = node.op_type
    w_index = 3 if op == "QLinearConv" else 1
    if op in ("Conv", "ConvInteger", "QLinearConv"):
        w, y = shapes.get(node.input[w_index]), shapes.get(node.output[0])
        if w is None or y is None:
            return None
        # each output element: (C_in / group) x kernel MACs; w is (C_out, C_in/group, k...)
        return int(np.prod(y, dtype=np.int64)) * int(np.prod(w[1:], dtype=np.int64))
    if op == "ConvTranspose":
        x, w = shapes.get(node.input[0]), shapes.get(node.input[1])
        if x is None or w is None:
            return None
        # each input element scatters into (C_out / group) x kernel outputs; w is (C_in, C_out/group, k...)
        return int(np.prod(x, dtype=np.int64)) * int(np.prod(w[1:], dtype=np.int64))
    if op == "Gemm":
        a, y = shapes.get(node.input[0]), shapes.get(node.output[0])
        if a is None or y is None:
            return None
        trans_a = next((a_.i for a_ in node.attribute if a_.name == "transA"), 0)
        k = a[0] if trans_a else a[1]
        return int(np.prod(y, dtype=np.int64)) * int(k)
    a_index = 0
    b_index = 3 if op == "QLinearMatMul" else 1
    a, b, y = shapes.get(node.input[a_index]), shapes.get(node.input[b_index]), shapes.get(node.output[0])
    if a is None or y is None:
        return None
    k = a[-1] if len(a) > 1 or b is None else b[0]
    return int(np.prod(y, dtype=np.int64)) * int(k)
