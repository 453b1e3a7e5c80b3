"""Face-detection post-processing shared by every backend: anchors, decoding, NMS, letterboxing, pipeline."""

from fastip.detection.agreement import Agreement, compare_detections
from fastip.detection.pipeline import FacePipeline
from fastip.detection.types import Detection, draw_detections

__all__ = ["Agreement", "Detection", "FacePipeline", "compare_detections", "draw_detections"]
