"""Mixed precision: each layer's effect on the gate metric, and a budgeted search for the fewest float layers that pass.

Sensitivity is measured the inverse way ("all but one"): the whole model quantized except one
weight layer, scored by the same probe as the gate. Layers are then kept in float in order of that
score, the shortest passing prefix found by bisection, and the set pruned one layer at a time while
it still passes. Effects are not additive, so every set the search keeps was itself measured.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from fastip.errors import FastipError

DEFAULT_BUDGET_S = 300.0
CHOICE_FORMAT = 1

# (float layer names) -> (gate score, passed)
Measure = Callable[[frozenset[str]], tuple[float, bool]]


class SearchBudgetError(FastipError):
    """The search ran out of its time or step budget before it had a passing set of float layers."""


@dataclass
class Budget:
    """A wall-clock and step limit shared by every measurement of one search."""

    seconds: float = DEFAULT_BUDGET_S
    steps: int | None = None
    used_steps: int = 0
    started: float = field(default_factory=time.perf_counter)

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def exhausted(self) -> bool:
        return self.elapsed() >= self.seconds or (self.steps is not None and self.used_steps >= self.steps)

    def describe(self) -> str:
        limit = f"{self.seconds:g} s" + (f" / {self.steps} steps" if self.steps is not None else "")
        return f"{limit} (used {self.elapsed():.0f} s, {self.used_steps} steps)"


@dataclass(frozen=True)
class MixedChoice:
    """The search's result: which layers stay float, the per-layer table it was based on, and what it cost."""

    base: str  # the candidate whose settings every other layer is quantized with
    float_layers: tuple[str, ...]
    score: float
    passed: bool
    quantized_score: float  # every layer quantized
    sensitivity: tuple[dict[str, Any], ...]  # {"layer", "op", "score_if_float", "gain"}, most sensitive first
    steps: int
    seconds: float
    complete: bool = True  # False: pruning stopped at the budget (the set passes but may not be the smallest)

    def to_dict(self) -> dict[str, Any]:
        return {"format": CHOICE_FORMAT, "base": self.base, "float_layers": list(self.float_layers), "score": self.score,
                "passed": self.passed, "quantized_score": self.quantized_score, "sensitivity": list(self.sensitivity),
                "steps": self.steps, "seconds": round(self.seconds, 1), "complete": self.complete}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "MixedChoice":
        if data.get("format") != CHOICE_FORMAT:
            raise ValueError(f"mixed-precision cache format {data.get('format')} is not {CHOICE_FORMAT}")
        return cls(str(data["base"]), tuple(data["float_layers"]), float(data["score"]), bool(data["passed"]),
                   float(data["quantized_score"]), tuple(dict(s) for s in data["sensitivity"]), int(data["steps"]),
                   float(data["seconds"]), bool(data.get("complete", True)))


