"""Report plots (matplotlib, Agg): latency vs megapixels, speed vs quality, network vs operator; base64 PNGs."""

from __future__ import annotations

import base64
import io

from fastip.benchmarks.result import BenchmarkReport, BenchmarkResult
from fastip.errors import require


def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _series(rows: list[BenchmarkResult]) -> dict[str, list[BenchmarkResult]]:
    groups: dict[str, list[BenchmarkResult]] = {}
    for r in rows:
        threads = "auto" if r.threads is None else r.threads
        groups.setdefault(f"{r.model} {r.backend} {r.precision} t={threads}", []).append(r)
    return groups


def plots(report: BenchmarkReport) -> list[tuple[str, str]]:
    """(title, base64 PNG) for each plot the report's rows support."""
    matplotlib = require("matplotlib", "dev", "report plots")
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    from fastip.benchmarks.report import headline_metric

    rows = [r for r in report.results if r.status == "ok" and r.latency]
    if not rows:
        return []
    out = []
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for name, group in _series(rows).items():
        group = sorted(group, key=lambda r: r.megapixels)
        ax.plot([r.megapixels for r in group], [r.latency.p50 for r in group], marker="o", label=name)
    ax.set_xlabel("megapixels per image")
    ax.set_ylabel("p50 latency (ms)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    out.append(("Latency vs megapixels", _png(fig)))
    plt.close(fig)

    scored = [(r, headline_metric(r)) for r in rows]
    scored = [(r, m) for r, m in scored if m and m[1] != float("inf")]
    if scored:
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        for r, (key, value) in scored:
            ax.scatter(r.latency.p50, value)
            ax.annotate(f"{r.backend} {r.precision} {r.width}x{r.height}", (r.latency.p50, value), fontsize=7)
        ax.set_xscale("log")
        ax.set_xlabel("p50 latency (ms, log)")
        ax.set_ylabel(", ".join(sorted({m[0] for _, m in scored})))
        ax.grid(alpha=0.3)
        out.append(("Speed vs quality", _png(fig)))
        plt.close(fig)

    timed = [r for r in rows if r.operator and r.operator.latency]
    if timed:
        fig, ax = plt.subplots(figsize=(max(6.4, 0.5 * len(timed) + 2), 4.2))
        xs = range(len(timed))
        ax.bar([x - 0.2 for x in xs], [r.latency.p50 for r in timed], width=0.4, label="network")
        ax.bar([x + 0.2 for x in xs], [r.operator.latency.p50 for r in timed], width=0.4,
               label="operator (" + ", ".join(sorted({r.operator.name for r in timed})) + ")")
        ax.set_xticks(list(xs))
        ax.set_xticklabels([f"{r.backend} {r.precision}\n{r.width}x{r.height}" for r in timed], fontsize=7)
        ax.set_ylabel("p50 latency (ms)")
        ax.set_yscale("log")
        ax.legend(fontsize=7)
        out.append(("Network vs reference operator", _png(fig)))
        plt.close(fig)
    return out
