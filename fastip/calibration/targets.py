"""INT8/FP16 artifacts for a bundle being exported: calibrate, quantize candidates, gate them, compile for the target."""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from fastip.calibration import data as calib_data
from fastip.calibration.gate import CandidateResult, fastest, float_layer_count, gate_failure, measure_candidate
from fastip.calibration.mixed import DEFAULT_BUDGET_S
from fastip.calibration.mixed_candidate import search_candidate
from fastip.calibration.qat_candidate import PREFIX as QAT_PREFIX, qat_candidates
from fastip.calibration.quality import QualityProbe, QualityThresholds, quality_cases
from fastip.calibration.quantize import Engine, QuantSettings, candidates_for, convert_fp16, quantize_nncf, quantize_qdq
from fastip.calibration.ranges import CalibrationMethod, RangeCache, cache_key, cached_ranges, collect_ranges
from fastip.errors import InputError, require
from fastip.manifest import Manifest


@dataclass(frozen=True)
class QuantOptions:
    """Everything `fastip-export --precision int8/fp16` and `--target trt` accept (CLI flags without `--`)."""

    calib: Any = None  # folder of images or a list of uint8 arrays; None: the bundled samples
    calib_method: str = "minmax"
    calib_count: int | None = None
    calib_seed: int | None = None
    calib_shape: str | None = None  # HxW of calibration crops for dynamic-size models
    cache_dir: str | None = None  # default ~/.cache/fastip/calibration
    min_psnr: float | None = None
    max_hr_drop: float | None = None
    min_iou: float | None = None
    allow_fallback: bool = False
    candidates: str | Sequence[str] | None = None  # comma-separated names to try (default: all that fit the target)
    search_budget: float = DEFAULT_BUDGET_S  # seconds for the mixed-precision search; 0 skips it
    search_steps: int | None = None  # at most this many measurements in the search
    shapes: str | None = None  # TensorRT profile min:opt:max
    hint: str = "latency"  # OpenVINO performance hint recorded in the manifest
    opt_level: str = "all"  # ONNX Runtime graph optimisation level recorded in the manifest
    workspace_mib: int | None = None
    timing_cache: str | None = None
    hardware_compatibility: str = "none"

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> "QuantOptions":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(kwargs) - known)
        if unknown:
            raise InputError(f"unknown quantization options {unknown}; known: {', '.join(sorted(known))}")
        return cls(**kwargs)

    def thresholds(self) -> QualityThresholds:
        given = {k: getattr(self, k) for k in ("min_psnr", "max_hr_drop", "min_iou") if getattr(self, k) is not None}
        return QualityThresholds(**given)

    def candidate_names(self) -> list[str] | None:
        if self.candidates is None:
            return None
        return [c.strip() for c in self.candidates.split(",") if c.strip()] if isinstance(self.candidates, str) else list(self.candidates)


