"""One Session API over PyTorch, ONNX Runtime, OpenVINO and TensorRT; backends load lazily."""

from __future__ import annotations

import importlib.util
import os
from typing import Any, Callable

from fastip.bundle import Bundle, companions
from fastip.errors import BundleError, InputError, MissingDependencyError
from fastip.runtimes.base import Session, check_tensor
from fastip.runtimes.external_data import verified_onnx

# backend -> (library that must be importable, pip extra that installs it)
BACKENDS = {"torch": ("torch", "torch"), "ort": ("onnxruntime", "ort"), "openvino": ("openvino", "openvino"),
            "trt": ("tensorrt", "trt")}
PRECISION_ROLES = {"fp32": ("onnx", "openvino"), "fp16": ("onnx_fp16", None), "int8": ("onnx_int8", "openvino_int8")}

__all__ = ["BACKENDS", "Session", "available_backends", "check_device", "check_tensor", "open"]


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


def check_device(device: str | None, backend: str, *, fix: str = "use --backend openvino") -> None:
    """Raise InputError unless `device` is None, or `backend` is openvino and OpenVINO sees `device` here."""
    if device is None:
        return
    if backend != "openvino":
        raise InputError(f"a device ({device!r}) is chosen for the openvino backend only; drop --device or {fix}")
    _require_backend("openvino")
    import openvino as ov

    from fastip.runtimes.openvino import check_device as check_openvino_device

    check_openvino_device(ov.Core(), device)


def open(bundle: str | os.PathLike | Bundle, backend: str = "ort", *, precision: str | None = None,  # noqa: A001
         threads: int | None = None, hint: str = "latency", device: str | None = None,
         builder: Callable[[], Any] | str | None = None,
         trust_code: bool = False, memory_budget: int | str | None = None, **options) -> Session:
    """Open a bundle on a backend: `runtimes.open('out/can32', backend='openvino')`.

    `precision` None runs the bundle's own precision (an INT8 bundle opens in INT8; torch runs FP32);
    the session's `precision` says which ran.
    `device` (openvino only) is an OpenVINO device: CPU (the default), GPU, AUTO, ...; one OpenVINO does not see
    here is refused, naming those it does.
    `backend="auto"` opens the fastest backend x hint measured for this bundle here (`precision="auto"`: x every
    precision the bundle carries); the session's `choice` says what was picked and why (fastip.runtimes.auto).

    Every backend loads the bundle's bytes as checked against their sha256, never a path the runtime re-reads.
    On torch, a bundle exported from your own module needs that module: pass `builder` (a callable or
    'package.module:function'), or `trust_code=True` to import the one the manifest names.
    Inputs whose estimated activations exceed `memory_budget` bytes (default: FASTIP_MEMORY_BUDGET,
    else the memory available at open) are refused before running; see fastip.runtimes.memory.
    """
    from fastip.runtimes.memory import activation_model, default_budget, parse_bytes

    check_device(device, backend)  # before any loading; backend auto measures and picks on the CPU, so takes none
    if backend == "auto":
        return _open_auto(bundle, precision, threads, options)
    _require_backend(backend)
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 0):
        raise InputError(f"threads must be a positive number of threads (0: the backend's choice), not {threads!r}")
    budget = parse_bytes(memory_budget) if memory_budget is not None else default_budget()
    if not isinstance(bundle, Bundle):
        bundle = Bundle.load(bundle)
    # The shape model comes from the verified FP32 graph, read before the backend loads anything.
    graph = bundle.read(bundle.manifest.artifacts["onnx"]) if "onnx" in bundle.manifest.artifacts else None
    session = _open(bundle, backend, precision=precision, threads=threads, hint=hint, device=device, builder=builder,
                    trust_code=trust_code, **options)
    if graph is not None:
        session.memory_budget = budget
        session.activation = activation_model(graph, bundle.manifest.io.size_multiple)
    return session


def _open(bundle: Bundle, backend: str, *, precision: str | None, threads: int | None, hint: str, device: str | None,
          builder: Callable[[], Any] | str | None, trust_code: bool, **options) -> Session:
    """Check the request against the loaded bundle (`open` has required the backend and loaded it), then load."""
    if precision is not None and precision not in PRECISION_ROLES:
        raise InputError(f"unknown precision {precision!r}; choose from {', '.join(PRECISION_ROLES)}")
    if precision is None:
        precision = "fp32" if backend == "torch" else (bundle.manifest.precision or "fp32")
    if precision == "int8" and backend in ("ort", "openvino"):
        from fastip.calibration.int8_kernels import check_artifact

        role = "onnx_int8" if backend == "ort" or "openvino_int8" not in bundle.manifest.artifacts else "openvino_int8"
        check_artifact(bundle.manifest, backend, role)
    session = _load(bundle, backend, precision, threads=threads, hint=hint, device=device, builder=builder,
                    trust_code=trust_code, **options)
    session.precision = precision
    return session


def _load(bundle: Bundle, backend: str, precision: str, *, threads: int | None, hint: str, device: str | None,
          builder: Callable[[], Any] | str | None, trust_code: bool, **options) -> Session:
    m = bundle.manifest
    onnx_role, ir_role = PRECISION_ROLES[precision]
    if backend == "torch":
        if precision != "fp32":
            raise InputError("the torch backend runs fp32 only; use ort or openvino for int8/fp16")
        from fastip.runtimes.torch import TorchSession
        from fastip.export.source import rebuild_module

        return TorchSession(rebuild_module(bundle, builder=builder, trust_code=trust_code), m.inputs, m.outputs,
                            threads=threads)
    if backend == "ort":
        from fastip.runtimes.ort import OrtSession

        name = _artifact(bundle, onnx_role, precision)
        return OrtSession(verified_onnx(bundle, name), m.inputs, m.outputs, threads=threads,
                          label=str(bundle.root / name), **options)
    if backend == "openvino":
        from fastip.runtimes.openvino import OpenVinoSession

        name = _artifact(bundle, ir_role if ir_role in m.artifacts else onnx_role, precision)
        if name.endswith(".xml"):
            model, weights = bundle.read(name), bundle.read(companions(name)[0])
        else:
            model, weights = verified_onnx(bundle, name), None
        return OpenVinoSession(model, m.inputs, m.outputs, threads=threads, hint=hint, weights=weights, device=device or "CPU",
                               label=str(bundle.root / name), **options)
    from fastip.runtimes.tensorrt import TensorRTSession

    return TensorRTSession.from_bundle(bundle, precision=precision, **options)


def _open_auto(bundle, precision: str, threads: int | None, options: dict) -> Session:
    from fastip.runtimes.auto import choose

    if options:
        raise InputError(f"backend 'auto' picks the backend and its settings itself; drop {', '.join(sorted(options))} "
                         "or name a backend")
    if not isinstance(bundle, Bundle):
        bundle = Bundle.load(bundle)
    if precision is None:
        precisions = (bundle.manifest.precision or "fp32",)
    elif precision == "auto":
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


def _artifact(bundle: Bundle, role: str | None, precision: str) -> str:
    if role is None or role not in bundle.manifest.artifacts:
        have = ", ".join(bundle.manifest.artifacts) or "none"
        raise BundleError(f"bundle {bundle.root} has no {precision} artifact for this backend (it has: {have}); "
                          f"export with --precision {precision}")
    return bundle.manifest.artifacts[role]
