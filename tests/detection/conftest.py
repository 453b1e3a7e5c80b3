"""Face-detector fixtures: sessions over random and MediaPipe weights, and exported bundles."""

from __future__ import annotations

import pytest

from fastip.errors import MissingDependencyError
from fastip.spec import TensorSpec
from tests.support import has

# BlazeFace front (MediaPipe weights) on skimage's astronaut, measured once: (xmin, ymin, xmax, ymax) pixels.
ASTRONAUT_FACE = (177.3, 80.6, 271.8, 175.1)


def torch_session(module, size: int):
    """A torch Session over a BlazeFace module, named as the exporter names it."""
    from fastip.runtimes.torch import TorchSession

    return TorchSession(module, [TensorSpec("input", ("N", 3, size, size))],
                        [TensorSpec("regressors", ("N", 896, 16), layout="N..."),
                         TensorSpec("scores", ("N", 896, 1), layout="N...")])


def mediapipe_module(name: str = "blazeface_front"):
    """A BlazeFace with MediaPipe's weights, or skip when the weights or the TFLite schema are not installed."""
    pytest.importorskip("torch")
    if not has("tflite"):
        pytest.skip("needs the tflite schema package: pip install 'fastip[face]'")
    from fastip import models

    try:
        return models.get(name).build(weights="mediapipe")
    except MissingDependencyError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def front_io():
    from fastip import models

    pytest.importorskip("torch")
    return models.get("blazeface_front").io


@pytest.fixture(scope="session")
def random_weights(tmp_path_factory):
    """A seeded random-weight BlazeFace front checkpoint, for tests that need no real weights."""
    torch = pytest.importorskip("torch")
    from fastip.models.checkpoint import save_state_dict
    from fastip.models.face import BlazeFace

    torch.manual_seed(0)
    return save_state_dict(BlazeFace().state_dict(), tmp_path_factory.mktemp("weights") / "random.safetensors")


@pytest.fixture(scope="session")
def random_front_session(random_weights):
    from fastip import models

    return torch_session(models.get("blazeface_front").build(weights=str(random_weights)), 128)


@pytest.fixture(scope="session")
def mediapipe_front_session():
    return torch_session(mediapipe_module(), 128)


@pytest.fixture(scope="session")
def random_bundle(tmp_path_factory, random_weights):
    """blazeface_front exported to ONNX with random weights."""
    from fastip.export import export_model

    return export_model("blazeface_front", tmp_path_factory.mktemp("bundles") / "random_face", target="onnx",
                        weights=str(random_weights))


@pytest.fixture(scope="session")
def mediapipe_bundle(tmp_path_factory):
    """blazeface_front with MediaPipe weights, exported to ONNX and (when installed) OpenVINO IR."""
    mediapipe_module()  # skips when the weights are unavailable
    from fastip.export import export_model

    target = "openvino" if has("openvino") else "onnx"
    return export_model("blazeface_front", tmp_path_factory.mktemp("bundles") / "blazeface_front", target=target)
