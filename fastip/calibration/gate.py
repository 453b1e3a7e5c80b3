"""The quality gate: measure every candidate artifact, keep the best one that passes, or say why none did."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from fastip.calibration.quality import QualityProbe
from fastip.errors import FastipError, ValidationError  # noqa: F401  (FastipError: callers import it from here)


@dataclass(frozen=True)
class CandidateResult:
    """One candidate artifact measured on one backend against FP32."""

    name: str
    backend: str
    path: Path | None  # where the candidate was written (temporary), None if it failed to build
    settings: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    score: float = -math.inf
    passed: bool = False
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "backend": self.backend, "settings": self.settings, "metrics": self.metrics,
                "score": self.score, "passed": self.passed, "error": self.error}

    def line(self) -> str:
        if self.error:
            return f"  {self.name} on {self.backend}: failed to build ({self.error})"
        return f"  {self.name} on {self.backend}: score {self.score:.2f}{'' if self.passed else ' (below threshold)'}"


def measure_candidate(probe: QualityProbe, name: str, backend: str, path: Path | None, settings: dict[str, Any],
                      open_session: Callable[[Path], Any], progress: Callable[[str], None]) -> CandidateResult:
    """Open the artifact, measure it with the probe, and record any failure as the candidate's error."""
    if path is None:
        return CandidateResult(name, backend, None, settings, error="not built")
    progress(f"measuring {name} on {backend}")
    try:
        session = open_session(path)
        try:
            metrics, score, passed = probe.measure(session)
        finally:
            session.close()
    except Exception as exc:  # FastipError, or a runtime refusing to run the candidate graph (ORT's Fail)
        return CandidateResult(name, backend, path, settings, error=(str(exc).splitlines() or [type(exc).__name__])[0][:300])
    progress(f"  {name}: score {score:.2f} {'passed' if passed else 'below threshold'}")
    return CandidateResult(name, backend, path, settings, metrics, float(score), bool(passed))


def best(results: list[CandidateResult]) -> CandidateResult | None:
    """The passing candidate with the highest score (earliest wins a tie)."""
    passing = [r for r in results if r.passed]
    return max(passing, key=lambda r: r.score) if passing else None


def float_layer_count(result: CandidateResult) -> int:
    """Nodes a candidate leaves in float (fewer runs faster)."""
    return len(result.settings.get("nodes_excluded") or ()) + len(result.settings.get("nncf_ignored") or ())


def fastest(results: list[CandidateResult]) -> CandidateResult | None:
    """The passing candidate with the fewest float nodes; the highest score among those (earliest wins a tie)."""
    passing = [r for r in results if r.passed]
    return min(passing, key=lambda r: (float_layer_count(r), -r.score)) if passing else None


def gate_failure(results: list[CandidateResult], what: str, thresholds: dict[str, float]) -> ValidationError:
    """The error listing every candidate and its score, and what to do about it."""
    lines = "\n".join(r.line() for r in results)
    limits = ", ".join(f"{k}={v}" for k, v in thresholds.items())
    return ValidationError(f"no {what} candidate passed the quality gate ({limits}):\n{lines}\n"
                           "lower the threshold (--min-psnr / --min-iou), calibrate with more representative images "
                           "(--calib), or pass --allow-fallback to ship the FP32 model instead")
