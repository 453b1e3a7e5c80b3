"""The C++ host in examples/cpp: built with CMake, run on real images, compared with the Python Session.

Tolerances: the host's input tensors equal fastip.pipeline.to_tensor (and the detector letterbox) bit
for bit; raw float32 outputs agree with the Python OpenVINO Session within 1e-4 absolute; uint8 images
within 1 LSB; detections have the same count, boxes and keypoints within 1e-3 px, scores within 1e-5.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from fastip.images import sample_image
from tests.support import crop, has, perturbed_source

REPO = Path(__file__).resolve().parents[2]
SOURCE = REPO / "examples" / "cpp"
FLOAT_ATOL = 1e-4
BOX_ATOL = 1e-3
SCORE_ATOL = 1e-5


def _missing_tools() -> list[str]:
    missing = [tool for tool in ("cmake",) if shutil.which(tool) is None]
    if not any(shutil.which(cxx) for cxx in ("c++", "g++", "clang++")):
        missing.append("a C++17 compiler (apt-get install g++)")
    if not any(Path(d, "nlohmann", "json.hpp").is_file() for d in ("/usr/include", "/usr/local/include")):
        missing.append("nlohmann-json (apt-get install nlohmann-json3-dev)")
    if not has("openvino"):
        missing.append("openvino (pip install 'fastip[openvino]')")
    return missing


pytestmark = [pytest.mark.openvino, pytest.mark.slow,
              pytest.mark.skipif(bool(_missing_tools()), reason=f"C++ host needs {', '.join(_missing_tools())}")]


def _run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, **kwargs)


@pytest.fixture(scope="module")
def host() -> Path:
    """The built fastip_host (FASTIP_CPP_BUILD, default build/cpp: the directory examples/cpp/ci.sh builds)."""
    import fcntl

    from fastip.cli.cpp_cmd import cpp_paths

    build = Path(os.environ.get("FASTIP_CPP_BUILD", REPO / "build" / "cpp"))
    build.mkdir(parents=True, exist_ok=True)
    with open(build / ".build-lock", "w") as lock:  # two test runs must not build into one tree at once
        fcntl.flock(lock, fcntl.LOCK_EX)
        steps = (["cmake", "-S", str(SOURCE), "-B", str(build), *cpp_paths().cmake_args()],
                 ["cmake", "--build", str(build), "-j2"])
        for step in steps:
            done = _run(step, timeout=900)
            assert done.returncode == 0, f"{' '.join(step)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    exe = build / "fastip_host"
    assert exe.is_file()
    return exe


def _source(name: str):
    """A shipped trained weight when the registry has one, else seeded random weights (a non-trivial function)."""
    from fastip import models
    from fastip.export.source import resolve

    shipped = list(models.get(name).weights)
    return resolve(name, weights=shipped[0]) if shipped else perturbed_source(name)


@pytest.fixture(scope="module")
def bundles(tmp_path_factory) -> dict[str, Path]:
    from fastip.export import export_model

    root = tmp_path_factory.mktemp("cpp-bundles")
    out = {}
    for name in ("can24", "espcn_x2"):
        out[name] = export_model(_source(name), root / name, target="openvino").root
    return out


@pytest.fixture(scope="module")
def face_bundle(tmp_path_factory) -> tuple[Path, bool]:
    """A BlazeFace bundle and whether it has the trained MediaPipe weights (else seeded random ones)."""
    from fastip import models
    from fastip.errors import MissingDependencyError
    from fastip.export import export_model

    if "blazeface_front" not in models.list_models():
        pytest.skip("the face family is not registered")
    out = tmp_path_factory.mktemp("cpp-face") / "face"
    try:
        return export_model("blazeface_front", out, target="openvino").root, True
    except MissingDependencyError:  # the MediaPipe weights come from an optional package
        # random weights still give a few detections above the threshold and many NMS candidates
        return export_model(perturbed_source("blazeface_front"), out, target="openvino").root, False


def _write_ppm(path: Path, image: np.ndarray) -> Path:
    from PIL import Image

    Image.fromarray(image).save(path)
    return path


def _read_f32(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    data = np.fromfile(path, dtype=np.float32)
    assert data.size == int(np.prod(shape)), f"{path}: {data.size} floats, expected shape {shape}"
    return data.reshape(shape)


def _edit_manifest(bundle: Path, target: Path, edit) -> Path:
    """A copy of a bundle with `edit(text) -> text` applied to its manifest (model files unchanged)."""
    shutil.copytree(bundle, target)
    path = target / "fastip.json"
    path.write_text(edit(path.read_text()))
    return target


def _with_io(bundle: Path, target: Path, **io) -> Path:
    """A copy of a bundle whose manifest has other pre/post-processing."""
    return _edit_manifest(bundle, target, lambda text: json.dumps({**json.loads(text), "io": {**json.loads(text)["io"], **io}}))


def _check_image_model(host: Path, bundle: Path, image: np.ndarray, tmp_path: Path) -> None:
    from fastip import runtimes
    from fastip.bundle import Bundle
    from fastip.pipeline import ImagePipeline, to_tensor

    src = _write_ppm(tmp_path / "in.ppm", image)
    done = _run([str(host), str(bundle), str(src), str(tmp_path / "out.ppm"),
                 "--raw", str(tmp_path / "out.f32"), "--raw-input", str(tmp_path / "in.f32")], timeout=300)
    assert done.returncode == 0, done.stderr

    loaded = Bundle.load(bundle)
    io = loaded.manifest.io
    h, w = image.shape[:2]
    m = io.size_multiple
    padded_shape = (1, 3, h + (-h % m), w + (-w % m))
    with runtimes.open(loaded, "openvino") as session:
        pipeline = ImagePipeline(session, io)
        expected_image = pipeline(image)
        # the host's own input tensor, so the float comparison isolates the model run
        x = _read_f32(tmp_path / "in.f32", padded_shape)
        if m == 1:
            np.testing.assert_array_equal(x, to_tensor(image, io))
        expected = session.run({session.inputs[0].name: x})[session.outputs[0].name]
    got = _read_f32(tmp_path / "out.f32", expected.shape)
    np.testing.assert_allclose(got, expected, rtol=0, atol=FLOAT_ATOL)

    from fastip.images import read_image

    got_image = read_image(tmp_path / "out.ppm")
    assert got_image.shape == expected_image.shape == (h * io.scale_factor, w * io.scale_factor, 3)
    assert np.abs(got_image.astype(int) - expected_image.astype(int)).max() <= 1


def test_can_matches_python(host, bundles, tmp_path):
    _check_image_model(host, bundles["can24"], crop(sample_image("astronaut"), 96, 128, 40, 150), tmp_path)


def test_sr_matches_python(host, bundles, tmp_path):
    _check_image_model(host, bundles["espcn_x2"], crop(sample_image("coffee"), 75, 113, 100, 200), tmp_path)


def test_onnx_artifact_matches_ir(host, bundles, tmp_path):
    """`--artifact onnx` reads model.onnx through OpenVINO's ONNX frontend; it agrees with the IR."""
    src = _write_ppm(tmp_path / "in.ppm", crop(sample_image("rocket"), 48, 64, 100, 100))
    outputs = {}
    for role in ("openvino", "onnx"):
        done = _run([str(host), str(bundles["can24"]), str(src), "--artifact", role, "--raw", str(tmp_path / f"{role}.f32")],
                    timeout=300)
        assert done.returncode == 0 and f"can24, {role}," in done.stderr, done.stderr
        outputs[role] = _read_f32(tmp_path / f"{role}.f32", (1, 3, 48, 64))
    np.testing.assert_allclose(outputs["onnx"], outputs["openvino"], rtol=0, atol=FLOAT_ATOL)


