"""Typed benchmark records: latency statistics, one result row per variant, and the report that holds them."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any

from fastip.errors import InputError

SCHEMA_VERSION = 1
# Coefficient of variation above which a row carries a run-to-run variation warning.
CV_WARNING = 0.10


@dataclass(frozen=True)
class LatencyStats:
    """Summary of timed runs in milliseconds, with the raw samples kept for later analysis."""

    samples_ms: tuple[float, ...]
    p50: float
    p90: float
    p99: float
    mean: float
    std: float
    min: float
    max: float

    @property
    def count(self) -> int:
        return len(self.samples_ms)

    @property
    def cv(self) -> float:
        """Coefficient of variation (std / mean)."""
        return self.std / self.mean if self.mean > 0 else 0.0

    @property
    def spread(self) -> float:
        """Relative tail spread (p90 - p50) / p50, the noise measure compare mode uses."""
        return (self.p90 - self.p50) / self.p50 if self.p50 > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["samples_ms"] = list(self.samples_ms)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "LatencyStats":
        return cls(**{**data, "samples_ms": tuple(data["samples_ms"])})


@dataclass(frozen=True)
class OperatorTiming:
    """The classical reference operator timed by the same harness on the same image."""

    name: str
    latency: LatencyStats | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "latency": self.latency.to_dict() if self.latency else None, "error": self.error}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "OperatorTiming":
        latency = data.get("latency")
        return cls(name=data["name"], latency=LatencyStats.from_dict(latency) if latency else None, error=data.get("error"))


@dataclass(frozen=True)
class BenchmarkResult:
    """One measured (or skipped) variant: model x backend x precision x size x threads x batch x requests x hint.

    `latency` is per call (one batch of `batch` images, timed from submission to completion); `throughput` is
    images per second over the wall time of the timed runs, with `requests` calls in flight at once.
    """

    model: str
    family: str
    backend: str
    precision: str
    width: int
    height: int
    threads: int | None = None
    hint: str = "latency"  # OpenVINO performance hint; other backends ignore it
    batch: int = 1
    requests: int = 1  # inference calls in flight at once (OpenVINO AsyncInferQueue jobs, threads elsewhere)
    device: str = ""  # the OpenVINO device an openvino row ran on ("" elsewhere; reports before it: CPU)
    bundle: str = ""
    status: str = "ok"  # "ok", "skipped", "failed", or "fallback" (the gate sent it to FP32, as --allow-fallback let it)
    reason: str = ""
    latency: LatencyStats | None = None
    throughput: float | None = None  # images/s over the timed wall time
    backend_info: dict[str, Any] = field(default_factory=dict)  # what the backend chose, e.g. OpenVINO's streams
    first_inference_ms: float | None = None  # load + compile + first run
    peak_rss_mb: float | None = None
    flops: float | None = None  # per image at this size; None when the graph does not tell
    operator: OperatorTiming | None = None
    quality: dict[str, float] = field(default_factory=dict)
    overhead: dict[str, float] = field(default_factory=dict)  # fastip vs raw backend p50 (ms) and ratio
    warnings: tuple[str, ...] = ()
    untrained: bool = False  # the bundle holds an untrained model (--weights none): quality numbers mean nothing

    @property
    def key(self) -> tuple:
        """What identifies a row across reports (the hint and device only where the backend reads them)."""
        openvino = self.backend == "openvino"
        return (self.model, self.backend, self.precision, self.width, self.height, self.threads,
                self.hint if openvino else None, self.batch, self.requests, (self.device or "CPU") if openvino else None)

    @property
    def axes(self) -> str:
        """The row's settings beyond model, backend, precision and size: 't=2 b=1 r=4 throughput' (+ ' GPU' off the CPU)."""
        threads = "auto" if self.threads is None else str(self.threads)
        text = f"t={threads} b={self.batch} r={self.requests}"
        if self.backend != "openvino":
            return text
        return f"{text} {self.hint}" + (f" {self.device}" if self.device not in ("", "CPU") else "")

    @property
    def label(self) -> str:
        flag = " UNTRAINED" if self.untrained else ""
        return f"{self.model}{flag} {self.backend} {self.precision} {self.width}x{self.height} {self.axes}"

    @property
    def megapixels(self) -> float:
        return self.width * self.height / 1e6

    @property
    def images_per_s(self) -> float | None:
        """Measured throughput; for reports without it, batch / p50."""
        if self.throughput is not None:
            return self.throughput
        return 1000.0 * self.batch / self.latency.p50 if self.latency and self.latency.p50 > 0 else None

    @property
    def megapixels_per_s(self) -> float | None:
        ips = self.images_per_s
        return ips * self.megapixels if ips is not None else None

    @property
    def gflop_per_s(self) -> float | None:
        ips = self.images_per_s
        return self.flops * ips / 1e9 if ips is not None and self.flops else None

    @property
    def speedup(self) -> float | None:
        """Operator time per image / network time per image (above 1: the network is faster).

        With one call in flight and batch 1 this is the p50 ratio; otherwise the network's time per image
        is 1 / throughput, so batching and concurrency count for the network as a serving user sees them.
        """
        op = self.operator.latency if self.operator else None
        if not op or not self.latency or self.latency.p50 <= 0:
            return None
        if self.batch == 1 and self.requests == 1:
            return op.p50 / self.latency.p50
        ips = self.images_per_s
        return op.p50 * ips / 1000.0 if ips else None

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["latency"] = self.latency.to_dict() if self.latency else None
        data["operator"] = self.operator.to_dict() if self.operator else None
        data["quality"] = {k: _encode_float(v) for k, v in self.quality.items()}
        data["warnings"] = list(self.warnings)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "BenchmarkResult":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise InputError(f"unknown benchmark result keys {sorted(unknown)}; was it written by a newer fastip?")
        kwargs = dict(data)
        kwargs["latency"] = LatencyStats.from_dict(data["latency"]) if data.get("latency") else None
        kwargs["operator"] = OperatorTiming.from_dict(data["operator"]) if data.get("operator") else None
        kwargs["quality"] = {k: _decode_float(v) for k, v in data.get("quality", {}).items()}
        kwargs["warnings"] = tuple(data.get("warnings", ()))
        return cls(**kwargs)


