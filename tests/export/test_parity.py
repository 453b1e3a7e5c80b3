"""Every registered model, exported, matches PyTorch on ONNX Runtime and OpenVINO on a real image at an odd size."""

import numpy as np
import pytest

pytest.importorskip("torch")

from fastip import models, runtimes  # noqa: E402
from fastip.export import export_model  # noqa: E402
from fastip.pipeline import to_tensor  # noqa: E402
from fastip.runtimes.torch import TorchSession  # noqa: E402
from tests.support import crop, has, perturbed_source  # noqa: E402

RTOL = 1e-4  # max abs error relative to the reference output's range
BACKENDS = ["ort"] + (["openvino"] if has("openvino") else [])


def _odd_input(spec, image):
    if spec.io.input_size:
        h, w = spec.io.input_size
    elif spec.family == "sr":
        h, w = 45, 61
    else:
        h, w = 67, 91
    return to_tensor(crop(image, h, w, 180, 190), spec.io)


@pytest.mark.parametrize("name", models.list_models())
def test_export_matches_pytorch(name, tmp_path, astronaut):
    spec = models.get(name)
    source = perturbed_source(name, seed=7)
    bundle = export_model(source, tmp_path / name, target="openvino" if has("openvino") else "onnx")
    assert all(v.passed for v in bundle.manifest.validation)
    assert {v.image.split("@")[0] for v in bundle.manifest.validation} == {"astronaut", "coffee"}
    feed = {"input": _odd_input(spec, astronaut)}
    reference = TorchSession(source.deploy, bundle.manifest.inputs, bundle.manifest.outputs).run(feed)
    for backend in BACKENDS:
        with runtimes.open(bundle, backend) as session:
            got = session.run(feed)
        for key, ref in reference.items():
            span = float(ref.max() - ref.min())
            assert span > 1e-3, "the perturbed model computes something non-trivial"
            err = float(np.abs(got[key] - ref).max())
            assert err <= RTOL * span, f"{name} {backend} {key}: max abs error {err:.3g} > {RTOL * span:.3g}"


def test_instance_norm_can_exports_and_matches(tmp_path, astronaut):
    source = perturbed_source("can24", seed=2, norm="instance", norm_stats=1)  # the exact form
    bundle = export_model(source, tmp_path / "inst", target="onnx")
    ops = _op_types(bundle.path("onnx"))
    assert "InstanceNormalization" in ops
    feed = {"input": to_tensor(crop(astronaut, 53, 77), source.io)}
    ref = TorchSession(source.deploy, bundle.manifest.inputs, bundle.manifest.outputs).run(feed)["output"]
    with runtimes.open(bundle, "ort") as session:
        got = session.run(feed)["output"]
    assert np.abs(got - ref).max() <= RTOL * float(ref.max() - ref.min())


def test_batch_can_exports_as_conv_and_leaky_relu_only(can_bundle):
    assert _op_types(can_bundle.path("onnx")) == {"Conv", "LeakyRelu"}


def _op_types(path):
    import onnx

    return {node.op_type for node in onnx.load(str(path)).graph.node}
