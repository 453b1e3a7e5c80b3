"""The shipping rule for CAN weights (fastip.train.evaluate.failures), applied to index.json: a weight below its
operator's bar or no better than returning the input unchanged does not ship; it is withdrawn (file removed) and
its index entry says why."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

from fastip.errors import InputError
from fastip.models.registry import WEIGHTS_DIR
from fastip.train.data import PHOTOS
from fastip.train.evaluate import Evaluation, evaluate_weight, failures


def is_operator_can(entry: dict) -> bool:
    """A CAN weight (full resolution or fast mode) trained against a reference operator, shipped as FP32.

    Quantization-aware weights (params.qat) are not: fastip-export refuses them as FP32 weights, and each INT8
    export's gate decides whether their artifact ships.
    """
    params = entry.get("params", {})
    return entry["model"].startswith(("can24", "can32")) and "operator" in params and not params.get("qat")


def evaluation_record(evaluations: list[Evaluation], val: str | os.PathLike = PHOTOS) -> dict[str, Any]:
    """The index.json form of a weight's held-out measurements, by size."""
    on = ("held-out photographs (grace_hopper, china and the photos split's held-out ones)" if str(val) == PHOTOS
          else f"held-out images of {val}")
    return {"on": on, **{f"{e.size}px": e.summary() for e in evaluations}}


def measure_entry(entry: dict, weights: str | os.PathLike, *, val: str = PHOTOS,
                  cache_dir: str | os.PathLike | None = None,
                  progress: Callable[[str], None] = lambda _: None) -> list[Evaluation]:
    """Held-out measurements of `weights` (a file) for the index entry's model and operator."""
    params = entry["params"]
    return evaluate_weight(entry["model"], weights, params["operator"], params=params["operator_params"],
                           data=val, cache_dir=cache_dir, progress=progress)


def check_shippable(entry: dict, weights: str | os.PathLike, *, val: str = PHOTOS,
                    cache_dir: str | os.PathLike | None = None,
                    progress: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """The evaluation record of a CAN weight that passes the rule; raises InputError saying why one does not."""
    evaluations = measure_entry(entry, weights, val=val, cache_dir=cache_dir, progress=progress)
    reasons = failures(evaluations, entry["model"])
    if reasons:
        raise InputError(f"{entry['model']}/{entry['name']} does not ship: {'; '.join(reasons)}")
    return evaluation_record(evaluations, val)


def review(model: str, name: str, *, weights_dir: str | os.PathLike = WEIGHTS_DIR, val: str = PHOTOS,
           cache_dir: str | os.PathLike | None = None, progress: Callable[[str], None] = lambda _: None
           ) -> tuple[dict, list[Evaluation]]:
    """Measure a shipped CAN weight under the rule and record it in index.json; withdraw it when it fails.

    Withdrawing deletes the weight file and keeps the entry with `withdrawn` (the measured reasons), so that
    `fastip models -v` and an export asking for it say why.
    """
    from fastip.train.publish import read_index, write_index

    weights_dir = Path(weights_dir)
    index = read_index(weights_dir)
    entry = next((e for e in index if (e["model"], e["name"]) == (model, name) and not e.get("withdrawn")), None)
    if entry is None:
        raise InputError(f"no shipped weight {model}/{name} in {weights_dir / 'index.json'}")
    if not is_operator_can(entry):
        raise InputError(f"{model}/{name} is not a CAN weight trained against an operator; the rule measures those")
    evaluations = measure_entry(entry, weights_dir / entry["file"], val=val, cache_dir=cache_dir, progress=progress)
    return record(entry, evaluations, weights_dir=weights_dir, val=val), evaluations


def record(entry: dict, evaluations: list[Evaluation], *, weights_dir: str | os.PathLike = WEIGHTS_DIR,
           val: str | os.PathLike = PHOTOS) -> dict:
    """Write a shipped weight's measurements into its index entry; withdraw it (delete its file) when they fail the rule."""
    from fastip.train.publish import read_index, write_index

    weights_dir = Path(weights_dir)
    entry = {**entry, "evaluation": evaluation_record(evaluations, val)}
    reasons = failures(evaluations, entry["model"])
    if reasons:
        entry = {**{k: v for k, v in entry.items() if k not in ("file", "default")}, "withdrawn": "; ".join(reasons)}
    write_index(read_index(weights_dir), weights_dir, upsert=[entry])  # read again: a measurement takes minutes
    if reasons:
        (weights_dir / f"{entry['model']}_{entry['name']}.safetensors").unlink(missing_ok=True)
    return entry
