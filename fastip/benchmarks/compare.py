"""Compare two benchmark reports row by row: latency regressions beyond the recorded noise, and quality
(PSNR, SSIM, box agreement) that dropped beyond a small tolerance."""

from __future__ import annotations

import math
from dataclasses import dataclass

from fastip.benchmarks.result import BenchmarkReport, BenchmarkResult

MIN_CHANGE = 0.05  # a change under 5% is never flagged
SPREAD_FACTOR = 3.0  # ... nor one within 3x the rows' own (p90 - p50) / p50
PSNR_TOLERANCE = 0.1  # dB; quality is deterministic up to backend rounding, so small drops are real
SCORE_TOLERANCE = 0.005  # SSIM, recall, precision, IoU (all in [0, 1])


@dataclass(frozen=True)
class QualityChange:
    """One quality metric of a row in the old and the new report (every metric here: higher is better)."""

    key: str
    old: float
    new: float

    @property
    def tolerance(self) -> float:
        return PSNR_TOLERANCE if "psnr" in self.key else SCORE_TOLERANCE

    @property
    def delta(self) -> float:
        if self.old == self.new:  # also inf == inf (identical outputs in both)
            return 0.0
        return self.new - self.old

    @property
    def regression(self) -> bool:
        return self.delta < -self.tolerance

    @property
    def improvement(self) -> bool:
        return self.delta > self.tolerance

    def text(self) -> str:
        unit, digits = (" dB", 2) if "psnr" in self.key else ("", 4)
        mark = " LOWER" if self.regression else " higher" if self.improvement else ""
        delta = f"{self.delta:+.{digits}f}" if math.isfinite(self.delta) else f"{self.delta:+}"
        return f"{self.key} {self.old:.{digits}f} -> {self.new:.{digits}f}{unit} ({delta}){mark}"


@dataclass(frozen=True)
class RowChange:
    """p50 of one row in the old and the new report, whether the change is beyond noise, and its quality."""

    label: str
    old_ms: float
    new_ms: float
    threshold: float  # relative change that counts as real
    quality: tuple[QualityChange, ...] = ()
    old_ips: float | None = None
    new_ips: float | None = None

    @property
    def change(self) -> float:
        return self.new_ms / self.old_ms - 1.0

    @property
    def regression(self) -> bool:
        return self.change > self.threshold

    @property
    def improvement(self) -> bool:
        return -self.change > self.threshold

    @property
    def quality_regression(self) -> bool:
        return any(q.regression for q in self.quality)


def noise_threshold(old: BenchmarkResult, new: BenchmarkResult) -> float:
    """max(5%, 3 x the larger relative spread (p90 - p50) / p50 of the two rows)."""
    return max(MIN_CHANGE, SPREAD_FACTOR * max(old.latency.spread, new.latency.spread))


def quality_changes(old: BenchmarkResult, new: BenchmarkResult) -> tuple[QualityChange, ...]:
    """Every quality metric both rows measured, in name order."""
    return tuple(QualityChange(k, old.quality[k], new.quality[k]) for k in sorted(set(old.quality) & set(new.quality)))


def same_images(old: BenchmarkReport, new: BenchmarkReport) -> bool:
    """Whether both reports measured quality on the same images (quality changes mean nothing otherwise)."""
    return old.settings.get("images") == new.settings.get("images")


def compare_reports(old: BenchmarkReport, new: BenchmarkReport) -> tuple[list[RowChange], list[str], list[str]]:
    """(changes of rows measured in both, labels only in old, labels only in new)."""
    before = {r.key: r for r in old.results if r.status == "ok" and r.latency}
    after = {r.key: r for r in new.results if r.status == "ok" and r.latency}
    quality = same_images(old, new)
    changes = [RowChange(label=after[k].label, old_ms=before[k].latency.p50, new_ms=after[k].latency.p50,
                         threshold=noise_threshold(before[k], after[k]),
                         quality=quality_changes(before[k], after[k]) if quality else (),
                         old_ips=before[k].images_per_s, new_ips=after[k].images_per_s)
               for k in after if k in before]
    gone = [before[k].label for k in before if k not in after]
    added = [after[k].label for k in after if k not in before]
    return changes, gone, added


def format_comparison(changes: list[RowChange], gone: list[str], added: list[str], *, note: str = "") -> str:
    """Per row: old -> new p50 and images/s with a verdict, then its quality metrics old -> new (LOWER when dropped)."""
    lines = [note] if note else []
    width = max((len(c.label) for c in changes), default=10)
    for c in changes:
        verdict = "REGRESSION" if c.regression else "improved" if c.improvement else "within noise"
        ips = f"  {c.old_ips:,.2f} -> {c.new_ips:,.2f} img/s" if c.old_ips and c.new_ips else ""
        lines.append(f"{c.label:<{width}}  {c.old_ms:10.2f} ms -> {c.new_ms:10.2f} ms  {c.change:+7.1%}  "
                     f"(noise bound ±{c.threshold:.1%})  {verdict}{ips}")
        if c.quality:
            flag = "QUALITY REGRESSION: " if c.quality_regression else ""
            lines.append(f"    {flag}" + "; ".join(q.text() for q in c.quality))
    lines += [f"{label}: only in the old report" for label in gone]
    lines += [f"{label}: only in the new report" for label in added]
    regressions = sum(c.regression for c in changes)
    worse = sum(c.quality_regression for c in changes)
    lines.append(f"{len(changes)} rows compared, {regressions} regression{'s' if regressions != 1 else ''}, "
                 f"{worse} quality regression{'s' if worse != 1 else ''}")
    return "\n".join(lines)


def comparison(old: BenchmarkReport, new: BenchmarkReport) -> tuple[str, bool]:
    """The formatted comparison and whether any row regressed in latency or quality."""
    changes, gone, added = compare_reports(old, new)
    note = "" if same_images(old, new) else (
        f"quality not compared: the reports measured different images (old --images {old.settings.get('images')}, "
        f"new --images {new.settings.get('images')})")
    text = format_comparison(changes, gone, added, note=note)
    return text, any(c.regression or c.quality_regression for c in changes)
