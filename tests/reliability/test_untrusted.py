"""Files from strangers: pickles are not executed, ONNX external data cannot leave the bundle, hashes are enforced."""

import pickle
import shutil

import numpy as np
import pytest

pytest.importorskip("torch")

from fastip import runtimes  # noqa: E402
from fastip.bundle import Bundle  # noqa: E402
from fastip.errors import BundleError, InputError  # noqa: E402
from fastip.models.checkpoint import load_state_dict  # noqa: E402
from tests.support import rehash_manifest  # noqa: E402

MARKER = "/tmp/fastip-pwned-by-pickle"


class Payload:
    def __reduce__(self):
        return (open, (MARKER, "w"))


def test_pickled_code_is_not_executed(tmp_path):
    import os

    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps({"weight": Payload()}))
    with pytest.raises(BundleError, match="weights_only=True"):
        load_state_dict(path)
    assert not os.path.exists(MARKER)


def test_missing_and_garbage_weights(tmp_path):
    with pytest.raises(InputError, match="weight file not found"):
        load_state_dict(tmp_path / "none.pt")
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 40)
    with pytest.raises(BundleError, match="cannot read weights"):
        load_state_dict(tmp_path / "junk.safetensors")


@pytest.mark.parametrize("location", ["../secret.bin", "/etc/hostname", "sub/../../x.bin"])
def test_external_data_outside_the_bundle_is_refused(can_bundle, tmp_path, location):
    import onnx

    root = tmp_path / "b"
    shutil.copytree(can_bundle.root, root)
    model = onnx.load(str(root / "model.onnx"))
    tensor = model.graph.initializer[0]
    tensor.ClearField("raw_data")
    tensor.ClearField("float_data")
    tensor.data_location = onnx.TensorProto.EXTERNAL
    entry = tensor.external_data.add()
    entry.key, entry.value = "location", location
    (tmp_path / "secret.bin").write_bytes(np.zeros(4096, np.float32).tobytes())
    onnx.save(model, str(root / "model.onnx"))
    rehash_manifest(root)
    with pytest.raises(BundleError, match="outside the model's directory"):
        runtimes.open(root, "ort")


def test_hash_mismatch_names_the_file(can_bundle, tmp_path):
    root = tmp_path / "b"
    shutil.copytree(can_bundle.root, root)
    (root / "weights.safetensors").write_bytes(b"tampered")
    with pytest.raises(BundleError, match="weights.safetensors does not match its sha256"):
        runtimes.open(root, "torch")
    assert Bundle.load(root, verify=False).manifest.model == "can24"
