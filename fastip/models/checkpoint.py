"""Loading and saving state dicts safely: safetensors or torch.load(weights_only=True), never plain pickle."""

from __future__ import annotations

import os
from pathlib import Path

from fastip.errors import BundleError, InputError


def load_state_dict(path: str | os.PathLike) -> dict:
    """Read a state dict from .safetensors or a .pt/.pth file without executing pickled code."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise InputError(f"weight file not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except (SafetensorError, OSError, ValueError) as exc:
            raise BundleError(f"cannot read weights {path}: {exc}") from exc
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
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

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        tensors = {k: v.detach().cpu().contiguous() for k, v in state.items()}
        if path.suffix == ".safetensors":
            from safetensors.torch import save_file

            save_file(tensors, str(tmp))
        else:
            torch.save(tensors, tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # safetensors creates its file 0600; weights are as shareable as any file
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


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
    missing, unexpected = module.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise BundleError(f"weights {path} do not fit {spec.name}: missing {list(missing)[:5]}, unexpected {list(unexpected)[:5]}")


def load_into(module, weights: str | os.PathLike | None, spec) -> None:
    """Load `weights` (a shipped weight name of `spec`, or a file path) into `module`, strictly."""
    if weights is None:
        return
    path, state = read_weights(weights, spec)
    fit_state(module, state, path, spec)
