"""Report rendering: results.json, report.md and a self-contained report.html with every table and plot."""

from __future__ import annotations

import base64
import re
from html.parser import HTMLParser

import pytest

from fastip.benchmarks.report import FILES, load_report, markdown, tables, write_report
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
    titles = [t.title for t in tables(report)]
    assert set(titles) <= set(page.headings) and page.tables == len(titles)
    assert {"Latency vs megapixels", "Speed vs quality", "Network vs reference operator"} <= set(page.headings)
    assert len(page.images) == 3
    for src in page.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"

    text = paths["report.md"].read_text(encoding="utf-8")
    for title in titles:
        assert f"## {title}" in text
    assert "Interrupted" in text
    assert "network 10.5 ms vs l0_smoothing 51.0 ms, 4.86× faster, at 31.25 dB (operator_psnr)" in text


def test_markdown_tables_are_well_formed():
    text = markdown(make_report())
    for block in re.findall(r"(?:^\|.*\|$\n?)+", text, flags=re.M):
        widths = {line.count("|") - line.count("\\|") for line in block.strip().splitlines()}
        assert len(widths) == 1


def test_skipped_rows_listed():
    report = make_report()
    skipped = next(t for t in tables(report) if t.title == "Skipped or failed")
    assert skipped.rows == ((report.results[2].label, "skipped", "the torch backend runs fp32 only"),)
    assert make_row().label == "can32 ort fp32 64x48 t=2"


def test_untrained_and_expected_metrics_are_stated():
    from dataclasses import replace

    report = replace(make_report(), interrupted=False, settings={
        "untrained": True, "expected_metrics": {"weights": "l0", "metrics": {"psnr": 33.1}, "evaluated_on": "kodak"}})
    text = markdown(report)
    assert "untrained network" in text and "Interrupted" not in text
    assert "Shipped weight 'l0' reached psnr 33.1 on kodak" in text
