"""Calibration and quantization: images -> activation ranges -> Q/DQ INT8 / FP16 artifacts, behind a quality gate."""

from fastip.calibration.data import CalibrationImages, CalibrationPlan, calibration_feeds, load_images, make_plan
from fastip.calibration.gate import CandidateResult
from fastip.calibration.quality import QualityProbe, QualityThresholds
from fastip.calibration.quantize import CANDIDATES, ActivationType, QuantSettings
from fastip.calibration.ranges import CalibrationMethod, RangeCache, TensorRanges, collect_ranges

__all__ = ["CANDIDATES", "ActivationType", "CalibrationImages", "CalibrationMethod", "CalibrationPlan", "CandidateResult",
           "QualityProbe", "QualityThresholds", "QuantSettings", "RangeCache", "TensorRanges", "calibration_feeds",
           "collect_ranges", "load_images", "make_plan"]
