"""Typed descriptions of model inputs/outputs and pre/post-processing, shared by manifests and the registry."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from fastip.errors import BundleError

LAYOUTS = ("NCHW",)
DTYPES = ("float32", "float16", "uint8", "int8", "int32", "int64")


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
        return cls(name=str(data["name"]), shape=tuple(data["shape"]), dtype=str(data["dtype"]), layout=str(data["layout"]))


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
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise BundleError(f"unknown pre/post-processing keys {sorted(unknown)}")
        kwargs = dict(data)
        for key in ("value_range", "mean", "std", "input_size"):
            if kwargs.get(key) is not None:
                kwargs[key] = tuple(kwargs[key])
        io = cls(**kwargs)
        io.check()
        return io

    def check(self) -> None:
        """Raise BundleError when the values cannot describe an image model."""
        if self.colour_order not in ("RGB", "BGR"):
            raise BundleError(f"colour_order must be RGB or BGR, not {self.colour_order!r}")
        if len(self.value_range) != 2 or not self.value_range[0] < self.value_range[1]:
            raise BundleError(f"value_range must be (low, high) with low < high, not {self.value_range}")
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise BundleError("mean and std need three values each and std must be positive")
        if not isinstance(self.scale_factor, int) or self.scale_factor < 1:
            raise BundleError(f"scale_factor must be a positive integer, not {self.scale_factor!r}")
        if self.output not in ("image", "detections"):
            raise BundleError(f"output must be 'image' or 'detections', not {self.output!r}")
        if self.size_multiple < 1:
            raise BundleError(f"size_multiple must be >= 1, not {self.size_multiple}")