def test_manifest_drives_preprocessing(host, bundles, tmp_path):
    """Colour order, value range, mean/std and size_multiple padding come from the manifest, not the code."""
    bundle = _with_io(bundles["can24"], tmp_path / "bgr", colour_order="BGR", value_range=[-1.0, 1.0],
                      mean=[0.1, -0.2, 0.3], std=[0.5, 0.75, 1.25], size_multiple=8)
    _check_image_model(host, bundle, crop(sample_image("chelsea"), 61, 77, 50, 80), tmp_path)


@pytest.mark.parametrize("image_name, shape", [("astronaut", (512, 512)), ("grace_hopper", (600, 512)),
                                               ("astronaut", (70, 50))])
def test_face_matches_python(host, face_bundle, tmp_path, image_name, shape):
    """Same letterboxed input bit for bit (Pillow's bilinear resize), same detections after decode + NMS."""
    from fastip.detection import FacePipeline

    face_bundle, trained = face_bundle

    image = sample_image(image_name)
    image = crop(image, *shape, (image.shape[0] - shape[0]) // 2, (image.shape[1] - shape[1]) // 2)
    src = _write_ppm(tmp_path / "in.ppm", image)
    done = _run([str(host), str(face_bundle), str(src), "--boxes", str(tmp_path / "boxes.json"),
                 "--raw-input", str(tmp_path / "in.f32")], timeout=300)
    assert done.returncode == 0, done.stderr
    got = json.loads((tmp_path / "boxes.json").read_text())

    with FacePipeline.open(face_bundle, "openvino") as pipeline:
        x, _ = pipeline.preprocess(image)
        np.testing.assert_array_equal(_read_f32(tmp_path / "in.f32", x.shape), x)
        expected = pipeline(image)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g["box"], e.box, rtol=0, atol=BOX_ATOL)
        np.testing.assert_allclose(g["keypoints"], e.keypoints, rtol=0, atol=BOX_ATOL)
        assert abs(g["score"] - e.score) <= SCORE_ATOL
    if trained and image_name == "astronaut" and shape == (512, 512):
        assert len(got) == 1  # one face, found by both


