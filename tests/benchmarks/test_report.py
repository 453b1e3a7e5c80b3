"""Report rendering: results.json, report.md and a self-contained report.html with every table and plot."""

from __future__ import annotations

import base64
import re
from html.parser import HTMLParser

import pytest

from fastip.benchmarks.report import FILES, load_report, markdown, tables, write_report
from fastip.benchmarks.summary import format_summary, grouped_problems, summary_tables
from tests.benchmarks.test_result import make_report, make_row


class Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.headings, self.images, self.tables = [], [], 0
        self._in_h2 = False

    def handle_starttag(self, tag, attrs):
        self._in_h2 = tag == "h2"
        self.tables += tag == "table"
        if tag == "img":
            self.images.append(dict(attrs)["src"])

    def handle_data(self, data):
        if self._in_h2:
            self.headings.append(data)
            self._in_h2 = False


def test_write_report_files(tmp_path):
    pytest.importorskip("matplotlib")
    report = make_report()
    paths = write_report(report, tmp_path / "report")
    assert sorted(p.name for p in (tmp_path / "report").iterdir()) == sorted(FILES)  # no temp files left
    assert load_report(tmp_path / "report") == report

    page = Collector()
    page.feed(paths["report.html"].read_text(encoding="utf-8"))
    titles = [t.title for t in (*summary_tables(report), *tables(report))]
    assert set(titles) <= set(page.headings)
    assert {"Images per second at 64x48, network vs reference operator",
            "Speed vs quality at 64x48 (operator_psnr)"} <= set(page.headings)
    assert "Latency vs megapixels" not in page.headings  # one size: nothing to draw against
    assert page.tables == len(titles) + 1  # plus the key of the numbered speed-vs-quality points
    assert len(page.images) == 2
    for src in page.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"

    text = paths["report.md"].read_text(encoding="utf-8")
    for title in titles:
        assert f"## {title}" in text
    assert "Interrupted" in text
    assert "| operator l0_smoothing t=2 | 51.0 | 19.61 | 1.00× | the reference |" in text
    assert "| ort fp32 t=2 b=1 r=1 | 10.5 | 95.24 | 4.86× faster | 31.25 dB (operator_psnr) |" in text


def test_plots_one_per_size_with_numbered_points():
    pytest.importorskip("matplotlib")
    from dataclasses import replace

    from fastip.benchmarks.plots import plots

    rows = [make_row(backend=b, width=w, height=h, requests=r)
            for b in ("ort", "openvino") for w, h in ((64, 48), (128, 96)) for r in (1, 4)]
    figures = plots(replace(make_report(), results=tuple(rows)))
    titles = [f.title for f in figures]
    assert titles.count("Speed vs quality at 64x48 (operator_psnr)") == 1
    assert "Speed vs quality at 128x96 (operator_psnr)" in titles and "Latency vs megapixels" in titles
    scatter = figures[titles.index("Speed vs quality at 128x96 (operator_psnr)")]
    assert [row[0] for row in scatter.key.rows] == ["1", "2", "3", "4"]  # four variants at this size, keyed by number
    assert {row[1] for row in scatter.key.rows} == {"ort fp32 t=2 b=1 r=1", "ort fp32 t=2 b=1 r=4",
                                                   "openvino fp32 t=2 b=1 r=1 latency", "openvino fp32 t=2 b=1 r=4 latency"}
    assert all(f.width >= 600 and f.height >= 200 for f in figures)


def test_markdown_tables_are_well_formed():
    text = markdown(make_report())
    for block in re.findall(r"(?:^\|.*\|$\n?)+", text, flags=re.M):
        widths = {line.count("|") - line.count("\\|") for line in block.strip().splitlines()}
        assert len(widths) == 1


def test_problems_stated_once():
    from dataclasses import replace

    from fastip.benchmarks.latency import variation_warning, summarize
    from fastip.benchmarks.result import BenchmarkResult

    report = make_report()
    skipped = [BenchmarkResult(model="can32", family="can", backend="torch", precision="int8", width=w, height=48,
                               status="skipped", reason="the torch backend runs fp32 only") for w in (64, 96, 128)]
    noisy = [make_row(width=w, warnings=(variation_warning(summarize(s)),), operator=None)
             for w, s in ((64, [10.0, 20.0]), (96, [10.0, 30.0]))]
    report = replace(report, results=(*report.results[:2], *skipped, *noisy))
    problems = dict(grouped_problems(report))
    assert problems["skipped: the torch backend runs fp32 only"] == [r.label for r in skipped]
    assert problems["reference operator l0_smoothing: boom"] == [report.results[1].label]
    (variation,) = [k for k in problems if "run-to-run variation" in k]
    assert variation.startswith("warning: e.g. run-to-run variation 33%") and len(problems[variation]) == 2
    text = format_summary(report)
    assert text.count("the torch backend runs fp32 only") == 1 and "(3 rows)" in text
    table = next(t for t in tables(report) if t.title.startswith("Skipped, failed and warnings"))
    assert sum("fp32 only" in row[0] for row in table.rows) == 1


def test_terminal_summary_has_the_operator_row_and_ratio():
    text = format_summary(make_report())
    lines = text.splitlines()
    assert lines[0] == "can32 at 64x48, network vs l0_smoothing"
    assert re.search(r"operator l0_smoothing t=2 +51\.0 +19\.61 +1\.00× +the reference", text)
    assert re.search(r"ort fp32 t=2 b=1 r=1 +10\.5 +95\.24 +4\.86× faster +31\.25 dB \(operator_psnr\)", text)
    assert "reference operator l0_smoothing: boom" in text


def test_untrained_and_expected_metrics_are_stated():
    from dataclasses import replace

    report = replace(make_report(), interrupted=False, settings={
        "untrained": True, "expected_metrics": {"weights": "l0", "metrics": {"psnr": 33.1}, "evaluated_on": "kodak"}})
    text = markdown(report)
    assert "untrained network" in text and "Interrupted" not in text
    assert "Shipped weight 'l0' reached psnr 33.1 on kodak" in text
