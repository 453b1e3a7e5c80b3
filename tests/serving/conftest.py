"""Fixtures for the serving tests: the Triton server environment and a tiny CAN bundle's model repository."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support import has

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def triton_env() -> Path:
    """The Python environment tritonserver runs from; skipped (with the install hint) only where the wheel is absent."""
    from fastip.serving.triton.server import INSTALL_HINT
    from fastip.serving.triton.server_env import STAMP, ensure_server_env

    pytest.importorskip("tritonclient.http", reason=f"needs tritonclient: {INSTALL_HINT}")
    if os.environ.get("FASTIP_TRITON_ENV"):
        return Path(os.environ["FASTIP_TRITON_ENV"])
    default = ROOT / ".venv-triton"
    if (default / STAMP).is_file() or has("pytriton"):
        return ensure_server_env(default)  # reused when made with the same requirements
    pytest.skip(f"needs the nvidia-pytriton wheel's tritonserver: {INSTALL_HINT}")


@pytest.fixture(scope="session")
def trt_bundle(can_bundle, tmp_path_factory):
    """The CAN bundle plus a stand-in TensorRT engine file, so that a tensorrt_plan model is written."""
    from fastip.bundle import BundleWriter

    manifest = can_bundle.manifest
    with BundleWriter(tmp_path_factory.mktemp("trt") / "can24", base=can_bundle) as writer:
        (writer.dir / "model.engine").write_bytes(b"not an engine: Triton's tensorrt backend is absent here")
        manifest = type(manifest).from_dict(manifest.to_dict())
        manifest.artifacts["engine"] = "model.engine"
        manifest.extra["tensorrt"] = {"profile": {"input": "input", "min": [1, 3, 64, 64], "opt": [1, 3, 512, 512],
                                                  "max": [4, 3, 1024, 1024]}}
        return writer.commit(manifest)
