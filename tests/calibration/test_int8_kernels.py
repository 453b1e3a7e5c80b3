"""The INT8 kernel probe: CPU flags, measured saturation, and 7-bit weights for every candidate where it saturates."""

from __future__ import annotations

import numpy as np
import pytest

from fastip.calibration import int8_kernels
from fastip.calibration.int8_kernels import conv_saturates, cpu_flags, cpu_record
from fastip.calibration.quantize import Engine, candidates_for
from tests.support import has

BACKENDS = ["ort"] + (["openvino"] if has("openvino") else [])


def test_cpu_flags_and_vnni_from_cpuinfo(tmp_path):
    zen = tmp_path / "zen"
    zen.write_text("processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse avx2 fma\n\nprocessor\t: 1\nflags\t: x\n")
    vnni = tmp_path / "icx"
    vnni.write_text("model name : Xeon\nflags : avx2 avx512f avx512_vnni\n")
    assert cpu_flags(zen) == {"fpu", "sse", "avx2", "fma"}
    assert cpu_record(zen) | {"machine": None} == {"machine": None, "processor": "AMD EPYC", "flags": ["avx2", "fma"],
                                                   "vnni": False}
    assert cpu_record(vnni)["vnni"] is True and cpu_record(vnni)["flags"] == ["avx2", "avx512_vnni", "avx512f"]
    assert cpu_record(tmp_path / "absent")["vnni"] is None


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("activation", ["uint8", "int8-symmetric"])
def test_seven_bit_weights_give_the_exact_result(backend, activation):
    # the remedy the export applies where 8-bit weights saturate must itself be exact on this machine's kernels
    assert not conv_saturates(backend, activation, weight_level=64)


def test_probe_agrees_with_the_cpu_flags():
    # without VNNI-class instructions the 8-bit pair sums of x86 kernels overflow 16 bits; with them they do not
    record = cpu_record()
    if record["vnni"] is None or record["machine"] not in ("x86_64", "AMD64"):
        pytest.skip("CPU flags unknown or not x86")
    assert conv_saturates("ort", "uint8") is (not record["vnni"])


@pytest.mark.parametrize("saturates", [True, False])
def test_candidates_get_seven_bit_weights_only_where_kernels_saturate(monkeypatch, saturates):
    from fastip.calibration.targets import _fit_to_kernels

    monkeypatch.setattr(int8_kernels, "conv_saturates", lambda backend, activation, weight_level=127: saturates)
    record: dict = {}
    wanted = candidates_for("openvino")
    fitted = _fit_to_kernels(wanted, "openvino", "openvino", record, lambda _: None)
    if saturates:
        twins = {c.name: c for c in fitted if c.first_layer_7bit}
        full_range = [c for c in wanted if c.engine is Engine.ORT_QDQ and not c.reduce_range]
        assert sorted(twins) == sorted(f"{c.name}-7bit-input" for c in full_range)  # NNCF fixes its first layer itself
        assert [c for c in fitted if not c.first_layer_7bit] == wanted  # the originals stay: the gate picks
        assert record["int8_kernels"]["twins"] and "saturates" in record["int8_kernels"]["note"]
    else:
        assert fitted == wanted and "twins" not in record["int8_kernels"]
    assert record["int8_kernels"]["saturates"] == {"uint8": saturates, "int8-symmetric": saturates}


def test_trt_candidates_are_left_as_they_are():
    from fastip.calibration.targets import _fit_to_kernels

    record: dict = {}
    assert _fit_to_kernels(candidates_for("trt"), "ort", "trt", record, lambda _: None) == candidates_for("trt")
    assert record["int8_kernels"]["backend"] == "tensorrt"


def test_input_layers_stop_at_the_first_weight_layer_on_every_path():
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from fastip.calibration.quantize import input_layers

    w = numpy_helper.from_array(np.ones((2, 2, 1, 1), np.float32), "w")
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="relu"),
             helper.make_node("Conv", ["r", "w"], ["a"], name="first"),
             helper.make_node("Conv", ["x", "w"], ["b"], name="side"),
             helper.make_node("Add", ["a", "b"], ["c"], name="add"),
             helper.make_node("Conv", ["c", "w"], ["y"], name="later")]
    io = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 2, 4, 4]) for n in ("x", "y")]
    model = helper.make_model(helper.make_graph(nodes, "g", io[:1], io[1:], [w]))
    onnx.checker.check_model(model)
    assert [n.name for n in input_layers(model)] == ["first", "side"]


def _manifest(saturated_when_built: bool, **settings):
    from types import SimpleNamespace

    chosen = {"engine": "ort-qdq", "activations": "uint8", "reduce_range": False, "first_layer_7bit": False, **settings}
    return SimpleNamespace(extra={"quantization": {
        "int8_kernels": {"saturates": {"uint8": saturated_when_built, "int8-symmetric": saturated_when_built}},
        "chosen": {"onnx_int8": "u8"}, "candidates": [{"name": "u8", "settings": chosen}]}})


def test_an_artifact_gated_on_vnni_kernels_is_refused_where_kernels_saturate(monkeypatch):
    from fastip.calibration.int8_kernels import check_artifact
    from fastip.errors import BundleError

    monkeypatch.setattr(int8_kernels, "conv_saturates", lambda backend, activation, weight_level=127: True)
    with pytest.raises(BundleError, match="re-export here with --precision int8") as info:
        check_artifact(_manifest(False), "ort", "onnx_int8")
    assert "\n" not in str(info.value)
    check_artifact(_manifest(True), "ort", "onnx_int8")  # gated on saturating kernels: what was measured is what runs
    check_artifact(_manifest(False, first_layer_7bit=True), "ort", "onnx_int8")
    check_artifact(_manifest(False, reduce_range=True), "ort", "onnx_int8")
    monkeypatch.setattr(int8_kernels, "conv_saturates", lambda backend, activation, weight_level=127: False)
    check_artifact(_manifest(False), "ort", "onnx_int8")
