"""Runs a benchmark plan: every backend x precision x size x threads x batch x requests x hint in a fresh worker,
plus the reference operator."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from fastip.benchmarks import quality
from fastip.benchmarks.environment import collect_environment
from fastip.benchmarks.inputs import fit_image, load_images, prepare_bundles, require_artifact
from fastip.benchmarks.latency import Budget, WorkerError, run_worker, variation_warning
from fastip.benchmarks.result import BenchmarkReport, BenchmarkResult, LatencyStats, OperatorTiming
from fastip.errors import InputError

OVERHEAD_GOAL = 0.03


@dataclass(frozen=True)
class Plan:
    """What to measure; `target` is a registry model name or a bundle directory."""

    target: str
    backends: tuple[str, ...] = ("ort", "openvino")
    precisions: tuple[str, ...] = ("fp32",)
    sizes: tuple[tuple[int, int], ...] = ((512, 512),)
    threads: tuple[int | None, ...] = (None,)
    hints: tuple[str, ...] = ("latency",)  # OpenVINO performance hints; one row per hint on openvino only
    batches: tuple[int, ...] = (1,)
    requests: tuple[int, ...] = (1,)  # calls in flight at once
    device: str | None = None  # OpenVINO device of the openvino rows (None: CPU)
    budget: Budget = Budget()
    weights: str | None = None
    operator: str | None = None
    images: str | None = None
    overhead: bool = True
    trust_code: bool = False  # torch backend: import the module a custom bundle's manifest names
    quant: dict = field(default_factory=dict)  # options for the fp16/int8 exports of a model name (min_psnr, allow_fallback)

    def check(self) -> None:
        from fastip.export import PRECISIONS
        from fastip.runtimes import BACKENDS
        from fastip.runtimes.openvino import HINTS

        for backend in self.backends:
            if backend not in BACKENDS and backend != "auto":
                raise InputError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)} or auto")
        for precision in self.precisions:
            if precision not in PRECISIONS:
                raise InputError(f"unknown precision {precision!r}; choose from {', '.join(PRECISIONS)}")
        for hint in self.hints:
            if hint not in HINTS:
                raise InputError(f"unknown OpenVINO hint {hint!r}; choose from {', '.join(HINTS)}")
        if not (self.backends and self.precisions and self.sizes and self.threads and self.hints and self.batches
                and self.requests):
            raise InputError("need at least one backend, precision, size, thread count, hint, batch and request count")
        if any(n < 1 for n in (*self.batches, *self.requests)):
            raise InputError("--batch and --requests take positive integers, e.g. 1,4")
        if any(t is not None and t < 1 for t in self.threads):
            raise InputError("--threads takes positive integers, e.g. 1,2")
        self.budget.check()
        if self.device is not None:
            from fastip.runtimes import check_device

            check_device(self.device, "openvino" if "openvino" in self.backends else ",".join(self.backends),
                         fix="add openvino to --backends")


class Progress:
    """A one-line progress indicator on stderr (rewritten in place on a terminal)."""

    def __init__(self, total: int, stream=None):
        import sys
        import time

        self.total, self.done, self.stream, self._clock = total, 0, stream or sys.stderr, time.perf_counter
        self.started = self._clock()
        self.tty = getattr(self.stream, "isatty", lambda: False)()

    def step(self, label: str) -> None:
        self.done += 1
        self.note(f"[{self.done}/{self.total}] {label}")

    def note(self, message: str) -> None:
        line = f"fastip-bench {self._clock() - self.started:6.1f}s {message}"
        self.stream.write(f"\r\x1b[K{line}" if self.tty else line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def shipped_weights(plan: Plan, bundle):
    """The shipped Weights record the benchmarked model was built with, when it is one."""
    name = plan.weights or (bundle.manifest.source.get("weights") if bundle is not None else None)
    if not name or "/" in str(name) or str(name).endswith((".pt", ".pth", ".safetensors")):
        return None
    try:
        from fastip import models

        return models.get(bundle.manifest.source.get("builder") or bundle.manifest.model).weights.get(str(name))
    except Exception:  # a custom module: no registry entry to ask
        return None


def reference_operator(plan: Plan, family: str, weights) -> tuple[str | None, dict[str, Any]]:
    """CAN's reference: --operator, else the shipped weight's operator (with the parameters it was trained on)."""
    if plan.operator or family != "can":
        return plan.operator, {}
    if weights is None:
        return None, {}
    return str(weights.params.get("operator", weights.name)), dict(weights.params.get("operator_params") or {})


def measure_peaks(threads: tuple[int | None, ...], note=lambda _: None) -> dict[str, Any]:
    """The machine's FP32 peak (FMA loop or GEMM) per thread count, each in a fresh pinned worker ({str(threads): Peak dict})."""
    peaks: dict[str, Any] = {}
    for t in dict.fromkeys(threads):
        note(f"measuring the FP32 peak with threads={t or 'auto'}")
        try:
            peaks[str(t)] = run_worker({"kind": "peak", "threads": t}, threads=t)
        except WorkerError:  # a worker killed by the FMA loop's machine code: the GEMM alone
            try:
                peaks[str(t)] = run_worker({"kind": "peak", "threads": t, "fma": False}, threads=t)
            except WorkerError as exc:  # the peak is context for the GFLOP/s column, never a reason to stop
                peaks[str(t)] = {"error": str(exc)}
    return peaks


