"""Versions of fastip and of every tool that can touch a bundle, recorded in manifests and reports."""

from __future__ import annotations

import importlib.metadata
import platform

__version__ = "0.1.0"

_TOOLS = {"torch": "torch", "onnx": "onnx", "onnxruntime": "onnxruntime", "openvino": "openvino",
          "nncf": "nncf", "tensorrt": "tensorrt", "numpy": "numpy"}


def tool_versions() -> dict[str, str]:
    """Installed versions of the tools fastip uses (absent ones omitted)."""
    found = {"fastip": __version__, "python": platform.python_version()}
    for key, dist in _TOOLS.items():
        try:
            found[key] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found
