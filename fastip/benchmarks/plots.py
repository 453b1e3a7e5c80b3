"""Report plots (matplotlib, Agg), one per image size: images/s against the reference operator, speed vs quality
(numbered points keyed by a table), and latency vs megapixels when several sizes were measured."""

from __future__ import annotations

import base64
import io
import struct
from dataclasses import dataclass

from fastip.benchmarks.result import BenchmarkReport, BenchmarkResult
from fastip.benchmarks.summary import headline_metric, metric_text, num
from fastip.benchmarks.table import Table
from fastip.errors import require

DPI = 100
MARKERS = {"fp32": "o", "fp16": "s", "int8": "^"}
# Label offsets in points around a point, tried in order until one overlaps nothing placed before.
OFFSETS = ((6, 5), (6, -13), (-13, 5), (-13, -13), (9, -4), (-17, -4), (-3, 9), (-3, -17), (-3, 20), (-3, -28),
           (14, 16), (-22, -24), (14, -24), (-22, 16))
PAD = 4  # pixels kept free around each number


@dataclass(frozen=True)
class Plot:
    """One embedded figure: its title, base64 PNG, pixel size and an optional key table shown under it."""

    title: str
    png: str
    width: int
    height: int
    key: Table | None = None


def _plot(title: str, fig, key: Table | None = None) -> Plot:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight", pad_inches=0.15)
    data = buffer.getvalue()
    width, height = struct.unpack(">II", data[16:24])  # the PNG IHDR chunk
    return Plot(title, base64.b64encode(data).decode("ascii"), width, height, key)


def _by_size(rows: list[BenchmarkResult]) -> dict[tuple[int, int], list[BenchmarkResult]]:
    groups: dict[tuple[int, int], list[BenchmarkResult]] = {}
    for row in rows:
        groups.setdefault((row.width, row.height), []).append(row)
    return groups


def _colours(rows: list[BenchmarkResult]) -> dict[str, str]:
    backends = sorted({r.backend for r in rows})
    return {b: f"C{i}" for i, b in enumerate(backends)}


def plots(report: BenchmarkReport) -> list[Plot]:
    """Every plot the report's rows support, in reading order."""
    matplotlib = require("matplotlib", "dev", "report plots")
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    rows = [r for r in report.results if r.status == "ok" and r.latency]
    out: list[Plot] = []
    for (w, h), group in _by_size(rows).items():
        out.append(_throughput(plt, group, f"Images per second at {w}x{h}, network vs reference operator"))
        out += _speed_quality(plt, group, f"{w}x{h}")
    if len(_by_size(rows)) > 1:
        out.append(_latency_vs_size(plt, rows))
    return out


def _throughput(plt, rows: list[BenchmarkResult], title: str) -> Plot:
    """Horizontal bars (labels on the left always fit): each variant's images/s, the operator's in grey."""
    bars: list[tuple[str, float, str]] = []
    colours = _colours(rows)
    seen = set()
    for row in rows:
        op = row.operator
        if op and op.latency and op.latency.p50 > 0 and (op.name, row.threads) not in seen:
            seen.add((op.name, row.threads))
            bars.append((f"operator {op.name} t={'auto' if row.threads is None else row.threads}",
                         1000.0 / op.latency.p50, "0.55"))
    bars += [(f"{r.backend} {r.precision} {r.axes}", r.images_per_s or 0.0, colours[r.backend]) for r in rows]
    fig, ax = plt.subplots(figsize=(9.5, 1.2 + 0.38 * len(bars)))
    ys = list(range(len(bars)))[::-1]
    ax.barh(ys, [v for _, v, _ in bars], color=[c for _, _, c in bars], height=0.6)
    ax.set_yticks(ys)
    ax.set_yticklabels([label for label, _, _ in bars], fontsize=9)
    values = [v for _, v, _ in bars if v > 0]
    if values and max(values) / min(values) > 30:
        ax.set_xscale("log")
    for y, (_, value, _) in zip(ys, bars):
        ax.annotate(num(value, 2), (value, y), xytext=(4, 0), textcoords="offset points", va="center", fontsize=8)
    ax.margins(x=0.15)
    ax.set_xlabel("images per second (higher is better)")
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(title, fontsize=11, loc="left")
    plot = _plot(title, fig)
    plt.close(fig)
    return plot


