"""ONNX external-data references must stay inside the model's directory (cf. the 2024 ONNX path-traversal CVEs)."""

from __future__ import annotations

from pathlib import Path

from fastip.errors import BundleError, require


def check_external_data(onnx_path: Path) -> list[str]:
    """Return the external data files an ONNX model references; raise BundleError if any escapes its directory."""
    onnx = require("onnx", "ort", "checking ONNX external data")
    try:
        model = onnx.load(str(onnx_path), load_external_data=False)
    except Exception as exc:  # protobuf DecodeError and friends
        raise BundleError(f"{onnx_path} is not a readable ONNX model: {exc}") from exc
    root = onnx_path.parent.resolve()
    found = []
    tensors = list(model.graph.initializer)
    for node in model.graph.node:
        tensors += [a.t for a in node.attribute if a.HasField("t")]
    for tensor in tensors:
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        location = next((e.value for e in tensor.external_data if e.key == "location"), "")
        resolved = (root / location).resolve()
        if not location or Path(location).is_absolute() or ".." in Path(location).parts or resolved.parent != root:
            raise BundleError(f"{onnx_path.name}: tensor {tensor.name!r} points its external data at {location!r}, "
                              "outside the model's directory; refusing to load it")
        if not resolved.is_file():
            raise BundleError(f"{onnx_path.name}: external data file {location!r} is missing")
        found.append(location)
    return sorted(set(found))
