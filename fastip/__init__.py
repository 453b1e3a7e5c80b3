"""fastip: export, quantize, compile, run and benchmark PyTorch image models.

`import fastip` needs numpy only; PyTorch, ONNX Runtime, OpenVINO and TensorRT load when used.
"""

from fastip import errors, runtimes
from fastip.errors import FastipError
from fastip.versions import __version__

__all__ = ["FastipError", "__version__", "errors", "models", "runtimes"]


def __getattr__(name: str):
    if name in ("models", "export", "pipeline", "operators", "calibration", "benchmarks"):
        import importlib

        return importlib.import_module(f"fastip.{name}")
    raise AttributeError(f"module 'fastip' has no attribute {name!r}")
