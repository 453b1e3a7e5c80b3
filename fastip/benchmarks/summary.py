"""The summary a reader sees first: per model and size, the reference operator row, then each network row with
its latency, images/s, ratio to the operator and headline quality; problems shared by many rows stated once."""

from __future__ import annotations

import math
import re

from fastip.benchmarks.result import BenchmarkReport, BenchmarkResult
from fastip.benchmarks.table import Table, text_table

SUMMARY_HEADERS = ("variant", "p50 ms", "img/s", "vs operator", "quality")


def num(value: float | None, digits: int = 1) -> str:
    """A number for a table cell: thousands separators, '—' when missing, '∞' when infinite."""
    if value is None:
        return "—"
    if math.isinf(value):
        return "∞"
    return f"{value:,.{digits}f}"


def headline_metric(row: BenchmarkResult) -> tuple[str, float] | None:
    """The one quality number a row is judged by: PSNR vs the operator (CAN), vs HR on Y (SR), recall (face)."""
    for key in ("operator_psnr", "hr_psnr_y", "fp32_recall", "fp32_psnr"):
        if key in row.quality:
            return key, row.quality[key]
    return None


def metric_text(key: str, value: float) -> str:
    """'31.25 dB (operator_psnr)' or '0.950 (fp32_recall)'."""
    db = "psnr" in key
    return f"{num(value, 2 if db else 3)}{' dB' if db else ''} ({key})"


def ratio_text(speedup: float | None) -> str:
    """Operator time / network time as '6.45× faster' or '1.20× slower'."""
    if not speedup:
        return "—"
    return f"{speedup:.2f}× faster" if speedup >= 1 else f"{1 / speedup:.2f}× slower"


def _operator_quality(rows: list[BenchmarkResult]) -> str:
    if rows[0].family == "can":
        return "the reference"
    for row in rows:
        if "bicubic_psnr_y" in row.quality:
            return metric_text("hr_psnr_y", row.quality["bicubic_psnr_y"])
    return "—"


def summary_tables(report: BenchmarkReport) -> list[Table]:
    """One table per model and size: operator rows first (one per thread count), then the measured variants."""
    ok = [r for r in report.results if r.status == "ok" and r.latency]
    groups: dict[tuple, list[BenchmarkResult]] = {}
    for row in ok:
        groups.setdefault((row.model, row.width, row.height), []).append(row)
    out = []
    for (model, width, height), rows in groups.items():
        cells = []
        operators = {}
        for row in rows:
            if row.operator and row.operator.latency:
                operators.setdefault(row.threads, row.operator)
        for threads, op in operators.items():
            cells.append((f"operator {op.name} t={'auto' if threads is None else threads}", num(op.latency.p50),
                          num(1000.0 / op.latency.p50 if op.latency.p50 > 0 else None, 2), "1.00×",
                          _operator_quality(rows)))
        for row in rows:
            metric = headline_metric(row)
            quality = metric_text(*metric) if metric else "the fp32 reference" if row.precision == "fp32" else "—"
            cells.append((f"{row.backend} {row.precision} {row.axes}", num(row.latency.p50), num(row.images_per_s, 2),
                          ratio_text(row.speedup), quality))
        names = sorted({op.name for op in operators.values()})
        title = f"{model} at {width}x{height}" + (f", network vs {', '.join(names)}" if names else "")
        out.append(Table(title, SUMMARY_HEADERS, tuple(cells)))
    return out


def grouped_problems(report: BenchmarkReport) -> list[tuple[str, list[str]]]:
    """(problem, labels of the rows it hit): skip/fail reasons, operator errors and warnings, each stated once.

    Messages that differ only in their figures (a run-to-run variation of 31% on one row, 58% on another) are
    one problem: the first message stands for the rest, which the tables below give row by row.
    """
    groups: dict[tuple[str, str], tuple[list[str], list[str]]] = {}

    def add(kind: str, text: str, label: str) -> None:
        texts, labels = groups.setdefault((kind, re.sub(r"\d+(?:\.\d+)?", "#", text)), ([], []))
        texts.append(text)
        labels.append(label)

    for row in report.results:
        if row.status != "ok":
            add(row.status, "; ".join(line.strip() for line in (row.reason or "no reason given").splitlines()
                                      if line.strip()), row.label)
        elif row.operator and row.operator.error:
            add(f"reference operator {row.operator.name}", row.operator.error, row.label)
        for warning in row.warnings:
            add("warning", warning, row.label)
    return [(f"{kind}: {'e.g. ' if len(set(texts)) > 1 else ''}{texts[0]}", labels)
            for (kind, _), (texts, labels) in groups.items()]


def problems_table(report: BenchmarkReport) -> Table | None:
    """The grouped problems as a table (problem, how many rows, which), or None when there are none."""
    groups = grouped_problems(report)
    if not groups:
        return None
    return Table("Skipped, failed and warnings (each stated once)", ("problem", "rows", "variants"),
                 tuple((problem, str(len(labels)), ", ".join(labels)) for problem, labels in groups))


def format_summary(report: BenchmarkReport) -> str:
    """The terminal summary: one aligned table per model and size, then each problem once with its row count."""
    parts = [text_table(table) for table in summary_tables(report)]
    for problem, labels in grouped_problems(report):
        which = labels[0] if len(labels) == 1 else f"{len(labels)} rows"
        parts.append(f"{problem} ({which})")
    return "\n".join(parts)
