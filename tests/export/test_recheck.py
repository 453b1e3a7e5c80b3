"""`fastip validate`: every artifact rerun against the reference on real images; mismatches named, non-zero exit."""

import json
import shutil

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from fastip.bundle import MANIFEST  # noqa: E402
from fastip.cli import main  # noqa: E402
from fastip.export.recheck import validate_bundle  # noqa: E402
from fastip.images import write_image  # noqa: E402
from tests.support import crop, has, rehash_manifest  # noqa: E402


@pytest.fixture
def photos(tmp_path, astronaut):
    folder = tmp_path / "photos"
    write_image(folder / "a.png", crop(astronaut, 90, 120))
    write_image(folder / "b.jpg", crop(astronaut, 77, 101, 200, 210))
    return folder


def _scaled_conv(src, dst, factor):
    """Write `src` with its first float initializer scaled: a model that no longer matches the reference."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(src))
    init = next(i for i in model.graph.initializer if numpy_helper.to_array(i).dtype == np.float32
                and numpy_helper.to_array(i).ndim == 4)
    init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) * np.float32(factor), init.name))
    onnx.save(model, str(dst))


def test_every_artifact_passes_against_pytorch(can_bundle, photos):
    result = validate_bundle(can_bundle, images=photos)
    assert result.reference.startswith("PyTorch")
    backends = {"ort", "openvino"} & set(__import__("fastip.runtimes", fromlist=["x"]).available_backends())
    runs = {(c.artifact, c.backend) for c in result.checks}
    expected = {("model.onnx", b) for b in backends}
    if "openvino" in can_bundle.manifest.artifacts and "openvino" in backends:
        expected.add(("model.xml", "openvino"))
    assert runs == expected
    assert {c.image for c in result.checks} == {"a.png@90x120", "b.jpg@77x101"}
    assert result.passed and all(c.metric == "max abs error" and c.value <= c.limit for c in result.checks)


def test_a_mismatch_names_artifact_backend_image_and_exits_1(can_bundle, photos, tmp_path, capsys):
    copy = tmp_path / "tampered"
    shutil.copytree(can_bundle.root, copy)
    _scaled_conv(copy / "model.onnx", copy / "model.onnx", 1.01)
    rehash_manifest(copy)
    rc = main.main(["validate", str(copy), "--backends", "ort", "--images", str(photos)])
    out = capsys.readouterr().out
    assert rc == 1
    assert "FAIL model.onnx on ort, a.png@90x120: max abs error" in out and "mismatch" in out


def test_reduced_precision_is_held_to_the_recorded_gate(can_bundle, photos, tmp_path):
    """An INT8 role is checked by PSNR against the gate in the manifest, not by the FP32 tolerance."""
    copy = tmp_path / "int8"
    shutil.copytree(can_bundle.root, copy)
    _scaled_conv(copy / "model.onnx", copy / "model.int8.onnx", 1.002)  # close, not bit-exact: like INT8
    data = json.loads((copy / MANIFEST).read_text())
    data["artifacts"]["onnx_int8"] = "model.int8.onnx"
    data["files"]["model.int8.onnx"] = "0" * 64  # rehashed below
    data["extra"]["quantization"] = {"thresholds": {"min_psnr_vs_fp32": 40.0}}
    (copy / MANIFEST).write_text(json.dumps(data))
    rehash_manifest(copy)
    result = validate_bundle(copy, backends=["ort"], images=photos)
    int8 = [c for c in result.checks if c.artifact == "model.int8.onnx"]
    assert int8 and all(c.metric.startswith("PSNR") and c.limit == 40.0 for c in int8)
    assert all(c.passed for c in int8), [c.line() for c in int8]
    data["extra"]["quantization"]["thresholds"]["min_psnr_vs_fp32"] = 200.0
    (copy / MANIFEST).write_text(json.dumps(data))
    rehash_manifest(copy)
    result = validate_bundle(copy, backends=["ort"], images=photos)
    assert not result.passed and {c.artifact for c in result.failures} == {"model.int8.onnx"}


@pytest.mark.skipif(not has("openvino"), reason="needs openvino")
def test_onnx_reference_when_no_pytorch_weights(tmp_path, photos, capsys):
    """A bundle imported from ONNX has no PyTorch model: its FP32 ONNX on ORT is the reference."""
    from fastip.export import export_model
    from tests.support import perturbed_source

    bundle = export_model(perturbed_source("can24"), tmp_path / "b", target="onnx")
    data = json.loads((bundle.root / MANIFEST).read_text())
    del data["artifacts"]["torch"], data["files"]["weights.safetensors"]
    (bundle.root / "weights.safetensors").unlink()
    (bundle.root / MANIFEST).write_text(json.dumps(data))
    result = validate_bundle(bundle.root, images=photos)
    assert result.reference == "model.onnx on ort"
    assert {c.backend for c in result.checks} == {"openvino"} and result.passed
    assert any("reference itself" in s for s in result.skipped)


@pytest.mark.parametrize("argv, message", [
    (["--backends", "cuda"], "unknown backend 'cuda'"),
    (["--images", "EMPTY"], "no images in"),
    (["--images", "MISSING"], "neither a folder nor an image file"),
])
def test_bad_input_is_one_line(can_bundle, tmp_path, capsys, argv, message):
    (tmp_path / "EMPTY").mkdir()
    (tmp_path / "EMPTY" / "notes.txt").write_text("x")
    argv = [a.replace("EMPTY", str(tmp_path / "EMPTY")).replace("MISSING", str(tmp_path / "nope")) for a in argv]
    assert main.main(["validate", str(can_bundle.root), *argv]) == 2
    err = [line for line in capsys.readouterr().err.strip().splitlines() if not line.startswith("warning:")]
    assert len(err) == 1 and err[0].startswith("fastip: error:") and message in err[0]