def run_plan(plan: Plan, *, progress: Progress | None = None, workdir: str | Path | None = None) -> BenchmarkReport:
    """Measure everything in `plan`; Ctrl-C stops early and returns what was measured (marked interrupted)."""
    plan.check()
    with tempfile.TemporaryDirectory(prefix="fastip-bench-", dir=workdir) as tmp:
        return _Run(plan, Path(tmp), progress).execute()


class _Run:
    def __init__(self, plan: Plan, tmp: Path, progress: Progress | None):
        self.plan, self.tmp = plan, tmp
        self.progress = progress
        self.results: list[BenchmarkResult] = []
        self.operator_cache: dict[tuple, tuple[OperatorTiming, list[Any]]] = {}
        self.fp32_outputs: dict[tuple[int, int], list[Any]] = {}
        self.weights = self.bundle0 = None
        self.op_name, self.op_params = plan.operator, {}
        self.auto_choices: list[dict[str, Any]] = []

    def note(self, message: str) -> None:
        if self.progress:
            self.progress.note(message)

    def execute(self) -> BenchmarkReport:
        plan = self.plan
        environment = collect_environment()
        environment["fp32_peak"] = measure_peaks(plan.threads, self.note)
        interrupted = False
        try:
            self.prepared = prepare_bundles(plan.target, plan.precisions, self.tmp / "bundles", weights=plan.weights,
                                            progress=self.note, quant=plan.quant)
            any_bundle = next(iter(self.prepared.bundles.values()), None)
            self.bundle0 = any_bundle
            self.family = any_bundle.manifest.family if any_bundle else "can"
            self.io = any_bundle.manifest.io if any_bundle else None
            self.images = load_images(plan.images)
            self.weights = shipped_weights(plan, any_bundle)
            self.op_name, self.op_params = reference_operator(plan, self.family, self.weights)
            for row in self._rows():
                self.results.append(row)
        except KeyboardInterrupt:
            interrupted = True
        settings = {"target": plan.target, "backends": list(plan.backends), "precisions": list(plan.precisions),
                    "sizes": [f"{w}x{h}" for w, h in plan.sizes], "threads": list(plan.threads), "hints": list(plan.hints),
                    "batches": list(plan.batches), "requests": list(plan.requests), "device": plan.device,
                    "warmup": plan.budget.warmup, "min_runs": plan.budget.min_runs, "min_time": plan.budget.min_time,
                    "weights": plan.weights, "operator": self.op_name,
                    "operator_params": self.op_params, "images": plan.images}
        if self.bundle0 is not None and self.bundle0.manifest.untrained:
            settings["untrained"] = True
        if self.auto_choices:
            settings["auto"] = self.auto_choices
        if self.weights is not None:
            settings["expected_metrics"] = {"weights": self.weights.name, "metrics": dict(self.weights.metrics),
                                            "evaluated_on": self.weights.evaluated_on}
        environment["load_average_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
        return BenchmarkReport(results=tuple(self.results), environment=environment, settings=settings,
                               interrupted=interrupted)

    def _order(self) -> list[tuple[str, str]]:
        # fp32 first (it is the quality reference) and torch first among backends when asked for.
        precisions = sorted(self.plan.precisions, key=lambda p: p != "fp32")
        backends = sorted(self.plan.backends, key=lambda b: b != "torch")
        return [(p, b) for p in precisions for b in backends]

    def _rows(self):
        plan = self.plan
        combos = [(p, b, s, t, n, r, h) for p, b in self._order() for s in plan.sizes for t in plan.threads
                  for n in plan.batches for r in plan.requests for h in (plan.hints if b == "openvino" else plan.hints[:1])]
        smallest = min(plan.sizes, key=lambda s: s[0] * s[1])
        largest = max(plan.sizes, key=lambda s: s[0] * s[1])
        if self.progress:
            self.progress.total = len(combos)
        for precision, backend, size, threads, batch, requests, hint in combos:
            base = self._base(precision, backend, size, threads, batch, requests, hint)
            if self.progress:
                self.progress.step(f"{backend} {precision} {size[0]}x{size[1]} {base.axes}")
            first = batch == 1 and requests == 1 and hint == plan.hints[0]
            yield self._row(base, overhead=plan.overhead and size == smallest and first,
                            pipeline=plan.overhead and size == largest and first)

    def _base(self, precision: str, backend: str, size: tuple[int, int], threads: int | None, batch: int,
              requests: int, hint: str) -> BenchmarkResult:
        bundle = self.prepared.bundles.get(precision)
        model = bundle.manifest.model if bundle else (self.bundle0.manifest.model if self.bundle0 else self.plan.target)
        return BenchmarkResult(model=model, family=self.family, backend=backend, precision=precision, width=size[0],
                               height=size[1], threads=threads, hint=hint, batch=batch, requests=requests,
                               bundle="" if self.prepared.exported or bundle is None else str(bundle.root),
                               device=(self.plan.device or "CPU") if backend == "openvino" else "",
                               untrained=bool(bundle is not None and bundle.manifest.untrained))

    def _row(self, base: BenchmarkResult, *, overhead: bool, pipeline: bool = False) -> BenchmarkResult:
        from fastip.benchmarks.concurrency import fixed_batch_reason
        from fastip.runtimes import available_backends

        plan = self.plan
        backend, precision, threads, size = base.backend, base.precision, base.threads, (base.width, base.height)
        bundle = self.prepared.bundles.get(precision)
        if precision in self.prepared.fallbacks:
            return replace(base, status="fallback", reason=self.prepared.fallbacks[precision])
        if backend == "auto" and bundle is not None:
            chosen = self._auto(bundle, precision, size, threads)
            if isinstance(chosen, str):
                return replace(base, status="failed", reason=chosen)
            backend = chosen["backend"]
            base = replace(base, backend=f"auto:{backend}", hint=chosen["hint"] or base.hint)
        reason = self.prepared.skipped.get(precision)
        if reason is None and backend not in available_backends():
            reason = f"backend {backend!r} is not installed here"
        if reason is None and bundle is not None:
            reason = require_artifact(bundle, backend, precision) or fixed_batch_reason(bundle.manifest.inputs, base.batch)
        if reason is None and base.requests > 1 and backend not in ("ort", "openvino", "torch"):
            reason = f"several requests in flight are measured on ort, openvino and torch, not {backend}"
        if reason is not None or bundle is None:
            return replace(base, status="skipped", reason=reason or "no bundle")
        timed, inputs, hr = self._inputs(size)
        tag = f"{backend}-{precision}-{size[0]}x{size[1]}-{threads}-{base.batch}-{base.requests}-{base.hint}"
        outputs = [str(self.tmp / f"out-{tag}-{i}.npy") for i in range(len(inputs))]
        spec = {"kind": "model", "bundle": str(bundle.root), "backend": backend, "precision": precision,
                "threads": threads, "hint": base.hint, "batch": base.batch, "requests": base.requests,
                "device": base.device or None,
                "budget": vars(plan.budget), "timed": timed, "images": inputs, "outputs": outputs,
                "trust_code": plan.trust_code,
                "overhead_runs": max(3, plan.budget.min_runs) if overhead else 0,
                "pipeline_runs": max(3, plan.budget.min_runs) if pipeline and self.io.output == "image" else 0}
        try:
            reply = run_worker(spec, threads=threads)
        except WorkerError as exc:
            return replace(base, status="failed", reason=str(exc))
        latency = LatencyStats.from_dict(reply["latency"])
        operator, op_outputs = self._operator(size, threads, timed, inputs)
        produced = reply.get("detections") or [np.load(p) for p in outputs]
        warnings = [w for w in (variation_warning(latency),) if w]
        over = dict(reply.get("overhead", {}))
        if over and over["ratio"] - 1 > OVERHEAD_GOAL:
            warnings.append(f"fastip Session.run is {over['ratio'] - 1:.1%} slower than the raw {backend} call (goal <= {OVERHEAD_GOAL:.0%})")
        over.update(reply.get("pipeline", {}))
        return replace(base, latency=latency, throughput=reply.get("throughput"),
                       backend_info=reply.get("backend_info") or {}, first_inference_ms=reply["first_inference_ms"],
                       peak_rss_mb=reply["peak_rss_mb"], flops=self._flops(bundle, size), operator=operator,
                       quality=self._quality(size, produced, op_outputs, hr, precision), overhead=over,
                       warnings=tuple(warnings))

    def _auto(self, bundle, precision: str, size: tuple[int, int], threads: int | None) -> dict[str, Any] | str:
        """The `auto` backend's pick for this row (measured in a pinned worker, or from the cache), else why not."""
        self.note(f"auto: choosing the backend for {precision} {size[0]}x{size[1]} threads={threads or 'auto'}")
        spec = {"kind": "auto", "bundle": str(bundle.root), "precision": precision, "threads": threads, "size": list(size)}
        try:
            reply = run_worker(spec, threads=threads)
        except WorkerError as exc:
            return f"backend auto: {exc}"
        self.auto_choices.append({"precision": precision, "size": f"{size[0]}x{size[1]}", "threads": threads,
                                  "reason": reply["reason"], "choice": reply["choice"]})
        return reply["choice"]["chosen"]

    def _inputs(self, size: tuple[int, int]) -> tuple[str, list[str], list[np.ndarray] | None]:
        """The timed input at this size, the quality inputs, and for SR their high-resolution originals.

        CAN quality is measured at the benchmarked size (the operator runs on the same pixels). SR quality
        needs a true high-resolution image, so it uses native-resolution crops of at most the output size,
        never an upscaled picture, whose bicubic round trip would score unrealistically high.
        """
        w, h = size
        timed = self.tmp / f"in-{w}x{h}.npy"
        if not timed.exists():
            np.save(timed, fit_image(self.images[0][1], w, h))
        if self.family != "sr":
            paths = [str(timed)]
            for i, (_, image) in enumerate(self.images[1:], start=1):
                path = self.tmp / f"in-{w}x{h}-{i}.npy"
                if not path.exists():
                    np.save(path, fit_image(image, w, h))
                paths.append(str(path))
            return str(timed), paths, None
        scale = self.io.scale_factor
        paths, hrs = [], []
        for i, (_, image) in enumerate(self.images):
            ch = min(h * scale, image.shape[0]) // scale * scale
            cw = min(w * scale, image.shape[1]) // scale * scale
            top, left = (image.shape[0] - ch) // 2, (image.shape[1] - cw) // 2
            hr = np.ascontiguousarray(image[top:top + ch, left:left + cw])
            path = self.tmp / f"lr-{w}x{h}-{i}.npy"
            if not path.exists():
                np.save(path, quality.bicubic_downscale(hr, scale))
            paths.append(str(path))
            hrs.append(hr)
        return str(timed), paths, hrs

    def _flops(self, bundle, size: tuple[int, int]) -> float | None:
        from fastip.benchmarks.flops import count_macs

        io = bundle.manifest.io
        if io.input_size is not None:
            h, w = io.input_size
        else:
            m = io.size_multiple
            w, h = size[0] + (-size[0] % m), size[1] + (-size[1] % m)
        try:
            import onnx

            from fastip.runtimes.external_data import verified_onnx

            model = onnx.load_from_string(verified_onnx(bundle, bundle.manifest.artifacts["onnx"]))
            count = count_macs(model, (1, bundle.manifest.inputs[0].channels or 3, h, w))
        except Exception:  # FLOPs are a bonus column: an unusual graph must not cost the row
            return None
        return float(count.flops) if count.complete else None

    def _operator(self, size, threads, timed: str, inputs: list[str]) -> tuple[OperatorTiming | None, list[Any] | None]:
        if self.family == "can" and not self.op_name:
            return OperatorTiming(name="none", error="no reference operator: ship a weight or pass --operator NAME"), None
        key = (size, threads)
        if key not in self.operator_cache:
            self.note(f"timing the reference operator at {size[0]}x{size[1]}")
            outputs = [str(self.tmp / f"op-{size[0]}x{size[1]}-{threads}-{i}.npy") for i in range(len(inputs))]
            budget = replace(self.plan.budget, warmup=min(1, self.plan.budget.warmup))  # operators have no JIT to warm
            spec = {"kind": "operator", "family": self.family, "operator": self.op_name, "params": self.op_params,
                    "threads": threads, "scale": self.io.scale_factor, "budget": vars(budget), "timed": timed, "images": inputs,
                    "outputs": outputs}
            try:
                reply = run_worker(spec, threads=threads)
                timing = OperatorTiming(name=reply["name"], latency=LatencyStats.from_dict(reply["latency"]))
                produced = reply.get("detections") or [np.load(p) for p in outputs]
            except WorkerError as exc:
                timing, produced = OperatorTiming(name=self.op_name or self.family, error=str(exc)), None
            self.operator_cache[key] = (timing, produced)
        return self.operator_cache[key]

    def _quality(self, size, produced: list[Any], op_outputs, hr, precision: str) -> dict[str, float]:
        metrics: list[dict[str, float]] = [{} for _ in produced]
        reference = self.fp32_outputs.get(size)
        if reference is None and precision == "fp32":
            self.fp32_outputs[size] = produced
        elif reference is not None and self.family != "face":
            for m, out, ref in zip(metrics, produced, reference):
                m.update(quality.compare_images(out, ref, "fp32"))
        if self.family == "face":
            out = quality.face_agreement(produced, reference, "fp32") if reference is not None else {}
            if op_outputs is not None:
                out.update(quality.face_agreement(produced, op_outputs, "operator"))
            return out
        for i, m in enumerate(metrics):
            if self.family == "sr":
                m.update(quality.sr_quality(produced[i], hr[i], self.io.scale_factor, "hr"))
                if op_outputs is not None:
                    m.update(quality.sr_quality(op_outputs[i], hr[i], self.io.scale_factor, "bicubic"))
            elif op_outputs is not None and op_outputs[i].shape == produced[i].shape:
                m.update(quality.compare_images(produced[i], op_outputs[i], "operator"))
        return quality.mean_metrics(metrics)
