"""Shared fixtures: real images, perturbed models and exported bundles, isolated from the user's home."""

from __future__ import annotations

import numpy as np
import pytest

from fastip.images import sample_image
from tests.support import has, perturbed_source


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """ONNX Runtime and OpenVINO write under ~; tests must not depend on the user's home."""
    home = tmp_path_factory.getbasetemp() / "home"
    home.mkdir(exist_ok=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    return sample_image("astronaut")


@pytest.fixture(scope="session")
def can_bundle(tmp_path_factory):
    """A can24 bundle (ONNX + OpenVINO IR) with perturbed weights, exported once per test run."""
    from fastip.export import export_model

    target = "openvino" if has("openvino") else "onnx"
    return export_model(perturbed_source("can24"), tmp_path_factory.mktemp("bundles") / "can24", target=target)
