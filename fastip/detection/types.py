"""The Detection value every face detector (network or cascade) returns, and drawing it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fastip.errors import InputError


@dataclass(frozen=True)
class Detection:
    """One face: box (xmin, ymin, xmax, ymax) and keypoints (x, y) in original-image pixels, score in [0, 1]."""

    box: tuple[float, float, float, float]
    score: float
    keypoints: tuple[tuple[float, float], ...] = field(default=())

    def __post_init__(self) -> None:
        if len(self.box) != 4 or not all(math.isfinite(v) for v in self.box):
            raise InputError(f"a detection box needs four finite numbers, got {self.box}")
        if not 0.0 <= self.score <= 1.0:
            raise InputError(f"a detection score must lie in [0, 1], got {self.score}")
        object.__setattr__(self, "box", tuple(float(v) for v in self.box))
        object.__setattr__(self, "score", float(self.score))
        object.__setattr__(self, "keypoints", tuple((float(x), float(y)) for x, y in self.keypoints))

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]

    def to_dict(self) -> dict[str, Any]:
        return {"box": list(self.box), "score": self.score, "keypoints": [list(p) for p in self.keypoints]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Detection":
        try:
            return cls(box=tuple(data["box"]), score=float(data["score"]),
                       keypoints=tuple(tuple(p) for p in data.get("keypoints", ())))
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"not a detection record: {data!r} ({exc}); expected box, score, keypoints") from exc


def draw_detections(image: np.ndarray, detections: list[Detection], *, colour: tuple[int, int, int] = (0, 255, 0),
                    keypoint_colour: tuple[int, int, int] = (255, 0, 0)) -> np.ndarray:
    """A copy of a uint8 RGB image with each box, its score and its keypoints drawn on it."""
    from PIL import Image, ImageDraw

    from fastip.images import as_uint8_rgb

    canvas = Image.fromarray(as_uint8_rgb(image).copy())
    draw = ImageDraw.Draw(canvas)
    line = max(1, round(min(canvas.size) / 200))
    radius = line + 1
    for det in detections:
        xmin, ymin, xmax, ymax = det.box
        draw.rectangle([xmin, ymin, max(xmin, xmax), max(ymin, ymax)], outline=colour, width=line)
        draw.text((xmin + line, ymin + line), f"{det.score:.2f}", fill=colour)
        for x, y in det.keypoints:
            draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=keypoint_colour)
    return np.asarray(canvas, dtype=np.uint8).copy()
