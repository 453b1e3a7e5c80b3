"""Loading and saving state dicts safely: safetensors or torch.load(weights_only=True), never plain pickle."""

from __future__ import annotations

import os
from pathlib import Path

from fastip.errors import BundleError, InputError


def load_state_dict(path: str | os.PathLike) -> dict:
    """Read a state dict from .safetensors or a .pt/.pth file without executing pickled code."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"weight file not found: {path}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BundleError(f"cannot read weights {path}: {exc}") from exc
    return parse_state_dict(data, path)


def parse_state_dict(blob: bytes, path: str | os.PathLike) -> dict:
    """A state dict from the bytes of a weight file (already read and checked); `path` names it and its format."""
    import io

    import torch

    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load

        try:
            return load(blob)
        except (SafetensorError, OSError, ValueError) as exc:
            raise BundleError(f"cannot read weights {path}: {exc}") from exc
    try:
        data = torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, EOFError, ... for bad files
        raise BundleError(f"cannot read weights {path} as a safe checkpoint (weights_only=True): {exc}") from exc
    if isinstance(data, dict) and "state_dict" in data and isinstance(data["state_dict"], dict):
        data = data["state_dict"]
    if not isinstance(data, dict) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise BundleError(f"{path} holds no state dict of tensors")
    return data


def save_state_dict(state: dict, path: str | os.PathLike) -> Path:
    """Write a state dict atomically (.safetensors or .pt by suffix)."""
    import torch

    from fastip.atomic import write_atomic

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in state.items()}
    if path.suffix == ".safetensors":
        from safetensors.torch import save

        return write_atomic(path, save(tensors))
    return write_atomic(path, lambda handle: torch.save(tensors, handle))


def read_weights(weights: str | os.PathLike, spec) -> tuple[Path, dict]:
    """The file and state dict of `weights`: a shipped weight name of `spec`, or a file path."""
    weights = str(weights)
    path = Path(weights)
    if weights in spec.weights:
        path = spec.weights[weights].path
    elif not path.suffix:
        spec.find_weights(weights)  # raises with the list of shipped names
    return path, load_state_dict(path)


def fit_state(module, state: dict, path: Path, spec) -> None:
    """Load `state` (read from `path`) into `module`, strictly."""
    load_strict(module, state, path, spec.name)


def load_strict(module, state: dict, path: str | os.PathLike, model: str) -> None:
    """Load `state` into `module`: same names, same shapes, or one BundleError naming the model and a weight."""
    own = module.state_dict()
    wrong = [(k, tuple(v.shape), tuple(own[k].shape)) for k, v in state.items()
             if k in own and hasattr(v, "shape") and tuple(v.shape) != tuple(own[k].shape)]
    if wrong:
        key, got, want = wrong[0]
        more = f" (and {len(wrong) - 1} more)" if len(wrong) > 1 else ""
        raise BundleError(f"weights {path} do not fit {model}: {key} has shape {list(got)} in the file, "
                          f"{list(want)} in the model{more}; use weights trained for {model}")
    missing, unexpected = module.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise BundleError(f"weights {path} do not fit {model}: missing {list(missing)[:5]}, unexpected {list(unexpected)[:5]}")


def load_into(module, weights: str | os.PathLike | None, spec) -> None:
    """Load `weights` (a shipped weight name of `spec`, or a file path) into `module`, strictly."""
    if weights is None:
        return
    path, state = read_weights(weights, spec)
    fit_state(module, state, path, spec)
