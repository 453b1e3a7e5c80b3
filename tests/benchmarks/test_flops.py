"""FLOP counts from an ONNX graph equal hand counts."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from fastip.benchmarks.flops import count_macs  # noqa: E402


def weight(name, shape):
    return numpy_helper.from_array(np.zeros(shape, np.float32), name)


def small_graph():
    """conv 3->8 3x3 pad 1; grouped conv 8->8 3x3 group 4 stride 2 pad 1; transposed conv 8->4 2x2 stride 2; GAP; Gemm 4->10."""
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["a"], pads=[1, 1, 1, 1]),
        helper.make_node("Conv", ["a", "w2"], ["b"], pads=[1, 1, 1, 1], strides=[2, 2], group=4),
        helper.make_node("ConvTranspose", ["b", "w3"], ["c"], strides=[2, 2]),
        helper.make_node("GlobalAveragePool", ["c"], ["d"]),
        helper.make_node("Flatten", ["d"], ["e"]),
        helper.make_node("Gemm", ["e", "w4"], ["y"], transB=1),
    ]
    graph = helper.make_graph(
        nodes, "small", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, "H", "W"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [weight("w1", (8, 3, 3, 3)), weight("w2", (8, 2, 3, 3)), weight("w3", (8, 4, 2, 2)), weight("w4", (10, 4))])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_small_graph_hand_count():
    h, w = 16, 12
    conv1 = 8 * h * w * (3 * 3 * 3)
    conv2 = 8 * (h // 2) * (w // 2) * (2 * 3 * 3)
    deconv = 8 * (h // 2) * (w // 2) * (4 * 2 * 2)
    gemm = 10 * 4
    count = count_macs(small_graph(), (1, 3, h, w))
    assert count.complete
    assert count.macs == conv1 + conv2 + deconv + gemm
    assert count.flops == 2 * count.macs


def test_can_style_nine_conv_net_is_65472_macs_per_pixel():
    """BASELINES' CAN32-style net: 3->32, seven dilated 32->32 3x3, 1x1 32->3."""
    inits, nodes, prev = [], [], "x"
    layers = [(32, 3, 3, 1)] + [(32, 32, 3, d) for d in (2, 4, 8, 16, 32, 64, 1)] + [(3, 32, 1, 1)]
    for i, (cout, cin, k, d) in enumerate(layers):
        inits.append(weight(f"w{i}", (cout, cin, k, k)))
        pad = d * (k // 2)
        nodes.append(helper.make_node("Conv", [prev, f"w{i}"], [f"y{i}"], dilations=[d, d], pads=[pad] * 4))
        prev = f"y{i}"
    graph = helper.make_graph(nodes, "can", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, "H", "W"])],
                              [helper.make_tensor_value_info(prev, TensorProto.FLOAT, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    assert count_macs(model, (1, 3, 64, 80)).macs == 65472 * 64 * 80
