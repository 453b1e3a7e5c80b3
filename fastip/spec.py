"""Typed descriptions of model inputs/outputs and pre/post-processing, shared by manifests and the registry."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from fastip.errors import BundleError

LAYOUTS = ("NCHW", "N...")  # N...: any rank after the batch (detector outputs)
DTYPES = ("float32", "float16", "uint8", "int8", "int32", "int64")
# Bounds on what a manifest may declare: generous for real models, small enough that no value
# (a padding multiple, an upscale factor, a fixed size) can make a pipeline allocate without limit.
MAX_DIM = 1 << 31
MAX_SIDE = 16384
MAX_SCALE_FACTOR = 16
MAX_SIZE_MULTIPLE = 1024


def name_keys(keys: Any, limit: int = 5) -> str:
    """A bounded list of key names for an error message: the first few, then how many more."""
    keys = sorted(map(str, keys))
    shown = ", ".join(repr(k[:40]) for k in keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


def is_int(value: Any) -> bool:
    """An int from JSON (bools are ints in Python, not in a manifest)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """A finite JSON number."""
    return (is_int(value) or isinstance(value, float)) and math.isfinite(value)


def _numbers(data: dict[str, Any], key: str, count: int) -> tuple[float, ...]:
    value = data[key]
    if not isinstance(value, (list, tuple)) or len(value) != count or not all(is_number(v) for v in value):
        raise BundleError(f"{key} must be a list of {count} numbers, not {value!r:.60}")
    return tuple(value)


def _bounded_int(data: dict[str, Any], key: str, low: int, high: int) -> int:
    value = data[key]
    if not is_int(value) or not low <= value <= high:
        raise BundleError(f"{key} must be an integer from {low} to {high}, not {value!r:.60}")
    return value


@dataclass(frozen=True)
class TensorSpec:
    """One model input or output: its name, layout, dtype and shape (strings are dynamic dims)."""

    name: str
    shape: tuple[int | str, ...]
    dtype: str = "float32"
    layout: str = "NCHW"

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def channels(self) -> int | None:
        """The fixed channel count, when the layout has one."""
        if self.layout == "NCHW" and self.rank == 4 and isinstance(self.shape[1], int):
            return self.shape[1]
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype, "layout": self.layout}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TensorSpec":
        if not isinstance(data, dict):
            raise BundleError(f"a tensor spec must be an object, not {type(data).__name__}")
        unknown = set(data) - {"name", "shape", "dtype", "layout"}
        if unknown:
            raise BundleError(f"unknown tensor spec keys {name_keys(unknown)}")
        name, shape = data.get("name"), data.get("shape")
        dtype, layout = data.get("dtype", "float32"), data.get("layout", "NCHW")
        if not isinstance(name, str) or not name or len(name) > 256:
            raise BundleError(f"tensor name must be a non-empty string, not {name!r:.60}")
        if not isinstance(shape, list) or not 1 <= len(shape) <= 8 or not all(
                (is_int(d) and 1 <= d <= MAX_DIM) or (isinstance(d, str) and 0 < len(d) <= 64 and d.isprintable())
                for d in shape):
            raise BundleError(f"shape of {name!r} must be 1 to 8 positive integers or dimension names, not {shape!r:.60}")
        if dtype not in DTYPES:
            raise BundleError(f"dtype of {name!r} must be one of {', '.join(DTYPES)}, not {str(dtype)[:40]!r}")
        if layout not in LAYOUTS:
            raise BundleError(f"layout of {name!r} must be one of {', '.join(LAYOUTS)}, not {str(layout)[:40]!r}")
        return cls(name=name, shape=tuple(shape), dtype=dtype, layout=layout)


@dataclass(frozen=True)
class ImageIO:
    """How a uint8 RGB image becomes the model's input tensor and how its output becomes an image.

    Pre-processing: x = (pixel / 255 * (hi - lo) + lo - mean) / std, channels in `colour_order`, NCHW.
    Post-processing is the inverse for image outputs; `scale_factor` is output size / input size.
    `input_size` fixes the input (letterboxed) for detectors; `size_multiple` pads dynamic sizes.
    """

    colour_order: str = "RGB"
    value_range: tuple[float, float] = (0.0, 1.0)
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    scale_factor: int = 1
    output: str = "image"  # "image" or "detections"
    input_size: tuple[int, int] | None = None  # (height, width) when the model takes one size only
    size_multiple: int = 1
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        for key in ("value_range", "mean", "std", "input_size"):
            if data[key] is not None:
                data[key] = list(data[key])
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ImageIO":
        if not isinstance(data, dict):
            raise BundleError(f"the pre/post-processing spec must be an object, not {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise BundleError(f"unknown pre/post-processing keys {name_keys(unknown)}")
        kwargs = dict(data)
        for key, count in (("value_range", 2), ("mean", 3), ("std", 3)):
            if key in kwargs:
                kwargs[key] = _numbers(data, key, count)
        if data.get("input_size") is not None:
            size = data["input_size"]
            if not isinstance(size, list) or len(size) != 2 or not all(is_int(v) and 1 <= v <= MAX_SIDE for v in size):
                raise BundleError(f"input_size must be [height, width] from 1 to {MAX_SIDE}, not {size!r:.60}")
            kwargs["input_size"] = tuple(size)
        for key, high in (("scale_factor", MAX_SCALE_FACTOR), ("size_multiple", MAX_SIZE_MULTIPLE)):
            if key in kwargs:
                kwargs[key] = _bounded_int(data, key, 1, high)
        for key in ("colour_order", "output"):
            if key in kwargs and not isinstance(kwargs[key], str):
                raise BundleError(f"{key} must be a string, not {kwargs[key]!r:.60}")
        if not isinstance(kwargs.get("extra", {}), dict):
            raise BundleError("the pre/post-processing 'extra' must be an object")
        io = cls(**kwargs)
        io.check()
        return io

    def check(self) -> None:
        """Raise BundleError when the values cannot describe an image model."""
        if self.colour_order not in ("RGB", "BGR"):
            raise BundleError(f"colour_order must be RGB or BGR, not {self.colour_order!r:.40}")
        if len(self.value_range) != 2 or not self.value_range[0] < self.value_range[1]:
            raise BundleError(f"value_range must be (low, high) with low < high, not {self.value_range!r:.80}")
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise BundleError("mean and std need three values each and std must be positive")
        if not is_int(self.scale_factor) or not 1 <= self.scale_factor <= MAX_SCALE_FACTOR:
            raise BundleError(f"scale_factor must be an integer from 1 to {MAX_SCALE_FACTOR}, not {self.scale_factor!r}")
        if self.output not in ("image", "detections"):
            raise BundleError(f"output must be 'image' or 'detections', not {self.output!r:.40}")
        if not is_int(self.size_multiple) or not 1 <= self.size_multiple <= MAX_SIZE_MULTIPLE:
            raise BundleError(f"size_multiple must be an integer from 1 to {MAX_SIZE_MULTIPLE}, not {self.size_multiple!r}")
