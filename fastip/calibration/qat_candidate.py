"""Gate candidates from quantization-aware fine-tuned weights shipped beside the weights being exported.

A shipped weight whose training record says `qat.from_weights == <the exported weights>` was fine-tuned
through the Q/DQ graph of one candidate (fastip.train.qat). Its ONNX is calibrated on the same feeds,
quantized with that candidate's settings and float layers, and measured by the same probe against the
FP32 model being exported: a candidate like any other, which the gate keeps only if it passes and is
the fastest.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from fastip.calibration.gate import CandidateResult, measure_candidate

PREFIX = "qat-"


def qat_weights(source) -> list[tuple[str, dict[str, Any]]]:
    """(weight name, its `qat` record) of shipped weights fine-tuned from the source's weights."""
    weights = source.record.get("weights")
    builder = source.record.get("builder")
    if source.record.get("kind") != "registry" or not isinstance(weights, str) or not builder:
        return []
    from fastip import models

    found = []
    for name, shipped in models.get(builder).weights.items():
        qat = dict(shipped.params).get("qat")
        if isinstance(qat, dict) and qat.get("from_weights") == weights:
            found.append((name, qat))
    return sorted(found)


def qat_candidates(source, tmp: Path, feeds: list, probe, opener: Callable[[Path], Any], backend: str, target: str,
                   wanted: list[str] | None, progress: Callable[[str], None]) -> list[CandidateResult]:
    """Build and measure `qat-<weight>` for each fine-tuned weight of the source (those in `wanted`, if given)."""
    from fastip.calibration.quantize import candidates_for, quantize_qdq
    from fastip.calibration.ranges import CalibrationMethod, collect_ranges
    from fastip.errors import FastipError
    from fastip.export.onnx import export_onnx, output_specs
    from fastip.export.source import resolve

    results = []
    for name, qat in qat_weights(source):
        label = f"{PREFIX}{name}"
        if wanted is not None and label not in wanted:
            continue
        fitting = [s for s in candidates_for(target) if s.name == qat.get("candidate")]
        if not fitting:
            progress(f"skipping {label}: its scheme {qat.get('candidate')} does not fit target {target}")
            continue
        settings = fitting[0]
        progress(f"quantizing candidate {label} (weights {name}, fine-tuned as {settings.name})")
        fp32, out = tmp / f"{label}.fp32.onnx", tmp / f"{label}.onnx"
        try:
            tuned = resolve(source.record["builder"], weights=name)
            export_onnx(tuned, output_specs(tuned), fp32)
            ranges = collect_ranges(fp32, feeds, CalibrationMethod.MINMAX, label)
            excluded = quantize_qdq(fp32, ranges, settings, out, float_nodes=qat.get("float_layers") or ())
        except FastipError as exc:
            results.append(CandidateResult(label, backend, None, {"weights": name}, error=str(exc).splitlines()[0]))
            continue
        results.append(measure_candidate(probe, label, backend, out,
                                         {**settings.to_dict(), "name": label, "weights": name, "qat": qat,
                                          "nodes_excluded": excluded}, opener, progress))
    return results
