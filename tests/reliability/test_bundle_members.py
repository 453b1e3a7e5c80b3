"""Every file a runtime reads is a listed, hashed, plain member of the bundle, and the runtime gets the checked bytes."""

import hashlib
import json
import os
import shutil
import threading

import numpy as np
import pytest

pytest.importorskip("torch")

from fastip import runtimes  # noqa: E402
from fastip.bundle import MANIFEST, Bundle  # noqa: E402
from fastip.errors import BundleError  # noqa: E402
from tests.support import rehash_manifest, requires_openvino  # noqa: E402

X = np.random.default_rng(7).random((1, 3, 32, 40), np.float32)


@pytest.fixture
def bundle_copy(can_bundle, tmp_path):
    root = tmp_path / "b"
    shutil.copytree(can_bundle.root, root)
    return root


def _output(root_or_bundle, backend: str, **options) -> np.ndarray:
    with runtimes.open(root_or_bundle, backend, **options) as session:
        return session.run({"input": X})["output"]


def _set_hash(root, name: str, digest: str | None) -> None:
    data = json.loads((root / MANIFEST).read_text())
    if digest is None:
        del data["files"][name]
    else:
        data["files"][name] = digest
    (root / MANIFEST).write_text(json.dumps(data))


def _scaled_onnx(path) -> bytes:
    """The same model with its first floating-point initializer doubled: loads fine, computes something else."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    for tensor in model.graph.initializer:
        array = numpy_helper.to_array(tensor)
        if array.dtype == np.float32 and array.size > 1:
            tensor.CopyFrom(numpy_helper.from_array(array * 2 + 0.5, tensor.name))
            break
    return model.SerializeToString()


@requires_openvino
@pytest.mark.parametrize("target", ["copy", "/etc/passwd"])
def test_symlinked_ir_weights_are_refused_even_when_the_hash_matches(bundle_copy, tmp_path, target):
    outside = tmp_path / "outside.bin"
    shutil.copy(bundle_copy / "model.bin", outside)
    source = outside if target == "copy" else target
    (bundle_copy / "model.bin").unlink()
    os.symlink(source, bundle_copy / "model.bin")
    _set_hash(bundle_copy, "model.bin", hashlib.sha256(open(source, "rb").read()).hexdigest())
    with pytest.raises(BundleError, match="symbolic link"):
        runtimes.open(bundle_copy, "openvino")


@requires_openvino
def test_unlisted_ir_weights_are_refused(bundle_copy):
    _set_hash(bundle_copy, "model.bin", None)
    with pytest.raises(BundleError, match="reads model.bin, which has no sha256"):
        runtimes.open(bundle_copy, "openvino")


@pytest.mark.parametrize("member", ["model.onnx", "weights.safetensors", MANIFEST])
def test_hard_linked_members_are_refused(bundle_copy, tmp_path, member):
    os.link(bundle_copy / member, tmp_path / "elsewhere")
    with pytest.raises(BundleError, match="hard links"):
        Bundle.load(bundle_copy)


def test_symlinked_manifest_is_refused(bundle_copy, tmp_path):
    shutil.move(bundle_copy / MANIFEST, tmp_path / "real.json")
    os.symlink(tmp_path / "real.json", bundle_copy / MANIFEST)
    with pytest.raises(BundleError, match="symbolic link"):
        Bundle.load(bundle_copy)


def test_a_fifo_member_is_refused_without_blocking(bundle_copy):
    (bundle_copy / "weights.safetensors").unlink()
    os.mkfifo(bundle_copy / "weights.safetensors")
    outcome = []

    def load():
        try:
            Bundle.load(bundle_copy)
        except BundleError as exc:
            outcome.append(str(exc))

    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    worker.join(timeout=30)
    assert outcome and "not a regular file" in outcome[0]


def test_a_bundle_directory_reached_through_a_symlink_still_opens(can_bundle, tmp_path):
    """The caller's own path may be a link; only the members inside are held to plain files."""
    os.symlink(can_bundle.root, tmp_path / "link")
    np.testing.assert_array_equal(_output(tmp_path / "link", "ort"), _output(can_bundle.root, "ort"))


@pytest.mark.parametrize("backend,member", [("ort", "model.onnx"), ("torch", "weights.safetensors"),
                                            pytest.param("openvino", "model.bin", marks=requires_openvino)])
def test_a_member_swapped_after_verification_is_refused(bundle_copy, backend, member):
    bundle = Bundle.load(bundle_copy)  # verified here
    path = bundle_copy / member
    path.write_bytes(_scaled_onnx(path) if member.endswith(".onnx") else path.read_bytes()[::-1])
    with pytest.raises(BundleError, match=f"{member} does not match its sha256"):
        runtimes.open(bundle, backend)


def _swap_on_call(monkeypatch, owner, attribute: str, path, evil: bytes) -> list:
    """Make `owner.attribute` replace `path` with `evil` just before it runs: a swap between check and load."""
    real = getattr(owner, attribute)
    calls = []

    def swapping(*args, **kwargs):
        path.write_bytes(evil)
        calls.append(attribute)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, attribute, swapping)
    return calls


def test_ort_runs_the_verified_model_when_the_file_is_swapped_during_load(bundle_copy, monkeypatch):
    import onnxruntime

    expected = _output(bundle_copy, "ort")
    path = bundle_copy / "model.onnx"
    evil = _scaled_onnx(path)
    calls = _swap_on_call(monkeypatch, onnxruntime, "InferenceSession", path, evil)
    got = _output(bundle_copy, "ort")
    assert calls and path.read_bytes() == evil
    np.testing.assert_array_equal(got, expected)
    monkeypatch.undo()
    rehash_manifest(bundle_copy)
    assert not np.array_equal(_output(bundle_copy, "ort"), expected)  # the swapped file really computes otherwise


@requires_openvino
def test_openvino_runs_the_verified_ir_when_the_weights_are_swapped_during_load(bundle_copy, monkeypatch):
    import openvino as ov

    expected = _output(bundle_copy, "openvino")
    path = bundle_copy / "model.bin"
    evil = np.frombuffer(path.read_bytes(), np.uint8)[::-1].tobytes()
    calls = _swap_on_call(monkeypatch, ov.Core, "read_model", path, evil)
    got = _output(bundle_copy, "openvino")
    assert calls and path.read_bytes() == evil
    np.testing.assert_allclose(got, expected, rtol=0, atol=0)


def test_torch_runs_the_verified_weights_when_the_file_is_swapped_during_load(bundle_copy, monkeypatch):
    import safetensors.torch

    expected = _output(bundle_copy, "torch")
    path = bundle_copy / "weights.safetensors"
    state = safetensors.torch.load(path.read_bytes())
    evil = safetensors.torch.save({k: v * 2 if v.is_floating_point() else v for k, v in state.items()})
    calls = _swap_on_call(monkeypatch, safetensors.torch, "load", path, evil)
    got = _output(bundle_copy, "torch")
    assert calls and path.read_bytes() == evil
    np.testing.assert_array_equal(got, expected)
