"""Triton model configurations (`config.pbtxt`) built from a bundle's manifest and rendered as protobuf text."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from fastip.errors import InputError
from fastip.spec import TensorSpec

# numpy dtype name -> Triton data type
DATA_TYPES = {"float32": "TYPE_FP32", "float16": "TYPE_FP16", "uint8": "TYPE_UINT8", "int8": "TYPE_INT8",
              "int32": "TYPE_INT32", "int64": "TYPE_INT64"}
NAME_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")
OV_HINTS = ("latency", "throughput")


def check_model_name(name: str) -> str:
    """Return `name` when Triton and KServe v2 URLs accept it as a model name, else raise InputError."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name) or ".." in name:
        raise InputError(f"model name {name!r} is not valid for Triton: use 1-64 letters, digits, '_', '-' or '.' "
                         "(not first, no '..'); pass another name with --name")
    return name


def sanitise_model_name(name: str) -> str:
    """A valid Triton model name derived from any string (other characters become '_')."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]", "_", name).replace("..", "_")
    cleaned = ("_" + cleaned) if not cleaned or cleaned[0] in ".-" else cleaned
    return check_model_name(cleaned[:64])


@dataclass(frozen=True)
class Tensor:
    """One input or output of a Triton model; `dims` exclude the batch axis when the model batches."""

    name: str
    data_type: str
    dims: tuple[int, ...]
    allow_ragged_batch: bool = False

    def render(self) -> str:
        dims = ", ".join(str(d) for d in self.dims)
        ragged = " allow_ragged_batch: true" if self.allow_ragged_batch else ""
        return f'{{ name: "{self.name}" data_type: {self.data_type} dims: [ {dims} ]{ragged} }}'


@dataclass(frozen=True)
class ServingOptions:
    """What every generated model shares: batching, instances, threads and the OpenVINO hint."""

    max_batch_size: int = 8
    queue_delay_us: int = 2000
    instances: int = 1
    threads: int | None = None
    ov_hint: str = "latency"

    def __post_init__(self) -> None:
        for what, value, low in (("max batch size", self.max_batch_size, 1), ("instances", self.instances, 1),
                                 ("queue delay", self.queue_delay_us, 0)):
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise InputError(f"{what} must be an integer >= {low}, got {value!r}")
        if self.threads is not None and (not isinstance(self.threads, int) or self.threads < 1):
            raise InputError(f"threads must be a positive integer, got {self.threads!r}")
        if self.ov_hint not in OV_HINTS:
            raise InputError(f"OpenVINO hint must be one of {', '.join(OV_HINTS)}, not {self.ov_hint!r}")

    @property
    def preferred_batch_sizes(self) -> tuple[int, ...]:
        """Powers of two from 2 up to max_batch_size, and max_batch_size itself."""
        sizes = {self.max_batch_size}
        size = 2
        while size < self.max_batch_size:
            sizes.add(size)
            size *= 2
        return tuple(sorted(s for s in sizes if s > 1))


@dataclass
class ModelConfig:
    """The fields of Triton's ModelConfig that fastip writes."""

    name: str
    backend: str | None  # "onnxruntime", "openvino", "python"; None with a platform
    inputs: list[Tensor]
    outputs: list[Tensor]
    max_batch_size: int = 0
    platform: str | None = None  # "tensorrt_plan"
    default_model_filename: str | None = None
    dynamic_batching: tuple[tuple[int, ...], int] | None = None  # (preferred sizes, max queue delay in µs)
    instances: int = 1
    instance_kind: str = "KIND_CPU"
    parameters: dict[str, str] = field(default_factory=dict)

    def render(self) -> str:
        """The `config.pbtxt` text (protobuf text format of inference.ModelConfig)."""
        lines = [f'name: "{self.name}"']
        if self.platform:
            lines.append(f'platform: "{self.platform}"')
        if self.backend:
            lines.append(f'backend: "{self.backend}"')
        if self.default_model_filename:
            lines.append(f'default_model_filename: "{self.default_model_filename}"')
        lines.append(f"max_batch_size: {self.max_batch_size}")
        for key, tensors in (("input", self.inputs), ("output", self.outputs)):
            lines.append(f"{key} [")
            lines.append(",\n".join(f"  {t.render()}" for t in tensors))
            lines.append("]")
        if self.dynamic_batching is not None:
            preferred, delay = self.dynamic_batching
            sizes = f"preferred_batch_size: [ {', '.join(map(str, preferred))} ] " if preferred else ""
            lines.append(f"dynamic_batching {{ {sizes}max_queue_delay_microseconds: {delay} }}")
        lines.append(f"instance_group [ {{ kind: {self.instance_kind} count: {self.instances} }} ]")
        for key, value in self.parameters.items():
            lines.append(f'parameters {{ key: "{key}" value: {{ string_value: "{value}" }} }}')
        return "\n".join(lines) + "\n"


def tensor_from_spec(spec: TensorSpec, *, batched: bool) -> Tensor:
    """A Triton tensor from a manifest TensorSpec: named dims become -1, the batch axis is dropped when batching."""
    if spec.dtype not in DATA_TYPES:
        raise InputError(f"tensor {spec.name!r} has dtype {spec.dtype}, which fastip cannot map to a Triton type")
    dims = tuple(d if isinstance(d, int) else -1 for d in spec.shape)
    return Tensor(spec.name, DATA_TYPES[spec.dtype], dims[1:] if batched else dims)


def batches(spec: TensorSpec) -> bool:
    """Whether a tensor's first axis is a free batch axis (named, like 'N')."""
    return spec.rank >= 1 and not isinstance(spec.shape[0], int)
