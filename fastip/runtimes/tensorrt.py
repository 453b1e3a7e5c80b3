"""TensorRT backend: a serialized engine run on CUDA buffers (torch CUDA tensors), checked against this machine first."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from fastip.errors import BundleError, InputError, require
from fastip.runtimes.base import Session
from fastip.spec import TensorSpec

ENGINE_CACHE = Path("~/.cache/fastip/engines")
# precision -> the ONNX roles an engine may be rebuilt from, best first
REBUILD_ROLES = {"fp16": ("onnx_fp16",), "int8": ("onnx_int8",), "fp32": ("onnx",)}


class TensorRTSession(Session):
    """A deserialized engine with one execution context; inputs/outputs cross the host-device boundary per run."""

    backend = "trt"

    def __init__(self, engine: Path | bytes, inputs: list[TensorSpec], outputs: list[TensorSpec], *,
                 compatibility: dict[str, Any] | None = None, device: int = 0, label: str | None = None):
        trt = require("tensorrt", "trt", "the trt backend")
        torch = require("torch", "torch", "CUDA buffers for the trt backend")
        from fastip.export.tensorrt import Compatibility, current_compatibility

        super().__init__(inputs, outputs)
        engine_path = Path(label or ("an engine in memory" if isinstance(engine, bytes) else engine))
        if not torch.cuda.is_available():
            raise InputError("the trt backend needs an NVIDIA GPU with CUDA; none is visible here")
        if compatibility is not None:
            record = Compatibility.from_dict(compatibility)
            here = current_compatibility(record.hardware_compatibility, record.version_compatible, device)
            record.check(here, engine_path)
        self._torch, self._device = torch, torch.device("cuda", device)
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        self._engine = self._runtime.deserialize_cuda_engine(engine if isinstance(engine, bytes) else Path(engine).read_bytes())
        if self._engine is None:
            raise BundleError(f"TensorRT cannot deserialize {engine_path}; rebuild it with rebuild=True")
        self._context = self._engine.create_execution_context()
        names = [self._engine.get_tensor_name(i) for i in range(self._engine.num_io_tensors)]
        self._inputs = [n for n in names if self._engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self._outputs = [n for n in names if n not in self._inputs]
        self._dtypes = {n: _torch_dtype(torch, trt.nptype(self._engine.get_tensor_dtype(n))) for n in names}
        self._stream = torch.cuda.Stream(device=self._device)

    @classmethod
    def from_bundle(cls, bundle, *, precision: str = "fp32", rebuild: bool = False, cache_dir: str | os.PathLike | None = None,
                    device: int = 0, **options: Any) -> "TensorRTSession":
        """Open the bundle's engine; with `rebuild`, build one from its ONNX when it has none or it does not fit here."""
        from fastip.export.tensorrt import Compatibility, current_compatibility, default_profile

        m = bundle.manifest
        if options:
            raise InputError(f"unknown trt options {sorted(options)}; known: rebuild, cache_dir, device")
        record = m.extra.get("tensorrt") or {}
        built_from = record.get("built_from")
        fits = "engine" in m.artifacts and (built_from is None or built_from in REBUILD_ROLES.get(precision, ()))
        if fits:
            compat = Compatibility.from_dict(record.get("compatibility") or {"tensorrt": "0", "compute_capability": "0"})
            here = current_compatibility(compat.hardware_compatibility, compat.version_compatible, device)
            problems = compat.problems(here)
            if not problems:
                return cls(bundle.read(m.artifacts["engine"]), m.inputs, m.outputs, compatibility=compat.to_dict(),
                           device=device, label=str(bundle.path("engine")))
            if not rebuild:
                compat.check(here, bundle.path("engine"))
        elif not rebuild:
            raise BundleError(f"bundle {bundle.root} has no {precision} TensorRT engine; export with --target trt "
                              f"--precision {precision}, or open with rebuild=True to build one from its ONNX")
        role = next((r for r in REBUILD_ROLES.get(precision, ()) if r in m.artifacts), None)
        if role is None:
            raise BundleError(f"bundle {bundle.root} has no {precision} ONNX to build a TensorRT engine from "
                              f"(it has: {', '.join(m.artifacts)}); export with --precision {precision}")
        profile = _profile(record, m.inputs[0], default_profile)
        from fastip.runtimes.external_data import verified_onnx

        engine = _rebuilt_engine(verified_onnx(bundle, m.artifacts[role]), profile, role, cache_dir)
        return cls(engine, m.inputs, m.outputs, device=device)

    def _run(self, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        torch = self._torch
        keep = []
        with torch.cuda.stream(self._stream):
            for name in self._inputs:
                tensor = torch.from_numpy(np.ascontiguousarray(feed[name])).to(self._device, self._dtypes[name],
                                                                                non_blocking=False)
                keep.append(tensor)
                if not self._context.set_input_shape(name, tuple(tensor.shape)):
                    raise InputError(f"input {name!r} shape {tuple(tensor.shape)} is outside the engine's optimisation "
                                     "profile; rebuild with wider --shapes")
                self._context.set_tensor_address(name, tensor.data_ptr())
            results = {}
            for name in self._outputs:
                shape = tuple(self._context.get_tensor_shape(name))
                out = torch.empty(shape, dtype=self._dtypes[name], device=self._device)
                results[name] = out
                self._context.set_tensor_address(name, out.data_ptr())
            if not self._context.execute_async_v3(self._stream.cuda_stream):
                raise BundleError("TensorRT execution failed; see the TensorRT log")
        self._stream.synchronize()
        names = {o.name for o in self.outputs}
        return {name: t.float().cpu().numpy() if name in names else t.cpu().numpy() for name, t in results.items()}

    def _release(self) -> None:
        self._context = self._engine = self._runtime = None


def _torch_dtype(torch, np_dtype) -> Any:
    return {np.float32: torch.float32, np.float16: torch.float16, np.int8: torch.int8, np.int32: torch.int32,
            np.int64: torch.int64, np.uint8: torch.uint8, np.bool_: torch.bool}[np.dtype(np_dtype).type]


def _profile(record: dict, input_spec: TensorSpec, default_profile):
    from fastip.export.tensorrt import ShapeProfile

    saved = record.get("profile")
    if saved:
        return ShapeProfile(saved["input"], tuple(saved["min"]), tuple(saved["opt"]), tuple(saved["max"]))
    return default_profile(input_spec)


def _rebuilt_engine(onnx: bytes, profile, role: str, cache_dir: str | os.PathLike | None) -> Path:
    """An engine for this machine built from verified ONNX bytes, cached by their hash, profile and TensorRT/GPU."""
    from fastip.export.tensorrt import build_engine, current_compatibility

    here = current_compatibility()
    key = hashlib.sha256(onnx).hexdigest()[:16]
    tag = hashlib.sha256(repr((profile.to_dict(), here.tensorrt, here.compute_capability)).encode()).hexdigest()[:12]
    root = Path(cache_dir if cache_dir is not None else ENGINE_CACHE).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    engine = root / f"{key}-{tag}.engine"
    if not engine.is_file():
        tmp = engine.with_suffix(f".tmp{os.getpid()}")
        build_engine(onnx, tmp, profile, timing_cache=root / "timing.cache", source_role=role)
        os.replace(tmp, engine)
    return engine
