"""The recipe of a shipped weight: the fastip-train arguments that repeat it, read from its index entry.

Every shipped weight records what made it (fastip.train.publish writes the run's parameters into index.json);
`fastip-train MODEL --recipe NAME -o FILE` turns that record back into arguments, so any shipped weight can be
trained again by name. Flags given beside --recipe override its values.
"""

from __future__ import annotations

from typing import Any

from fastip.errors import InputError

# fastip-train's defaults for the arguments a recipe may set (None: decided later, per family)
DEFAULTS: dict[str, Any] = {
    "operator": None, "param": [], "data": None, "norm": "none", "max_side": None, "variants": 0, "windows": 0,
    "synthetic": 0, "loss": "mse", "context": False, "steps": None, "batch": None, "crop": None, "lr": None,
    "lr_final": None, "seed": 0, "qat": False, "from_weights": None, "qat_candidate": "u8-per-channel",
    "qat_float_layers": "", "distill": 0.9, "recalibrate_every": 250,
}
_RUN = ("steps", "batch", "lr", "lr_final", "seed", "max_side")


def _data_set(model: str, name: str, params: dict[str, Any]) -> str:
    from fastip.train.data import NAMED_SETS, TRAIN_SAMPLES

    data = params.get("data_set", params.get("data"))
    if data is None or data == list(TRAIN_SAMPLES):  # recorded before the set's name was: the bundled samples
        return "samples"
    if isinstance(data, str) and data in NAMED_SETS:
        return data
    raise InputError(f"{model} weights {name!r} were trained on a folder of {len(data)} images, not a named set; "
                     f"their recipe cannot be repeated by name (its parameters are in `fastip models -v`)")


def recipe(model: str, name: str) -> dict[str, Any]:
    """fastip-train's arguments (argparse dests) that repeat weight `name` of `model`."""
    from fastip import models

    spec = models.get(model)
    if name not in spec.weights:
        spec.refuse_withdrawn(name)
        raise InputError(f"--recipe names a shipped weight of {model}: {', '.join(spec.weights) or 'none shipped'}")
    p = spec.weights[name].params
    if spec.family == "sr":
        out = {k: p[k] for k in _RUN if k in p}
        return {**out, "crop": p.get("crop_lr"), "data": _data_set(model, name, p)}
    if spec.family != "can" or "operator" not in p:
        raise InputError(f"{model} weights {name!r} were not trained by fastip-train; there is no recipe to repeat")
    out = {k: p[k] for k in (*_RUN, "norm", "variants", "windows", "synthetic", "loss", "context") if k in p}
    out.update(operator=p["operator"], param=sorted(p.get("operator_params", {}).items()), data=_data_set(model, name, p))
    crop = p.get("crop")
    if isinstance(crop, int) and crop < p.get("max_side", 0):
        out["crop"] = crop
    qat = p.get("qat")
    if qat:
        out.update(qat=True, from_weights=qat["from_weights"], qat_candidate=qat["candidate"],
                   qat_float_layers=",".join(qat.get("float_layers", [])), distill=qat["distill"],
                   recalibrate_every=qat["recalibrate_every"])
        out.pop("norm", None)  # the QAT graph's, not a choice
    return out


def command(model: str, values: dict[str, Any]) -> str:
    """The fastip-train command line of `values` (argparse dests), for the record and the progress log."""
    parts = [f"fastip-train {model}"]
    for key, value in values.items():
        if key == "param":
            parts += [f"--param {k}={v}" for k, v in value]
        elif value is True:
            parts.append(f"--{key.replace('_', '-')}")
        elif value not in (None, False, "", DEFAULTS.get(key)):
            parts.append(f"--{key.replace('_', '-')} {value:g}" if isinstance(value, float) else f"--{key.replace('_', '-')} {value}")
    return " ".join(parts)


def resolve(model: str, given: dict[str, Any], name: str | None) -> dict[str, Any]:
    """The arguments to train with: the flags given, else the recipe of `name` (if any), else DEFAULTS."""
    base = recipe(model, name) if name else {}
    out = {}
    for key, default in DEFAULTS.items():
        value = given.get(key)
        out[key] = value if value not in (None, []) else base.get(key, default)
    return out
