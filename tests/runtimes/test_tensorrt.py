"""TensorRT: shape profiles and engine compatibility in pure Python; engine build and run only where TensorRT is."""

from __future__ import annotations

import pytest

from fastip.errors import BundleError, InputError
from fastip.export.tensorrt import Compatibility, default_profile, parse_shapes
from fastip.spec import TensorSpec

DYNAMIC = TensorSpec("input", ("N", 3, "H", "W"))
FIXED = TensorSpec("input", ("N", 3, 128, 128))


def test_parse_min_opt_max():
    p = parse_shapes("1x3x256x256:1x3x1080x1920:1x3x2160x3840", DYNAMIC)
    assert p.min == (1, 3, 256, 256) and p.opt == (1, 3, 1080, 1920) and p.max == (1, 3, 2160, 3840)
    assert p.hw_bounds() == ((256, 256), (2160, 3840))
    assert parse_shapes("1x3x64x64", DYNAMIC).max == (1, 3, 64, 64)


@pytest.mark.parametrize("text, message", [
    ("1x3x256x256:1x3x128x128:1x3x512x512", "min <= opt <= max"),
    ("1x3x256:1x3x256x256:1x3x512x512", "NxCxHxW"),
    ("1x3x8x8:1x3x9x9", "MIN:OPT:MAX"),
    ("1x1x8x8:1x1x8x8:1x1x8x8", "axis 1 must be 3"),
])
def test_bad_shapes(text, message):
    with pytest.raises(InputError, match=message):
        parse_shapes(text, DYNAMIC)


def test_fixed_input_profile():
    assert default_profile(FIXED).min == default_profile(FIXED).max == (1, 3, 128, 128)
    with pytest.raises(InputError, match="axis 2 must be 128"):
        parse_shapes("1x3x64x64:1x3x128x128:1x3x128x128", FIXED)


def test_compatibility_rules():
    built = Compatibility("10.8.0.43", "8.9", device="RTX 4090")
    assert built.problems(Compatibility("10.8.0.43", "8.9")) == []
    assert "running 10.9.0.1" in built.problems(Compatibility("10.9.0.1", "8.9"))[0]
    assert "compute capability 8.9, this GPU is 9.0" in built.problems(Compatibility("10.8.0.43", "9.0"))[0]
    portable = Compatibility("10.8.0.43", "8.6", hardware_compatibility="ampere_plus", version_compatible=True)
    assert portable.problems(Compatibility("10.12.0.1", "9.0")) == []
    assert portable.problems(Compatibility("10.12.0.1", "7.5"))  # pre-Ampere GPU
    assert portable.problems(Compatibility("10.1.0.1", "9.0"))  # older runtime
    with pytest.raises(BundleError, match="rebuild=True"):
        built.check(Compatibility("11.0.0.1", "8.9"), "model.engine")
    assert Compatibility.from_dict(built.to_dict()) == built


@pytest.mark.trt
def test_engine_builds_and_matches_ort(tmp_path):
    trt = pytest.importorskip("tensorrt")
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("TensorRT is installed but no CUDA device is visible")
    import numpy as np

    from fastip import runtimes
    from fastip.export import export_model
    from tests.support import perturbed_source

    bundle = export_model(perturbed_source("espcn_x2"), tmp_path / "b", target="trt", precision="fp16",
                          shapes="1x3x16x16:1x3x64x64:1x3x128x128", timing_cache=str(tmp_path / "timing.cache"))
    record = bundle.manifest.extra["tensorrt"]
    assert record["compatibility"]["tensorrt"] == trt.__version__ and record["built_from"] == "onnx_fp16"
    x = np.random.default_rng(0).random((1, 3, 32, 48), np.float32)
    with runtimes.open(bundle, "trt", precision="fp16") as trt_session, runtimes.open(bundle, "ort") as ort_session:
        got, want = trt_session.run({"input": x})["output"], ort_session.run({"input": x})["output"]
    assert got.shape == want.shape and np.abs(got - want).max() < 2e-2
