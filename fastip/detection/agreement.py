"""How far candidate detections agree with reference ones: matched IoU, score drift, recall, precision."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Iterable

import numpy as np

from fastip.detection.nms import iou_matrix
from fastip.detection.types import Detection


@dataclass(frozen=True)
class Agreement:
    """Counts and matched-pair statistics of candidate vs reference detections (None when nothing matched)."""

    num_reference: int
    num_candidate: int
    num_matched: int
    mean_iou: float | None
    min_iou: float | None
    mean_score_diff: float | None
    max_score_diff: float | None

    @property
    def recall(self) -> float:
        """Matched share of the reference detections (1.0 when there were none)."""
        return self.num_matched / self.num_reference if self.num_reference else 1.0

    @property
    def precision(self) -> float:
        """Matched share of the candidate detections (1.0 when there were none)."""
        return self.num_matched / self.num_candidate if self.num_candidate else 1.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "recall": self.recall, "precision": self.precision}

    @classmethod
    def combine(cls, results: Iterable["Agreement"]) -> "Agreement":
        """Pool per-image agreements into one, weighting means by matched pairs."""
        results = list(results)
        matched = [r for r in results if r.num_matched]
        n = sum(r.num_matched for r in matched)
        return cls(
            num_reference=sum(r.num_reference for r in results),
            num_candidate=sum(r.num_candidate for r in results),
            num_matched=n,
            mean_iou=sum(r.mean_iou * r.num_matched for r in matched) / n if n else None,
            min_iou=min(r.min_iou for r in matched) if n else None,
            mean_score_diff=sum(r.mean_score_diff * r.num_matched for r in matched) / n if n else None,
            max_score_diff=max(r.max_score_diff for r in matched) if n else None,
        )


def match(candidate: list[Detection], reference: list[Detection], *,
          iou_threshold: float = 0.5) -> list[tuple[int, int, float]]:
    """Greedy one-to-one (candidate index, reference index, IoU) pairs, best IoU first, above the threshold."""
    if not candidate or not reference:
        return []
    ious = iou_matrix(np.array([d.box for d in candidate]), np.array([d.box for d in reference]))
    pairs = []
    used_c, used_r = set(), set()
    for flat in np.argsort(-ious, axis=None, kind="stable"):
        c, r = np.unravel_index(flat, ious.shape)
        if ious[c, r] < iou_threshold:
            break
        if c not in used_c and r not in used_r:
            used_c.add(c)
            used_r.add(r)
            pairs.append((int(c), int(r), float(ious[c, r])))
    return pairs


def compare_detections(candidate: list[Detection], reference: list[Detection], *,
                       iou_threshold: float = 0.5) -> Agreement:
    """Agreement of `candidate` with `reference` detections of the same image."""
    pairs = match(candidate, reference, iou_threshold=iou_threshold)
    ious = [iou for _, _, iou in pairs]
    diffs = [abs(candidate[c].score - reference[r].score) for c, r, _ in pairs]
    return Agreement(
        num_reference=len(reference), num_candidate=len(candidate), num_matched=len(pairs),
        mean_iou=float(np.mean(ious)) if pairs else None, min_iou=min(ious) if pairs else None,
        mean_score_diff=float(np.mean(diffs)) if pairs else None, max_score_diff=max(diffs) if pairs else None,
    )
