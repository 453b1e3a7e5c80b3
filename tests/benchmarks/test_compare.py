"""Compare mode: a known regression is flagged, noise and small changes are not."""

from __future__ import annotations

from dataclasses import replace

from fastip.benchmarks.compare import compare_reports, format_comparison
from fastip.benchmarks.latency import summarize
from fastip.benchmarks.result import BenchmarkReport
from tests.benchmarks.test_result import make_row


def report(*rows):
    return BenchmarkReport(results=tuple(rows), environment={})


def test_regression_flagged_noise_not():
    steady_old = make_row(backend="ort", p50_samples=[100.0] * 9 + [101.0])
    steady_new = replace(steady_old, latency=summarize([130.0] * 9 + [131.0]))  # +30%, tiny spread
    noisy_old = make_row(backend="openvino", p50_samples=[100, 100, 100, 100, 100, 120, 120, 120, 130, 140])
    noisy_new = replace(noisy_old, latency=summarize([115, 115, 115, 115, 115, 135, 135, 135, 140, 150]))  # +15%, spread ~30%
    small_old = make_row(backend="torch", p50_samples=[100.0] * 10)
    small_new = replace(small_old, latency=summarize([104.0] * 10))  # +4%: under the 5% floor
    faster_new = replace(steady_old, threads=1, latency=summarize([50.0] * 10))
    changes, gone, added = compare_reports(report(steady_old, noisy_old, small_old, replace(steady_old, threads=1)),
                                           report(steady_new, noisy_new, small_new, faster_new))
    verdict = {c.label: c for c in changes}
    assert verdict[steady_new.label].regression
    assert not verdict[noisy_new.label].regression and verdict[noisy_new.label].threshold > 0.15
    assert not verdict[small_new.label].regression and verdict[small_new.label].threshold == 0.05
    assert verdict[faster_new.label].improvement and not verdict[faster_new.label].regression
    assert not gone and not added
    text = format_comparison(changes, gone, added)
    assert text.count("REGRESSION") == 1 and "4 rows compared, 1 regression" in text


def test_rows_only_in_one_report():
    a, b = make_row(backend="ort"), make_row(backend="openvino")
    changes, gone, added = compare_reports(report(a), report(b))
    assert not changes and gone == [a.label] and added == [b.label]
