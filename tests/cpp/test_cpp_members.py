"""The C++ host reads only plain, listed, hashed members, loads the checked bytes, and refuses ONNX external data."""

from __future__ import annotations

import os
import shutil

import pytest

from fastip.images import sample_image
from tests.cpp.test_cpp_host import _run, _write_ppm, bundles, host, pytestmark  # noqa: F401 (fixtures, marks)
from tests.support import crop


def _host_run(host, bundle, tmp_path, *extra):
    src = _write_ppm(tmp_path / "in.ppm", crop(sample_image("astronaut"), 32, 32))
    return _run([str(host), str(bundle), str(src), str(tmp_path / "out.ppm"), *extra], timeout=300)


def test_symlinked_ir_weights_are_refused_even_when_the_hash_matches(host, bundles, tmp_path):
    bundle = tmp_path / "b"
    shutil.copytree(bundles["can24"], bundle)
    shutil.move(bundle / "model.bin", tmp_path / "outside.bin")
    os.symlink(tmp_path / "outside.bin", bundle / "model.bin")
    done = _host_run(host, bundle, tmp_path)
    assert done.returncode == 2 and "symbolic link" in done.stderr, done.stderr
    assert not (tmp_path / "out.ppm").exists()


@pytest.mark.parametrize("member", ["model.xml", "fastip.json"])
def test_hard_linked_members_are_refused(host, bundles, tmp_path, member):
    bundle = tmp_path / "b"
    shutil.copytree(bundles["can24"], bundle)
    os.link(bundle / member, tmp_path / "elsewhere")
    done = _host_run(host, bundle, tmp_path)
    assert done.returncode == 2 and "hard links" in done.stderr, done.stderr


@pytest.mark.parametrize("placement", ["initializer", "if_then", "loop_body", "sparse_initializer",
                                       "constant_sparse", "attribute_tensors", "function_body"])
def test_onnx_external_data_is_refused_wherever_it_sits(host, tmp_path, placement):
    from tests.reliability.test_onnx_external import DATA, model_with, write_bundle

    bundle = write_bundle(tmp_path / "b", model_with(placement, "w.bin"), {"w.bin": DATA})
    done = _host_run(host, bundle, tmp_path, "--artifact", "onnx")
    assert done.returncode == 2 and "external data" in done.stderr, done.stderr
