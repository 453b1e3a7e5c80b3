"""The measured FP32 peak: a real GEMM timing, the percentages computed from it, and `fastip-bench --env`."""

from __future__ import annotations

import math

from fastip.benchmarks.peak import format_peaks, measure_peak, percent_of_peak
from fastip.benchmarks.report import markdown
from fastip.cli.bench_cmd import main
from tests.benchmarks.test_result import make_report, make_row


def test_measure_peak_times_real_gemms():
    peak = measure_peak(1, seconds=0.05, size=128)
    assert peak.runs >= 3 and peak.threads == 1 and "GEMM 128^3" in peak.method
    assert math.isfinite(peak.gflop_per_s) and peak.gflop_per_s > 0.01  # any working CPU does 10 MFLOP/s


def test_percent_of_peak_uses_the_rows_thread_count():
    peaks = {"2": {"gflop_per_s": 50.0}, "None": {"gflop_per_s": 80.0}, "1": {"error": "worker died"}}
    assert percent_of_peak(40.0, peaks, 2) == 80.0
    assert percent_of_peak(40.0, peaks, None) == 50.0
    assert percent_of_peak(40.0, peaks, 1) is None and percent_of_peak(40.0, {}, 2) is None
    assert percent_of_peak(None, peaks, 2) is None
    assert format_peaks({"2": {"gflop_per_s": 50.04, "method": "m"}, "None": {"error": "boom"}}) == "threads=2: 50.0 (m); threads=auto: boom"


def test_report_states_the_share_of_the_peak():
    row = make_row()  # threads=2
    rate = row.gflop_per_s
    peaks = {"2": {"gflop_per_s": rate * 4, "method": "numpy float32 GEMM 1024^3"}}
    report = make_report()
    report = type(report)(results=(row,), environment=report.environment, settings=report.settings)
    assert "% of peak)" not in markdown(report)
    report.environment["fp32_peak"] = peaks
    text = markdown(report)
    assert "(25% of peak)" in text and "threads=2: " in text


def test_bench_env_prints_flags_and_measured_peak(capsys):
    assert main(["--env", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    peak_line = next(line for line in out.splitlines() if line.startswith("fp32 peak GFLOP/s"))
    value = float(peak_line.split("threads=1: ")[1].split()[0])
    assert value > 0.01
    assert "cpu flags: " in out and "load average: [" in out and "simd: " in out
