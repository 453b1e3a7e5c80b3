"""Bundles -> a Triton model repository: one model per backend artifact plus an image-level Python model.

The repository is built in a temporary sibling directory and renamed into place, so a failure leaves nothing.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from fastip.bundle import MANIFEST, Bundle
from fastip.errors import BundleError, InputError
from fastip.serving.triton.config import (ModelConfig, ServingOptions, Tensor, batches, check_model_name,
                                          sanitise_model_name, tensor_from_spec)
from fastip.serving.triton.python_model import DETECTION_OUTPUTS, IMAGE_INPUT, IMAGE_OUTPUT

# manifest artifact role -> (model name suffix, Triton backend kind, file name in the version directory)
ARTIFACT_MODELS = {
    "onnx": ("onnx", "onnxruntime", "model.onnx"),
    "onnx_fp16": ("onnx_fp16", "onnxruntime", "model.onnx"),
    "onnx_int8": ("onnx_int8", "onnxruntime", "model.onnx"),
    "openvino": ("openvino", "openvino", "model.xml"),
    "openvino_int8": ("openvino_int8", "openvino", "model.xml"),
    "engine": ("trt", "tensorrt", "model.plan"),
}
KINDS = ("python", "onnxruntime", "openvino", "tensorrt")
# what a kind needs from a bundle, and how to get it
_NEEDS = {"onnxruntime": ("onnx", "ONNX model", "fastip-export ... --target onnx"),
          "openvino": ("openvino", "OpenVINO IR", "fastip-export ... --target openvino"),
          "tensorrt": ("engine", "TensorRT engine", "fastip-export ... --target trt on the GPU machine")}
PIPELINE_BACKENDS = ("ort", "openvino", "auto")  # auto: the fastest measured on the serving machine at load
MODEL_PY = '"""Triton Python-backend entry: fastip\'s pipeline over the bundle in ./bundle."""\n\n' \
           "from fastip.serving.triton.python_model import TritonPythonModel  # noqa: F401\n"


@dataclass(frozen=True)
class PlannedModel:
    """One model directory to write: its config and the verified bytes that go into version 1 (bytes, name)."""

    config: ModelConfig
    files: tuple[tuple[bytes, str], ...]
    bundle: Bundle | None = None  # the Python model carries the whole bundle


def write_repository(bundles: Sequence[str | os.PathLike | Bundle], out: str | os.PathLike, *,
                     names: Sequence[str] | None = None, kinds: Sequence[str] | None = None,
                     pipeline_backend: str = "ort", precision: str = "fp32",
                     options: ServingOptions = ServingOptions()) -> list[ModelConfig]:
    """Write a Triton model repository for `bundles` at `out` (which must not exist); returns the model configs.

    `kinds` picks model kinds (python, onnxruntime, openvino, tensorrt); by default the Python model plus one
    model per artifact each bundle has. A kind named explicitly that a bundle cannot serve is an error.
    """
    target = Path(out)
    if target.exists() or target.is_symlink():
        raise InputError(f"{target} exists; choose a new directory for the model repository")
    loaded = [b if isinstance(b, Bundle) else Bundle.load(b) for b in bundles]
    if not loaded:
        raise InputError("no bundles given; pass one or more bundle directories")
    if names is not None and len(names) != len(loaded):
        raise InputError(f"got {len(names)} names for {len(loaded)} bundles; give one --name per bundle or none")
    for kind in kinds or ():
        if kind not in KINDS:
            raise InputError(f"unknown model kind {kind!r}; choose from {', '.join(KINDS)}")
    if pipeline_backend not in PIPELINE_BACKENDS:
        raise InputError(f"the Python model runs on {' or '.join(PIPELINE_BACKENDS)}, not {pipeline_backend!r}")
    planned: list[PlannedModel] = []
    for i, bundle in enumerate(loaded):
        base = check_model_name(names[i]) if names else sanitise_model_name(bundle.manifest.model)
        planned += plan_bundle(bundle, base, kinds, pipeline_backend, precision, options)
    seen: set[str] = set()
    for model in planned:
        if model.config.name in seen:
            raise InputError(f"two models would be named {model.config.name!r}; give each bundle its own --name")
        seen.add(model.config.name)
    _write_atomically(target, planned, options)
    return [m.config for m in planned]


def plan_bundle(bundle: Bundle, base: str, kinds: Sequence[str] | None, pipeline_backend: str, precision: str,
                options: ServingOptions) -> list[PlannedModel]:
    """The models one bundle contributes, checked against the artifacts it has."""
    roles = bundle.manifest.artifacts
    wanted = list(kinds) if kinds else ["python", *sorted({ARTIFACT_MODELS[r][1] for r in roles if r in ARTIFACT_MODELS})]
    for kind in wanted:
        if kind in _NEEDS and _NEEDS[kind][0] not in roles:
            role, what, how = _NEEDS[kind]
            raise BundleError(f"bundle {bundle.root} has no {what} for the {kind} backend (it has: "
                              f"{', '.join(roles) or 'none'}); add it with `{how}` or leave {kind} out")
    planned = [artifact_model(bundle, role, check_model_name(f"{base}_{ARTIFACT_MODELS[role][0]}"), options)
               for role in roles if role in ARTIFACT_MODELS and ARTIFACT_MODELS[role][1] in wanted]
    if "python" in wanted:
        planned.insert(0, python_model(bundle, base, pipeline_backend, precision, options))
    return planned


