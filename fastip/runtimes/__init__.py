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


def open(bundle: str | os.PathLike | Bundle, backend: str = "ort", *, precision: str = "fp32",
         threads: int | None = None, hint: str = "latency", **options) -> Session:  # noqa: A001
    """Open a bundle on a backend: `runtimes.open('out/can32', backend='openvino')`.

    `backend="auto"` opens the fastest backend x hint measured for this bundle here (`precision="auto"`: x every
    precision the bundle carries); the session's `choice` says what was picked and why (fastip.runtimes.auto).
    """
    if backend == "auto":
        return _open_auto(bundle, precision, threads, options)
    _require_backend(backend)
    if precision not in PRECISION_ROLES:
        raise InputError(f"unknown precision {precision!r}; choose from {', '.join(PRECISION_ROLES)}")
    if not isinstance(bundle, Bundle):
        bundle = Bundle.load(bundle)
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


def _open_auto(bundle, precision: str, threads: int | None, options: dict) -> Session:
    from fastip.runtimes.auto import choose

    if options:
        raise InputError(f"backend 'auto' picks the backend and its settings itself; drop {', '.join(sorted(options))} "
                         "or name a backend")
    if not isinstance(bundle, Bundle):
        bundle = Bundle.load(bundle)
    if precision == "auto":
        precisions = tuple(p for p, roles in PRECISION_ROLES.items() if any(r in bundle.manifest.artifacts for r in roles if r))
    elif precision in PRECISION_ROLES:
        precisions = (precision,)
    else:
        raise InputError(f"unknown precision {precision!r}; choose from {', '.join(PRECISION_ROLES)} or auto")
    choice = choose(bundle, precisions=precisions, threads=threads)
    c = choice.chosen
    session = open(bundle, c.backend, precision=c.precision, threads=threads, **({"hint": c.hint} if c.hint else {}))
    session.choice = choice
    return session


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
