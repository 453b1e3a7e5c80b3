"""Ship a trained weight file: safetensors copy in fastip/models/weights/ and an entry in its index.json."""

from __future__ import annotations

import json
import os
from pathlib import Path

from fastip.errors import InputError
from fastip.models.checkpoint import load_state_dict, save_state_dict
from fastip.models.registry import WEIGHTS_DIR


def _check_finished(result: dict) -> None:
    """Refuse weights that a later, unfinished run has overwritten since the result was written."""
    import torch

    from fastip.train.loop import state_path

    state = torch.load(state_path(Path(result["out"])), map_location="cpu", weights_only=True)
    if int(state["step"]) != int(result["steps"]):
        raise InputError(f"{result['out']} holds step {state['step']}, not the finished run's step {result['steps']}; "
                         "finish that run (--resume) before publishing")


def read_index(weights_dir: str | os.PathLike = WEIGHTS_DIR) -> list[dict]:
    """The entries of `weights_dir`/index.json ([] when there is none yet)."""
    path = Path(weights_dir) / "index.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else []


def write_index(index: list[dict], weights_dir: str | os.PathLike = WEIGHTS_DIR, *, upsert: list[dict] = ()) -> None:
    """Write index.json atomically, `upsert` entries replacing those of the same (model, name), sorted by them."""
    keys = {(e["model"], e["name"]) for e in upsert}
    index = sorted([e for e in index if (e["model"], e["name"]) not in keys] + list(upsert),
                   key=lambda e: (e["model"], e["name"]))
    path = Path(weights_dir) / "index.json"
    tmp = path.with_name(f".index.json.tmp{os.getpid()}")
    try:
        tmp.write_text(json.dumps(index, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def is_full_resolution_can(entry: dict) -> bool:
    """A CAN24/CAN32 weight trained against an operator (as opposed to a fast variant or an SR weight)."""
    return entry["model"] in ("can24", "can32") and "operator" in entry["params"]


def _refuse_regression(index: list[dict], result: dict, name: str) -> None:
    evaluated_on = ", ".join(result["evaluated_on"])
    for entry in index:
        if ((entry["model"], entry["name"]) != (result["model"], name) or entry.get("evaluated_on") != evaluated_on
                or entry.get("withdrawn")):
            continue
        shipped, new = entry["metrics"].get("psnr"), result["metrics"].get("psnr")
        if shipped is not None and new is not None and round(new, 4) < shipped:  # the index keeps 4 decimals
            raise InputError(f"{result['model']}/{name} keeps the shipped weight: {shipped:.2f} dB on {evaluated_on} "
                             f"against {new:.2f} dB for {result['out']}; publish with replace=True to ship it anyway")


def publish(result_json: str | os.PathLike, name: str, description: str, *,
            weights_dir: str | os.PathLike = WEIGHTS_DIR, replace: bool = False,
            val: str = "photos", cache_dir: str | os.PathLike | None = None) -> dict:
    """Copy the weights a training run wrote (its <stem>.json result beside them) and list them in index.json.

    A shipped weight of the same name that measured a higher held-out PSNR on the same images is kept
    unless `replace`. A CAN weight that fails the shipping rule (fastip.train.shipping) is refused.
    """
    from fastip.train.shipping import check_shippable, is_operator_can

    result_json = Path(result_json)
    if not result_json.is_file():
        raise InputError(f"training result not found: {result_json}")
    result = json.loads(result_json.read_text(encoding="utf-8"))
    _check_finished(result)
    weights_dir = Path(weights_dir)
    index = read_index(weights_dir)
    if not replace:
        _refuse_regression(index, result, name)
    file = f"{result['model']}_{name}.safetensors"
    evaluation = {}
    if is_operator_can(result):
        evaluation = check_shippable({**result, "name": name}, result["out"], val=val, cache_dir=cache_dir)
    save_state_dict(load_state_dict(result["out"]), weights_dir / file)
    metrics = {k: round(v, 4) for k, v in {**result["metrics"], **result.get("baseline", {})}.items()}
    params = {**result["params"], "steps": result["steps"], "train_seconds": result["seconds"]}
    entry = {"model": result["model"], "name": name, "file": file, "description": description, "metrics": metrics,
             "evaluated_on": ", ".join(result["evaluated_on"]), "params": params}
    if evaluation:
        entry["evaluation"] = evaluation
    if any(e.get("default") for e in index if (e["model"], e["name"]) == (entry["model"], name)):
        entry["default"] = True  # replacing a model's default weights keeps them its default
    write_index(index, weights_dir, upsert=[entry])
    return entry


def remeasure(model: str, name: str, *, weights_dir: str | os.PathLike = WEIGHTS_DIR, val: str | os.PathLike = "samples",
              cache_dir: str | os.PathLike | None = None) -> dict:
    """Measure a shipped CAN weight again on its held-out split (as training measured it) and update index.json.

    Used when the metric definitions change; returns the updated entry.
    """
    from fastip.train.can import measure_can

    weights_dir = Path(weights_dir)
    index = read_index(weights_dir)
    matches = [e for e in index if (e["model"], e["name"]) == (model, name)]
    if not matches:
        raise InputError(f"no shipped weight {model}/{name} in {weights_dir / 'index.json'}")
    entry = matches[0]
    params = entry["params"]
    if not is_full_resolution_can(entry):
        raise InputError(f"{model}/{name} is not a full-resolution CAN weight; re-measure it with the script that trained it")
    metrics = measure_can(model, weights_dir / entry["file"], params["operator"], params=params["operator_params"],
                          max_side=params["max_side"], val=val, cache_dir=cache_dir)
    entry["metrics"] = {**entry["metrics"], **{k: round(v, 4) for k, v in metrics.items()}}
    write_index(index, weights_dir)
    return entry
