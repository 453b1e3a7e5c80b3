"""Weighted NMS, and the whole post-processing on arbitrary raw outputs (property tests)."""

import numpy as np
import pytest

from fastip.detection.nms import iou_matrix, weighted_nms

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402


def test_overlapping_boxes_blend_by_score():
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60]], np.float32)
    scores = np.array([0.9, 0.3, 0.6], np.float32)
    kept, kept_scores, _ = weighted_nms(boxes, scores, iou_threshold=0.3)
    np.testing.assert_allclose(kept, [[0.25, 0, 10.25, 10], [50, 50, 60, 60]], atol=1e-5)
    np.testing.assert_allclose(kept_scores, [0.9, 0.6])
    assert len(weighted_nms(boxes, scores, iou_threshold=0.3, max_detections=1)[0]) == 1


def test_iou_of_degenerate_boxes_is_zero():
    assert iou_matrix(np.array([[0, 0, 0, 0]]), np.array([[0, 0, 0, 0]]))[0, 0] == 0.0
    assert iou_matrix(np.zeros((0, 4)), np.zeros((3, 4))).shape == (0, 3)


corners = st.floats(min_value=-50, max_value=550, allow_nan=False, width=32)


@settings(max_examples=60, deadline=None)
@given(boxes=hnp.arrays(np.float32, st.tuples(st.integers(0, 40), st.just(4)), elements=corners),
       scores=st.data(), iou=st.floats(0, 1))
def test_weighted_nms_never_crashes_and_stays_in_bounds(boxes, scores, iou):
    scores = scores.draw(hnp.arrays(np.float32, len(boxes), elements=st.floats(0, 1, width=32)))
    kept, kept_scores, kp = weighted_nms(boxes, scores, iou_threshold=iou)
    assert len(kept) <= len(boxes) and kp.shape == (len(kept), 0, 2)
    assert ((kept_scores >= 0) & (kept_scores <= 1)).all()
    if len(kept):
        assert (kept >= boxes.min() - 1e-3).all() and (kept <= boxes.max() + 1e-3).all()


@settings(max_examples=25, deadline=None)
@given(raw=hnp.arrays(np.float32, (896, 17), elements=st.floats(-300, 300, width=32)),
       size=st.tuples(st.integers(1, 900), st.integers(1, 900)))
def test_pipeline_output_lies_in_the_image(front_io, raw, size):
    from fastip.detection import FacePipeline
    from fastip.detection.letterbox import letterbox

    session = type("S", (), {"inputs": [type("T", (), {"name": "input"})()]})()
    pipeline = FacePipeline(session, front_io, score_threshold=0.0)
    h, w = size
    _, box = letterbox(np.zeros((h, w, 3), np.uint8), (128, 128))
    faces = pipeline.postprocess({"regressors": raw[None, :, :16], "scores": raw[None, :, 16:]}, box)
    for face in faces:
        xmin, ymin, xmax, ymax = face.box
        assert 0 <= xmin < xmax <= w and 0 <= ymin < ymax <= h
        assert 0.0 <= face.score <= 1.0
