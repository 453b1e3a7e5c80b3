"""Activation memory of a model at an input size, estimated from ONNX shape inference, and the budget it must fit.

Shape inference runs at two probe sizes; each tensor's bytes follow a power law in the input's
pixel count (exponent 1 for convolutions, 2 for a pixel-by-pixel attention), fitted from the two
probes and extrapolated. A run needs about LIVE_TENSORS times the largest tensor: an executor
keeps a layer's input and output and a workspace. Tensors whose shape inference cannot fix (shapes
computed from data at run time) are not counted: the estimate is a lower bound for such graphs.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

from fastip.errors import InputError

LIVE_TENSORS = 3
BUDGET_ENV = "FASTIP_MEMORY_BUDGET"
_OUT_OF_MEMORY = ("bad_alloc", "failed to allocate", "out of memory", "cannot allocate memory")


@dataclass(frozen=True)
class ActivationModel:
    """Largest-tensor bytes of a model as a function of input height, width and batch."""

    probe_pixels: int
    tensors: tuple[tuple[float, float], ...]  # (bytes at the probe size, exponent in pixel count)

    def estimate(self, height: int, width: int, batch: int = 1) -> float:
        """Bytes a run at this size needs: LIVE_TENSORS times the largest activation."""
        ratio = height * width / self.probe_pixels
        largest = max((size * ratio ** exponent for size, exponent in self.tensors), default=0.0)
        return LIVE_TENSORS * largest * max(batch, 1)


def parse_bytes(text: str) -> int:
    """'8G', '512M', '1.5GB', '1000000' -> bytes."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kmgt]?)i?b?\s*", str(text), re.IGNORECASE)
    if not match:
        raise InputError(f"memory size {text!r} is not a number of bytes like 8G or 512M")
    return int(float(match.group(1)) * 1024 ** " kmgt".index(match.group(2).lower() or " "))


def available_memory() -> int | None:
    """Bytes the kernel says a new allocation can get without swapping (MemAvailable), if it says."""
    try:
        with open("/proc/meminfo") as info:
            for line in info:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def default_budget() -> int | None:
    """FASTIP_MEMORY_BUDGET when set, else the memory available now."""
    text = os.environ.get(BUDGET_ENV)
    return parse_bytes(text) if text else available_memory()


def activation_model(onnx_model: Path | bytes, size_multiple: int = 1) -> ActivationModel | None:
    """Fit the activation model of an ONNX graph (a path or its bytes) whose first input is NCHW; None when inference fails."""
    try:
        import onnx
        from onnx import helper, shape_inference

        if isinstance(onnx_model, bytes):
            model = onnx.load_model_from_string(onnx_model)
        else:
            model = onnx.load(str(onnx_model), load_external_data=False)
        dims = model.graph.input[0].type.tensor_type.shape.dim
        if len(dims) != 4:
            return None
        fixed = [d.dim_value if d.HasField("dim_value") else None for d in dims]
        side = -(-32 // size_multiple) * size_multiple
        probes = [side, 2 * side] if None in fixed[2:] else [None]
        sizes: list[dict[str, float]] = []
        for probe in probes:
            for axis, value in enumerate((1, fixed[1], probe, probe)):
                if fixed[axis] is None and value is not None:
                    dims[axis].Clear()
                    dims[axis].dim_value = value
            inferred = shape_inference.infer_shapes(model, data_prop=True)
            sizes.append(_tensor_bytes(inferred.graph, helper))
    except Exception:  # an estimate is a safeguard; a graph shape inference cannot read gets none
        return None
    pixels = (fixed[2] or probes[0]) * (fixed[3] or probes[0])
    if len(sizes) == 1:
        return ActivationModel(pixels, tuple((b, 0.0) for b in sizes[0].values()))
    tensors = []
    for name, small in sizes[0].items():
        large = sizes[1].get(name)
        exponent = math.log(large / small) / math.log(4) if large and small else 1.0
        tensors.append((small, min(max(exponent, 0.0), 3.0)))
    return ActivationModel(pixels, tuple(tensors))


def _tensor_bytes(graph, helper) -> dict[str, float]:
    import numpy as np

    found = {}
    for value in list(graph.value_info) + list(graph.output):
        kind = value.type.tensor_type
        shape = [d.dim_value if d.HasField("dim_value") else 0 for d in kind.shape.dim]
        if not kind.HasField("shape") or not shape or 0 in shape:
            continue
        try:
            itemsize = np.dtype(helper.tensor_dtype_to_np_dtype(kind.elem_type)).itemsize
        except (KeyError, TypeError, ValueError):
            itemsize = 4
        found[value.name] = float(math.prod(shape)) * itemsize
    return found


def check_budget(model: ActivationModel | None, shape: tuple[int, ...], budget: int | None) -> None:
    """Refuse an input whose estimated activations exceed `budget` bytes, before a runtime tries to allocate them."""
    if model is None or budget is None or len(shape) != 4:
        return
    need = model.estimate(shape[2], shape[3], shape[0])
    if need > budget:
        raise InputError(f"input {shape[3]}x{shape[2]} needs about {need / 2**30:.1f} GiB of activations, above the "
                         f"memory budget of {budget / 2**30:.1f} GiB; use a smaller image or `fastip run --tile 512`, "
                         f"or raise the budget ({BUDGET_ENV}=64G or memory_budget=)")


def out_of_memory(exc: BaseException, backend: str, shape: tuple[int, ...]) -> InputError | None:
    """A runtime's allocation failure as one InputError; None for other errors."""
    text = str(exc).lower()
    if not isinstance(exc, MemoryError) and not any(marker in text for marker in _OUT_OF_MEMORY):
        return None
    return InputError(f"{backend} ran out of memory on input shape {list(shape)}; use a smaller image, "
                      "`fastip run --tile 512`, or a machine with more memory")
