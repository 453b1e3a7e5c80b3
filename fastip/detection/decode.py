"""Decoding raw BlazeFace/SSD outputs into boxes, keypoints and scores relative to the model input."""

from __future__ import annotations

from typing import Any

import numpy as np

from fastip.errors import BundleError, InputError


def sigmoid_scores(logits: np.ndarray, clip: float | None = 100.0) -> np.ndarray:
    """Logits clipped to [-clip, clip] and squashed to probabilities, without overflow."""
    x = np.asarray(logits, dtype=np.float64)
    if clip:
        x = np.clip(x, -clip, clip)
    with np.errstate(under="ignore"):  # exp(-|x|) of a confident logit is below float range: 0 is right
        e = np.exp(-np.abs(x))
        return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(np.float32)


def decode(regressors: np.ndarray, logits: np.ndarray, anchors: np.ndarray,
           spec: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(boxes (N, 4) xmin/ymin/xmax/ymax, keypoints (N, K, 2), scores (N,)), boxes normalised to the input."""
    regressors = np.asarray(regressors, dtype=np.float32)
    logits = np.asarray(logits, dtype=np.float32)
    num_coords = int(spec.get("num_coords", 16))
    regressors = regressors.reshape(-1, num_coords) if regressors.size % num_coords == 0 else regressors
    logits = logits.reshape(-1)
    if regressors.ndim != 2 or len(regressors) != len(anchors) or len(logits) != len(anchors):
        raise InputError(f"model outputs {regressors.shape} and {logits.shape} do not fit {len(anchors)} anchors "
                         f"with {num_coords} coordinates; is this the model the post-processing spec describes?")
    try:
        xs, ys, ws, hs = (float(spec[k]) for k in ("x_scale", "y_scale", "w_scale", "h_scale"))
        offset = int(spec.get("box_coord_offset", 0))
        kp_offset = int(spec.get("keypoint_coord_offset", 4))
        num_kp = int(spec.get("num_keypoints", 0))
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleError(f"decode spec is incomplete ({exc!r}); it needs x_scale, y_scale, w_scale, h_scale") from exc
    ax, ay, aw, ah = anchors.T
    cx = regressors[:, offset] / xs * aw + ax
    cy = regressors[:, offset + 1] / ys * ah + ay
    w = regressors[:, offset + 2] / ws * aw
    h = regressors[:, offset + 3] / hs * ah
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    kp = regressors[:, kp_offset:kp_offset + 2 * num_kp].reshape(-1, num_kp, 2)
    keypoints = np.stack([kp[..., 0] / xs * aw[:, None] + ax[:, None], kp[..., 1] / ys * ah[:, None] + ay[:, None]], axis=-1)
    if spec.get("sigmoid_score", True):
        scores = sigmoid_scores(logits, spec.get("score_clipping_thresh"))
    else:
        scores = logits
    return boxes.astype(np.float32), keypoints.astype(np.float32), scores