def _speed_quality(plt, rows: list[BenchmarkResult], size: str) -> list[Plot]:
    """One scatter per quality metric: ms per image (1000 / images/s) against quality, points numbered."""
    by_metric: dict[str, list[tuple[BenchmarkResult, float]]] = {}
    for row in rows:
        metric = headline_metric(row)
        if metric and metric[1] != float("inf") and row.images_per_s:
            by_metric.setdefault(metric[0], []).append((row, metric[1]))
    out = []
    for key, points in by_metric.items():
        title = f"Speed vs quality at {size} ({key})"
        colours = _colours([r for r, _ in points])
        fig, ax = plt.subplots(figsize=(9.5, 5.5))
        xs = [1000.0 / r.images_per_s for r, _ in points]
        for backend, colour in colours.items():
            for precision, marker in MARKERS.items():
                chosen = [(x, v) for x, (r, v) in zip(xs, points) if r.backend == backend and r.precision == precision]
                if chosen:
                    ax.scatter(*zip(*chosen), color=colour, marker=marker, s=55, alpha=0.75, edgecolors="black",
                               linewidths=0.5, label=f"{backend} {precision}", zorder=3)
        if max(xs) / min(xs) > 10:
            ax.set_xscale("log")
        ax.margins(0.12)
        values = [v for _, v in points]
        least = 1.0 if "psnr" in key else 0.02  # equal qualities (every backend exact) would zoom into rounding noise
        if max(values) - min(values) < least:
            middle = (max(values) + min(values)) / 2
            ax.set_ylim(middle - least / 2, middle + least / 2)
        ax.ticklabel_format(axis="y", useOffset=False, style="plain")
        ax.set_xlabel("ms per image (1000 / images per second; lower is faster)")
        ax.set_ylabel(key + (" (dB)" if "psnr" in key else ""))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=9, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
        ax.set_title(title, fontsize=11, loc="left")
        _number_points(fig, ax, list(zip(xs, [v for _, v in points])))
        key_table = Table(f"Points of “{title}”", ("#", "variant", "ms per image", key),
                          tuple((str(i), f"{r.backend} {r.precision} {r.axes}", num(x, 2), metric_text(key, v))
                                for i, (x, (r, v)) in enumerate(zip(xs, points), start=1)))
        out.append(_plot(title, fig, key_table))
        plt.close(fig)
    return out


def _number_points(fig, ax, points: list[tuple[float, float]]) -> None:
    """Write 1..n beside the points, each where it overlaps no earlier label and no marker."""
    from matplotlib.text import Text
    from matplotlib.transforms import Bbox

    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    marks = [ax.transData.transform(p) for p in points]
    taken = []
    for i, point in enumerate(points, start=1):
        best, best_cost = None, None
        for dx, dy in OFFSETS:
            far = abs(dx) > 15 or abs(dy) > 15  # a number set far off gets a thin leader line to its point
            text = ax.annotate(str(i), point, xytext=(dx, dy), textcoords="offset points", fontsize=9,
                               fontweight="bold", annotation_clip=False,
                               arrowprops=dict(arrowstyle="-", lw=0.5, color="0.45", shrinkA=1, shrinkB=4) if far else None)
            text.update_positions(renderer)
            x0, y0, x1, y1 = Text.get_window_extent(text, renderer).extents  # the number alone, not its leader
            box = Bbox.from_extents(x0 - PAD, y0 - PAD, x1 + PAD, y1 + PAD)  # a gap, so '9' and '12' never read '912'
            cost = sum(box.overlaps(other) for other in taken) + sum(box.contains(mx, my) for mx, my in marks)
            if best_cost is None or cost < best_cost:
                if best is not None:
                    best[0].remove()
                best, best_cost = (text, box), cost
            else:
                text.remove()
            if cost == 0:
                break
        taken.append(best[1])


def _latency_vs_size(plt, rows: list[BenchmarkResult]) -> Plot:
    """p50 per call against megapixels, one line per variant; the legend sits outside the axes."""
    series: dict[str, list[BenchmarkResult]] = {}
    for row in rows:
        series.setdefault(f"{row.model} {row.backend} {row.precision} {row.axes}", []).append(row)
    fig, ax = plt.subplots(figsize=(9.5, 5.5))
    for name, group in series.items():
        group = sorted(group, key=lambda r: r.megapixels)
        ax.plot([r.megapixels for r in group], [r.latency.p50 for r in group], marker="o", label=name)
    ax.set_xlabel("megapixels per image")
    ax.set_ylabel("p50 latency per call (ms)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    ax.set_title("Latency vs megapixels", fontsize=11, loc="left")
    plot = _plot("Latency vs megapixels", fig)
    plt.close(fig)
    return plot
