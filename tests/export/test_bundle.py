"""Bundles: manifest content, ONNX metadata and dynamic axes, atomic writes, hash checks."""

import json

import pytest

pytest.importorskip("torch")

from fastip.bundle import Bundle  # noqa: E402
from fastip.errors import BundleError, ExportError, ValidationError  # noqa: E402
from fastip.export import export_model  # noqa: E402
from fastip.manifest import Manifest  # noqa: E402


def test_manifest_records_everything(can_bundle):
    m = can_bundle.manifest
    assert m.model == "can24" and m.family == "can" and m.precision == "fp32"
    assert m.inputs[0].shape == ("N", 3, "H", "W") and m.outputs[0].shape == ("N", 3, "H", "W")
    assert set(m.files) >= {"model.onnx", "weights.safetensors"}
    assert {"fastip", "torch", "onnx", "onnxruntime"} <= set(m.versions)
    sizes = {v.shape[2:] for v in m.validation}
    assert len(sizes) == 2 and any(h % 2 and w % 2 for h, w in sizes), "validated at two sizes, one odd"
    assert Manifest.from_json(m.to_json()).to_dict() == m.to_dict()


def test_onnx_metadata_and_dynamic_axes(can_bundle):
    import onnx

    model = onnx.load(str(can_bundle.path("onnx")))
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["fastip.model"] == "can24" and meta["fastip.family"] == "can"
    assert json.loads(meta["fastip.io"])["value_range"] == [0.0, 1.0]
    assert model.opset_import[0].version >= 17
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["N", 3, "H", "W"]


def test_sr_output_axes_scale(tmp_path):
    bundle = export_model("espcn_x3", tmp_path / "sr", target="onnx", weights="none")
    assert bundle.manifest.outputs[0].shape == ("N", 3, "H*3", "W*3")
    assert bundle.manifest.io.scale_factor == 3


def test_modified_file_is_refused(can_bundle, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(can_bundle.root, copy)
    with open(copy / "model.onnx", "r+b") as handle:
        handle.seek(100)
        handle.write(b"\x00\x01")
    with pytest.raises(BundleError, match="model.onnx does not match its sha256"):
        Bundle.load(copy)


def test_failed_export_leaves_nothing_and_keeps_the_old_bundle(tmp_path, monkeypatch):
    out = tmp_path / "b"
    good = export_model("espcn_x2", out, target="onnx")
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def broken(*args, **kwargs):
        raise ValidationError("forced mismatch")

    monkeypatch.setattr("fastip.export.validate", broken)
    with pytest.raises(ExportError, match="forced mismatch"):
        export_model("fsrcnn_x2", out, target="onnx")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["b"], "no temporary directory is left behind"
    assert Bundle.load(out).manifest.model == good.manifest.model

    with pytest.raises(ExportError):
        export_model("fsrcnn_x2", tmp_path / "new", target="onnx")
    assert not (tmp_path / "new").exists()


def test_validation_failure_is_an_error(tmp_path):
    import torch

    from fastip.export.source import resolve

    class Noisy(torch.nn.Module):
        def forward(self, x):
            return x + torch.rand_like(x)  # differs on every run: cannot validate

    source = resolve("espcn_x2")
    source.deploy = source.module = Noisy()
    with pytest.raises(ValidationError, match="does not match PyTorch"):
        export_model(source, tmp_path / "noisy", target="onnx")
    assert not (tmp_path / "noisy").exists()