def add_precision_artifacts(source, manifest: Manifest, root: Path, *, target: str, precision: str,
                            device: str | None = None, progress: Callable[[str], None] = lambda _: None,
                            **quant_options: Any) -> Manifest:
    """Add gated FP16/INT8 artifacts (and a TensorRT engine for target trt) to a bundle under construction.

    `device`: the OpenVINO device the candidates of target openvino are measured on (default CPU).
    """
    options = QuantOptions.from_kwargs(**quant_options)
    _check_target_options(options, target)
    profile = None
    if target == "trt":
        from fastip.export.tensorrt import default_profile, parse_shapes

        require("tensorrt", "trt", "the trt target (build the engine on the GPU machine)")
        profile = parse_shapes(options.shapes, source.input) if options.shapes else default_profile(source.input)
    thresholds = options.thresholds()
    backend = "openvino" if target == "openvino" else "ort"
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fastip-quant-") as tmp:
        from fastip.runtimes.ort import OrtSession

        reference = OrtSession(root / "model.onnx", manifest.inputs, manifest.outputs)
        try:
            probe = QualityProbe(source.family, source.io, reference,
                                 quality_cases(source.family, source.io, source.input, _operator(source)), thresholds)
        finally:
            reference.close()
        opener = _opener(backend, target, manifest, device)
        record: dict[str, Any] = {"target": target, "precision": precision, "measured_on": backend,
                                  "thresholds": thresholds.to_dict(source.family), "baseline": probe.baseline,
                                  "quality_images": [c.label for c in probe.cases]}
        if backend == "openvino" and device not in (None, "CPU"):
            record["measured_on"] = f"openvino:{device}"
        if target == "trt":
            record["measured_on"] = f"{backend} (CPU stand-in: the TensorRT engine itself is not re-measured)"
        if precision == "fp16":
            chosen = _fp16(root, Path(tmp), probe, opener, backend, manifest, record, thresholds, options, progress)
        elif precision == "int8":
            chosen = _int8(source, root, Path(tmp), probe, opener, backend, target, manifest, record, thresholds,
                           options, profile, progress)
        else:
            chosen = "onnx"
        record["seconds"] = round(time.perf_counter() - started, 1)  # calibration, candidates, search and gate
        manifest.extra["quantization" if precision != "fp32" else "precision"] = record
    if target == "openvino":
        manifest.extra["openvino"] = {"performance_hint": options.hint}
    if target in ("ort", "onnx"):
        manifest.extra["ort"] = {"graph_optimization_level": options.opt_level}
    if target == "trt":
        from fastip.export.tensorrt import build_engine

        progress(f"building TensorRT engine from {manifest.artifacts[chosen]}")
        manifest.extra["tensorrt"] = build_engine(root / manifest.artifacts[chosen], root / "model.engine", profile,
                                                  workspace_mib=options.workspace_mib, timing_cache=options.timing_cache,
                                                  hardware_compatibility=options.hardware_compatibility,
                                                  source_role=chosen)
        manifest.artifacts["engine"] = "model.engine"
    return manifest


def _check_target_options(options: QuantOptions, target: str) -> None:
    from fastip.runtimes.openvino import HINTS
    from fastip.runtimes.ort import OPT_LEVELS

    if options.hint not in HINTS:
        raise InputError(f"--ov-hint must be one of {', '.join(HINTS)}, not {options.hint!r}")
    if options.opt_level not in OPT_LEVELS:
        raise InputError(f"--ort-opt-level must be one of {', '.join(OPT_LEVELS)}, not {options.opt_level!r}")
    if options.search_budget < 0 or (options.search_steps is not None and options.search_steps < 1):
        raise InputError("--search-budget takes seconds >= 0 (0 skips the search) and --search-steps a count >= 1")
    if options.shapes and target != "trt":
        raise InputError("--shapes sets a TensorRT optimisation profile; use it with --target trt")


def _operator(source) -> tuple[str, dict] | None:
    """(operator name, parameters) when the CAN's weights were trained to imitate a named operator."""
    weights = source.record.get("weights")
    if source.family != "can" or not isinstance(weights, str):
        return None
    from fastip import models

    shipped = models.get(source.record.get("builder", source.name)).weights.get(weights)
    params = dict(shipped.params) if shipped else {}
    name = params.get("operator")
    return (name, dict(params.get("operator_params") or {})) if isinstance(name, str) else None


def _opener(backend: str, target: str, manifest: Manifest, device: str | None = None) -> Callable[[Path], Any]:
    if backend == "openvino":
        from fastip.runtimes.openvino import OpenVinoSession

        return lambda path: OpenVinoSession(path, manifest.inputs, manifest.outputs, device=device or "CPU")
    from fastip.runtimes.ort import OrtSession

    if target == "trt":  # TensorRT accumulates in int32: simulate Q/DQ in float instead of running CPU int8 kernels
        return lambda path: OrtSession(path, manifest.inputs, manifest.outputs, opt_level="basic")
    return lambda path: OrtSession(path, manifest.inputs, manifest.outputs)


