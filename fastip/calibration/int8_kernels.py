"""What this machine's INT8 kernels do: the CPU's 8-bit dot-product flags and whether ONNX Runtime's convolutions saturate.

x86 CPUs without VNNI multiply u8 x s8 pairs with `vpmaddubsw`, which adds two products into a signed
16-bit lane: 255 * 127 * 2 overflows it and the sum saturates. ONNX Runtime's u8s8 convolution (and its
s8s8 one, which shifts activations to u8 first) then loses whole channels. 7-bit weights ("reduce range")
keep every pair sum below 2**15; the export gives them to the layers the image enters, where codes are dense. Whether it happens is measured, not guessed: a one-layer Q/DQ
convolution whose exact answer needs the full 8 bits is run through ONNX Runtime.
"""

from __future__ import annotations

import functools
import platform
from pathlib import Path
from typing import Any

import numpy as np

# flags that give 8-bit dot products without 16-bit intermediate sums
VNNI_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8", "asimddp")
REPORTED_FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8", "asimddp")
PROBE_CHANNELS = 4
CPUINFO = Path("/proc/cpuinfo")


def _cpuinfo(path: Path) -> dict[str, str]:
    """The first processor's `key: value` lines of /proc/cpuinfo ({} where it cannot be read)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip(), value.strip())
    return fields


def cpu_flags(cpuinfo: Path = CPUINFO) -> set[str] | None:
    """The CPU's feature flags (Linux x86 `flags`, Arm `Features`), or None where they cannot be read."""
    fields = _cpuinfo(cpuinfo)
    text = fields.get("flags", fields.get("Features"))
    return None if text is None else set(text.split())


def cpu_record(cpuinfo: Path = CPUINFO) -> dict[str, Any]:
    """CPU model, the INT8-relevant flags present, and whether it has VNNI-class dot products (None: unknown)."""
    flags = cpu_flags(cpuinfo)
    return {"machine": platform.machine(),
            "processor": _cpuinfo(cpuinfo).get("model name") or platform.processor() or "unknown",
            "flags": None if flags is None else sorted(f for f in REPORTED_FLAGS if f in flags),
            "vnni": None if flags is None else any(f in flags for f in VNNI_FLAGS)}


def _probe_model(activation: str, weight_level: int):
    """Q/DQ Conv 1x1 over PROBE_CHANNELS channels: inputs at the top of the 8-bit range, weights all `weight_level`."""
    from onnx import TensorProto, helper, numpy_helper

    signed = activation != "uint8"
    act_np = np.int8 if signed else np.uint8
    x_scale = 1.0 / (127 if signed else 255)
    out_scale = 2.0 * PROBE_CHANNELS / 255
    inits = [
        numpy_helper.from_array(np.array(x_scale, np.float32), "xs"),
        numpy_helper.from_array(np.array(0, act_np), "xz"),
        numpy_helper.from_array(np.full((1, PROBE_CHANNELS, 1, 1), weight_level, np.int8), "wq"),
        numpy_helper.from_array(np.array(1.0 / 127, np.float32), "ws"),
        numpy_helper.from_array(np.array(0, np.int8), "wz"),
        numpy_helper.from_array(np.array(out_scale, np.float32), "ys"),
        numpy_helper.from_array(np.array(0, np.uint8), "yz"),
    ]
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "xs", "xz"], ["xq"]),
        helper.make_node("DequantizeLinear", ["xq", "xs", "xz"], ["xd"]),
        helper.make_node("DequantizeLinear", ["wq", "ws", "wz"], ["wd"]),
        helper.make_node("Conv", ["xd", "wd"], ["y"]),
        helper.make_node("QuantizeLinear", ["y", "ys", "yz"], ["yq"]),
        helper.make_node("DequantizeLinear", ["yq", "ys", "yz"], ["out"]),
    ]
    graph = helper.make_graph(nodes, "int8_probe", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, PROBE_CHANNELS, 4, 4])],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 1, 4, 4])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)


@functools.lru_cache(maxsize=None)
def conv_saturates(backend: str, activation: str, weight_level: int = 127) -> bool:
    """True when the backend's optimised INT8 convolution on this CPU misses the exact result (u8 or s8 inputs).

    `weight_level` 127 uses the full 8-bit weight range; 64 is what 7-bit (reduce-range) weights reach.
    """
    x = np.ones((1, PROBE_CHANNELS, 4, 4), np.float32)
    model = _probe_model(activation, weight_level)
    if backend == "openvino":
        import tempfile

        import onnx
        import openvino as ov

        with tempfile.TemporaryDirectory(prefix="fastip-probe-") as tmp:
            onnx.save(model, f"{tmp}/probe.onnx")
            compiled = ov.Core().compile_model(ov.Core().read_model(f"{tmp}/probe.onnx"), "CPU",
                                               {"INFERENCE_NUM_THREADS": 1})
            out = compiled({"x": x})[0]
    else:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = 1
        session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
        out = session.run(None, {"x": x})[0]
    # exact: PROBE_CHANNELS * 1.0 * weight_level / 127; a saturated pair sum gives about half of it or less
    return not np.allclose(out, PROBE_CHANNELS * weight_level / 127, atol=2.0 * PROBE_CHANNELS / 255)


def kernel_record(backend: str) -> dict[str, Any]:
    """Whether the backend's INT8 convolution saturates here, per activation encoding, with its version and the CPU."""
    import importlib

    module = importlib.import_module("openvino" if backend == "openvino" else "onnxruntime")
    return {"backend": backend, "version": module.__version__,
            "saturates": {a: conv_saturates(backend, a) for a in ("uint8", "int8-symmetric")}, "cpu": cpu_record()}


def check_artifact(manifest, backend: str, role: str) -> None:
    """Refuse an INT8 artifact gated on non-saturating kernels (8-bit input weights) where this backend's kernels saturate."""
    from fastip.errors import BundleError

    record = manifest.extra.get("quantization") or {}
    built = (record.get("int8_kernels") or {}).get("saturates")
    name = (record.get("chosen") or {}).get(role)
    settings = next((c.get("settings", {}) for c in record.get("candidates", []) if c.get("name") == name), None)
    if not isinstance(built, dict) or settings is None or settings.get("engine") != "ort-qdq":
        return  # older bundles, NNCF artifacts (first-layer overflow fix built in) and TensorRT stand-ins
    activation = settings.get("activations", "uint8")
    if settings.get("reduce_range") or settings.get("first_layer_7bit") or built.get(activation):
        return
    if conv_saturates(backend, activation):
        raise BundleError(f"the INT8 artifact {name!r} was gated on CPU kernels without 16-bit saturation (VNNI); "
                          f"{backend}'s INT8 convolution saturates on this CPU ({cpu_record()['processor']}, no VNNI), "
                          "so its 8-bit input layers would not give the gated quality: re-export here with "
                          "--precision int8, or run it with --precision fp32")
