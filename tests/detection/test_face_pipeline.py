"""FacePipeline end to end: the MediaPipe model finds the astronaut's face on every backend, and bad input fails."""

import numpy as np
import pytest

from fastip.detection import FacePipeline, compare_detections
from fastip.detection.nms import iou_matrix
from fastip.errors import BundleError, InputError
from fastip.images import sample_image
from fastip.spec import ImageIO
from tests.detection.conftest import ASTRONAUT_FACE
from tests.support import has


def iou(a, b) -> float:
    return float(iou_matrix(np.array([a]), np.array([b]))[0, 0])


def test_astronaut_face_on_torch(mediapipe_front_session, front_io):
    faces = FacePipeline(mediapipe_front_session, front_io)(sample_image("astronaut"))
    assert len(faces) == 1
    face = faces[0]
    assert iou(face.box, ASTRONAUT_FACE) >= 0.7
    assert face.score > 0.85
    assert len(face.keypoints) == 6
    xmin, ymin, xmax, ymax = face.box
    right_eye, left_eye, nose = face.keypoints[:3]
    for x, y in (right_eye, left_eye, nose):
        assert xmin <= x <= xmax and ymin <= y <= ymax
    assert right_eye[0] < left_eye[0]  # the subject's right eye is on the image's left


def test_grace_hopper_face_and_no_face_in_coffee(mediapipe_front_session, front_io):
    pipeline = FacePipeline(mediapipe_front_session, front_io)
    faces = pipeline(sample_image("grace_hopper"))
    assert len(faces) == 1 and faces[0].score > 0.85
    assert 150 < faces[0].width < 250  # her face spans about 200 px of the 512x600 image
    assert pipeline(sample_image("coffee")) == []


@pytest.mark.parametrize("backend", ["torch", "ort", pytest.param("openvino", marks=pytest.mark.openvino)])
def test_backends_find_the_same_face(mediapipe_bundle, mediapipe_front_session, front_io, backend):
    if not has({"torch": "torch", "ort": "onnxruntime", "openvino": "openvino"}[backend]):
        pytest.skip(f"backend {backend} is not installed")
    image = sample_image("astronaut")
    reference = FacePipeline(mediapipe_front_session, front_io)(image)
    with FacePipeline.open(mediapipe_bundle.root, backend) as pipeline:
        faces = pipeline(image)
        assert pipeline(sample_image("coffee")) == []
    assert len(faces) == 1 and iou(faces[0].box, ASTRONAUT_FACE) >= 0.7
    agreement = compare_detections(faces, reference)
    assert agreement.recall == agreement.precision == 1.0
    assert agreement.min_iou > 0.99 and agreement.max_score_diff < 1e-3


def test_options_limit_and_validate(random_front_session, front_io):
    pipeline = FacePipeline(random_front_session, front_io, score_threshold=0.0, max_faces=3)
    assert len(pipeline(sample_image("astronaut"))) <= 3
    for bad in ({"score_threshold": 1.5}, {"iou_threshold": -0.1}, {"max_faces": 0}, {"score_threshold": "high"}):
        with pytest.raises(InputError):
            FacePipeline(random_front_session, front_io, **bad)


def test_bad_images_are_rejected(random_front_session, front_io):
    pipeline = FacePipeline(random_front_session, front_io)
    astronaut = sample_image("astronaut")
    bad = {
        "grayscale": astronaut[..., 0],
        "rgba": np.dstack([astronaut, np.full(astronaut.shape[:2], 255, np.uint8)]),
        "zero-size": np.zeros((0, 10, 3), np.uint8),
        "float": astronaut.astype(np.float32) / 255,
    }
    for what, image in bad.items():
        with pytest.raises(InputError):
            pipeline(image)


def test_image_models_are_not_detectors(random_front_session):
    with pytest.raises(BundleError, match="needs a detector"):
        FacePipeline(random_front_session, ImageIO())


def test_outputs_found_by_shape_when_names_differ(front_io):
    rng = np.random.default_rng(0)
    outputs = {"output0": rng.normal(size=(1, 896, 16)).astype(np.float32),
               "output1": rng.normal(size=(1, 896, 1)).astype(np.float32)}
    session = type("S", (), {"inputs": [type("T", (), {"name": "input"})()]})()
    pipeline = FacePipeline(session, front_io)
    regressors, scores = pipeline.raw_outputs(outputs)
    assert regressors is outputs["output0"] and scores is outputs["output1"]
    with pytest.raises(BundleError, match="cannot tell"):
        pipeline.raw_outputs({"a": outputs["output1"], "b": outputs["output1"]})
