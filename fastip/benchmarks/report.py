"""Reports: results.json (machine-readable), report.md (tables to paste) and report.html (tables plus plots)."""

from __future__ import annotations

import html
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastip.benchmarks.peak import format_peaks, percent_of_peak
from fastip.benchmarks.result import BenchmarkReport, BenchmarkResult
from fastip.errors import InputError

FILES = ("results.json", "report.md", "report.html")


@dataclass(frozen=True)
class Table:
    """A titled table of already-formatted cells, rendered to Markdown or HTML alike."""

    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


def _num(value: float | None, digits: int = 1) -> str:
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


def headline(row: BenchmarkResult, peaks: dict[str, Any] | None = None) -> str:
    """'can32 ort fp32 512x512 t=2: network 186 ms vs l0_smoothing 1200 ms, 6.4x faster, at 31.2 dB'."""
    if row.status != "ok" or row.latency is None:
        first, *rest = (row.reason or "").splitlines() or [""]
        return f"{row.label}: {row.status} ({first}{' ... see the skipped table' if rest else ''})"
    text = f"{row.label}: network {_num(row.latency.p50)} ms"
    op = row.operator
    if op and op.latency:
        factor = row.speedup
        how = f"{factor:.2f}× faster" if factor >= 1 else f"{1 / factor:.2f}× slower"
        text += f" vs {op.name} {_num(op.latency.p50)} ms, {how}"
    elif op and op.error:
        text += f" (operator {op.name}: {op.error})"
    if "pipeline_ratio" in row.overhead:
        text += f", uint8 pipeline {row.overhead['pipeline_ratio']:.2f}× Session"
    share = percent_of_peak(row.gflop_per_s, peaks or {}, row.threads)
    if share is not None:
        text += f", {_num(row.gflop_per_s)} GFLOP/s ({share:.0f}% of the measured FP32 peak)"
    metric = headline_metric(row)
    if metric:
        key, value = metric
        unit = "" if key.endswith("recall") else " dB"
        text += f", at {_num(value, 2 if unit else 3)}{unit} ({key})"
        if row.family == "sr" and "bicubic_psnr_y" in row.quality:
            text += f" vs bicubic {_num(row.quality['bicubic_psnr_y'], 2)} dB"
    return text


def tables(report: BenchmarkReport) -> list[Table]:
    """Every table of a report, in reading order."""
    ok = [r for r in report.results if r.status == "ok" and r.latency]
    out = [Table("Latency", ("variant", "p50 ms", "p90", "p99", "mean ± std", "min", "max", "runs", "img/s", "MP/s",
                             "GFLOP/s", "first inference ms", "peak RSS MiB"),
                 tuple((r.label, _num(r.latency.p50), _num(r.latency.p90), _num(r.latency.p99),
                        f"{_num(r.latency.mean)} ± {_num(r.latency.std)}", _num(r.latency.min), _num(r.latency.max),
                        str(r.latency.count), _num(r.images_per_s, 2), _num(r.megapixels_per_s, 2),
                        _num(r.gflop_per_s), _num(r.first_inference_ms, 0), _num(r.peak_rss_mb, 0)) for r in ok))]
    out.append(Table("Network vs reference operator", ("variant", "network p50 ms", "operator", "operator p50 ms", "speed-up"),
                     tuple((r.label, _num(r.latency.p50), r.operator.name if r.operator else "—",
                            _num(r.operator.latency.p50) if r.operator and r.operator.latency else
                            (r.operator.error or "—") if r.operator else "—",
                            f"{r.speedup:.2f}×" if r.speedup else "—") for r in ok)))
    keys = sorted({k for r in ok for k in r.quality})
    if keys:
        out.append(Table("Quality (PSNR in dB; SSIM, recall, precision, IoU in [0, 1])", ("variant", *keys),
                         tuple((r.label, *(_num(r.quality.get(k), 4 if "ssim" in k or "recall" in k or "precision" in k
                                                or "iou" in k else 2) for k in keys)) for r in ok)))
    over = [r for r in ok if "ratio" in r.overhead]
    if over:
        out.append(Table("fastip Session.run vs the raw backend call (same model, interleaved runs)",
                         ("variant", "fastip p50 ms", "raw p50 ms", "overhead"),
                         tuple((r.label, _num(r.overhead["fastip_ms"], 2), _num(r.overhead["raw_ms"], 2),
                                f"{(r.overhead['ratio'] - 1) * 100:+.2f}%") for r in over)))
    whole = [r for r in ok if "pipeline_ratio" in r.overhead]
    if whole:
        out.append(Table("uint8 image pipeline vs Session.run on its tensor (interleaved runs)",
                         ("variant", "pipeline p50 ms", "Session p50 ms", "ratio"),
                         tuple((r.label, _num(r.overhead["pipeline_ms"], 2), _num(r.overhead["session_ms"], 2),
                                f"{r.overhead['pipeline_ratio']:.3f}×") for r in whole)))
    other = [r for r in report.results if r.status != "ok"]
    if other:
        out.append(Table("Skipped or failed", ("variant", "status", "reason"),
                         tuple((r.label, r.status, "; ".join(l.strip() for l in (r.reason or "").splitlines()))
                               for r in other)))
    warned = [(r.label, w) for r in report.results for w in r.warnings]
    if warned:
        out.append(Table("Warnings", ("variant", "warning"), tuple(warned)))
    env = report.environment
    versions = ", ".join(f"{k} {v}" for k, v in env.get("versions", {}).items())
    out.append(Table("Environment", ("key", "value"), tuple((k, str(v)) for k, v in (
        ("CPU", env.get("cpu_model")), ("SIMD", " ".join(env.get("simd", []))),
        ("cores (usable)", f"{env.get('cores')} ({env.get('usable_cores')})"), ("memory GiB", _num(env.get("memory_gib"))),
        ("load average (start / end)", f"{env.get('load_average')} / {env.get('load_average_end')}"),
        ("FP32 peak GFLOP/s (measured)", format_peaks(env.get("fp32_peak") or {})),
        ("versions", versions), ("fastip git", env.get("fastip_git")), ("started", env.get("started")),
        ("settings", ", ".join(f"{k}={v}" for k, v in report.settings.items()))))))
    return out


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def notes(report: BenchmarkReport) -> list[str]:
    """Sentences a reader must see before the numbers."""
    out = []
    if report.interrupted:
        out.append("Interrupted (Ctrl-C): this report holds only what was measured before the stop.")
    if report.settings.get("untrained"):
        out.append("The model was built without trained weights: its quality numbers describe an untrained "
                   "network, not what a shipped weight reaches.")
    expected = report.settings.get("expected_metrics")
    if expected:
        metrics = ", ".join(f"{k} {v}" for k, v in expected["metrics"].items())
        out.append(f"Shipped weight {expected['weights']!r} reached {metrics} on {expected['evaluated_on'] or 'its held-out set'}.")
    for auto in report.settings.get("auto") or []:
        out.append(f"Backend auto ({auto['precision']} {auto['size']} threads={auto['threads'] or 'auto'}) chose {auto['reason']}.")
    return out