def test_pgm_and_png(host, bundles, tmp_path):
    from PIL import Image

    gray = sample_image("astronaut")[:64, :80, 0]
    Image.fromarray(gray).save(tmp_path / "in.pgm")
    done = _run([str(host), str(bundles["can24"]), str(tmp_path / "in.pgm"), str(tmp_path / "out.ppm")], timeout=300)
    assert done.returncode == 0, done.stderr
    png = _run([str(host), str(bundles["can24"]), str(tmp_path / "in.pgm"), str(tmp_path / "out.png")], timeout=300)
    if "without libpng" in png.stderr:
        pytest.skip("host built without libpng")
    assert png.returncode == 0, png.stderr
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "out.png")), np.asarray(Image.open(tmp_path / "out.ppm")))

    # PNG input with translucent pixels and a palette one: read as fastip.images.read_image does (alpha dropped)
    from fastip.images import read_image
    from fastip.manifest import Manifest
    from fastip.pipeline import to_tensor

    io = Manifest.from_json((bundles["can24"] / "fastip.json").read_text()).io
    rgba = np.random.default_rng(0).integers(0, 256, (20, 30, 4), dtype=np.uint8)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    Image.fromarray(rgba[..., :3]).convert("P").save(tmp_path / "palette.png")
    for name in ("rgba.png", "palette.png"):
        done = _run([str(host), str(bundles["can24"]), str(tmp_path / name), "--raw", str(tmp_path / "o.f32"),
                     "--raw-input", str(tmp_path / "x.f32")], timeout=300)
        assert done.returncode == 0, done.stderr
        np.testing.assert_array_equal(_read_f32(tmp_path / "x.f32", (1, 3, 20, 30)), to_tensor(read_image(tmp_path / name), io))


def _set(key_path: tuple[str, ...], value):
    def edit(text: str) -> str:
        data = json.loads(text)
        node = data
        for key in key_path[:-1]:
            node = node[key]
        if value is _DELETE:
            del node[key_path[-1]]
        else:
            node[key_path[-1]] = value
        return json.dumps(data)
    return edit


_DELETE = object()