def _fp16(root: Path, tmp: Path, probe, opener, backend, manifest, record, thresholds, options, progress) -> str:
    progress("converting to FP16 (inputs and outputs stay FP32)")
    convert_fp16(root / "model.onnx", tmp / "fp16.onnx")
    result = measure_candidate(probe, "fp16", backend, tmp / "fp16.onnx", {"keep_io_types": True}, opener, progress)
    record["candidates"] = [result.to_dict()]
    return _conclude([result], {"fp16": ("onnx_fp16", "model.fp16.onnx")}, root, manifest, record, "fp16",
                     thresholds.to_dict(manifest.family), options.allow_fallback, progress)


def _int8(source, root: Path, tmp: Path, probe, opener, backend, target, manifest, record, thresholds, options,
          profile, progress) -> str:
    images = calib_data.load_images(options.calib, source.family)
    bounds = profile.hw_bounds() if profile is not None else None
    plan = calib_data.make_plan(source.input, source.io, source.family, count=options.calib_count,
                                seed=options.calib_seed, shape=options.calib_shape, bounds=bounds)
    method = CalibrationMethod.parse(options.calib_method)
    feeds = list(calib_data.calibration_feeds(images, plan, source.input, source.io))
    onnx_path = root / "model.onnx"
    key = cache_key(onnx_path.read_bytes(), images.digest(), {"io": source.io.to_dict(), **plan.to_dict()}, method,
                    plan.count, plan.seed)
    cache = RangeCache(options.cache_dir)
    progress(f"calibrating ({method.value}) on {plan.count} samples from {len(images.images)} images")
    ranges, hit = cached_ranges(cache, key, lambda: collect_ranges(onnx_path, feeds, method, key), progress)
    manifest.calibration = {"method": method.value, **plan.to_dict(), "source": images.origin,
                            "images": list(images.names), "grayscale_converted": images.grayscale_converted,
                            "tensors": len(ranges.ranges), "cache_key": key, "cache_hit": hit,
                            "cache_dir": str(cache.root)}
    names = options.candidate_names()
    qat_wanted = None if names is None else [n for n in names if n.startswith(QAT_PREFIX)]
    names = None if names is None else [n for n in names if not n.startswith(QAT_PREFIX)]
    candidates = _fit_to_kernels(candidates_for(target, names), backend, target, record, progress)
    results: list[CandidateResult] = []
    for settings in candidates:
        path, extra = _build_candidate(settings, onnx_path, root, tmp, ranges, feeds, progress)
        results.append(measure_candidate(probe, settings.name, backend, path, {**settings.to_dict(), **extra},
                                         opener, progress))
    qdq_results = [r for r, s in zip(results, candidates) if s.engine is Engine.ORT_QDQ]
    tuned = qat_candidates(source, tmp, feeds, probe, opener, backend, target, qat_wanted, progress)
    results += tuned
    qdq_results += tuned
    mixed = None
    if options.search_budget > 0 and not any(r.passed and not float_layer_count(r) for r in results):
        mixed = search_candidate([(r, s) for r, s in zip(results, candidates) if s.engine is Engine.ORT_QDQ],
                                 onnx_path, tmp, ranges, probe, opener, backend, manifest, record,
                                 thresholds.to_dict(source.family), options, progress)
    if mixed is not None:
        results.append(mixed)
        qdq_results.append(mixed)
    record["candidates"] = [r.to_dict() for r in results]
    qdq = fastest(qdq_results)
    roles = {}
    if qdq is not None:
        roles[qdq.name] = ("onnx_int8", "model.int8.onnx")
    if target == "openvino":
        overall = fastest(results)
        if overall is not None:
            roles[f"{overall.name}:ir"] = ("openvino_int8", "model.int8.xml")
    return _conclude(results, roles, root, manifest, record, "int8", thresholds.to_dict(source.family),
                     options.allow_fallback, progress)


