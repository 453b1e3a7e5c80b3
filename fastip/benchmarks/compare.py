"""Compare two benchmark reports row by row and flag latency regressions beyond the recorded noise."""

from __future__ import annotations

from dataclasses import dataclass

from fastip.benchmarks.result import BenchmarkReport, BenchmarkResult

MIN_CHANGE = 0.05  # a change under 5% is never flagged
SPREAD_FACTOR = 3.0  # ... nor one within 3x the rows' own (p90 - p50) / p50


@dataclass(frozen=True)
class RowChange:
    """p50 of one row in the old and the new report, and whether the change is beyond noise."""

    label: str
    old_ms: float
    new_ms: float
    threshold: float  # relative change that counts as real

    @property
    def change(self) -> float:
        return self.new_ms / self.old_ms - 1.0

    @property
    def regression(self) -> bool:
        return self.change > self.threshold

    @property
    def improvement(self) -> bool:
        return -self.change > self.threshold


def noise_threshold(old: BenchmarkResult, new: BenchmarkResult) -> float:
    """max(5%, 3 x the larger relative spread (p90 - p50) / p50 of the two rows)."""
    return max(MIN_CHANGE, SPREAD_FACTOR * max(old.latency.spread, new.latency.spread))


def compare_reports(old: BenchmarkReport, new: BenchmarkReport) -> tuple[list[RowChange], list[str], list[str]]:
    """(changes of rows measured in both, labels only in old, labels only in new)."""
    before = {r.key: r for r in old.results if r.status == "ok" and r.latency}
    after = {r.key: r for r in new.results if r.status == "ok" and r.latency}
    changes = [RowChange(label=after[k].label, old_ms=before[k].latency.p50, new_ms=after[k].latency.p50,
                         threshold=noise_threshold(before[k], after[k])) for k in after if k in before]
    gone = [before[k].label for k in before if k not in after]
    added = [after[k].label for k in after if k not in before]
    return changes, gone, added


def format_comparison(changes: list[RowChange], gone: list[str], added: list[str]) -> str:
    """One line per row: old -> new p50, change, and REGRESSION / improved / within noise."""
    lines = []
    width = max((len(c.label) for c in changes), default=10)
    for c in changes:
        verdict = "REGRESSION" if c.regression else "improved" if c.improvement else "within noise"
        lines.append(f"{c.label:<{width}}  {c.old_ms:10.2f} ms -> {c.new_ms:10.2f} ms  {c.change:+7.1%}  "
                     f"(noise bound ±{c.threshold:.1%})  {verdict}")
    lines += [f"{label}: only in the old report" for label in gone]
    lines += [f"{label}: only in the new report" for label in added]
    regressions = sum(c.regression for c in changes)
    lines.append(f"{len(changes)} rows compared, {regressions} regression{'s' if regressions != 1 else ''}")
    return "\n".join(lines)
