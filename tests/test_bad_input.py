"""Bad input: each case is one FastipError whose message says what to do."""

import shutil

import numpy as np
import pytest

pytest.importorskip("torch")

from fastip import runtimes  # noqa: E402
from fastip.bundle import MANIFEST, Bundle  # noqa: E402
from fastip.errors import BundleError, FastipError, InputError, MissingDependencyError  # noqa: E402


def _feed(h=32, w=40, c=3, dtype=np.float32):
    return {"input": np.random.default_rng(0).random((1, c, h, w)).astype(dtype)}


def test_missing_bundle(tmp_path):
    with pytest.raises(BundleError, match="not a directory"):
        runtimes.open(tmp_path / "nothing", "ort")
    with pytest.raises(BundleError, match="has no fastip.json"):
        runtimes.open(tmp_path, "ort")


def test_corrupt_onnx_with_consistent_manifest(can_bundle, tmp_path):
    from tests.support import rehash_manifest

    copy = tmp_path / "corrupt"
    shutil.copytree(can_bundle.root, copy)
    (copy / "model.onnx").write_bytes(b"\x08\x07garbage that is no protobuf")
    rehash_manifest(copy)
    with pytest.raises(BundleError, match="model.onnx is not a readable ONNX model"):
        runtimes.open(copy, "ort")


@pytest.mark.parametrize("text, message", [
    ("{", "not valid JSON"),
    ("[]", "top level must be a JSON object"),
    ('{"schema_version": 1}', "missing key"),
])
def test_malformed_manifest(can_bundle, tmp_path, text, message):
    copy = tmp_path / "bad"
    shutil.copytree(can_bundle.root, copy)
    (copy / MANIFEST).write_text(text)
    with pytest.raises(BundleError, match=message):
        Bundle.load(copy)


def test_traversal_in_manifest_is_rejected(can_bundle, tmp_path):
    import json

    copy = tmp_path / "evil"
    shutil.copytree(can_bundle.root, copy)
    data = json.loads((copy / MANIFEST).read_text())
    data["artifacts"]["onnx"] = "../../etc/passwd"
    (copy / MANIFEST).write_text(json.dumps(data))
    with pytest.raises(BundleError, match="not a plain file name"):
        Bundle.load(copy)


@pytest.mark.parametrize("backend", ["ort", "torch"] + (["openvino"] if __import__("importlib").util.find_spec("openvino") else []))
def test_feed_checks(can_bundle, backend):
    with runtimes.open(can_bundle, backend) as session:
        assert session.run(_feed())["output"].shape == (1, 3, 32, 40)
        with pytest.raises(InputError, match="needs 3 channels, got 4"):
            session.run(_feed(c=4))
        with pytest.raises(InputError, match="must be float32, got float64"):
            session.run(_feed(dtype=np.float64))
        with pytest.raises(InputError, match="must have rank 4"):
            session.run({"input": np.zeros((3, 8, 8), np.float32)})
        with pytest.raises(InputError, match="takes \\['input'\\]"):
            session.run({"image": np.zeros((1, 3, 8, 8), np.float32)})
        with pytest.raises(InputError, match="empty axis"):
            session.run({"input": np.zeros((1, 3, 0, 8), np.float32)})
    with pytest.raises(InputError, match="closed"):
        session.run(_feed())


def test_unknown_backend_names_choices(can_bundle):
    with pytest.raises(InputError, match="unknown backend 'tensorflow'; choose from torch, ort, openvino, trt"):
        runtimes.open(can_bundle, "tensorflow")


def test_missing_optional_dependency(can_bundle, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "openvino" else real(name, *a))
    with pytest.raises(MissingDependencyError, match=r"pip install 'fastip\[openvino\]'.*available here: torch, ort"):
        runtimes.open(can_bundle, "openvino")


def test_missing_precision_artifact(can_bundle):
    with pytest.raises(BundleError, match="no int8 artifact.*--precision int8"):
        runtimes.open(can_bundle, "ort", precision="int8")


def test_pipeline_rejects_bad_images(can_bundle):
    from fastip.pipeline import open_pipeline

    with open_pipeline(can_bundle.root, "ort") as pipeline:
        for image, message in [
            (np.zeros((8, 8), np.uint8), "HxWx3 RGB"),
            (np.zeros((8, 8, 4), np.uint8), "HxWx3 RGB"),
            (np.zeros((8, 8, 3), np.float32), "uint8"),
            (np.zeros((0, 8, 3), np.uint8), "zero size"),
        ]:
            with pytest.raises(FastipError, match=message):
                pipeline(image)