def choice_key(calibration_key: str, base_settings: dict, thresholds: dict, kernels: dict | None, backend: str,
               layers: Sequence[str]) -> str:
    """sha256 of everything a search result depends on: ranges, base candidate, gate, backend and its kernels."""
    text = json.dumps({"calibration": calibration_key, "base": base_settings, "thresholds": thresholds, "backend": backend,
                       "saturates": (kernels or {}).get("saturates"), "layers": list(layers), "format": CHOICE_FORMAT},
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def sensitivity(layers: Sequence[tuple[str, str]], measure: Measure, budget: Budget, quantized_score: float,
                progress: Callable[[str], None]) -> list[dict[str, Any]]:
    """Score of the model with each layer alone kept float, most helpful first; raises when the budget runs out."""
    table = []
    for index, (name, op) in enumerate(layers):
        if budget.exhausted():
            raise SearchBudgetError(
                f"the mixed-precision search ran out of its budget {budget.describe()} while measuring layer "
                f"{index + 1} of {len(layers)}; raise --search-budget (about {_per_step(budget) * (len(layers) + 8):.0f} s "
                f"for this model) or pass --search-budget 0 to skip the search")
        score, _ = _step(measure, frozenset([name]), budget)
        table.append({"layer": name, "op": op, "score_if_float": score, "gain": score - quantized_score})
        progress(f"  layer {name} ({op}) kept float: score {score:.2f} ({score - quantized_score:+.2f})")
    return sorted(table, key=lambda row: -row["score_if_float"])


def search(layers: Sequence[tuple[str, str]], measure: Measure, budget: Budget, *, base: str = "",
           progress: Callable[[str], None] = lambda _: None) -> MixedChoice:
    """Fewest float layers (by sensitivity order, then pruned) whose measured gate score passes."""
    quantized_score, quantized_ok = _step(measure, frozenset(), budget)
    if quantized_ok:
        return MixedChoice(base, (), quantized_score, True, quantized_score, (), budget.used_steps, budget.elapsed())
    table = sensitivity(layers, measure, budget, quantized_score, progress)
    order = [row["layer"] for row in table]
    known: dict[int, tuple[float, bool]] = {}
    lo, hi = 1, max(len(order) - 1, 1)  # the shortest passing prefix is in [lo, hi]; every layer float is no INT8 model
    while lo < hi:
        if budget.exhausted():
            break
        mid = (lo + hi) // 2
        known[mid] = _step(measure, frozenset(order[:mid]), budget)
        progress(f"  {mid} most sensitive layers float: score {known[mid][0]:.2f}")
        if known[mid][1]:
            hi = mid
        else:
            lo = mid + 1
    if hi not in known:
        if budget.exhausted():
            raise SearchBudgetError(f"the mixed-precision search ran out of its budget {budget.describe()} before any set "
                                    f"of float layers passed; raise --search-budget")
        known[hi] = _step(measure, frozenset(order[:hi]), budget)
    score, passed = known[hi]
    chosen = list(order[:hi])
    complete = True
    if passed:
        for name in sorted(chosen, key=order.index, reverse=True):  # least sensitive first
            if len(chosen) == 1:
                break
            if budget.exhausted():
                complete = False
                break
            trial = [c for c in chosen if c != name]
            trial_score, trial_ok = _step(measure, frozenset(trial), budget)
            if trial_ok:
                chosen, score = trial, trial_score
                progress(f"  without {name}: still passes ({trial_score:.2f}); {len(chosen)} float layers")
    return MixedChoice(base, tuple(sorted(chosen, key=order.index)), score, passed, quantized_score, tuple(table),
                       budget.used_steps, budget.elapsed(), complete)


def _step(measure: Measure, float_layers: frozenset[str], budget: Budget) -> tuple[float, bool]:
    budget.used_steps += 1
    score, passed = measure(float_layers)
    return (float(score) if math.isfinite(score) else -math.inf), bool(passed)


def _per_step(budget: Budget) -> float:
    return budget.elapsed() / max(budget.used_steps, 1)


def describe(calibration: dict[str, Any] | None, quantization: dict[str, Any] | None) -> list[str]:
    """Lines for `fastip info`: the kernels' saturation, the chosen candidate, float layers and per-layer table."""
    lines = []
    kernels = (quantization or {}).get("int8_kernels") or {}
    if kernels.get("cpu"):
        cpu = kernels["cpu"]
        lines.append(f"  int8 kernels: {kernels.get('backend')} {kernels.get('version', '')} on {cpu.get('processor')} "
                     f"(flags {', '.join(cpu.get('flags') or []) or 'unknown'}; vnni {cpu.get('vnni')}; "
                     f"saturates {kernels.get('saturates')})")
    if (quantization or {}).get("chosen"):
        lines.append(f"  chosen: {', '.join(f'{k}={v}' for k, v in quantization['chosen'].items())}")
    mixed = (calibration or {}).get("mixed_precision")
    if mixed:
        state = "passed" if mixed["passed"] else "did not pass"
        lines.append(f"  mixed precision from {mixed['base']}: {len(mixed['float_layers'])} float layers "
                     f"({', '.join(mixed['float_layers']) or 'none'}), score {mixed['score']:.2f} {state}, "
                     f"all-INT8 {mixed['quantized_score']:.2f}; {mixed['steps']} steps in {mixed['seconds']:.0f} s"
                     f"{'' if mixed.get('complete', True) else ' (pruning stopped at the budget)'}"
                     f"{' [cached]' if mixed.get('cache_hit') else ''}")
        for row in mixed["sensitivity"]:
            lines.append(f"    {row['layer']:32s} {row['op']:14s} float alone: {row['score_if_float']:7.2f} ({row['gain']:+.2f})")
    return lines
