"""Where an exported model comes from: a registry name or a user's `module:callable`, and how to rebuild it."""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from typing import Any, Callable

from fastip.errors import BundleError, ExportError, InputError, require
from fastip.spec import ImageIO, TensorSpec

INPUT_NAME = "input"
NO_WEIGHTS = "none"


@dataclass
class ModelSource:
    """A built model ready to export: the module, its deploy form, identity and I/O."""

    name: str
    family: str
    io: ImageIO
    module: Any  # nn.Module as trained (its state dict goes into the bundle)
    deploy: Any  # nn.Module as exported (norms folded)
    input: TensorSpec
    record: dict[str, Any]  # how to rebuild: {"kind", "builder", "kwargs", "weights"}
    onnx_model: Any = None  # an imported ONNX (onnx.ModelProto, NCHW) in place of a module to export
    outputs: list[TensorSpec] | None = None  # known without a probe forward (imported ONNX)
    reference: Any = None  # what an imported ONNX is validated against: the original file on ONNX Runtime


def deploy_form(module):
    """The module to export: `fuse()`d when the model defines deploy-time re-parameterisation."""
    fuse = getattr(module, "fuse", None)
    return (fuse() if callable(fuse) else module).eval()


def parse_input_shape(text: str) -> tuple[int | str, ...]:
    """'1x3xHxW' -> (1, 3, 'H', 'W'); letters are dynamic dims."""
    parts = [p for p in re.split(r"[x,]", text.strip()) if p]
    if len(parts) != 4:
        raise InputError(f"--input-shape must be NxCxHxW like 1x3xHxW, got {text!r}")
    dims: list[int | str] = []
    for part in parts:
        if part.isdigit() and int(part) > 0:
            dims.append(int(part))
        elif part.isidentifier():
            dims.append(part)
        else:
            raise InputError(f"--input-shape dim {part!r} must be a positive integer or a name like H")
    if not isinstance(dims[1], int):
        raise InputError("--input-shape needs a fixed channel count, e.g. 1x3xHxW")
    return ("N", *dims[1:]) if dims[0] == 1 else tuple(dims)


def resolve(model: str, *, weights: str | None = None, norm: str | None = None, norm_stats: int | None = None,
            input_shape: str | None = None) -> ModelSource:
    """Build a registry model by name, or a user's `package.module:function` returning an nn.Module."""
    if ":" in model:
        if norm_stats is not None:
            raise InputError("--norm-stats applies to the registry's CAN models, not your own modules")
        return _resolve_import(model, weights=weights, input_shape=input_shape or "1x3xHxW")
    from fastip import models

    spec = models.get(model)
    if input_shape is not None:
        raise InputError(f"--input-shape is for your own modules (package.module:function); {model} declares its own input")
    kwargs: dict[str, Any] = {}
    if norm is not None:
        if spec.family != "can":
            raise InputError(f"--norm applies to CAN models only, not {model} ({spec.family})")
        kwargs["norm"] = norm
    if norm_stats is not None:
        if "norm_stats" not in _typed_options(spec.builder):
            raise InputError(f"--norm-stats applies to can24 and can32 with instance-norm weights, not {model}")
        kwargs["norm_stats"] = norm_stats
    weights = choose_weights(spec, weights)
    module = spec.build(weights=weights, **kwargs)
    if getattr(module, "norm_mode", None):  # a CAN takes its norm from its weights: record the one built
        kwargs["norm"] = module.norm_mode
    if getattr(module, "norm_stats", 1) != 1:  # instance norms folded per image from low-resolution statistics
        kwargs["norm_stats"] = module.norm_stats
    deploy = deploy_form(module)
    batch = getattr(deploy, "fixed_batch", None) or "N"  # a deploy form may hold one image's folded weights
    if spec.io.input_size:
        shape: tuple[int | str, ...] = (batch, 3, *spec.io.input_size)
    else:
        shape = (batch, 3, "H", "W")
    record = {"kind": "registry", "builder": spec.name, "kwargs": kwargs, "weights": weights, "untrained": weights is None}
    return ModelSource(spec.name, spec.family, spec.io, module, deploy, TensorSpec(INPUT_NAME, shape), record)


def shipped_weight_names(spec) -> list[str]:
    """Names `--weights` accepts for a registry model: its own shipped weights, or its base CAN's (fast mode)."""
    from fastip.models.fast import base_model

    names = set(spec.weights)
    base = base_model(spec.name)
    if base is not None:
        from fastip import models

        names |= set(models.get(base).weights)
    return sorted(names)


def choose_weights(spec, weights: str | None) -> str | None:
    """The weights to build with: the given ones, the model's default, or None only when `none` was asked for.

    A model is never exported untrained by omission: without a default, the error lists what there is."""
    if weights == NO_WEIGHTS:
        return None
    if weights is not None:
        return weights
    if spec.default_weights is not None:
        return spec.default_weights
    names = shipped_weight_names(spec)
    if names:
        raise InputError(f"{spec.name} needs --weights: one of {', '.join(names)} (one per operator; "
                         f"`fastip models -v` shows their metrics), a .pt/.safetensors file, or --weights none for untrained")
    raise InputError(f"{spec.name} ships no trained weights: give --weights FILE.safetensors (train one with fastip-train) "
                     f"or --weights none to export it untrained")


def _import_builder(target: str):
    module_name, _, attr = target.partition(":")
    try:
        mod = importlib.import_module(module_name)
    except ImportError as exc:
        raise InputError(f"cannot import {module_name!r} for {target!r}: {exc}; run from the folder that holds it, or add that folder to PYTHONPATH") from exc
    builder = getattr(mod, attr, None)
    if builder is None or not callable(builder):
        raise InputError(f"{module_name!r} has no callable {attr!r}")
    return builder