def artifact_model(bundle: Bundle, role: str, name: str, options: ServingOptions) -> PlannedModel:
    """A model served by a Triton backend straight from one artifact (ONNX, OpenVINO IR, TensorRT plan)."""
    m = bundle.manifest
    _, kind, filename = ARTIFACT_MODELS[role]
    bundle.path(role)  # names the missing artifact, if it is
    member = m.artifacts[role]
    files = []
    batched = all(batches(t) for t in (*m.inputs, *m.outputs))
    params: dict[str, str] = {}
    platform = backend = None
    if kind == "onnxruntime":
        from fastip.runtimes.external_data import verified_onnx

        files.append((verified_onnx(bundle, member), filename))  # one self-contained file: external data inlined
        backend = "onnxruntime"
        if options.threads:
            params.update(intra_op_thread_count=str(options.threads), inter_op_thread_count="1")
    elif kind == "openvino":
        from fastip.bundle import companions

        files += [(bundle.read(member), filename), (bundle.read(companions(member)[0]), "model.bin")]
        backend = "openvino"
        # The OpenVINO backend fails requests smaller than max_batch_size (or pads them), so its model takes
        # whole batches from the client: max_batch_size 0 with the batch axis as a -1 dim, no dynamic batcher.
        batched = False
        params.update(PERFORMANCE_HINT=options.ov_hint.upper(), NUM_STREAMS="1" if options.ov_hint == "latency" else "AUTO")
        if options.threads:
            params["INFERENCE_NUM_THREADS"] = str(options.threads)
    else:
        files.append((bundle.read(member), filename))
        platform = "tensorrt_plan"
    max_batch = options.max_batch_size if batched else 0
    if kind == "tensorrt" and batched:
        profile_max = (m.extra.get("tensorrt") or {}).get("profile", {}).get("max") or [max_batch]
        max_batch = min(max_batch, int(profile_max[0]))
    config = ModelConfig(
        name=name, backend=backend, platform=platform, default_model_filename=filename,
        inputs=[tensor_from_spec(t, batched=batched) for t in m.inputs],
        outputs=[tensor_from_spec(t, batched=batched) for t in m.outputs],
        max_batch_size=max_batch, instances=options.instances, parameters=params,
        instance_kind="KIND_GPU" if kind == "tensorrt" else "KIND_CPU",
        dynamic_batching=_batching(options, max_batch) if batched else None)
    return PlannedModel(config, tuple(files))


def python_model(bundle: Bundle, name: str, backend: str, precision: str, options: ServingOptions) -> PlannedModel:
    """The image-level model: uint8 [H, W, 3] in, an image (or boxes, scores, keypoints) out, by fastip's pipeline."""
    from fastip.runtimes import PRECISION_ROLES

    m = bundle.manifest
    if precision not in PRECISION_ROLES:
        raise InputError(f"unknown precision {precision!r}; choose from {', '.join(PRECISION_ROLES)}")
    onnx_role, ir_role = PRECISION_ROLES[precision]
    usable = (onnx_role,) if backend == "ort" else (ir_role, onnx_role)
    if not any(role in m.artifacts for role in usable if role):
        raise BundleError(f"bundle {bundle.root} has no {precision} artifact for the Python model on {backend} "
                          f"(it has: {', '.join(m.artifacts)}); export it with --precision {precision}")
    image = Tensor(IMAGE_INPUT, "TYPE_UINT8", (-1, -1, 3), allow_ragged_batch=True)
    if m.io.output == "detections":
        outputs = [Tensor(DETECTION_OUTPUTS[0], "TYPE_FP32", (-1, 4)), Tensor(DETECTION_OUTPUTS[1], "TYPE_FP32", (-1,)),
                   Tensor(DETECTION_OUTPUTS[2], "TYPE_FP32", (-1, -1, 2))]
    else:
        outputs = [Tensor(IMAGE_OUTPUT, "TYPE_UINT8", (-1, -1, 3))]
    params = {"fastip_backend": backend, "fastip_precision": precision}
    if options.threads:
        params["fastip_threads"] = str(options.threads)
    if backend == "openvino":
        params["fastip_ov_hint"] = options.ov_hint
    config = ModelConfig(name=name, backend="python", inputs=[image], outputs=outputs,
                         max_batch_size=options.max_batch_size, instances=options.instances, parameters=params,
                         dynamic_batching=_batching(options, options.max_batch_size))
    return PlannedModel(config, (), bundle)


def _batching(options: ServingOptions, max_batch: int) -> tuple[tuple[int, ...], int]:
    return tuple(s for s in options.preferred_batch_sizes if s <= max_batch), options.queue_delay_us


def _write_atomically(target: Path, planned: list[PlannedModel], options: ServingOptions) -> None:
    from fastip.serving.triton.readme import repository_readme

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-{os.getpid()}-", dir=target.parent))
    try:
        for model in planned:
            root = tmp / model.config.name
            version = root / "1"
            version.mkdir(parents=True)
            for data, name in model.files:
                (version / name).write_bytes(data)
            if model.bundle is not None:
                from fastip.members import read_member

                (version / "bundle").mkdir()
                for name in model.bundle.manifest.files:  # each as checked against its sha256
                    (version / "bundle" / name).write_bytes(model.bundle.read(name))
                (version / "bundle" / MANIFEST).write_bytes(read_member(model.bundle.root, MANIFEST, None))
                (version / "model.py").write_text(MODEL_PY, encoding="utf-8")
            (root / "config.pbtxt").write_text(model.config.render(), encoding="utf-8")
        (tmp / "README.md").write_text(repository_readme([m.config for m in planned], options), encoding="utf-8")
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; the server may run as another user
        os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise

