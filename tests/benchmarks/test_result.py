"""BenchmarkResult / BenchmarkReport: exact JSON round trip, clear errors on foreign input."""

from __future__ import annotations

import json

import pytest

from fastip.benchmarks.latency import summarize
from fastip.benchmarks.result import BenchmarkReport, BenchmarkResult, OperatorTiming
from fastip.errors import InputError


def make_row(p50_samples=(10.0, 11.0, 10.5), **overrides) -> BenchmarkResult:
    values = dict(model="can32", family="can", backend="ort", precision="fp32", width=64, height=48, threads=2,
                  latency=summarize(list(p50_samples)), first_inference_ms=123.456, peak_rss_mb=321.5,
                  flops=2 * 74688 * 64 * 48.0, operator=OperatorTiming("l0_smoothing", summarize([50.0, 52.0])),
                  quality={"operator_psnr": 31.25, "operator_ssim": 0.9512345678901234, "fp32_psnr": float("inf")},
                  overhead={"fastip_ms": 10.1, "raw_ms": 10.0, "ratio": 1.01}, warnings=("busy machine",))
    values.update(overrides)
    return BenchmarkResult(**values)


def make_report() -> BenchmarkReport:
    rows = (make_row(), make_row(backend="openvino", threads=None, operator=OperatorTiming("l0_smoothing", error="boom")),
            BenchmarkResult(model="can32", family="can", backend="torch", precision="int8", width=64, height=48,
                            status="skipped", reason="the torch backend runs fp32 only"))
    return BenchmarkReport(results=rows, environment={"cpu_model": "test CPU", "versions": {"numpy": "2"}},
                           settings={"min_runs": 3}, interrupted=True)


def test_json_round_trip_is_exact():
    report = make_report()
    text = report.to_json()
    json.loads(text)  # strict JSON: +inf PSNR is encoded, not written as Infinity
    assert "Infinity" not in text
    again = BenchmarkReport.from_json(text)
    assert again == report
    assert again.to_json() == text
    assert again.results[0].quality["fp32_psnr"] == float("inf")


def test_derived_numbers():
    row = make_row(p50_samples=(10.0, 10.0, 10.0))
    assert row.images_per_s == pytest.approx(100.0)
    assert row.megapixels_per_s == pytest.approx(100.0 * 64 * 48 / 1e6)
    assert row.gflop_per_s == pytest.approx(2 * 74688 * 64 * 48 * 100 / 1e9)
    assert row.speedup == pytest.approx(51.0 / 10.0)


def test_batch_and_requests_axes():
    row = make_row(p50_samples=(40.0, 40.0, 40.0), batch=4, requests=2, throughput=150.0, operator=None)
    assert row.label == "can32 ort fp32 64x48 t=2 b=4 r=2"
    assert row.images_per_s == 150.0  # measured over wall time, not batch / p50
    assert make_row(p50_samples=(40.0,), batch=4, throughput=None).images_per_s == pytest.approx(100.0)
    with_op = make_row(batch=4, requests=2, throughput=200.0)  # operator p50 51 ms; network 5 ms per image
    assert with_op.speedup == pytest.approx(51.0 * 200.0 / 1000.0)
    ov = make_row(backend="openvino", hint="throughput")
    assert ov.label.endswith("t=2 b=1 r=1 throughput") and ov.key != make_row(backend="openvino").key
    # The hint is an OpenVINO setting: other backends' rows match across reports whatever hint was asked for.
    assert make_row(hint="throughput").key == make_row().key and "latency" not in make_row().label


def test_reports_without_the_new_axes_still_load():
    data = make_report().to_dict()
    for row in data["results"]:
        for key in ("batch", "requests", "throughput", "backend_info"):
            row.pop(key)
    again = BenchmarkReport.from_dict(data)
    assert again.results[0].batch == 1 and again.results[0].requests == 1 and again.results[0].throughput is None
    assert again.results[0].key == make_report().results[0].key


def test_foreign_input_is_refused():
    with pytest.raises(InputError, match="not valid JSON"):
        BenchmarkReport.from_json("{")
    with pytest.raises(InputError, match="no 'results'"):
        BenchmarkReport.from_json("{}")
    data = make_report().to_dict()
    data["results"][0]["colour"] = "red"
    with pytest.raises(InputError, match="unknown benchmark result keys"):
        BenchmarkReport.from_dict(data)
