"""Anchors, decoding, letterbox, Detection values and agreement, checked against hand-built cases."""

import json

import numpy as np
import pytest

from fastip.detection import Agreement, Detection, compare_detections, draw_detections
from fastip.detection.anchors import generate_anchors
from fastip.detection.decode import decode, sigmoid_scores
from fastip.detection.letterbox import letterbox
from fastip.errors import BundleError, InputError
from fastip.images import sample_image

FRONT_ANCHORS = {"num_layers": 4, "strides": [8, 16, 16, 16], "input_size": [128, 128], "anchor_offset": [0.5, 0.5],
                 "aspect_ratios": [1.0], "interpolated_scale_aspect_ratio": 1.0, "fixed_anchor_size": True,
                 "min_scale": 0.1484375, "max_scale": 0.75, "num_anchors": 896}
DECODE = {"num_coords": 16, "num_keypoints": 6, "keypoint_coord_offset": 4, "x_scale": 128.0, "y_scale": 128.0,
          "w_scale": 128.0, "h_scale": 128.0, "score_clipping_thresh": 100.0}


def test_front_anchor_grid():
    anchors = generate_anchors(FRONT_ANCHORS)
    assert anchors.shape == (896, 4)
    np.testing.assert_allclose(anchors[0], [0.5 / 16, 0.5 / 16, 1, 1])
    np.testing.assert_allclose(anchors[0], anchors[1])  # two anchors per 16x16 cell
    np.testing.assert_allclose(anchors[512], [0.5 / 8, 0.5 / 8, 1, 1])
    np.testing.assert_allclose(anchors[512:518], np.repeat(anchors[512:513], 6, axis=0))  # six per 8x8 cell
    np.testing.assert_allclose(anchors[-1], [7.5 / 8, 7.5 / 8, 1, 1])


def test_back_anchor_grid_and_bad_specs():
    back = dict(FRONT_ANCHORS, strides=[16, 32, 32, 32], input_size=[256, 256])
    assert generate_anchors(back).shape == (896, 4)
    with pytest.raises(BundleError, match="num_anchors"):
        generate_anchors(dict(FRONT_ANCHORS, num_anchors=900))
    with pytest.raises(BundleError, match="strides"):
        generate_anchors({"num_layers": 4})
    with pytest.raises(BundleError, match="3 strides for 4 layers"):
        generate_anchors(dict(FRONT_ANCHORS, strides=[8, 16, 16]))


def test_decode_recovers_an_encoded_box():
    anchors = generate_anchors(FRONT_ANCHORS)
    regressors = np.zeros((896, 16), np.float32)
    # anchor 0 sits at (1/32, 1/32); encode a box centred at (0.25, 0.5), 0.2 wide, 0.1 high, nose at (0.3, 0.4)
    regressors[0, :4] = [(0.25 - 1 / 32) * 128, (0.5 - 1 / 32) * 128, 0.2 * 128, 0.1 * 128]
    regressors[0, 8:10] = [(0.3 - 1 / 32) * 128, (0.4 - 1 / 32) * 128]
    logits = np.full(896, -5.0, np.float32)
    logits[0] = 3.0
    boxes, keypoints, scores = decode(regressors[None], logits[None, :, None], anchors, DECODE)
    np.testing.assert_allclose(boxes[0], [0.15, 0.45, 0.35, 0.55], atol=1e-6)
    np.testing.assert_allclose(keypoints[0, 2], [0.3, 0.4], atol=1e-6)
    assert keypoints.shape == (896, 6, 2)
    assert scores[0] == pytest.approx(1 / (1 + np.exp(-3.0)))
    with pytest.raises(InputError, match="do not fit 896 anchors"):
        decode(regressors[:100], logits[:100], anchors, DECODE)


def test_sigmoid_clips_without_overflow():
    with np.errstate(all="raise"):
        scores = sigmoid_scores(np.array([1e6, -1e6, 0.0, np.float32(3.4e38)]), clip=100.0)
    np.testing.assert_allclose(scores, [1.0, 0.0, 0.5, 1.0], atol=1e-30)


def test_letterbox_maps_back_to_the_image():
    image = sample_image("coffee")  # 400 x 600: padded above and below
    boxed, box = letterbox(image, (128, 128))
    assert boxed.shape == (128, 128, 3) and boxed.dtype == np.uint8
    assert box.pad_x == 0 and box.pad_y > 0
    assert (boxed[: int(box.pad_y)] == 0).all()
    content = (box.pad_x + 600 * box.scale_x, box.pad_y + 400 * box.scale_y)  # bottom-right of the resized image
    assert content == (128, 106) and (boxed[106:] == 0).all()
    corners = np.array([[box.pad_x / 128, box.pad_y / 128], [content[0] / 128, content[1] / 128]])
    np.testing.assert_allclose(box.to_image(corners), [[0, 0], [600, 400]], atol=1e-3)
    with pytest.raises(InputError):
        letterbox(np.zeros((5, 0, 3), np.uint8), (128, 128))


def test_detection_json_round_trip_and_validation():
    det = Detection(box=(1, 2.5, 30, 40), score=0.75, keypoints=((5, 6), (7.5, 8)))
    again = Detection.from_dict(json.loads(json.dumps(det.to_dict())))
    assert again == det and isinstance(again.box[0], float)
    assert det.width == 29 and det.height == 37.5
    with pytest.raises(InputError):
        Detection(box=(0, 0, 1), score=0.5)
    with pytest.raises(InputError):
        Detection(box=(0, 0, 1, 1), score=1.5)
    with pytest.raises(InputError, match="not a detection record"):
        Detection.from_dict({"score": 0.5})


def test_draw_detections_copies_and_marks():
    image = np.zeros((64, 80, 3), np.uint8)
    drawn = draw_detections(image, [Detection(box=(10, 10, 40, 50), score=0.9, keypoints=((20, 20),))])
    assert drawn.shape == image.shape and image.max() == 0
    assert drawn[10, 25].tolist() == [0, 255, 0] and drawn[20, 20].tolist() == [255, 0, 0]
    with pytest.raises(InputError):
        draw_detections(image[..., 0], [])


def test_agreement_counts_and_pools():
    ref = [Detection(box=(0, 0, 10, 10), score=0.9), Detection(box=(50, 50, 60, 60), score=0.8)]
    cand = [Detection(box=(1, 0, 11, 10), score=0.85), Detection(box=(100, 100, 110, 110), score=0.7)]
    result = compare_detections(cand, ref)
    assert (result.num_matched, result.recall, result.precision) == (1, 0.5, 0.5)
    assert result.mean_iou == pytest.approx(90 / 110)
    assert result.max_score_diff == pytest.approx(0.05)
    same = compare_detections(ref, ref)
    assert same.recall == same.precision == 1.0 and same.min_iou == 1.0
    empty = compare_detections([], [])
    assert empty.recall == empty.precision == 1.0 and empty.mean_iou is None
    pooled = Agreement.combine([result, same, empty])
    assert (pooled.num_reference, pooled.num_candidate, pooled.num_matched) == (4, 4, 3)
    assert pooled.min_iou == pytest.approx(90 / 110)
    assert json.loads(json.dumps(pooled.to_dict()))["recall"] == 0.75