def markdown(report: BenchmarkReport) -> str:
    """The report as Markdown: headline rows, then every table."""
    lines = ["# fastip benchmark", ""]
    lines += [f"**{note}**\n" for note in notes(report)]
    lines += [f"- {headline(r, report.environment.get('fp32_peak'))}" for r in report.results] + [""]
    for table in tables(report):
        lines += [f"## {table.title}", "", "| " + " | ".join(table.headers) + " |",
                  "|" + "---|" * len(table.headers)]
        lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in table.rows]
        lines.append("")
    return "\n".join(lines)


def html_report(report: BenchmarkReport) -> str:
    """A self-contained HTML page: the same tables plus plots embedded as base64 PNG."""
    from fastip.benchmarks.plots import plots

    esc = html.escape
    parts = ["<!DOCTYPE html><html><head><meta charset='utf-8'><title>fastip benchmark</title><style>",
             "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:1.5em}"
             "td,th{border:1px solid #bbb;padding:3px 7px;text-align:right}td:first-child{text-align:left}"
             ".warn{color:#a40}</style></head><body><h1>fastip benchmark</h1>"]
    parts += [f"<p class='warn'><b>{esc(note)}</b></p>" for note in notes(report)]
    parts.append("<ul>" + "".join(f"<li>{esc(headline(r, report.environment.get('fp32_peak')))}</li>" for r in report.results) + "</ul>")
    for title, png in plots(report):
        parts.append(f"<h2>{esc(title)}</h2><img alt='{esc(title)}' src='data:image/png;base64,{png}'>")
    for table in tables(report):
        parts.append(f"<h2>{esc(table.title)}</h2><table><tr>" + "".join(f"<th>{esc(h)}</th>" for h in table.headers) + "</tr>")
        parts += ["<tr>" + "".join(f"<td>{esc(str(c))}</td>" for c in row) + "</tr>" for row in table.rows]
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_report(report: BenchmarkReport, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write results.json, report.md and report.html into `out_dir`, each file atomically."""
    root = Path(out_dir)
    if root.exists() and not root.is_dir():
        raise InputError(f"-o {root} is a file; give a directory for the report")
    root.mkdir(parents=True, exist_ok=True)
    paths = {name: root / name for name in FILES}
    _write_atomic(paths["results.json"], report.to_json())
    _write_atomic(paths["report.md"], markdown(report))
    _write_atomic(paths["report.html"], html_report(report))
    return paths


def load_report(path: str | os.PathLike) -> BenchmarkReport:
    """A results.json (or a report directory holding one)."""
    path = Path(path)
    if path.is_dir():
        path = path / "results.json"
    if not path.is_file():
        raise InputError(f"benchmark results not found: {path}; give a results.json written by fastip-bench")
    return BenchmarkReport.from_json(path.read_text(encoding="utf-8"))
