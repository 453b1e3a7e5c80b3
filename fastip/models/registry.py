"""The model registry: every buildable model declared once, with its I/O spec and weights."""

from __future__ import annotations

import dataclasses
import fnmatch
import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from fastip.errors import FastipError, InputError
from fastip.spec import ImageIO

FAMILIES = ("can", "sr", "face")
WEIGHTS_DIR = Path(__file__).parent / "weights"


@dataclass(frozen=True)
class Weights:
    """A trained weight file shipped with fastip, with the metrics it reached on a named image set."""

    name: str
    file: str  # relative to fastip/models/weights/, or absolute
    description: str = ""
    metrics: dict[str, float] = field(default_factory=dict)  # e.g. {"psnr": 33.1, "ssim": 0.95}
    evaluated_on: str = ""  # the held-out image set the metrics were measured on
    params: dict[str, Any] = field(default_factory=dict)  # operator parameters, training steps, ...
    evaluation: dict[str, Any] = field(default_factory=dict)  # held-out photographs per size (fastip.train.evaluate)
    withdrawn: str = ""  # why the weights no longer ship (their file is gone); empty for shipped weights

    @property
    def path(self) -> Path:
        path = Path(self.file)
        return path if path.is_absolute() else WEIGHTS_DIR / path


@dataclass(frozen=True)
class ModelSpec:
    """What the registry knows of a model: name, family, builder, I/O and its weights."""

    name: str
    family: str
    builder: Callable[..., Any]
    io: ImageIO
    description: str = ""
    weights: dict[str, Weights] = field(default_factory=dict)
    default_weights: str | None = None
    withdrawn: dict[str, Weights] = field(default_factory=dict)  # weights that failed the shipping rule, by name

    def build(self, *, weights: str | None = None, **kwargs: Any):
        """Build the nn.Module, loading named or file weights when given."""
        return self.builder(weights=weights, **kwargs)

    def find_weights(self, name: str) -> Weights:
        if name in self.weights:
            return self.weights[name]
        self.refuse_withdrawn(name)
        choices = ", ".join(self.weights) or "none shipped"
        raise InputError(f"model {self.name!r} has no weights named {name!r}; shipped: {choices}; or give a .pt/.safetensors path")

    def refuse_withdrawn(self, name: str) -> None:
        """Raise, saying why and what to use instead, when weights `name` were withdrawn."""
        if name not in self.withdrawn:
            return
        operator = self.withdrawn[name].params.get("operator")
        others = [f"{m} --weights {w.name}" for m, spec in sorted(_REGISTRY.items()) for w in spec.weights.values()
                  if operator and w.params.get("operator") == operator]
        instead = (" or ".join(others) if others
                   else f"the operator itself (`fastip operators apply {operator} IMAGE -o OUT`)")
        raise InputError(f"{self.name} weights {name!r} were withdrawn: {self.withdrawn[name].withdrawn}; use {instead}")


_REGISTRY: dict[str, ModelSpec] = {}
_FAMILY_MODULES = ("fastip.models.can", "fastip.models.sr", "fastip.models.face", "fastip.models.fast")
WEIGHTS_INDEX = WEIGHTS_DIR / "index.json"
_loaded = False


def register_model(*, family: str, io: ImageIO, description: str = "", weights: tuple[Weights, ...] = (),
                   default_weights: str | None = None) -> Callable:
    """Decorator registering a keyword-only builder under its function name."""
    if family not in FAMILIES:
        raise FastipError(f"unknown family {family!r}; choose from {', '.join(FAMILIES)}")

    def wrap(builder: Callable) -> Callable:
        name = builder.__name__
        if name in _REGISTRY:
            raise FastipError(f"model name {name!r} is registered twice")
        io.check()
        _REGISTRY[name] = ModelSpec(name=name, family=family, builder=builder, io=io, description=description,
                                    weights={w.name: w for w in weights}, default_weights=default_weights)
        return builder

    return wrap


def add_weights(model: str, weights: Weights) -> None:
    """Attach a shipped weight file to a registered model (names must be unique per model)."""
    spec = _REGISTRY[model]
    if weights.name in spec.weights:
        raise FastipError(f"model {model!r} already has weights named {weights.name!r}")
    spec.weights[weights.name] = weights


def _load_families() -> None:
    global _loaded
    if _loaded:
        return
    for module in _FAMILY_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name == module:  # a family not written yet
                continue
            if exc.name == "torch":
                raise FastipError("the model zoo needs PyTorch: pip install torch==2.13.0") from exc
            raise
    _loaded = True
    _load_weights_index()


def _load_weights_index() -> None:
    """Attach the shipped weights listed in weights/index.json to their models."""
    import json

    if not WEIGHTS_INDEX.is_file():
        return
    for entry in json.loads(WEIGHTS_INDEX.read_text(encoding="utf-8")):
        model = entry.pop("model")
        default = entry.pop("default", False)  # the weights an export without --weights takes
        if model in _REGISTRY and entry.get("withdrawn"):
            _REGISTRY[model].withdrawn[entry["name"]] = Weights(**{"file": "", **entry})  # its file is gone
        elif model in _REGISTRY and entry["name"] not in _REGISTRY[model].weights:
            add_weights(model, Weights(**entry))
            if default:
                _REGISTRY[model] = dataclasses.replace(_REGISTRY[model], default_weights=entry["name"])


def get(name: str) -> ModelSpec:
    """The ModelSpec registered under `name`."""
    _load_families()
    if name not in _REGISTRY:
        close = fnmatch.filter(_REGISTRY, f"*{name[:4]}*") if name else []
        hint = f" (did you mean {', '.join(sorted(close))}?)" if close else ""
        raise InputError(f"unknown model {name!r}{hint}; `fastip models` lists {len(_REGISTRY)} models")
    return _REGISTRY[name]


def list_models(pattern: str = "*", *, family: str | None = None) -> list[str]:
    """Registered model names matching a glob pattern, optionally of one family."""
    _load_families()
    return sorted(n for n, s in _REGISTRY.items()
                  if fnmatch.fnmatch(n, pattern) and (family is None or s.family == family))
