"""SSD anchor generation as MediaPipe's SsdAnchorsCalculator defines it, driven by a JSON spec."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from fastip.errors import BundleError

# Bounds on an anchor spec from a manifest: MediaPipe's detectors use 2-4 layers, 128-256 px inputs
# and 896-2304 anchors; these leave wide room and keep generation (and decoding) bounded.
MAX_LAYERS = 16
MAX_INPUT_SIDE = 4096
MAX_ANCHORS = 200_000


def _scale(min_scale: float, max_scale: float, index: int, num_layers: int) -> float:
    if num_layers == 1:
        return (min_scale + max_scale) / 2
    return min_scale + (max_scale - min_scale) * index / (num_layers - 1)


def _check_bounds(num_layers: int, strides: list[int], height: int, width: int, aspect_ratios: list[float],
                  interpolated: float, reduce_lowest: bool) -> None:
    """Refuse specs that would divide by zero or generate an unbounded number of anchors, before generating any."""
    if not 1 <= num_layers <= MAX_LAYERS:
        raise BundleError(f"anchor spec has {num_layers} layers; 1 to {MAX_LAYERS} are allowed")
    if not (1 <= height <= MAX_INPUT_SIDE and 1 <= width <= MAX_INPUT_SIDE):
        raise BundleError(f"anchor spec input_size {height}x{width} is outside 1..{MAX_INPUT_SIDE}")
    if any(s < 1 for s in strides):
        raise BundleError(f"anchor strides must be positive integers, not {strides!r:.80}")
    if not 1 <= len(aspect_ratios) <= 16 or not all(math.isfinite(a) and a > 0 for a in aspect_ratios):
        raise BundleError("anchor spec needs 1 to 16 positive aspect ratios")
    if not math.isfinite(interpolated):
        raise BundleError("anchor spec interpolated_scale_aspect_ratio must be a finite number")
    total = 0
    for index, stride in enumerate(strides):
        per_cell = 3 if index == 0 and reduce_lowest else len(aspect_ratios) + (interpolated > 0)
        total += math.ceil(height / stride) * math.ceil(width / stride) * per_cell
    if total > MAX_ANCHORS:
        raise BundleError(f"anchor spec yields {total} anchors, above the {MAX_ANCHORS} limit")


def generate_anchors(spec: dict[str, Any]) -> np.ndarray:
    """Anchors as an (N, 4) float32 array of (x_center, y_center, width, height), normalised to [0, 1]."""
    try:
        num_layers = int(spec["num_layers"])
        strides = [int(s) for s in spec["strides"]]
        height, width = (int(v) for v in spec["input_size"])
        offset_x, offset_y = (float(v) for v in spec.get("anchor_offset", (0.5, 0.5)))
        min_scale, max_scale = float(spec.get("min_scale", 0.1)), float(spec.get("max_scale", 0.75))
        aspect_ratios = [float(a) for a in spec.get("aspect_ratios", [1.0])]
        interpolated = float(spec.get("interpolated_scale_aspect_ratio", 1.0))
        reduce_lowest = bool(spec.get("reduce_boxes_in_lowest_layer", False))
        fixed = bool(spec.get("fixed_anchor_size", True))
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise BundleError(f"anchor spec is incomplete or malformed ({exc!r}); it needs num_layers, strides, input_size") from exc
    if len(strides) != num_layers:
        raise BundleError(f"anchor spec has {len(strides)} strides for {num_layers} layers")
    _check_bounds(num_layers, strides, height, width, aspect_ratios, interpolated, reduce_lowest)

    anchors = []
    layer = 0
    while layer < num_layers:
        # consecutive layers with the same stride share one feature map
        sizes: list[tuple[float, float]] = []
        last = layer
        while last < num_layers and strides[last] == strides[layer]:
            scale = _scale(min_scale, max_scale, last, num_layers)
            if last == 0 and reduce_lowest:
                sizes += [(0.1, 0.1), (scale * math.sqrt(2.0), scale / math.sqrt(2.0)),
                          (scale * math.sqrt(0.5), scale / math.sqrt(0.5))]
            else:
                sizes += [(scale * math.sqrt(a), scale / math.sqrt(a)) for a in aspect_ratios]
                if interpolated > 0:
                    following = 1.0 if last == num_layers - 1 else _scale(min_scale, max_scale, last + 1, num_layers)
                    mid = math.sqrt(scale * following)
                    sizes.append((mid * math.sqrt(interpolated), mid / math.sqrt(interpolated)))
            last += 1
        stride = strides[layer]
        rows, cols = math.ceil(height / stride), math.ceil(width / stride)
        for y in range(rows):
            for x in range(cols):
                cx, cy = (x + offset_x) / cols, (y + offset_y) / rows
                for w, h in sizes:
                    anchors.append((cx, cy, 1.0, 1.0) if fixed else (cx, cy, w, h))
        layer = last
    result = np.asarray(anchors, dtype=np.float32).reshape(-1, 4)
    expected = spec.get("num_anchors")
    if expected is not None and len(result) != int(expected):
        raise BundleError(f"anchor spec yields {len(result)} anchors, but num_anchors says {expected}")
    return result
