"""One Session API over PyTorch, ONNX Runtime, OpenVINO and TensorRT; backends load lazily."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from fastip.bundle import Bundle
from fastip.errors import BundleError, InputError, MissingDependencyError
from fastip.runtimes.base import Session, check_tensor

# backend -> (library that must be importable, pip extra that installs it)
BACKENDS = {"torch": ("torch", "torch"), "ort": ("onnxruntime", "ort"), "openvino": ("openvino", "openvino"),
            "trt": ("tensorrt", "trt")}
PRECISION_ROLES = {"fp32": ("onnx", "openvino"), "fp16": ("onnx_fp16", None), "int8": ("onnx_int8", "openvino_int8")}

__all__ = ["BACKENDS", "Session", "available_backends", "check_tensor", "open"]


def _installed(lib: str) -> bool:
    try:
        return importlib.util.find_spec(lib) is not None
    except (ImportError, ValueError):  # a broken or shadowed install counts as absent
        return False


def available_backends() -> list[str]:
    """Backends whose library is installed here (asked of the import system, not guessed from the platform)."""
    return [name for name, (lib, _) in BACKENDS.items() if _installed(lib)]


def _require_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise InputError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)} "
                         f"(available here: {', '.join(available_backends()) or 'none'})")
    lib, extra = BACKENDS[backend]
    if not _installed(lib):
        raise MissingDependencyError(f"backend {backend!r} needs `pip install 'fastip[{extra}]'`; "
                                     f"available here: {', '.join(available_backends()) or 'none'}")


def open(bundle: str | os.PathLike | Bundle, backend: str = "ort", *, precision: str | None = None,
         threads: int | None = None, hint: str = "latency", **options) -> Session:  # noqa: A001
    """Open a bundle on a backend: `runtimes.open('out/can32', backend='openvino')`.

    `precision` None runs the bundle's own precision (an INT8 bundle opens in INT8; torch runs FP32);
    the session's `precision` says which ran.
    """
    _require_backend(backend)
    if precision is not None and precision not in PRECISION_ROLES:
        raise InputError(f"unknown precision {precision!r}; choose from {', '.join(PRECISION_ROLES)}")
    if not isinstance(bundle, Bundle):
        bundle = Bundle.load(bundle)
    if precision is None:
        precision = "fp32" if backend == "torch" else (bundle.manifest.precision or "fp32")
    if precision == "int8" and backend in ("ort", "openvino"):
        from fastip.calibration.int8_kernels import check_artifact

        role = "onnx_int8" if backend == "ort" or "openvino_int8" not in bundle.manifest.artifacts else "openvino_int8"
        check_artifact(bundle.manifest, backend, role)
    session = _open(bundle, backend, precision, threads, hint, **options)
    session.precision = precision
    return session


def _open(bundle: Bundle, backend: str, precision: str, threads: int | None, hint: str, **options) -> Session:
    m = bundle.manifest
    onnx_role, ir_role = PRECISION_ROLES[precision]
    if backend == "torch":
        if precision != "fp32":
            raise InputError("the torch backend runs fp32 only; use ort or openvino for int8/fp16")
        from fastip.runtimes.torch import TorchSession
        from fastip.export.source import rebuild_module

        return TorchSession(rebuild_module(bundle), m.inputs, m.outputs, threads=threads)
    if backend == "ort":
        from fastip.runtimes.ort import OrtSession

        return OrtSession(_artifact(bundle, onnx_role, precision), m.inputs, m.outputs, threads=threads, **options)
    if backend == "openvino":
        from fastip.runtimes.openvino import OpenVinoSession

        role = ir_role if ir_role in m.artifacts else onnx_role
        return OpenVinoSession(_artifact(bundle, role, precision), m.inputs, m.outputs, threads=threads, hint=hint, **options)
    from fastip.runtimes.tensorrt import TensorRTSession

    return TensorRTSession.from_bundle(bundle, precision=precision, **options)


def _artifact(bundle: Bundle, role: str | None, precision: str) -> Path:
    if role is None or role not in bundle.manifest.artifacts:
        have = ", ".join(bundle.manifest.artifacts) or "none"
        raise BundleError(f"bundle {bundle.root} has no {precision} artifact for this backend (it has: {have}); "
                          f"export with --precision {precision}")
    path = bundle.path(role)
    if path.suffix == ".onnx":
        from fastip.runtimes.external_data import check_external_data

        for name in check_external_data(path):
            if name not in bundle.manifest.files:
                raise BundleError(f"{path.name} uses external data {name!r} that the manifest does not list and hash")
    return path
