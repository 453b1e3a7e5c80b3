"""The bundle manifest (`fastip.json`): a typed, schema-checked record of everything a host needs."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from fastip.errors import BundleError
from fastip.spec import ImageIO, TensorSpec, is_int, name_keys

SCHEMA_VERSION = 1
# A real manifest is a few kB and nests 5 deep; these bound what parsing a stranger's file may cost.
MAX_MANIFEST_BYTES = 4 << 20
MAX_DEPTH = 32
PRECISIONS = ("fp32", "fp16", "int8")
# artifact role -> the backends that can run it
ARTIFACT_ROLES = ("onnx", "onnx_int8", "onnx_fp16", "openvino", "openvino_int8", "engine", "torch")


@dataclass(frozen=True)
class Validation:
    """One comparison of an artifact against the PyTorch reference on one image."""

    artifact: str
    backend: str
    image: str
    shape: tuple[int, ...]
    max_abs_error: float
    psnr: float
    tolerance: float
    passed: bool

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["shape"] = list(self.shape)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Validation":
        _check_fields("validation record", data, {"artifact": str, "backend": str, "image": str, "shape": list,
                                                  "max_abs_error": (float, int, type(None)), "psnr": (float, int, type(None)),
                                                  "tolerance": (float, int), "passed": bool})
        if not all(is_int(d) for d in data["shape"]):
            raise BundleError("malformed manifest: a validation shape must be a list of integers")
        psnr = math.inf if data.get("psnr") is None else data["psnr"]  # identical outputs: infinite PSNR
        error = math.inf if data.get("max_abs_error") is None else data["max_abs_error"]
        return cls(**{**data, "shape": tuple(data["shape"]), "psnr": psnr, "max_abs_error": error})


@dataclass
class Manifest:
    """Model identity, I/O, pre/post-processing, artifacts, validation, hashes and tool versions."""

    model: str
    family: str
    io: ImageIO
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    artifacts: dict[str, str]  # role -> file name inside the bundle
    precision: str = "fp32"
    source: dict[str, Any] = field(default_factory=dict)  # builder, kwargs, weights
    validation: list[Validation] = field(default_factory=list)
    calibration: dict[str, Any] | None = None
    files: dict[str, str] = field(default_factory=dict)  # file name -> sha256
    versions: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # per-target records (compile options, gates, ...)
    untrained: bool = False  # built without trained weights (asked for with --weights none)
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "model": self.model,
            "family": self.family,
            "precision": self.precision,
            "untrained": self.untrained,
            "io": self.io.to_dict(),
            "inputs": [t.to_dict() for t in self.inputs],
            "outputs": [t.to_dict() for t in self.outputs],
            "artifacts": dict(self.artifacts),
            "source": self.source,
            "validation": [v.to_dict() for v in self.validation],
            "calibration": self.calibration,
            "files": dict(self.files),
            "versions": dict(self.versions),
            "extra": self.extra,
        }

    def to_json(self) -> str:
        """Strict JSON (non-finite numbers become null) so that any JSON parser, C++ included, reads it."""
        return json.dumps(_finite(self.to_dict()), indent=2, allow_nan=False) + "\n"

    @classmethod
    def from_dict(cls, data: Any) -> "Manifest":
        """Build a Manifest from parsed JSON, raising BundleError on anything malformed.

        Non-finite numbers become null here, as `to_json` writes them, so a manifest reads back as it was built."""
        _check_schema(data)
        data = _finite(data)
        try:
            return cls(
                schema_version=data["schema_version"],
                model=data["model"],
                family=data["family"],
                precision=data["precision"],
                io=ImageIO.from_dict(data["io"]),
                inputs=[TensorSpec.from_dict(t) for t in data["inputs"]],
                outputs=[TensorSpec.from_dict(t) for t in data["outputs"]],
                artifacts=dict(data["artifacts"]),
                source=dict(data.get("source") or {}),
                validation=[Validation.from_dict(v) for v in data.get("validation") or []],
                calibration=data.get("calibration"),
                files=dict(data.get("files") or {}),
                versions=dict(data.get("versions") or {}),
                extra=dict(data.get("extra") or {}),
                untrained=data.get("untrained", False),
            )
        except BundleError as exc:
            raise BundleError(str(exc) if str(exc).startswith("malformed manifest") else f"malformed manifest: {exc}") from exc
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise BundleError(f"malformed manifest: {type(exc).__name__}: {exc!r:.200}") from exc

    @classmethod
    def from_json(cls, text: str) -> "Manifest":
        def refuse(constant: str) -> None:
            raise BundleError(f"manifest is not valid JSON: {constant} is not a JSON number (write null)")

        if len(text) > MAX_MANIFEST_BYTES:
            raise BundleError(f"manifest is {len(text)} bytes, above the {MAX_MANIFEST_BYTES} byte limit; it is not a fastip manifest")
        _check_nesting(text)
        try:
            data = json.loads(text, parse_constant=refuse)
        except (json.JSONDecodeError, ValueError) as exc:  # ValueError: integers beyond Python's digit limit
            raise BundleError(f"manifest is not valid JSON: {exc}") from exc
        return cls.from_dict(data)


_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_BRACKET = re.compile(r"[\[\]{}]")


def _check_nesting(text: str) -> None:
    """Refuse JSON nested deeper than MAX_DEPTH before a recursive parser sees it."""
    depth = deepest = 0
    for match in _BRACKET.finditer(_STRING.sub('""', text)):
        depth += 1 if match.group() in "[{" else -1
        if depth > deepest:
            deepest = depth
            if deepest > MAX_DEPTH:
                raise BundleError(f"manifest nests deeper than {MAX_DEPTH} levels; it is not a fastip manifest")


def _finite(value: Any, depth: int = 0) -> Any:
    if depth > MAX_DEPTH:
        raise BundleError(f"malformed manifest: nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v, depth + 1) for v in value]
    return value


def _check_fields(what: str, data: Any, fields: dict[str, Any]) -> None:
    if not isinstance(data, dict):
        raise BundleError(f"malformed manifest: a {what} must be an object")
    unknown = set(data) - set(fields)
    if unknown:
        raise BundleError(f"malformed manifest: unknown {what} keys {name_keys(unknown)}")
    for key, kind in fields.items():
        value = data.get(key)
        if key not in data or not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            raise BundleError(f"malformed manifest: {what} field {key!r} is missing or has the wrong type")


_SCALARS = (str, int, float, bool, type(None))


# Source record fields besides weights and kwargs: registry/import builders, and the file an ONNX import came from.
_SOURCE_TYPES = {"kind": str, "builder": str, "untrained": bool, "file": str, "sha256": str, "layout": str, "opset": int}


def _check_source(source: dict[str, Any]) -> None:
    """How to rebuild the model: plain strings and a kwargs object of JSON scalars, nothing else."""
    unknown = set(source) - set(_SOURCE_TYPES) - {"kwargs", "weights"}
    if unknown:
        raise BundleError(f"malformed manifest: unknown source keys {name_keys(unknown)}")
    for key, kind in _SOURCE_TYPES.items():
        if key in source and (not isinstance(source[key], kind) or (kind is int and isinstance(source[key], bool))):
            raise BundleError(f"malformed manifest: source {key!r} must be {'a string' if kind is str else kind.__name__}")
    if not isinstance(source.get("weights"), (str, type(None))):
        raise BundleError("malformed manifest: source 'weights' must be a string or null")
    kwargs = source.get("kwargs", {})
    if not isinstance(kwargs, dict) or len(kwargs) > 64 or not all(
            isinstance(k, str) and isinstance(v, _SCALARS) and (not isinstance(v, float) or math.isfinite(v))
            for k, v in kwargs.items()):
        raise BundleError("malformed manifest: source 'kwargs' must map names to strings, numbers, booleans or null")


_REQUIRED = {
    "schema_version": int, "model": str, "family": str, "precision": str, "io": dict,
    "inputs": list, "outputs": list, "artifacts": dict, "files": dict,
}
_OPTIONAL = {"untrained": bool, "source": dict, "validation": list, "calibration": (dict, type(None)), "versions": dict, "extra": dict}


def _check_schema(data: Any) -> None:
    if not isinstance(data, dict):
        raise BundleError("malformed manifest: the top level must be a JSON object")
    for key, kind in _REQUIRED.items():
        if key not in data:
            raise BundleError(f"malformed manifest: missing key {key!r}")
        if not isinstance(data[key], kind) or (kind is int and isinstance(data[key], bool)):
            raise BundleError(f"malformed manifest: {key!r} must be {kind.__name__}")
    for key, kind in _OPTIONAL.items():
        if key in data and not isinstance(data[key], kind):
            raise BundleError(f"malformed manifest: {key!r} has the wrong type")
    unknown = set(data) - set(_REQUIRED) - set(_OPTIONAL)
    if unknown:
        raise BundleError(f"malformed manifest: unknown keys {name_keys(unknown)}")
    if data["schema_version"] > SCHEMA_VERSION:
        raise BundleError(f"manifest schema {data['schema_version']} is newer than this fastip ({SCHEMA_VERSION}); upgrade fastip")
    if data["precision"] not in PRECISIONS:
        raise BundleError(f"malformed manifest: precision {data['precision'][:40]!r} not in {PRECISIONS}")
    if not data["inputs"] or not data["outputs"]:
        raise BundleError("malformed manifest: a model needs at least one input and one output")
    for role, name in data["artifacts"].items():
        if role not in ARTIFACT_ROLES:
            raise BundleError(f"malformed manifest: unknown artifact role {role[:40]!r}; known: {', '.join(ARTIFACT_ROLES)}")
        _check_member_name(name)
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in data.get("versions", {}).items()):
        raise BundleError("malformed manifest: 'versions' must map tool names to version strings")
    _check_source(data.get("source") or {})
    for name, digest in data["files"].items():
        _check_member_name(name)
        if not (isinstance(digest, str) and len(digest) == 64 and all(c in "0123456789abcdef" for c in digest)):
            raise BundleError(f"malformed manifest: sha256 of {name[:80]!r} is not 64 hex digits")


def _check_member_name(name: Any) -> None:
    """Bundle members are plain file names: no directories, no traversal."""
    from fastip.members import check_member_name

    check_member_name(name)
