"""fastip-bench times the whole uint8 pipeline against Session.run at the largest size, and Session vs raw at the smallest."""

from __future__ import annotations

import json

import pytest

from fastip.benchmarks.report import markdown
from fastip.cli.bench_cmd import main
from tests.benchmarks.test_result import make_report, make_row
from tests.support import has


@pytest.mark.skipif(not (has("torch") and has("onnxruntime")), reason="needs torch and onnxruntime")
def test_pipeline_and_session_overheads_are_measured(tmp_path):
    out = tmp_path / "report"
    assert main(["espcn_x2", "--backends", "ort", "--sizes", "24x16,40x32", "--min-runs", "3", "--min-time", "0",
                 "--warmup", "1", "-q", "-o", str(out)]) == 0
    rows = {r["width"]: r for r in json.loads((out / "results.json").read_text())["results"]}
    small, large = rows[24]["overhead"], rows[40]["overhead"]
    assert small["fastip_ms"] > 0 and small["raw_ms"] > 0 and "pipeline_ratio" not in small
    assert large["pipeline_ms"] > 0 and large["session_ms"] > 0 and "ratio" not in large
    assert large["pipeline_ratio"] == pytest.approx(large["pipeline_ms"] / large["session_ms"])
    text = (out / "report.md").read_text()
    assert "uint8 image pipeline vs Session.run" in text and "Session.run vs the raw backend call" in text


def test_report_table_shows_the_pipeline_ratio():
    row = make_row(overhead={"pipeline_ms": 21.0, "session_ms": 20.0, "pipeline_ratio": 1.05})
    report = make_report()
    report = type(report)(results=(row,), environment=report.environment, settings=report.settings)
    text = markdown(report)
    assert "| 21.00 | 20.00 | 1.050× |" in text and "raw backend call" not in text
