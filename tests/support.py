"""Helpers shared by the tests: backend probes, image crops and models with perturbed weights."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest


def has(module: str) -> bool:
    """Whether a backend library is installed (asked of the import system, not guessed)."""
    return importlib.util.find_spec(module) is not None


requires_torch = pytest.mark.skipif(not has("torch"), reason="needs torch")
requires_openvino = pytest.mark.skipif(not has("openvino"), reason="needs openvino")


def crop(image: np.ndarray, h: int, w: int, top: int = 0, left: int = 0) -> np.ndarray:
    return np.ascontiguousarray(image[top:top + h, left:left + w])


def perturbed_source(name: str, seed: int = 0, **resolve_kwargs):
    """A registry model with seeded random weights, so parity tests compare a non-trivial function."""
    import torch

    from fastip.export.source import deploy_form, resolve

    source = resolve(name, weights="none", **resolve_kwargs)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for key, tensor in source.module.state_dict().items():
            if not tensor.is_floating_point():
                continue
            noise = torch.randn(tensor.shape, generator=gen)
            if key.endswith("running_var"):
                tensor.copy_(0.5 + noise.abs())
            elif key.endswith("lam"):
                tensor.copy_(1.0 + 0.1 * noise)
            elif key.endswith("mu"):
                tensor.copy_(0.3 * noise)
            elif tensor.ndim >= 2:
                fan_in = tensor[0].numel()
                tensor.add_(noise * (0.05 / fan_in) ** 0.5)
            elif not key.endswith("mean") or "running" in key:
                tensor.add_(0.05 * noise)
    source.module.eval()
    source.deploy = deploy_form(source.module)
    return source


def rehash_manifest(root) -> None:
    """Rewrite a bundle's recorded sha256s after a test edited its files, so only the edit itself is tested."""
    import json

    from fastip.bundle import MANIFEST, sha256_file

    data = json.loads((root / MANIFEST).read_text())
    data["files"] = {name: sha256_file(root / name) for name in data["files"]}
    (root / MANIFEST).write_text(json.dumps(data))
