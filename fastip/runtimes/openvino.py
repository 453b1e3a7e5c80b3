"""OpenVINO backend (CPU plugin): reads IR or ONNX, compiles with a latency or throughput hint."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Mapping

import numpy as np

from fastip.errors import BundleError, InputError, require
from fastip.runtimes.base import Session
from fastip.spec import TensorSpec

HINTS = ("latency", "throughput")
# The CPU plugin caches compiled kernels per input shape (5,000 entries by default): with varying
# image sizes resident memory grows by ~1 MB per new shape. 64 entries keep it bounded (a soak of
# 1,400 random sizes plateaus after ~400 runs) at a small cost when more than 64 sizes alternate.
RUNTIME_CACHE = 64
RUNTIME_CACHE_ENV = "FASTIP_OV_RUNTIME_CACHE"

VIRTUAL_DEVICES = ("AUTO", "MULTI", "HETERO", "BATCH")  # choose among the real devices themselves


def check_device(core, device: str) -> None:
    """Raise InputError unless OpenVINO sees `device` here (GPU matches GPU.0, GPU.1, ...)."""
    if device.split(":", 1)[0] in VIRTUAL_DEVICES:
        return
    available = list(core.available_devices)
    if device not in available and device not in {name.split(".", 1)[0] for name in available}:
        raise InputError(f"OpenVINO device {device!r} is not available here (OpenVINO sees: "
                         f"{', '.join(available) or 'none'}); use --device CPU or AUTO")


class OpenVinoSession(Session):
    """A compiled OpenVINO model; each thread gets its own infer request, so a session is thread-safe.

    `model` is a path, or the bytes of an IR .xml (with `weights`, its .bin) or of an ONNX model.
    """

    backend = "openvino"

    def __init__(self, model: Path | bytes, inputs: list[TensorSpec], outputs: list[TensorSpec], *,
                 threads: int | None = None, hint: str = "latency", device: str = "CPU", weights: bytes | None = None,
                 label: str | None = None, runtime_cache: int | None = None):
        ov = require("openvino", "openvino", "the openvino backend")
        super().__init__(inputs, outputs)
        if hint not in HINTS:
            raise InputError(f"OpenVINO performance hint must be one of {', '.join(HINTS)}, not {hint!r}")
        config = {"PERFORMANCE_HINT": hint.upper()}
        if threads:
            config["INFERENCE_NUM_THREADS"] = int(threads)
        # Keep FP32 exact on CPUs that would otherwise pick a lower inference precision.
        config["INFERENCE_PRECISION_HINT"] = "f32"
        if device == "CPU":
            config["CPU_RUNTIME_CACHE_CAPACITY"] = str(_runtime_cache(runtime_cache))
        core = ov.Core()
        check_device(core, device)
        try:
            if isinstance(model, bytes):
                read = core.read_model(model, b"" if weights is None else weights)
            else:
                read = core.read_model(str(model))
            self._compiled = core.compile_model(read, device, config)
            # OpenVINO may keep pointing into the weight buffer it was given (no copy): keep it alive with the model.
            self._sources = (model, weights, read)
        except Exception as exc:  # OpenVINO raises RuntimeError subclasses for unreadable models
            raise BundleError(f"OpenVINO cannot load {label or ('a model in memory' if isinstance(model, bytes) else model)}: {exc}") from exc
        self.hint = hint
        # How many requests keep this compiled model busy (streams under the throughput hint).
        self.optimal_requests = int(self._compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
        self.config = config
        self._ports = list(self._compiled.outputs)
        self._names = [o.name for o in outputs]
        self._local = threading.local()

    def _request(self):
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self._compiled.create_infer_request()
        return request

    def _run(self, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        # share_outputs=False (the default) already hands back arrays the next inference cannot overwrite.
        result = self._request().infer(dict(feed), share_inputs=True, share_outputs=False)
        return {name: result[port] for name, port in zip(self._names, self._ports)}

    def _release(self) -> None:
        self._compiled = None
        self._sources = None
        self._local = threading.local()


def _runtime_cache(value: int | None) -> int:
    """The CPU plugin's shape-cache capacity: the argument, else FASTIP_OV_RUNTIME_CACHE, else RUNTIME_CACHE."""
    import os

    if value is None:
        text = os.environ.get(RUNTIME_CACHE_ENV, "")
        if not text:
            return RUNTIME_CACHE
        if not text.strip().isdigit():
            raise InputError(f"{RUNTIME_CACHE_ENV} must be a number of cache entries (0 disables the cache), not {text!r}")
        value = int(text)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InputError(f"runtime_cache must be a number of cache entries >= 0, not {value!r}")
    return value
