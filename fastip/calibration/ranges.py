"""Activation ranges: collected once with ONNX Runtime's calibrators, cached on disk, handed to quantization."""

from __future__ import annotations

import enum
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from fastip.errors import ExportError, require

CACHE_FORMAT = 1
DEFAULT_CACHE_DIR = Path("~/.cache/fastip/calibration")


class CalibrationMethod(str, enum.Enum):
    """How a tensor's range is taken from its observed values."""

    MINMAX = "minmax"
    PERCENTILE = "percentile"
    ENTROPY = "entropy"

    @classmethod
    def parse(cls, value: "str | CalibrationMethod") -> "CalibrationMethod":
        if isinstance(value, cls):
            return value
        text = str(value).lower().replace("-", "").replace("_", "")
        for method in cls:
            if method.value == text:
                return method
        from fastip.errors import InputError

        raise InputError(f"unknown calibration method {value!r}; choose from min-max, percentile, entropy")


@dataclass(frozen=True)
class TensorRanges:
    """Per-tensor (low, high) activation ranges: the one value calibration hands to quantization."""

    method: CalibrationMethod
    ranges: tuple[tuple[str, float, float], ...]  # (tensor name, low, high), sorted by name
    key: str  # hash of everything that produced them

    def as_dict(self) -> dict[str, tuple[float, float]]:
        return {name: (lo, hi) for name, lo, hi in self.ranges}

    def to_json(self) -> str:
        return json.dumps({"format": CACHE_FORMAT, "method": self.method.value, "key": self.key,
                           "ranges": [list(r) for r in self.ranges]})

    @classmethod
    def from_json(cls, text: str) -> "TensorRanges":
        data = json.loads(text)
        if data.get("format") != CACHE_FORMAT:
            raise ValueError(f"calibration cache format {data.get('format')} is not {CACHE_FORMAT}")
        return cls(CalibrationMethod(data["method"]), tuple((str(n), float(lo), float(hi)) for n, lo, hi in data["ranges"]),
                   str(data["key"]))


def cache_key(model_bytes: bytes, images_digest: str, preprocessing: dict, method: CalibrationMethod,
              count: int, seed: int) -> str:
    """sha256 of the model, the calibration images, the pre-processing, method, count and seed."""
    h = hashlib.sha256()
    h.update(hashlib.sha256(model_bytes).digest())
    h.update(images_digest.encode())
    h.update(json.dumps(preprocessing, sort_keys=True).encode())
    h.update(f"{method.value}|{count}|{seed}|format{CACHE_FORMAT}".encode())
    return h.hexdigest()


class RangeCache:
    """A directory of `<key>.json` range files; unreadable entries count as misses."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root if root is not None else DEFAULT_CACHE_DIR).expanduser()

    def get(self, key: str) -> TensorRanges | None:
        path = self.root / f"{key}.json"
        try:
            ranges = TensorRanges.from_json(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return ranges if ranges.key == key else None

    def put(self, ranges: TensorRanges) -> Path:
        return self.put_text(f"{ranges.key}.json", ranges.to_json())

    def get_text(self, filename: str) -> str | None:
        """Another cached record kept beside the ranges (e.g. a mixed-precision choice), or None."""
        try:
            return (self.root / filename).read_text(encoding="utf-8")
        except OSError:
            return None

    def put_text(self, filename: str, text: str) -> Path:
        """Write a cache file atomically (temporary file, then rename)."""
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / filename
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".cache-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.replace(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)
        return path


def collect_ranges(model_path: Path, feeds: Iterable[dict[str, np.ndarray]], method: CalibrationMethod, key: str,
                   *, percentile: float = 99.999) -> TensorRanges:
    """Run the FP32 model over the feeds and take every activation's range with `method`."""
    require("onnxruntime", "ort", "calibration")
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod as OrtMethod, create_calibrator

    class _Reader(CalibrationDataReader):
        def __init__(self, items):
            self._items = iter(items)

        def get_next(self):
            return next(self._items, None)

    ort_method = {CalibrationMethod.MINMAX: OrtMethod.MinMax, CalibrationMethod.PERCENTILE: OrtMethod.Percentile,
                  CalibrationMethod.ENTROPY: OrtMethod.Entropy}[method]
    extra = {"percentile": percentile} if method is CalibrationMethod.PERCENTILE else {}
    with tempfile.TemporaryDirectory(prefix="fastip-calib-") as tmp:
        try:
            calibrator = create_calibrator(Path(model_path), None, augmented_model_path=str(Path(tmp) / "augmented.onnx"),
                                           calibrate_method=ort_method, extra_options=extra)
            calibrator.collect_data(_Reader(feeds))
            data = calibrator.compute_data()
        except (RuntimeError, ValueError) as exc:
            raise ExportError(f"calibration of {model_path} failed: {exc}") from exc
    ranges = []
    for name, tensor_data in data.data.items():  # TensorsData maps name -> TensorData
        lo, hi = tensor_data.range_value
        lo, hi = float(np.min(lo)), float(np.max(hi))
        if not (np.isfinite(lo) and np.isfinite(hi)):
            raise ExportError(f"calibration saw non-finite values in tensor {name!r}; check the model and images")
        ranges.append((name, lo, hi))
    return TensorRanges(method, tuple(sorted(ranges)), key)


def cached_ranges(cache: RangeCache, key: str, collect: Callable[[], TensorRanges],
                  progress: Callable[[str], None]) -> tuple[TensorRanges, bool]:
    """Ranges for `key` from the cache, or collected and stored; also whether it was a hit."""
    hit = cache.get(key)
    if hit is not None:
        progress(f"calibration cache hit ({key[:12]}): skipping range collection")
        return hit, True
    ranges = collect()
    try:
        cache.put(ranges)
    except OSError as exc:  # a read-only cache must not fail the export
        progress(f"calibration cache {cache.root} not writable ({exc}); ranges not cached")
    return ranges, False
