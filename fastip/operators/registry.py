"""The operator registry: every classical reference operator declared once, applied through one signature."""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Callable, Mapping

import numpy as np

from fastip.errors import FastipError, InputError

# Each module registers its operators when imported; none imports a heavy library at import time.
_FAMILY_MODULES = (
    "fastip.operators.total_variation",
    "fastip.operators.l0",
    "fastip.operators.rtv",
    "fastip.operators.wls",
    "fastip.operators.local_laplacian",
    "fastip.operators.dehaze",
    "fastip.operators.pencil",
)
_REGISTRY: dict[str, Operator] = {}
_loaded = False


@dataclass(frozen=True)
class Operator:
    """A reference operator: float32 HxWx3 in [0, 1] to the same, with named keyword parameters."""

    name: str
    function: Callable[..., np.ndarray]
    description: str
    citation: str
    defaults: Mapping[str, Any]
    param_help: Mapping[str, str]

    def __call__(self, image: np.ndarray, **params: Any) -> np.ndarray:
        """Apply the operator; see `apply`."""
        checked = self.check_params(params)
        rgb = as_float_rgb(image)
        out = np.asarray(self.function(rgb, **checked), dtype=np.float32)
        if out.shape != rgb.shape:
            raise FastipError(f"operator {self.name!r} returned shape {out.shape} for input {rgb.shape}")
        out = np.clip(np.nan_to_num(out, nan=0.0), 0.0, 1.0)
        return to_input_dtype(out, np.asarray(image).dtype)

    def check_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Reject unknown names and values whose type differs from the default's; return the full parameter set."""
        unknown = sorted(set(params) - set(self.defaults))
        if unknown:
            valid = ", ".join(f"{k}={v!r}" for k, v in self.defaults.items()) or "none"
            raise InputError(f"operator {self.name!r} has no parameter {', '.join(map(repr, unknown))}; valid: {valid}")
        checked = dict(self.defaults)
        for key, value in params.items():
            checked[key] = _coerce(self.name, key, value, self.defaults[key])
        return checked


def _coerce(op: str, key: str, value: Any, default: Any) -> Any:
    kind = type(default)
    if kind is bool:
        ok = isinstance(value, (bool, np.bool_))
    elif kind is int:
        ok = isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
    elif kind is float:
        ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
    else:
        ok = isinstance(value, kind)
    if not ok:
        raise InputError(f"operator {op!r} parameter {key!r} must be {kind.__name__} (default {default!r}), got {value!r}")
    return kind(value)


def check_range(name: str, value: float, low: float | None = None, high: float | None = None, *,
                open_low: bool = False) -> None:
    """Raise InputError when a parameter lies outside [low, high] (or (low, high] when open_low)."""
    too_low = low is not None and (value <= low if open_low else value < low)
    too_high = high is not None and value > high
    if too_low or too_high:
        lo = "-inf" if low is None else low
        hi = "inf" if high is None else high
        raise InputError(f"parameter {name!r}={value!r} is outside {'(' if open_low else '['}{lo}, {hi}]")


def register_operator(name: str) -> Callable[[Callable[..., np.ndarray]], Callable[..., np.ndarray]]:
    """Decorator registering `f(image, *, params...)`; its docstring gives summary, citation and one line per parameter."""

    def wrap(function: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
        if name in _REGISTRY:
            raise FastipError(f"operator name {name!r} is registered twice")
        parts = [p.strip() for p in (inspect.getdoc(function) or "").split("\n\n")]
        if len(parts) < 2:
            raise FastipError(f"operator {name!r} needs a docstring with a summary and a citation paragraph")
        signature = inspect.signature(function)
        defaults = {p.name: p.default for p in signature.parameters.values() if p.kind is p.KEYWORD_ONLY}
        helps = dict(line.split(":", 1) for line in "\n".join(parts[2:]).splitlines() if ":" in line)
        helps = {k.strip(): v.strip() for k, v in helps.items()}
        missing = [k for k in defaults if k not in helps]
        if missing or any(v is inspect.Parameter.empty for v in defaults.values()):
            raise FastipError(f"operator {name!r}: every parameter needs a default and a docstring line; check {missing}")
        _REGISTRY[name] = Operator(name=name, function=function, description=parts[0].replace("\n", " "),
                                   citation=parts[1].replace("\n", " "), defaults=MappingProxyType(defaults),
                                   param_help=MappingProxyType({k: helps[k] for k in defaults}))
        return function

    return wrap


def _load() -> None:
    global _loaded
    if not _loaded:
        for module in _FAMILY_MODULES:
            importlib.import_module(module)
        _loaded = True


def list_operators() -> list[str]:
    """Names of the registered reference operators, sorted."""
    _load()
    return sorted(_REGISTRY)


def get(name: str) -> Operator:
    """The registered operator called `name`."""
    _load()
    if name not in _REGISTRY:
        raise InputError(f"unknown operator {name!r}; choose from {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def apply(name: str, image: np.ndarray, **params: Any) -> np.ndarray:
    """Apply operator `name` to a uint8 or float [0, 1] HxWx3 RGB image; the output keeps the input's convention."""
    return get(name)(image, **params)


def as_float_rgb(image: np.ndarray) -> np.ndarray:
    """Check a uint8 or float [0, 1] HxWx3 image and return it as float32 in [0, 1]."""
    image = np.asarray(image)
    if image.dtype != np.uint8 and not np.issubdtype(image.dtype, np.floating):
        raise InputError(f"expected a uint8 or float image, got dtype {image.dtype}; "
                         "convert with image.astype(np.uint8) or image.astype(np.float32) / scale")
    if image.ndim != 3 or image.shape[2] != 3:
        raise InputError(f"expected an HxWx3 RGB image, got shape {image.shape}; convert grayscale or RGBA to RGB first")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise InputError(f"image has zero size {image.shape}")
    if image.dtype == np.uint8:
        return image.astype(np.float32) / 255.0
    if not np.isfinite(image).all():
        raise InputError("image contains NaN or infinite values; replace them, e.g. with np.nan_to_num")
    lo, hi = float(image.min()), float(image.max())
    if lo < -1e-6 or hi > 1 + 1e-6:
        raise InputError(f"float image values must lie in [0, 1], got [{lo:.4g}, {hi:.4g}]; "
                         "divide by 255 or clip with np.clip(image, 0, 1)")
    return np.clip(image, 0.0, 1.0).astype(np.float32)


def to_input_dtype(image: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Float32 [0, 1] back to uint8 (rounded) when the input was uint8; float32 otherwise."""
    if dtype == np.uint8:
        return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return np.ascontiguousarray(image, dtype=np.float32)