def _resolve_import(target: str, *, weights: str | None, input_shape: str) -> ModelSource:
    from torch import nn

    from fastip.models.checkpoint import load_state_dict, load_strict

    module = _import_builder(target)()
    if not isinstance(module, nn.Module):
        raise ExportError(f"{target} returned {type(module).__name__}, not a torch.nn.Module")
    if weights is not None:
        load_strict(module, load_state_dict(weights), weights, target)
    module.eval()
    shape = parse_input_shape(input_shape)
    name = target.rpartition(":")[2]
    record = {"kind": "import", "builder": target, "kwargs": {}, "weights": weights}
    return ModelSource(name, "custom", ImageIO(), module, deploy_form(module), TensorSpec(INPUT_NAME, shape), record)


def rebuild_module(bundle, *, builder: Callable[[], Any] | str | None = None, trust_code: bool = False):
    """Rebuild a bundle's PyTorch model (deploy form) from its verified weights; see `untrained_module`."""
    from fastip.models.checkpoint import load_strict, parse_state_dict

    if "torch" not in bundle.manifest.artifacts:
        raise InputError(f"bundle {bundle.root} carries no PyTorch weights; use backend ort or openvino")
    module = untrained_module(bundle, builder=builder, trust_code=trust_code)
    name = bundle.manifest.artifacts["torch"]
    load_strict(module, parse_state_dict(bundle.read(name), name), bundle.root / name, bundle.manifest.model)
    return deploy_form(module)


def untrained_module(bundle, *, builder: Callable[[], Any] | str | None = None, trust_code: bool = False):
    """A bundle's nn.Module before weights: a registry model with type-checked kwargs, or code the caller names.

    The manifest never names code to run: a bundle exported from `package.module:function` is rebuilt only
    from `builder` (a callable or 'package.module:function' given by the caller) or, with `trust_code=True`,
    from the function its manifest names.
    """
    nn = require("torch", "torch", "rebuilding a bundle's PyTorch model").nn
    record = bundle.manifest.source
    kind = record.get("kind", "registry")
    if builder is not None:
        if not (callable(builder) or isinstance(builder, str)):
            raise InputError(f"builder must be a callable or 'package.module:function', not {type(builder).__name__}")
        module = (_import_builder(builder) if isinstance(builder, str) else builder)()
    elif kind == "registry":
        spec, kwargs = registry_record(record)
        try:
            module = spec.build(weights=None, **kwargs)
        except (TypeError, ValueError) as exc:  # values of the right type the builder still refuses
            raise BundleError(f"malformed manifest: source kwargs {kwargs} do not build {spec.name}: {exc}") from exc
    elif kind == "import" and trust_code:
        target = record.get("builder")
        if not isinstance(target, str) or ":" not in target:
            raise BundleError(f"malformed manifest: source builder {target!r} is not 'package.module:function'")
        module = _import_builder(target)()
    elif kind == "import":
        raise BundleError(f"bundle {bundle.root} was exported from code ({record.get('builder')!r}); fastip does not "
                          "import code a manifest names. Pass builder= (your own function), or trust_code=True "
                          "(--trust-code) if you trust who made this bundle; or run it on ort or openvino")
    else:
        raise BundleError(f"malformed manifest: source kind {kind!r} is not 'registry' or 'import'")
    if not isinstance(module, nn.Module):
        raise InputError(f"the builder returned {type(module).__name__}, not a torch.nn.Module")
    return module


# Option types a manifest may give a registry builder: JSON scalars only.
_JSON_SCALARS = (str, int, float, bool, type(None))


def registry_record(record: dict[str, Any]):
    """(ModelSpec, kwargs) of a 'registry' source record, with every kwarg a typed option of that builder."""
    from fastip import models

    name, kwargs = record.get("builder"), record.get("kwargs") or {}
    if not isinstance(name, str) or not name.isidentifier():
        raise BundleError(f"malformed manifest: source builder {name!r} is not a registered model name")
    try:
        spec = models.get(name)
    except InputError as exc:
        raise BundleError(f"bundle names model {name!r}, which is not registered in this fastip: {exc}") from exc
    if not isinstance(kwargs, dict):
        raise BundleError(f"malformed manifest: source kwargs must be an object, not {type(kwargs).__name__}")
    options = _typed_options(spec.builder)
    for key, value in kwargs.items():
        if key not in options:
            raise BundleError(f"malformed manifest: {name} has no option {key!r} (options: {', '.join(options) or 'none'})")
        allowed = options[key]
        if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
            want = " or ".join("null" if t is type(None) else t.__name__ for t in allowed)
            raise BundleError(f"malformed manifest: {name} option {key!r} must be {want}, not {value!r:.80}")
    return spec, dict(kwargs)


def _typed_options(builder: Callable) -> dict[str, tuple[type, ...]]:
    """Keyword-only options of a builder (weights excepted) whose annotations are JSON scalar types."""
    import inspect
    import typing

    try:
        hints = typing.get_type_hints(builder)
    except Exception:  # an annotation that does not evaluate: such a builder takes no options from a manifest
        return {}
    options = {}
    for name, param in inspect.signature(builder).parameters.items():
        if param.kind is not param.KEYWORD_ONLY or name == "weights" or name not in hints:
            continue
        types = typing.get_args(hints[name]) or (hints[name],)
        if all(t in _JSON_SCALARS for t in types):
            options[name] = tuple(types) + ((int,) if float in types and int not in types else ())
    return options
