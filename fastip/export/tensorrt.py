"""ONNX (FP16 or explicit Q/DQ INT8) -> TensorRT engine, with optimisation profiles, timing cache and a compatibility record.

Written against the TensorRT 10/11 Python API: strongly typed networks (precision comes from
the ONNX itself: FP16 weights or Q/DQ nodes), no implicit INT8 calibrators and no precision
builder flags. Shape parsing and compatibility checks are pure Python.
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from fastip.errors import BundleError, ExportError, InputError, require
from fastip.spec import TensorSpec

HARDWARE_LEVELS = ("none", "ampere_plus", "same_compute_capability")
DEFAULT_SHAPES = ((16, 16), (512, 512), (2160, 3840))  # (h, w) min, opt, max for dynamic-size inputs
DEFAULT_WORKSPACE_MIB = 4096


@dataclass(frozen=True)
class ShapeProfile:
    """One TensorRT optimisation profile for the input: min, opt and max NCHW shapes."""

    name: str
    min: tuple[int, int, int, int]
    opt: tuple[int, int, int, int]
    max: tuple[int, int, int, int]

    def hw_bounds(self) -> tuple[tuple[int, int], tuple[int, int]]:
        """((min h, min w), (max h, max w)) that calibration crops must lie within."""
        return (self.min[2], self.min[3]), (self.max[2], self.max[3])

    def to_dict(self) -> dict[str, Any]:
        return {"input": self.name, "min": list(self.min), "opt": list(self.opt), "max": list(self.max)}


def _parse_one(text: str) -> tuple[int, int, int, int]:
    parts = [p for p in re.split(r"[x,]", text.strip().lower()) if p]
    if len(parts) != 4 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise InputError(f"--shapes entries are NxCxHxW with positive integers, like 1x3x1080x1920; got {text!r}")
    return tuple(int(p) for p in parts)  # type: ignore[return-value]


def parse_shapes(text: str, input_spec: TensorSpec) -> ShapeProfile:
    """'1x3x256x256:1x3x1080x1920:1x3x2160x3840' (min:opt:max; one shape means all three) -> ShapeProfile."""
    pieces = text.split(":")
    if len(pieces) not in (1, 3):
        raise InputError(f"--shapes takes MIN:OPT:MAX (or one shape), got {text!r}")
    shapes = [_parse_one(p) for p in pieces] * (3 if len(pieces) == 1 else 1)
    low, opt, high = shapes
    for axis in range(4):
        if not low[axis] <= opt[axis] <= high[axis]:
            raise InputError(f"--shapes must satisfy min <= opt <= max on every axis; axis {axis} has "
                             f"{low[axis]}, {opt[axis]}, {high[axis]}")
        want = input_spec.shape[axis] if axis < input_spec.rank else None
        if isinstance(want, int) and any(s[axis] != want for s in shapes):
            raise InputError(f"--shapes axis {axis} must be {want} (the model's input is {list(input_spec.shape)})")
    return ShapeProfile(input_spec.name, low, opt, high)


def default_profile(input_spec: TensorSpec) -> ShapeProfile:
    """Fixed inputs: their one shape; dynamic H/W: 16x16 .. 2160x3840 with 512x512 optimal, batch 1."""
    dims = list(input_spec.shape)
    shapes = []
    for h, w in DEFAULT_SHAPES:
        hw = [dims[2] if isinstance(dims[2], int) else h, dims[3] if isinstance(dims[3], int) else w]
        shapes.append((dims[0] if isinstance(dims[0], int) else 1, dims[1] if isinstance(dims[1], int) else 3, *hw))
    return ShapeProfile(input_spec.name, *shapes)


@dataclass(frozen=True)
class Compatibility:
    """What an engine was built for: TensorRT version, GPU compute capability, hardware-compatibility level."""

    tensorrt: str
    compute_capability: str  # "8.9"
    hardware_compatibility: str = "none"
    version_compatible: bool = False
    device: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Compatibility":
        known = {k: data[k] for k in ("tensorrt", "compute_capability", "hardware_compatibility", "version_compatible", "device") if k in data}
        return cls(**known)

    def problems(self, here: "Compatibility") -> list[str]:
        """Reasons an engine built for `self` cannot run `here` (empty when it can)."""
        found = []
        built, running = _version(self.tensorrt), _version(here.tensorrt)
        if self.version_compatible:
            if running[0] != built[0] or running < built:
                found.append(f"built with TensorRT {self.tensorrt} (version-compatible within {built[0]}.x, not older), running {here.tensorrt}")
        elif built != running:
            found.append(f"built with TensorRT {self.tensorrt}, running {here.tensorrt}")
        cc_built, cc_here = _version(self.compute_capability), _version(here.compute_capability)
        if self.hardware_compatibility == "ampere_plus":
            if cc_here < (8, 0):
                found.append(f"built for Ampere and newer (compute capability >= 8.0), this GPU is {here.compute_capability}")
        elif cc_built != cc_here:
            found.append(f"built for compute capability {self.compute_capability}, this GPU is {here.compute_capability}"
                         + (f" ({here.device})" if here.device else ""))
        return found

    def check(self, here: "Compatibility", engine: Path) -> None:
        """Raise BundleError when this engine cannot run here, saying how to rebuild it."""
        problems = self.problems(here)
        if problems:
            raise BundleError(f"TensorRT engine {engine} does not fit this machine: {'; '.join(problems)}. "
                              "Rebuild it from the bundle's ONNX: runtimes.open(bundle, backend='trt', rebuild=True)")


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", str(text))[:4]) or (0,)


def current_compatibility(hardware_compatibility: str = "none", version_compatible: bool = False,
                          device: int = 0) -> Compatibility:
    """The compatibility record of this machine's TensorRT and GPU."""
    trt = require("tensorrt", "trt", "TensorRT")
    major, minor, name = _device_properties(device)
    return Compatibility(trt.__version__, f"{major}.{minor}", hardware_compatibility, version_compatible, name)


