"""Non-maximum suppression, including MediaPipe's weighted variant that blends overlapping boxes."""

from __future__ import annotations

import numpy as np


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of (N, 4) and (M, 4) boxes given as xmin, ymin, xmax, ymax."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def weighted_nms(boxes: np.ndarray, scores: np.ndarray, keypoints: np.ndarray | None = None, *,
                 iou_threshold: float = 0.3, max_detections: int | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Blend each cluster of boxes overlapping the best remaining one into a score-weighted average.

    Returns (boxes (K, 4), scores (K,), keypoints (K, P, 2)); each kept score is its cluster's best.
    """
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float32).reshape(-1)
    keypoints = np.zeros((len(boxes), 0, 2)) if keypoints is None else np.asarray(keypoints)
    keypoints = keypoints.astype(np.float32).reshape(len(boxes), keypoints.shape[1] if keypoints.ndim == 3 else 0, 2)
    valid = np.isfinite(scores) & np.isfinite(boxes).all(axis=1)
    boxes, scores, keypoints = boxes[valid], scores[valid], keypoints[valid]
    order = np.argsort(-scores, kind="stable")
    kept_boxes, kept_scores, kept_kps = [], [], []
    while order.size and (max_detections is None or len(kept_boxes) < max_detections):
        overlap = iou_matrix(boxes[order[:1]], boxes[order])[0]
        cluster = order[overlap > iou_threshold]
        cluster = cluster if cluster.size else order[:1]  # a degenerate box still stands for itself
        weights = scores[cluster].astype(np.float64)
        total = weights.sum()
        weights = weights / total if total > 0 else np.full(len(cluster), 1.0 / len(cluster))
        kept_boxes.append(np.tensordot(weights, boxes[cluster], axes=1))
        kept_kps.append(np.tensordot(weights, keypoints[cluster], axes=1))
        kept_scores.append(scores[order[0]])
        order = order[~np.isin(order, cluster) & (order != order[0])]
    if not kept_boxes:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, keypoints.shape[1], 2), np.float32)
    return (np.asarray(kept_boxes, np.float32), np.asarray(kept_scores, np.float32),
            np.asarray(kept_kps, np.float32))