@pytest.mark.parametrize("edit, message", [
    (lambda text: text[: len(text) // 2], "not valid JSON"),
    (_set(("io",), _DELETE), "missing key 'io'"),
    (_set(("artifacts", "onnx"), "../model.onnx"), "not a plain file name"),
    (_set(("files", "/etc/passwd"), "0" * 64), "not a plain file name"),
    (_set(("io", "colour_order"), "YUV"), "colour_order"),
    (_set(("schema_version",), 99), "newer than this host"),
    (_set(("files", "model.xml"), "0" * 64), "does not match its sha256"),
], ids=["truncated", "no-io", "traversal", "absolute-file", "colour-order", "future-schema", "sha-mismatch"])
def test_bad_manifest_is_refused(host, bundles, tmp_path, edit, message):
    bundle = _edit_manifest(bundles["can24"], tmp_path / "bad", edit)
    src = _write_ppm(tmp_path / "in.ppm", crop(sample_image("astronaut"), 32, 32))
    done = _run([str(host), str(bundle), str(src), str(tmp_path / "out.ppm")], timeout=300)
    assert done.returncode == 2
    assert done.stderr.startswith("fastip_host: error: ") and message in done.stderr, done.stderr
    assert not (tmp_path / "out.ppm").exists()


@pytest.mark.parametrize("damage", ["missing", "modified"])
def test_damaged_model_file_is_refused(host, bundles, tmp_path, damage):
    bundle = tmp_path / "damaged"
    shutil.copytree(bundles["can24"], bundle)
    if damage == "missing":
        (bundle / "model.bin").unlink()
    else:
        with open(bundle / "model.xml", "ab") as f:
            f.write(b" ")
    src = _write_ppm(tmp_path / "in.ppm", crop(sample_image("astronaut"), 32, 32))
    done = _run([str(host), str(bundle), str(src), str(tmp_path / "out.ppm")], timeout=300)
    assert done.returncode == 2
    expected = "is missing model.bin" if damage == "missing" else "does not match its sha256"
    assert expected in done.stderr, done.stderr


def test_bad_arguments(host, bundles, tmp_path):
    no_bundle = _run([str(host), str(tmp_path / "nowhere"), "x.ppm", "y.ppm"], timeout=60)
    assert no_bundle.returncode == 2 and "bundle not found" in no_bundle.stderr
    (tmp_path / "in.jpg").write_bytes(b"\xff\xd8\xff not a ppm")
    bad_image = _run([str(host), str(bundles["can24"]), str(tmp_path / "in.jpg"), str(tmp_path / "o.ppm")], timeout=300)
    assert bad_image.returncode == 2 and "PPM" in bad_image.stderr
    usage = _run([str(host), str(bundles["can24"])], timeout=60)
    assert usage.returncode == 2 and "BUNDLE INPUT" in usage.stderr


@pytest.mark.parametrize("colour_type, channels, bit_depth", [(0, 1, 16), (2, 3, 16), (4, 2, 16), (6, 4, 16), (0, 1, 1)],
                         ids=["grey16", "rgb16", "grey-alpha16", "rgba16", "one-bit"])
def test_png_tones_match_python(host, bundles, tmp_path, colour_type, channels, bit_depth):
    """16-bit samples become round(v * 255 / 65535) in both readers; 1-bit becomes 0/255: the same input tensor."""
    from fastip.images import read_image
    from fastip.manifest import Manifest
    from fastip.pipeline import to_tensor
    from tests.images_support import png_bytes

    io = Manifest.from_json((bundles["can24"] / "fastip.json").read_text()).io
    samples = np.random.default_rng(colour_type).integers(0, 2 ** bit_depth, (21, 30, channels))
    samples[0, 0] = 2 ** bit_depth - 1
    path = tmp_path / "in.png"
    path.write_bytes(png_bytes(samples, colour_type, bit_depth=bit_depth))
    done = _run([str(host), str(bundles["can24"]), str(path), "--raw", str(tmp_path / "o.f32"),
                 "--raw-input", str(tmp_path / "x.f32")], timeout=300)
    if "without libpng" in done.stderr:
        pytest.skip("host built without libpng")
    assert done.returncode == 0, done.stderr
    expected = to_tensor(read_image(path), io)
    np.testing.assert_array_equal(_read_f32(tmp_path / "x.f32", expected.shape), expected)


def test_size_limits_match_python(host, bundles, tmp_path):
    """Declared sizes above 150 MP are refused from the header; image models refuse above 64 MP, as in Python."""
    from tests.images_support import png_bomb

    cases = {"bomb.png": png_bomb(30000, 30000), "bomb.ppm": b"P6\n20000 20000\n255\n",
             "big.png": png_bomb(9000, 9000, complete=True)}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        done = _run([str(host), str(bundles["can24"]), str(tmp_path / name), str(tmp_path / "o.ppm")], timeout=300)
        assert done.returncode == 2 and done.stderr.startswith("fastip_host: error: "), done.stderr
        assert ("150 MP image limit" if "bomb" in name else "above the 64 MP limit") in done.stderr, done.stderr
        assert not (tmp_path / "o.ppm").exists()


def test_imported_onnx_bundle_matches_python(host, tmp_path):
    """A bundle made from an existing NHWC ONNX file (Transposes added at the edges) runs in the host unchanged."""
    import torch
    from torch import nn

    from fastip.export import export_model
    from fastip.export.onnx_import import ImportOptions, import_onnx

    class NhwcSR(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 12, 3, padding=1)

        def forward(self, x):
            y = torch.sigmoid(nn.functional.pixel_shuffle(self.conv(x.permute(0, 3, 1, 2)), 2))
            return y.permute(0, 2, 3, 1)

    torch.manual_seed(0)
    path = tmp_path / "nhwc_sr.onnx"
    torch.onnx.export(NhwcSR().eval(), (torch.zeros(1, 32, 40, 3),), str(path), dynamo=False, opset_version=17,
                      input_names=["img"], output_names=["up"], dynamic_axes={"img": {1: "h", 2: "w"}, "up": {1: "h2", 2: "w2"}})
    bundle = export_model(import_onnx(path, ImportOptions(family="sr", layout="NHWC")), tmp_path / "b", target="openvino")
    _check_image_model(host, bundle.root, crop(sample_image("coffee"), 57, 71, 100, 200), tmp_path)
