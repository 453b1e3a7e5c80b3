"""The mixed-precision gate candidate: search (or reuse the cached choice of) float layers over the best Q/DQ candidate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from fastip.calibration.gate import CandidateResult, measure_candidate
from fastip.calibration.mixed import Budget, MixedChoice, choice_key, search
from fastip.calibration.quantize import QuantSettings, quantize_qdq, weight_layers
from fastip.calibration.ranges import RangeCache, TensorRanges


def search_candidate(qdq: list[tuple[CandidateResult, QuantSettings]], onnx_path: Path, tmp: Path, ranges: TensorRanges,
                     probe, opener: Callable[[Path], Any], backend: str, manifest, record: dict, thresholds: dict,
                     options, progress: Callable[[str], None]) -> CandidateResult | None:
    """Measured candidate `mixed-<base>` with the searched float layers, recorded in manifest.calibration; None if no base."""
    usable = [(r, s) for r, s in qdq if r.error is None and not s.keep_ends]
    if not usable:
        return None
    base_result, base = max(usable, key=lambda rs: rs[0].score)
    layers = weight_layers(onnx_path)
    key = choice_key(manifest.calibration["cache_key"], base.to_dict(), thresholds, record.get("int8_kernels"), backend,
                     [name for name, _ in layers])
    cache = RangeCache(options.cache_dir)
    choice = _cached(cache, key)
    counter = [0]

    def build(float_layers) -> Path:
        counter[0] += 1
        path = tmp / f"mixed-{counter[0]}.onnx"
        quantize_qdq(onnx_path, ranges, base, path, float_nodes=sorted(float_layers))
        return path

    def measure(float_layers: frozenset[str]) -> tuple[float, bool]:
        if not float_layers:
            return base_result.score, base_result.passed
        path = build(float_layers)
        session = opener(path)
        try:
            _, score, passed = probe.measure(session)
        finally:
            session.close()
            path.unlink(missing_ok=True)
        return score, passed

    if choice is None:
        progress(f"mixed-precision search over {len(layers)} layers from {base.name} "
                 f"(budget {options.search_budget:g} s{'' if options.search_steps is None else f', {options.search_steps} steps'})")
        choice = search(layers, measure, Budget(float(options.search_budget), options.search_steps), base=base.name,
                        progress=progress)
        try:
            cache.put_text(f"{key}.mixed.json", json.dumps(choice.to_dict()))
        except OSError as exc:  # a read-only cache must not fail the export
            progress(f"calibration cache {cache.root} not writable ({exc}); mixed-precision choice not cached")
        hit = False
    else:
        progress(f"mixed-precision cache hit ({key[:12]}): {len(choice.float_layers)} float layers, skipping the search")
        hit = True
    manifest.calibration["mixed_precision"] = {**choice.to_dict(), "cache_key": key, "cache_hit": hit}
    if not choice.float_layers or len(choice.float_layers) >= len(layers):  # nothing to add / no INT8 layer left
        return None
    path = build(frozenset(choice.float_layers))
    return measure_candidate(probe, f"mixed-{base.name}", backend, path,
                             {**base.to_dict(), "nodes_excluded": list(choice.float_layers)}, opener, progress)


def _cached(cache: RangeCache, key: str) -> MixedChoice | None:
    text = cache.get_text(f"{key}.mixed.json")
    if text is None:
        return None
    try:
        return MixedChoice.from_dict(json.loads(text))
    except (ValueError, KeyError, TypeError):
        return None
