"""The bundle manifest (`fastip.json`): a typed, schema-checked record of everything a host needs."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any

from fastip.errors import BundleError
from fastip.spec import ImageIO, TensorSpec

SCHEMA_VERSION = 1
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
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise BundleError(f"malformed manifest: {exc!r}") from exc

    @classmethod
    def from_json(cls, text: str) -> "Manifest":
        def refuse(constant: str) -> None:
            raise BundleError(f"manifest is not valid JSON: {constant} is not a JSON number (write null)")

        try:
            data = json.loads(text, parse_constant=refuse)
        except json.JSONDecodeError as exc:
            raise BundleError(f"manifest is not valid JSON: {exc}") from exc
        return cls.from_dict(data)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


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
        raise BundleError(f"malformed manifest: unknown keys {sorted(unknown)}")
    if data["schema_version"] > SCHEMA_VERSION:
        raise BundleError(f"manifest schema {data['schema_version']} is newer than this fastip ({SCHEMA_VERSION}); upgrade fastip")
    if data["precision"] not in PRECISIONS:
        raise BundleError(f"malformed manifest: precision {data['precision']!r} not in {PRECISIONS}")
    if not data["inputs"] or not data["outputs"]:
        raise BundleError("malformed manifest: a model needs at least one input and one output")
    for role, name in data["artifacts"].items():
        if role not in ARTIFACT_ROLES:
            raise BundleError(f"malformed manifest: unknown artifact role {role!r}; known: {', '.join(ARTIFACT_ROLES)}")
        _check_member_name(name)
    for name, digest in data["files"].items():
        _check_member_name(name)
        if not (isinstance(digest, str) and len(digest) == 64 and all(c in "0123456789abcdef" for c in digest)):
            raise BundleError(f"malformed manifest: sha256 of {name!r} is not 64 hex digits")


def _check_member_name(name: Any) -> None:
    """Bundle members are plain file names: no directories, no traversal."""
    if not isinstance(name, str) or not name or "/" in name or "\\" in name or name in (".", "..") or name.startswith("."):
        raise BundleError(f"malformed manifest: {name!r} is not a plain file name inside the bundle")
