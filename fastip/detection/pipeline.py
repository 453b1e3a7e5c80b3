"""FacePipeline: letterbox + any Session + decoding + weighted NMS, identical on every backend."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from fastip.detection.anchors import generate_anchors
from fastip.detection.decode import decode
from fastip.detection.letterbox import Letterbox, letterbox
from fastip.detection.nms import weighted_nms
from fastip.detection.types import Detection
from fastip.errors import BundleError, InputError
from fastip.spec import ImageIO


class FacePipeline:
    """uint8 HWC RGB image in, list of Detection (original-image pixels, best first) out."""

    def __init__(self, session: Any, io: ImageIO, *, score_threshold: float | None = None,
                 iou_threshold: float | None = None, max_faces: int | None = None):
        if io.output != "detections" or io.input_size is None:
            raise BundleError("FacePipeline needs a detector: an ImageIO with output='detections' and a fixed input_size")
        extra = io.extra
        missing = [k for k in ("anchors", "decode") if k not in extra]
        if missing:
            raise BundleError(f"the post-processing spec lacks {missing}; re-export the model with a current fastip")
        self.session, self.io = session, io
        self.anchors = generate_anchors(extra["anchors"])
        self.decode_spec = extra["decode"]
        nms = extra.get("nms", {})
        self.score_threshold = _check_fraction("score threshold", score_threshold,
                                               self.decode_spec.get("min_score_thresh", 0.5))
        self.iou_threshold = _check_fraction("IoU threshold", iou_threshold, nms.get("min_suppression_threshold", 0.3))
        self.max_faces = nms.get("max_detections", 100) if max_faces is None else max_faces
        if not isinstance(self.max_faces, (int, np.integer)) or self.max_faces < 1:
            raise InputError(f"max faces must be a positive integer, got {self.max_faces!r}")
        self.output_names = tuple(extra.get("outputs", ("regressors", "scores")))
        self.pad_pixel = tuple(extra.get("letterbox", {}).get("pad_pixel", (0, 0, 0)))
        self.input = session.inputs[0]

    @classmethod
    def open(cls, bundle: str | os.PathLike, backend: str = "ort", *, score_threshold: float | None = None,
             iou_threshold: float | None = None, max_faces: int | None = None, **session_options: Any) -> "FacePipeline":
        """Open a detector bundle on a backend (`session_options` go to `runtimes.open`) as a pipeline."""
        from fastip import runtimes
        from fastip.bundle import Bundle

        loaded = Bundle.load(bundle)
        session = runtimes.open(loaded, backend, **session_options)
        try:
            return cls(session, loaded.manifest.io, score_threshold=score_threshold,
                       iou_threshold=iou_threshold, max_faces=max_faces)
        except Exception:
            session.close()
            raise

    def preprocess(self, image: np.ndarray) -> tuple[np.ndarray, Letterbox]:
        """The NCHW float input tensor for an image, and the letterbox that maps results back."""
        from fastip.pipeline import to_tensor

        boxed, box = letterbox(image, self.io.input_size, pad_pixel=self.pad_pixel)
        dtype = np.float16 if getattr(self.input, "dtype", "float32") == "float16" else np.float32
        return to_tensor(boxed, self.io).astype(dtype, copy=False), box

    def raw_outputs(self, outputs: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(regressors, score logits) from a Session result, by name or else by shape."""
        reg_name, score_name = self.output_names
        if reg_name in outputs and score_name in outputs:
            return outputs[reg_name], outputs[score_name]
        num_coords = int(self.decode_spec.get("num_coords", 16))
        by_width = {np.shape(v)[-1]: v for v in outputs.values() if np.ndim(v) >= 2}
        if len(outputs) == 2 and num_coords in by_width and 1 in by_width:
            return by_width[num_coords], by_width[1]
        raise BundleError(f"cannot tell regressors from scores among outputs {sorted(outputs)}; "
                          f"expected {reg_name!r} and {score_name!r}")

    def postprocess(self, outputs: dict[str, np.ndarray], box: Letterbox) -> list[Detection]:
        """Detections in original-image pixels from raw Session outputs."""
        regressors, logits = self.raw_outputs(outputs)
        boxes, keypoints, scores = decode(regressors, logits, self.anchors, self.decode_spec)
        keep = scores >= self.score_threshold
        boxes, scores, keypoints = weighted_nms(boxes[keep], scores[keep], keypoints[keep],
                                                iou_threshold=self.iou_threshold, max_detections=self.max_faces)
        h, w = box.image_size
        corners = box.to_image(boxes.reshape(-1, 2, 2)).reshape(-1, 4)
        corners = np.clip(corners, 0, [w, h, w, h])
        points = box.to_image(keypoints)
        return [Detection(box=tuple(c), score=float(np.clip(s, 0, 1)), keypoints=tuple(map(tuple, p)))
                for c, s, p in zip(corners, scores, points) if c[2] > c[0] and c[3] > c[1]]

    def __call__(self, image: np.ndarray) -> list[Detection]:
        x, box = self.preprocess(image)
        return self.postprocess(self.session.run({self.input.name: x}), box)

    def batch(self, images: list[np.ndarray]) -> list[list[Detection]]:
        """Images of any sizes letterboxed into one Session run (batch N); one detection list per image."""
        if not images:
            raise InputError("a batch needs one or more images")
        tensors, boxes = zip(*(self.preprocess(image) for image in images))
        outputs = self.session.run({self.input.name: np.concatenate(tensors)})
        return [self.postprocess({k: v[i:i + 1] for k, v in outputs.items()}, box) for i, box in enumerate(boxes)]

    def close(self) -> None:
        close = getattr(self.session, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> "FacePipeline":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _check_fraction(what: str, value: float | None, default: float) -> float:
    value = default if value is None else value
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be a number in [0, 1], got {value!r}") from None
    if not 0.0 <= value <= 1.0:
        raise InputError(f"{what} must lie in [0, 1], got {value}")
    return value