def _device_properties(device: int) -> tuple[int, int, str]:
    try:
        import torch

        if torch.cuda.is_available():
            props = torch.cuda.get_device_properties(device)
            return props.major, props.minor, props.name
    except ImportError:
        pass
    try:
        from cuda.bindings import runtime as cudart
    except ImportError:
        try:
            from cuda import cudart  # older cuda-python layout
        except ImportError as exc:
            raise ExportError("TensorRT needs a CUDA device; install torch with CUDA or cuda-python to query it") from exc
    err, props = cudart.cudaGetDeviceProperties(device)
    if int(err) != 0:
        raise ExportError(f"no CUDA device {device} ({err})")
    return props.major, props.minor, props.name.decode(errors="replace").rstrip("\x00")


def build_engine(onnx_path: Path | bytes, engine_path: Path, profile: ShapeProfile, *, workspace_mib: int | None = None,
                 timing_cache: str | os.PathLike | None = None, hardware_compatibility: str = "none",
                 version_compatible: bool = False, source_role: str = "onnx") -> dict[str, Any]:
    """Build a strongly typed engine from an ONNX file (or its bytes); returns the manifest record (profile, compatibility)."""
    trt = require("tensorrt", "trt", "building a TensorRT engine")
    if hardware_compatibility not in HARDWARE_LEVELS:
        raise InputError(f"--hardware-compatibility must be one of {', '.join(HARDWARE_LEVELS)}, not {hardware_compatibility!r}")
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
    parser = trt.OnnxParser(network, logger)
    name = "the ONNX model" if isinstance(onnx_path, bytes) else onnx_path.name
    parsed = parser.parse(onnx_path) if isinstance(onnx_path, bytes) else parser.parse_from_file(str(onnx_path))
    if not parsed:
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise ExportError(f"TensorRT's ONNX parser rejected {name}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, (workspace_mib or DEFAULT_WORKSPACE_MIB) << 20)
    if hardware_compatibility != "none":
        config.hardware_compatibility_level = getattr(trt.HardwareCompatibilityLevel, hardware_compatibility.upper())
    if version_compatible:
        config.set_flag(trt.BuilderFlag.VERSION_COMPATIBLE)
    optimisation = builder.create_optimization_profile()
    optimisation.set_shape(profile.name, profile.min, profile.opt, profile.max)
    config.add_optimization_profile(optimisation)
    cache_path = Path(timing_cache).expanduser() if timing_cache else None
    cache_reused = bool(cache_path and cache_path.is_file())
    cache = config.create_timing_cache(cache_path.read_bytes() if cache_reused else b"")
    config.set_timing_cache(cache, False)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise ExportError(f"TensorRT could not build an engine from {name}; see the TensorRT log above")
    engine_path.write_bytes(bytes(serialized))
    if cache_path is not None:
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        cache_path.write_bytes(bytes(config.get_timing_cache().serialize()))
    compat = current_compatibility(hardware_compatibility, version_compatible)
    return {"profile": profile.to_dict(), "compatibility": compat.to_dict(), "built_from": source_role,
            "strongly_typed": True, "workspace_mib": workspace_mib or DEFAULT_WORKSPACE_MIB,
            "timing_cache": str(cache_path) if cache_path else None, "timing_cache_reused": cache_reused}
