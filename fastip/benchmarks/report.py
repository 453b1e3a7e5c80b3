"""Reports: results.json (machine-readable), report.md (tables to paste) and report.html (tables plus plots)."""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Any

from fastip.atomic import write_atomic
from fastip.benchmarks.result import BenchmarkReport
from fastip.benchmarks.summary import num, problems_table, summary_tables
from fastip.benchmarks.table import Table, html_table, markdown_table
from fastip.benchmarks.peak import format_peaks, percent_of_peak
from fastip.errors import InputError

FILES = ("results.json", "report.md", "report.html")


def _gflops(row, peaks: dict[str, Any] | None) -> str:
    """GFLOP/s, with its share of this machine's measured FP32 peak at the row's thread count."""
    share = percent_of_peak(row.gflop_per_s, peaks or {}, row.threads)
    return num(row.gflop_per_s) + (f" ({share:.0f}% of peak)" if share is not None else "")


def tables(report: BenchmarkReport) -> list[Table]:
    """Every table after the summary, in reading order (the model name left out of labels when there is one)."""
    ok = [r for r in report.results if r.status == "ok" and r.latency]
    single = len({r.model for r in report.results}) == 1
    env = report.environment

    def name(row) -> str:
        return row.label[len(row.model) + 1:] if single else row.label
    out = [Table("Latency and throughput (latency per call of b images, with r calls in flight)",
                 ("variant", "p50 ms", "p90", "p99", "mean ± std", "min", "max", "runs", "img/s", "MP/s",
                  "GFLOP/s", "first inference ms", "peak RSS MiB", "backend chose"),
                 tuple((name(r), num(r.latency.p50), num(r.latency.p90), num(r.latency.p99),
                        f"{num(r.latency.mean)} ± {num(r.latency.std)}", num(r.latency.min), num(r.latency.max),
                        str(r.latency.count), num(r.images_per_s, 2), num(r.megapixels_per_s, 2),
                        _gflops(r, env.get("fp32_peak")), num(r.first_inference_ms, 0), num(r.peak_rss_mb, 0),
                        ", ".join(f"{k} {v}" for k, v in r.backend_info.items()) or "—") for r in ok))]
    keys = sorted({k for r in ok for k in r.quality})
    if keys:
        out.append(Table("Quality (PSNR in dB; SSIM, recall, precision, IoU in [0, 1])", ("variant", *keys),
                         tuple((name(r), *(num(r.quality.get(k), 4 if "ssim" in k or "recall" in k or "precision" in k
                                               or "iou" in k else 2) for k in keys)) for r in ok)))
    over = [r for r in ok if "ratio" in r.overhead]
    if over:
        out.append(Table("fastip Session.run vs the raw backend call (same model, interleaved runs)",
                         ("variant", "fastip p50 ms", "raw p50 ms", "overhead"),
                         tuple((name(r), num(r.overhead["fastip_ms"], 2), num(r.overhead["raw_ms"], 2),
                                f"{(r.overhead['ratio'] - 1) * 100:+.2f}%") for r in over)))
    whole = [r for r in ok if "pipeline_ratio" in r.overhead]
    if whole:
        out.append(Table("uint8 image pipeline vs Session.run on its tensor (interleaved runs)",
                         ("variant", "pipeline p50 ms", "Session p50 ms", "ratio"),
                         tuple((name(r), num(r.overhead["pipeline_ms"], 2), num(r.overhead["session_ms"], 2),
                                f"{r.overhead['pipeline_ratio']:.3f}×") for r in whole)))
    problems = problems_table(report)
    if problems:
        out.append(problems)
    env = report.environment
    versions = ", ".join(f"{k} {v}" for k, v in env.get("versions", {}).items())
    out.append(Table("Environment", ("key", "value"), tuple((k, str(v)) for k, v in (
        ("CPU", env.get("cpu_model")), ("SIMD", " ".join(env.get("simd", []))),
        ("cores (usable)", f"{env.get('cores')} ({env.get('usable_cores')})"), ("memory GiB", num(env.get("memory_gib"))),
        ("load average (start / end)", f"{env.get('load_average')} / {env.get('load_average_end')}"),
        ("FP32 peak GFLOP/s (measured)", format_peaks(env.get("fp32_peak") or {})),
        ("versions", versions), ("fastip git", env.get("fastip_git")), ("started", env.get("started")),
        ("settings", ", ".join(f"{k}={v}" for k, v in report.settings.items()))))))
    return out


def notes(report: BenchmarkReport) -> list[str]:
    """Sentences a reader must see before the numbers."""
    out = []
    if report.interrupted:
        out.append("Interrupted (Ctrl-C): this report holds only what was measured before the stop.")
    if report.settings.get("untrained"):
        out.append("The model was built without trained weights: its quality numbers describe an untrained "
                   "network, not what a shipped weight reaches.")
    expected = report.settings.get("expected_metrics")
    if expected and expected["metrics"]:
        metrics = ", ".join(f"{k} {v}" for k, v in expected["metrics"].items())
        out.append(f"Shipped weight {expected['weights']!r} reached {metrics} on {expected['evaluated_on'] or 'its held-out set'}.")
    for auto in report.settings.get("auto") or []:
        out.append(f"Backend auto ({auto['precision']} {auto['size']} threads={auto['threads'] or 'auto'}) chose {auto['reason']}.")
    return out


def markdown(report: BenchmarkReport) -> str:
    """The report as Markdown: notes, the summary per model and size, then every table."""
    lines = ["# fastip benchmark", ""]
    lines += [f"**{note}**\n" for note in notes(report)]
    for table in (*summary_tables(report), *tables(report)):
        lines += markdown_table(table)
    return "\n".join(lines)


STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em 2em;max-width:1500px;text-align:left;line-height:1.4}
h2{margin-top:1.6em;font-size:1.25em}
table{border-collapse:collapse;margin-bottom:1.2em;font-size:0.88em}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f0f0f0}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.t{white-space:nowrap}
td.long{min-width:24em;max-width:60em}
.scroll{overflow-x:auto;max-width:100%}
.warn{color:#a40}
figure{margin:0 0 1.5em 0}
img{max-width:100%;height:auto;border:1px solid #ddd}
figcaption{font-size:0.9em;color:#444}
"""


def html_report(report: BenchmarkReport) -> str:
    """A self-contained HTML page: the summary, plots embedded as base64 PNG, then every table."""
    from fastip.benchmarks.plots import plots

    esc = html.escape
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>fastip benchmark</title><style>{STYLE}</style>"
             "</head><body><h1>fastip benchmark</h1>"]
    parts += [f"<p class='warn'><b>{esc(note)}</b></p>" for note in notes(report)]
    parts += [html_table(table) for table in summary_tables(report)]
    for plot in plots(report):
        parts.append(f"<h2>{esc(plot.title)}</h2><figure><img alt='{esc(plot.title)}' width='{plot.width}' "
                     f"height='{plot.height}' src='data:image/png;base64,{plot.png}'>")
        if plot.key is not None:
            parts.append(f"<figcaption>{html_table(plot.key, heading='h3')}</figcaption>")
        parts.append("</figure>")
    parts += [html_table(table) for table in tables(report)]
    parts.append("</body></html>")
    return "\n".join(parts)


def _write_atomic(path: Path, text: str) -> None:
    write_atomic(path, text.encode("utf-8"))


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
