"""INT8/FP16 export end to end: calibration cache, the quality gate, fallback, and the artifacts each backend opens."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from fastip import runtimes
from fastip.errors import InputError, ValidationError
from fastip.export import export_model
from tests.support import has, perturbed_source, requires_openvino

FAST = "u8-per-channel,s8-symmetric-per-channel-keep-ends"


def _images(folder, n=3, seed=0):
    folder.mkdir(exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        smooth = np.asarray(Image.fromarray(rng.integers(0, 255, (12, 16, 3), dtype=np.uint8)).resize((96, 72), Image.BICUBIC))
        Image.fromarray(smooth).save(folder / f"img{i}.png")
    return folder


def _export(tmp_path, name, target="ort", precision="int8", source=None, **options):
    messages = []
    options.setdefault("cache_dir", str(tmp_path / "cache"))
    bundle = export_model(source or perturbed_source(name), tmp_path / f"{name}-{target}-{precision}", target=target,
                          precision=precision, progress=messages.append, **options)
    return bundle, messages


@pytest.mark.slow
def test_sr_int8_passes_default_gate_on_ort(tmp_path):
    bundle, _ = _export(tmp_path, "espcn_x2", calib_count=4)
    m = bundle.manifest
    assert m.precision == "int8" and m.artifacts["onnx_int8"] == "model.int8.onnx"
    record = m.extra["quantization"]
    chosen = next(c for c in record["candidates"] if c["name"] == record["chosen"]["onnx_int8"])
    assert chosen["passed"] and chosen["metrics"]["psnr_vs_fp32"] >= 35.0 and chosen["metrics"]["hr_psnr_drop"] <= 0.5
    assert len(record["candidates"]) >= 6 and all("score" in c for c in record["candidates"])
    assert m.calibration["source"].startswith("bundled samples") and m.calibration["count"] == 4
    with runtimes.open(bundle, "ort", precision="int8") as session:
        out = session.run({"input": np.random.default_rng(0).random((1, 3, 20, 24), np.float32)})
    assert out["output"].shape == (1, 3, 40, 48)


@pytest.mark.slow
@requires_openvino
def test_can_int8_on_openvino_keeps_best_of_qdq_and_nncf(tmp_path, capfd):
    # perturbed random weights quantize worse than trained ones: the gate is set to what they reach
    bundle, _ = _export(tmp_path, "can24", target="openvino", calib_count=4, min_psnr=25.0,
                        candidates="u8-per-channel,nncf-mixed")
    assert "Statistics collection" not in capfd.readouterr().out, "NNCF progress belongs on stderr"
    m = bundle.manifest
    assert {"openvino_int8", "onnx_int8"} <= set(m.artifacts) and m.extra["openvino"]["performance_hint"] == "latency"
    names = {c["name"] for c in m.extra["quantization"]["candidates"]}
    twins = set(m.extra["quantization"]["int8_kernels"].get("twins", []))  # where the CPU's INT8 kernels saturate
    assert names - twins == {"u8-per-channel", "nncf-mixed"} and twins <= {"u8-per-channel-7bit-input"}
    assert m.extra["quantization"]["chosen"]["openvino_int8"] in names
    with runtimes.open(bundle, "openvino", precision="int8") as session:
        assert session.run({"input": np.full((1, 3, 16, 16), 0.5, np.float32)})["output"].shape == (1, 3, 16, 16)


@pytest.mark.slow
def test_face_int8_gate_uses_box_agreement(tmp_path):
    pytest.importorskip("fastip.detection.agreement")
    from fastip.export.source import resolve

    try:
        source = resolve("blazeface_front")
    except Exception as exc:  # the MediaPipe weights come from an optional package
        pytest.skip(f"blazeface weights unavailable: {exc}")
    bundle = export_model(source, tmp_path / "face", target="ort", precision="int8", cache_dir=str(tmp_path / "c"),
                          calib_count=4, candidates="u8-per-channel,s8-symmetric-per-channel")
    record = bundle.manifest.extra["quantization"]
    chosen = next(c for c in record["candidates"] if c["name"] == record["chosen"]["onnx_int8"])
    assert chosen["metrics"]["recall"] == 1.0 and chosen["metrics"]["mean_iou"] >= 0.85
    assert record["thresholds"]["min_iou"] == 0.85


def test_cache_hit_then_invalidated_by_one_changed_image(tmp_path):
    folder = _images(tmp_path / "calib")
    # one source: untrained SR layers are randomly initialised, so a rebuilt model is another model
    options = dict(calib=str(folder), calib_count=3, candidates="u8-per-channel", min_psnr=0.0,
                   source=perturbed_source("espcn_x2"))
    first, msgs1 = _export(tmp_path, "espcn_x2", **options)
    second, msgs2 = _export(tmp_path, "espcn_x2", **options)
    assert not first.manifest.calibration["cache_hit"] and not any("cache hit" in m for m in msgs1)
    assert second.manifest.calibration["cache_hit"] and any("skipping range collection" in m for m in msgs2)
    assert first.manifest.calibration["cache_key"] == second.manifest.calibration["cache_key"]
    image = np.asarray(Image.open(folder / "img1.png")).copy()
    image[0, 0] ^= 1
    Image.fromarray(image).save(folder / "img1.png")
    third, _ = _export(tmp_path, "espcn_x2", **options)
    assert not third.manifest.calibration["cache_hit"]
    assert third.manifest.calibration["cache_key"] != first.manifest.calibration["cache_key"]


def test_absurd_threshold_fails_listing_every_candidate(tmp_path):
    with pytest.raises(ValidationError) as info:
        _export(tmp_path, "espcn_x2", calib_count=2, min_psnr=200.0, candidates=FAST, search_budget=0)
    text = str(info.value)
    assert "u8-per-channel on ort: score" in text and "s8-symmetric-per-channel-keep-ends on ort" in text
    assert "--allow-fallback" in text
    assert not (tmp_path / "espcn_x2-ort-int8").exists()


def test_fallback_ships_fp32_and_says_so(tmp_path):
    bundle, _ = _export(tmp_path, "espcn_x2", calib_count=2, min_psnr=200.0, candidates=FAST, allow_fallback=True,
                        search_budget=0)
    m = bundle.manifest
    assert m.precision == "fp32" and "onnx_int8" not in m.artifacts
    names = [c["name"] for c in m.extra["quantization"]["candidates"]]
    twins = m.extra["quantization"]["int8_kernels"].get("twins", [])  # where the CPU's INT8 kernels saturate
    assert m.extra["quantization"]["fallback"] == "fp32" and sorted(set(names) - set(twins)) == sorted(FAST.split(","))


def test_per_tensor_with_an_outlier_channel_is_caught(tmp_path):
    import torch

    from fastip.export.source import deploy_form

    source = perturbed_source("espcn_x2")
    # Two identical feature maps enter the middle conv; one of its output channels takes +1000 x the first minus
    # 1000 x the second. FP32 output and activation ranges are unchanged (the difference is exactly 0), but a
    # single per-tensor weight scale of 1000/127 rounds every other weight of that conv to zero.
    with torch.no_grad():
        conv1, conv2 = source.module.body[0], source.module.body[2]
        conv1.weight[1] = conv1.weight[0]
        conv1.bias[1] = conv1.bias[0]
        conv2.weight[0] = 0.0
        conv2.weight[0, 0, 1, 1] = 1000.0
        conv2.weight[0, 1, 1, 1] = -1000.0
    source.deploy = deploy_form(source.module)
    bundle = export_model(source, tmp_path / "outlier", target="ort", precision="int8", cache_dir=str(tmp_path / "c"),
                          calib_count=2, candidates="u8-per-tensor,u8-per-channel", allow_fallback=True)
    scores = {c["name"]: c for c in bundle.manifest.extra["quantization"]["candidates"]}
    assert scores["u8-per-channel"]["score"] > scores["u8-per-tensor"]["score"] + 3.0


def test_fp16_artifact_is_gated_and_opens(tmp_path):
    bundle, _ = _export(tmp_path, "espcn_x2", precision="fp16")
    m = bundle.manifest
    assert m.precision == "fp16" and m.artifacts["onnx_fp16"] == "model.fp16.onnx"
    assert m.extra["quantization"]["candidates"][0]["passed"]
    with runtimes.open(bundle, "ort", precision="fp16") as session:
        assert session.run({"input": np.zeros((1, 3, 8, 8), np.float32)})["output"].dtype == np.float32


def test_unknown_options_and_methods_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="unknown quantization options"):
        _export(tmp_path, "espcn_x2", calib_colour="red")
    with pytest.raises(InputError, match="min-max, percentile, entropy"):
        _export(tmp_path, "espcn_x2", calib_method="median")
    with pytest.raises(InputError, match="--target trt"):
        _export(tmp_path, "espcn_x2", shapes="1x3x8x8")


@pytest.mark.skipif(has("tensorrt"), reason="checks the message given where TensorRT is absent")
def test_trt_target_without_tensorrt_names_the_extra(tmp_path):
    from fastip.errors import MissingDependencyError

    with pytest.raises(MissingDependencyError, match=r"fastip\[trt\]"):
        _export(tmp_path, "espcn_x2", target="trt", precision="fp16")
