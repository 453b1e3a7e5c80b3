"""An ONNX artifact as verified bytes: every external-data reference, anywhere in the model, resolved from the bundle.

Every TensorProto is visited, wherever it sits (graph and subgraph initializers, sparse initializers, node
attributes `t`/`tensors`/`sparse_tensor(s)`, If/Loop/Scan bodies, functions, training graphs). Each external
reference must name a listed, hashed member of the bundle; its bytes are read once, checked and copied into the
model, so the runtime gets one self-contained buffer and never opens a file itself (cf. the 2024 ONNX
path-traversal CVEs).
"""

from __future__ import annotations

from typing import Any, Iterator

from fastip.errors import BundleError, require
from fastip.members import check_member_name

# Nodes whose attributes name files the runtime would open (ONNX Runtime's EP context binaries).
FILE_READING_OPS = ("EPContext",)


def messages(message: Any) -> Iterator[Any]:
    """Every protobuf message inside `message`, itself included, found through all message fields.

    A TensorProto is yielded but not entered; an explicit stack keeps deep subgraph nesting off the C stack.
    """
    from google.protobuf.descriptor import FieldDescriptor
    from onnx import TensorProto

    stack = [message]
    while stack:
        current = stack.pop()
        yield current
        if isinstance(current, TensorProto):
            continue
        for field, value in current.ListFields():
            if field.type == FieldDescriptor.TYPE_MESSAGE:
                stack.extend([value] if hasattr(value, "ListFields") else value)


def external_location(tensor: Any) -> dict[str, str]:
    """A tensor's external-data entries (location, offset, length, ...)."""
    return {entry.key: entry.value for entry in tensor.external_data}


def verified_onnx(bundle, name: str) -> bytes:
    """The bytes of ONNX member `name` with all external data inlined from verified members of `bundle`."""
    onnx = require("onnx", "ort", "checking ONNX external data")
    data = bundle.read(name)
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except Exception as exc:  # protobuf DecodeError and friends
        raise BundleError(f"{bundle.root / name} is not a readable ONNX model: {exc}") from exc
    external = []
    for item in messages(model):
        if isinstance(item, onnx.NodeProto) and item.op_type in FILE_READING_OPS:
            raise BundleError(f"{name}: node {item.name!r} ({item.op_type}) makes the runtime read files outside "
                              "the model; refusing to load it")
        if isinstance(item, onnx.TensorProto) and (item.data_location == onnx.TensorProto.EXTERNAL
                                                   or len(item.external_data)):
            external.append(item)
    if not external:
        return data
    files: dict[str, bytes] = {}
    for tensor in external:
        entries = external_location(tensor)
        location = entries.get("location", "")
        try:
            check_member_name(location)
        except BundleError:
            raise BundleError(f"{name}: tensor {tensor.name!r} points its external data at {location!r}, outside "
                              "the model's directory; refusing to load it") from None
        if location not in bundle.manifest.files:
            raise BundleError(f"{name} uses external data {location!r} that the manifest does not list and hash")
        if location not in files:
            files[location] = bundle.read(location)
        blob = files[location]
        offset, length = _span(entries, len(blob), name, tensor.name)
        tensor.raw_data = blob[offset:offset + length]
        del tensor.external_data[:]
        tensor.data_location = onnx.TensorProto.DEFAULT
    try:
        return model.SerializeToString()
    except ValueError as exc:  # protobuf refuses messages above 2 GiB
        raise BundleError(f"{name} with its external data inlined is too large to load from memory: {exc}") from exc


def _span(entries: dict[str, str], size: int, model: str, tensor: str) -> tuple[int, int]:
    text_offset, text_length = entries.get("offset", "0"), entries.get("length")
    if not text_offset.isdigit() or (text_length is not None and not text_length.isdigit()):
        raise BundleError(f"{model}: tensor {tensor!r} has a malformed external-data offset/length")
    offset = int(text_offset)
    length = size - offset if text_length is None else int(text_length)
    if offset + length > size or length < 0:
        raise BundleError(f"{model}: tensor {tensor!r} reads bytes {offset}..{offset + length} of "
                          f"{entries.get('location')!r}, which holds {size}")
    return offset, length