@dataclass(frozen=True)
class BenchmarkReport:
    """Every row of one `fastip-bench` run plus the environment it ran in."""

    results: tuple[BenchmarkResult, ...]
    environment: dict[str, Any]
    settings: dict[str, Any] = field(default_factory=dict)  # command line, warm-up and run counts
    interrupted: bool = False
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        return {"schema_version": self.schema_version, "interrupted": self.interrupted, "settings": self.settings,
                "environment": self.environment, "results": [r.to_dict() for r in self.results]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "BenchmarkReport":
        if not isinstance(data, dict) or "results" not in data:
            raise InputError("not a fastip benchmark report: no 'results' list; give a results.json written by fastip-bench")
        if data.get("schema_version", SCHEMA_VERSION) > SCHEMA_VERSION:
            raise InputError(f"report schema {data['schema_version']} is newer than this fastip reads ({SCHEMA_VERSION}); upgrade fastip")
        return cls(results=tuple(BenchmarkResult.from_dict(r) for r in data["results"]),
                   environment=dict(data.get("environment", {})), settings=dict(data.get("settings", {})),
                   interrupted=bool(data.get("interrupted", False)),
                   schema_version=int(data.get("schema_version", SCHEMA_VERSION)))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> "BenchmarkReport":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"benchmark report is not valid JSON: {exc}") from exc
        return cls.from_dict(data)


def _encode_float(value: float) -> float | str:
    # PSNR of identical images is +inf, which strict JSON cannot hold.
    return value if math.isfinite(value) else repr(float(value))


def _decode_float(value: float | str) -> float:
    return float(value)