def _fit_to_kernels(candidates: list[QuantSettings], backend: str, target: str, record: dict,
                    progress) -> list[QuantSettings]:
    """Where the backend's INT8 convolution saturates here (no VNNI), add a twin with 7-bit input layers to each candidate.

    The twin is not a replacement: on CAN the saturation of u8 activations costs less (~0.3 dB) than 7-bit
    first-layer weights (~1.3 dB), on BlazeFace it loses detections. The gate, run on these very kernels, picks.
    """
    if target == "trt":  # the GPU accumulates in int32; the CPU stand-in simulates Q/DQ in float
        record["int8_kernels"] = {"backend": "tensorrt", "saturates": None,
                                  "note": "measured with Q/DQ simulated in float by ONNX Runtime"}
        return candidates
    from fastip.calibration.int8_kernels import kernel_record

    kernels = kernel_record(backend)
    fitted: list[QuantSettings] = []
    for settings in candidates:
        fitted.append(settings)
        if kernels["saturates"][settings.activations.value]:
            twin = settings.without_saturation()
            if twin != settings:
                fitted.append(twin)
    if len(fitted) > len(candidates):
        kernels["twins"] = [s.name for s in fitted if s.first_layer_7bit]
        kernels["note"] = (f"{backend}'s 8-bit convolution saturates on this CPU "
                           f"(vnni: {kernels['cpu']['vnni']}): candidates with 7-bit weights in the layers the input "
                           "enters were added")
        progress(f"{backend} INT8 convolutions saturate on this CPU (no VNNI): adding candidates with 7-bit input layers")
    record["int8_kernels"] = kernels
    return fitted


def _build_candidate(settings: QuantSettings, onnx_path: Path, root: Path, tmp: Path, ranges, feeds,
                     progress) -> tuple[Path | None, dict]:
    progress(f"quantizing candidate {settings.name}")
    try:
        if settings.engine is Engine.NNCF:
            from fastip.export.openvino import convert_to_ir

            if not (root / "model.xml").is_file():
                convert_to_ir(onnx_path, tmp / "fp32.xml")
            ir = root / "model.xml" if (root / "model.xml").is_file() else tmp / "fp32.xml"
            out = tmp / f"{settings.name}.xml"
            return out, {"nncf_ignored": quantize_nncf(ir, feeds, settings, out), "ranges": "collected by NNCF"}
        out = tmp / f"{settings.name}.onnx"
        return out, {"nodes_excluded": quantize_qdq(onnx_path, ranges, settings, out)}
    except Exception as exc:  # one broken candidate must not hide the others
        progress(f"  {settings.name} failed: {exc}")
        return None, {"build_error": str(exc).splitlines()[0]}


def _conclude(results: list[CandidateResult], roles: dict[str, tuple[str, str]], root: Path, manifest: Manifest,
              record: dict, precision: str, limits: dict, allow_fallback: bool, progress) -> str:
    """Copy the chosen candidates into the bundle, or fail / fall back to FP32 as asked; returns the ONNX role to compile."""
    if not roles:
        error = gate_failure(results, precision.upper(), limits)
        if not allow_fallback:
            raise error
        progress(f"no {precision} candidate passed the gate; shipping FP32 (--allow-fallback)")
        record.update(chosen=None, fallback="fp32", reason=str(error).splitlines()[0])
        manifest.precision = "fp32"
        return "onnx"
    by_name = {r.name: r for r in results}
    chosen = {}
    onnx_role = "onnx"
    for key, (role, filename) in roles.items():
        name = key.split(":")[0]
        result = by_name[name]
        if role == "openvino_int8" and result.path.suffix == ".onnx":
            from fastip.export.openvino import convert_to_ir

            convert_to_ir(result.path, root / filename)
        elif result.path.suffix == ".xml":
            shutil.copy2(result.path, root / filename)
            shutil.copy2(result.path.with_suffix(".bin"), (root / filename).with_suffix(".bin"))
        else:
            shutil.copy2(result.path, root / filename)
            onnx_role = role
        manifest.artifacts[role] = filename
        chosen[role] = name
        progress(f"kept {name} as {filename} (score {result.score:.2f})")
    record.update(chosen=chosen, fallback=None)
    manifest.precision = precision
    return onnx_role
