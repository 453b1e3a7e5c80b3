"""Quantization-aware fine-tuning: the fake-quantized graph matches the exported Q/DQ ONNX, and weights go back to a CAN."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from fastip.errors import FastipError, InputError  # noqa: E402


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / max(np.mean((a.astype(np.float64) - b) ** 2), 1e-20)))


def _graphs(tmp_path, weights: str, settings_name: str, float_layers=(), model: str = "can24"):
    """FP32 ONNX of <model>/<weights>, its Q/DQ ONNX for a candidate (ranges from real crops), and a test image."""
    import onnx

    from fastip.calibration import data as calib_data
    from fastip.calibration.quantize import candidates_for, named_model, quantize_qdq
    from fastip.calibration.ranges import CalibrationMethod, collect_ranges
    from fastip.export.onnx import export_onnx, output_specs
    from fastip.export.source import resolve
    from fastip.images import sample_image
    from fastip.pipeline import to_tensor

    source = resolve(model, weights=weights)
    fp32 = tmp_path / "fp32.onnx"
    export_onnx(source, output_specs(source), fp32)
    images = calib_data.load_images(None, "can")
    plan = calib_data.make_plan(source.input, source.io, "can", count=4)
    feeds = list(calib_data.calibration_feeds(images, plan, source.input, source.io))
    ranges = collect_ranges(fp32, feeds, CalibrationMethod.MINMAX, "test")
    settings = candidates_for("ort", [settings_name])[0]
    quantize_qdq(fp32, ranges, settings, tmp_path / "qdq.onnx", float_nodes=float_layers)
    x = to_tensor(np.ascontiguousarray(sample_image("coffee")[100:196, 200:328]), source.io)
    return source, fp32, tmp_path / "qdq.onnx", named_model(fp32), onnx.load(str(tmp_path / "qdq.onnx")), x


def _ort(path, x, basic: bool) -> np.ndarray:
    import onnxruntime as ort

    options = ort.SessionOptions()
    if basic:  # Q/DQ simulated in float: what the fake quantization reproduces (no int8 kernels)
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]


@pytest.mark.parametrize("model,weights,candidate,float_layers", [
    ("can24", "rof", "u8-per-channel", ()),
    ("can24", "rof", "s8-symmetric-per-channel", ("/3/3.0/Conv",)),
    ("can24", "rof", "u8-per-channel-reduce-range", ()),
    ("can32", "wls_tone", "u8-per-channel", ()),  # instance norm: Mul/Add/InstanceNormalization quantized too
])
def test_fake_quantized_graph_matches_the_qdq_onnx(tmp_path, model, weights, candidate, float_layers):
    import torch

    from fastip.train.qat_graph import QdqGraph

    _, fp32_path, qdq_path, fp32, qdq, x = _graphs(tmp_path, weights, candidate, float_layers, model)
    graph = QdqGraph(fp32, qdq)
    with torch.no_grad():
        fake = graph(torch.from_numpy(x)).numpy()
        graph.fake_quant = False
        plain = graph(torch.from_numpy(x)).numpy()
    simulated, reference = _ort(qdq_path, x, basic=True), _ort(fp32_path, x, basic=False)
    assert np.abs(plain - reference).max() < 1e-4
    quant_error = _psnr(simulated, reference)
    assert quant_error < 60.0  # quantization does change the output ...
    assert _psnr(fake, simulated) > quant_error + 15.0  # ... and the fake-quantized graph follows it closely


def test_weight_fake_quantization_reproduces_the_stored_codes(tmp_path):
    import torch
    from onnx import numpy_helper

    from fastip.train.qat_graph import QdqGraph

    *_, fp32, qdq, _ = _graphs(tmp_path, "rof", "u8-per-channel-reduce-range")
    graph = QdqGraph(fp32, qdq)
    inits = {i.name: numpy_helper.to_array(i) for i in qdq.graph.initializer}
    checked = 0
    for node in qdq.graph.node:
        codes = inits.get(node.input[0])
        if node.op_type != "DequantizeLinear" or codes is None or codes.dtype != np.int8:
            continue
        scale = inits[node.input[1]]
        stored = codes.astype(np.float32) * (scale.reshape((-1,) + (1,) * (codes.ndim - 1)) if scale.size > 1 else scale)
        with torch.no_grad():
            mine = graph._dequantize(node, {}).numpy()
        np.testing.assert_allclose(mine, stored, rtol=1e-6, atol=1e-7)
        assert np.abs(codes).max() <= 64  # reduce-range: 7-bit codes, and the graph keeps them
        checked += 1
    assert checked == 9


@pytest.mark.parametrize("model,weights", [("can24", "rof"), ("can32", "wls_tone")])
def test_trained_graph_weights_go_back_to_an_equal_can(tmp_path, model, weights):
    import torch

    from fastip import models
    from fastip.models.checkpoint import save_state_dict
    from fastip.train.qat import QatModel, QatScheme

    qat = QatModel(model, weights, QatScheme(calib_count=2), tmp_path)
    with torch.no_grad():
        for p in qat.graph.weights.values():
            p.add_(0.01 * torch.randn_like(p))
    qat.graph.fake_quant = False
    x = torch.rand(1, 3, 64, 80)
    with torch.no_grad():
        expected = qat.graph(x)
    save_state_dict(qat.can_state(), tmp_path / "tuned.safetensors")
    rebuilt = models.get(model).build(weights=str(tmp_path / "tuned.safetensors"))
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(x), expected, rtol=1e-4, atol=1e-5)
    before = qat.graph.float_state()
    qat.load_can_state(qat.can_state())
    for name, value in qat.graph.float_state().items():
        torch.testing.assert_close(value, before[name], rtol=1e-5, atol=1e-6)


def test_qat_fine_tunes_and_records_its_scheme(tmp_path):
    from PIL import Image

    from fastip import models
    from fastip.images import sample_image
    from fastip.train import TrainConfig
    from fastip.train.qat import QatScheme, train_qat

    data = tmp_path / "data"
    data.mkdir()
    for name in ("coffee", "chelsea"):
        Image.fromarray(np.ascontiguousarray(sample_image(name)[:96, :128])).save(data / f"{name}.png")
    out = tmp_path / "rof_qat.pt"
    config = TrainConfig(steps=3, batch=1, crop=64, lr=1e-4, lr_final=1e-6, threads=1, eval_every=3,
                         checkpoint_every=3, progress_every=0)
    result = train_qat("can24", "rof", "rof", data, out, config=config, scheme=QatScheme(calib_count=2),
                       recalibrate_every=2, max_side=96, val=data, cache_dir=tmp_path / "targets",
                       progress=lambda _: None)
    record = json.loads(out.with_name("rof_qat.json").read_text())
    assert record["steps"] == 3 and record["params"]["qat"]["from_weights"] == "rof"
    assert record["params"]["qat"]["candidate"] == "u8-per-channel" and record["params"]["norm"] == "batch"
    assert {"psnr", "ssim", "qat_psnr", "qat_ssim"} <= set(result.metrics)
    assert models.get("can24").build(weights=str(out)).norm_mode == "batch"


def test_qat_refuses_what_it_cannot_fine_tune(tmp_path):
    from fastip.train.qat import QatModel, QatScheme, train_qat

    with pytest.raises(InputError, match="approximates rof, not tv_l1"):
        train_qat("can24", "tv_l1", "rof", "samples", tmp_path / "x.pt")
    with pytest.raises(InputError, match="not weight layers"):
        QatModel("can24", "rof", QatScheme(float_layers=("/9/Conv",)), tmp_path)
    with pytest.raises(InputError, match="unknown quantization candidates"):
        QatModel("can24", "rof", QatScheme(candidate="nonsense"), tmp_path)
    with pytest.raises(FastipError):  # QAT weights of another model: can32's weights do not fit can24
        from fastip import models

        QatModel("can24", str(models.get("can32").weights["wls_tone"].path), QatScheme(), tmp_path)


@pytest.mark.parametrize("argv,message", [
    (["can24", "--operator", "rof", "--qat", "-o", "x.pt"], "--from-weights"),
    (["can24", "--operator", "rof", "--from-weights", "rof", "-o", "x.pt"], "add --qat"),
    (["can24", "--qat", "--from-weights", "rof", "-o", "x.pt"], "needs --operator"),
])
def test_qat_cli_errors_are_one_line(tmp_path, monkeypatch, capsys, argv, message):
    from fastip.cli.train_cmd import main

    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("fastip-train: error:") and message in err[0]
    assert not (tmp_path / "x.pt").exists()
