"""Compare mode: a known regression is flagged, noise and small changes are not; quality drops are flagged too."""

from __future__ import annotations

from dataclasses import replace

import pytest

from fastip.benchmarks.compare import compare_reports, comparison, format_comparison
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


def test_quality_columns_compared():
    old = make_row(backend="ort")
    worse = replace(old, quality={**old.quality, "operator_psnr": 30.9})  # -0.35 dB: beyond the 0.1 dB tolerance
    same = replace(make_row(backend="openvino"), quality={**old.quality, "operator_psnr": 31.2})  # -0.05 dB
    faces = make_row(backend="torch", quality={"fp32_recall": 1.0, "fp32_iou": 0.98})
    fewer_faces = replace(faces, quality={"fp32_recall": 0.9, "fp32_iou": 0.98})
    changes, _, _ = compare_reports(report(old, make_row(backend="openvino"), faces), report(worse, same, fewer_faces))
    verdict = {c.label: c for c in changes}
    assert verdict[worse.label].quality_regression and not verdict[worse.label].regression
    psnr = next(q for q in verdict[worse.label].quality if q.key == "operator_psnr")
    assert psnr.delta == pytest.approx(-0.35) and psnr.regression
    assert next(q for q in verdict[worse.label].quality if q.key == "fp32_psnr").delta == 0.0  # inf -> inf
    assert not verdict[same.label].quality_regression
    assert verdict[fewer_faces.label].quality_regression
    text = format_comparison(changes, [], [])
    assert "operator_psnr 31.25 -> 30.90 dB (-0.35) LOWER" in text and "fp32_recall 1.0000 -> 0.9000 (-0.1000) LOWER" in text
    assert text.count("QUALITY REGRESSION") == 2 and "3 rows compared, 0 regressions, 2 quality regressions" in text


def test_quality_from_other_images_is_not_compared():
    old = BenchmarkReport(results=(make_row(),), environment={}, settings={"images": "photos/"})
    new = BenchmarkReport(results=(replace(make_row(), quality={"operator_psnr": 20.0}),), environment={},
                          settings={"images": None})
    text, regressed = comparison(old, new)
    assert not regressed and "quality not compared: the reports measured different images" in text
    text, regressed = comparison(old, replace(new, settings={"images": "photos/"}))
    assert regressed and "QUALITY REGRESSION" in text
