"""Operator outputs used as CAN targets, computed once and cached on disk."""

from __future__ import annotations

import hashlib
import inspect
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from fastip.errors import FastipError, InputError


def default_cache_dir() -> Path:
    """~/.cache/fastip/targets, or $XDG_CACHE_HOME/fastip/targets."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "fastip" / "targets"


def _implementation(operator: str) -> bytes:
    """The source of the operator's module, so that a changed implementation is not served from the cache."""
    try:
        from fastip import operators

        return inspect.getsource(inspect.getmodule(operators.get(operator).function)).encode()
    except (ImportError, OSError, TypeError, FastipError):  # not a registered operator, or source unavailable
        return b""


def target_key(image: np.ndarray, operator: str, params: dict[str, Any]) -> str:
    """sha256 of the image bytes and shape, the operator name, its implementation and its parameters."""
    h = hashlib.sha256()
    h.update(repr(image.shape).encode())
    h.update(np.ascontiguousarray(image).tobytes())
    h.update(operator.encode())
    h.update(_implementation(operator))
    h.update(json.dumps(params, sort_keys=True, default=str).encode())
    return h.hexdigest()[:32]


class TargetCache:
    """`cache.target(image, operator, params)`: the operator's output, from disk when computed before."""

    def __init__(self, directory: str | os.PathLike | None = None):
        self.dir = Path(directory) if directory is not None else default_cache_dir()
        self.hits = 0
        self.misses = 0

    def target(self, image: np.ndarray, operator: str, params: dict[str, Any] | None = None) -> np.ndarray:
        params = dict(params or {})
        path = self.dir / operator / f"{target_key(image, operator, params)}.npy"
        if path.is_file():
            try:
                out = np.load(path, allow_pickle=False)
                if out.shape == image.shape and out.dtype == np.uint8:
                    self.hits += 1
                    return out
            except (OSError, ValueError):
                pass  # a damaged entry is recomputed below
        out = apply_operator(operator, image, params)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
        try:
            with open(tmp, "wb") as f:
                np.save(f, out, allow_pickle=False)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        self.misses += 1
        return out


def apply_operator(operator: str, image: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    """fastip.operators.apply with a check that the result is an image of the input's shape."""
    from fastip import operators

    names = operators.list_operators()
    if operator not in names:
        raise InputError(f"unknown operator {operator!r}; choose from {', '.join(names)}")
    out = np.asarray(operators.apply(operator, image, **params))
    if out.shape != image.shape or out.dtype != np.uint8:
        raise InputError(f"operator {operator!r} returned {out.dtype} {out.shape} for a uint8 {image.shape} image")
    return out
