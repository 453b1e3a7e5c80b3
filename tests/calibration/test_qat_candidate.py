"""Shipped QAT weights become gate candidates of the FP32 weights they were fine-tuned from."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")


def _qat_names(model: str, weights: str) -> list[str]:
    from fastip.calibration.qat_candidate import qat_weights
    from fastip.export.source import resolve

    return [name for name, _ in qat_weights(resolve(model, weights=weights))]


def test_shipped_qat_weights_are_found_for_their_start_weights():
    from fastip import models

    assert _qat_names("can24", "rof") == ["rof_qat"]
    qat = dict(models.get("can24").weights["rof_qat"].params)["qat"]
    assert qat["from_weights"] == "rof" and qat["candidate"] == "u8-per-channel"
    assert _qat_names("can24", "tv_l1") == [n for n in models.get("can24").weights
                                            if dict(models.get("can24").weights[n].params).get("qat", {}).get("from_weights") == "tv_l1"]


def test_a_qat_candidate_is_measured_against_the_fp32_weights_it_came_from(tmp_path, monkeypatch):
    from fastip.export import export_model

    monkeypatch.setenv("FASTIP_DATA", str(tmp_path / "no-photos"))
    bundle = export_model("can24", tmp_path / "b", weights="rof", target="ort", precision="int8",
                          candidates="qat-rof_qat", search_budget=0, allow_fallback=True, calib_count=4,
                          cache_dir=str(tmp_path / "cache"))
    record = bundle.manifest.extra["quantization"]
    (result,) = record["candidates"]
    assert result["name"] == "qat-rof_qat" and result["error"] is None
    assert result["settings"]["weights"] == "rof_qat" and result["settings"]["qat"]["from_weights"] == "rof"
    assert len(result["metrics"]["psnr_vs_fp32_per_image"]) == 4  # two quality images and two at 1280 px
    assert record["seconds"] > 0
    assert result["score"] == pytest.approx(min(result["metrics"]["psnr_vs_fp32_per_image"]))
    if result["passed"]:
        assert record["chosen"]["onnx_int8"] == "qat-rof_qat"
    else:
        assert record["fallback"] == "fp32"


def test_qat_weights_are_not_exported_on_their_own(tmp_path):
    from fastip.errors import InputError
    from fastip.export import export_model

    with pytest.raises(InputError, match="--weights rof --precision int8"):
        export_model("can24", tmp_path / "b", weights="rof_qat", target="onnx")
    assert not (tmp_path / "b").exists()
