"""Property-based checks: the manifest loader never crashes on junk, pre/post-processing keeps its invariants."""

import json

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastip.errors import BundleError
from fastip.manifest import Manifest
from fastip.pipeline import to_image, to_tensor
from fastip.spec import ImageIO, TensorSpec

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)

VALID = Manifest(model="m", family="can", io=ImageIO(), inputs=[TensorSpec("input", ("N", 3, "H", "W"))],
                 outputs=[TensorSpec("output", ("N", 3, "H", "W"))], artifacts={"onnx": "model.onnx"},
                 files={"model.onnx": "0" * 64}).to_dict()


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_junk_manifests_raise_bundle_error_only(data):
    try:
        Manifest.from_dict(data)
    except BundleError:
        pass


@settings(max_examples=200)
@given(st.sampled_from(sorted(VALID)), json_values)
def test_one_corrupted_field_raises_bundle_error_only(key, value):
    data = json.loads(json.dumps(VALID))
    data[key] = value
    try:
        manifest = Manifest.from_dict(data)
    except BundleError:
        return
    assert Manifest.from_json(manifest.to_json()).to_dict() == manifest.to_dict()


@settings(max_examples=100, deadline=None)
@given(h=st.integers(1, 40), w=st.integers(1, 40), seed=st.integers(0, 2**31 - 1),
       order=st.sampled_from(["RGB", "BGR"]), lo=st.floats(-2, 0), span=st.floats(0.5, 4))
def test_pre_and_post_processing_round_trip(h, w, seed, order, lo, span):
    image = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    io = ImageIO(colour_order=order, value_range=(lo, lo + span))
    tensor = to_tensor(image, io)
    assert tensor.shape == (1, 3, h, w) and np.isfinite(tensor).all()
    assert tensor.min() >= lo - 1e-5 and tensor.max() <= lo + span + 1e-5
    np.testing.assert_array_equal(to_image(tensor, io), image)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), min_size=3, max_size=300))
def test_post_processing_always_gives_valid_pixels(values):
    n = len(values) // 3
    tensor = np.asarray(values[: 3 * n], np.float32).reshape(1, 3, 1, n)
    image = to_image(tensor, ImageIO())
    assert image.dtype == np.uint8 and image.shape == (1, n, 3)


def test_manifest_with_non_json_numbers_is_refused_and_non_finite_values_read_back_as_written():
    """Python's json reads NaN/Infinity, which C++ readers reject; a manifest built with inf reads back as null."""
    import pytest

    text = json.dumps(VALID).replace('"files"', '"calibration": {"scale": Infinity}, "files"')
    with pytest.raises(BundleError, match="Infinity is not a JSON number"):
        Manifest.from_json(text)
    manifest = Manifest.from_dict({**VALID, "calibration": {"scale": float("inf")}})
    assert manifest.calibration == {"scale": None}
    assert Manifest.from_json(manifest.to_json()).to_dict() == manifest.to_dict()
