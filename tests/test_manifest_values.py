"""Manifest values from strangers: wrong types, absurd sizes and nesting are one BundleError line."""

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastip.errors import BundleError, InputError
from fastip.manifest import MAX_DEPTH, Manifest
from fastip.spec import MAX_SIZE_MULTIPLE, ImageIO, TensorSpec

VALID = Manifest(model="m", family="can", io=ImageIO(), inputs=[TensorSpec("input", ("N", 3, "H", "W"))],
                 outputs=[TensorSpec("output", ("N", 3, "H", "W"))], artifacts={"onnx": "model.onnx"},
                 files={"model.onnx": "0" * 64}, source={"kind": "registry", "builder": "can24", "kwargs": {}}).to_dict()

junk = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(), st.text(max_size=12),
                 st.lists(st.integers(-5, 5) | st.floats() | st.text(max_size=3), max_size=5),
                 st.dictionaries(st.text(max_size=5), st.integers(), max_size=3))

# (path of the field, a valid value) for the fields whose types a stranger could get wrong
FIELDS = [
    (("inputs", 0, "dtype"), "float32"), (("inputs", 0, "layout"), "NCHW"), (("inputs", 0, "shape"), ["N", 3, "H", "W"]),
    (("inputs", 0, "name"), "input"), (("outputs", 0, "dtype"), "float32"),
    (("io", "size_multiple"), 1), (("io", "scale_factor"), 1), (("io", "value_range"), [0.0, 1.0]),
    (("io", "mean"), [0.0, 0.0, 0.0]), (("io", "std"), [1.0, 1.0, 1.0]), (("io", "input_size"), None),
    (("io", "colour_order"), "RGB"), (("io", "output"), "image"), (("io", "extra"), {}),
    (("source", "kwargs"), {}), (("source", "builder"), "can24"), (("source", "weights"), None),
    (("versions",), {}),
]


def _set(data, path, value):
    for key in path[:-1]:
        data = data[key]
    data[path[-1]] = value


def _load(data):
    """What Bundle.load does with a manifest's text."""
    return Manifest.from_json(json.dumps(data))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(FIELDS), junk)
def test_a_wrong_value_in_any_typed_field_is_one_bundle_error(field, value):
    path, _ = field
    data = json.loads(json.dumps(VALID))
    _set(data, path, value)
    try:
        text = json.dumps(data)
    except ValueError:
        return
    try:
        manifest = Manifest.from_json(text)
    except BundleError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 400
        return
    # accepted: then every value has the type the pipelines rely on
    io, spec = manifest.io, manifest.inputs[0]
    assert type(io.size_multiple) is int and 1 <= io.size_multiple <= MAX_SIZE_MULTIPLE
    assert type(io.scale_factor) is int and all(isinstance(v, (int, float)) for v in (*io.value_range, *io.mean, *io.std))
    assert spec.dtype in ("float32", "float16", "uint8", "int8", "int32", "int64") and np.dtype(spec.dtype)
    assert all(isinstance(v, (str, int, float, bool, type(None))) for v in manifest.source.get("kwargs", {}).values())


@pytest.mark.parametrize("path, value, message", [
    (("inputs", 0, "dtype"), "float33", "dtype of 'input' must be one of"),
    (("io", "size_multiple"), 2.5, "size_multiple must be an integer"),
    (("io", "size_multiple"), True, "size_multiple must be an integer"),
    (("io", "value_range"), ["0", "1"], "value_range must be a list of 2 numbers"),
    (("io", "value_range"), [0, None], "value_range must be a list of 2 numbers"),
    (("source", "kwargs"), {"depth": {"__class__": "os.system"}}, "kwargs' must map names to strings, numbers"),
    (("source", "kwargs"), [1, 2], "kwargs' must map names"),
])
def test_named_wrong_types(path, value, message):
    data = json.loads(json.dumps(VALID))
    _set(data, path, value)
    with pytest.raises(BundleError, match=message):
        _load(data)


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 5_000, 200_000])
def test_deep_nesting_is_refused_before_parsing(depth):
    for open_, close in (("[", "]"), ('{"a":', "}")):
        text = json.dumps(VALID)[:-1] + ', "extra": ' + open_ * depth + "1" + close * depth + "}"
        with pytest.raises(BundleError, match="nests deeper than"):
            Manifest.from_json(text)
    nested = 1
    for _ in range(depth if depth < 5000 else 3000):
        nested = [nested]
    with pytest.raises(BundleError, match="nested deeper"):
        Manifest.from_dict({**VALID, "extra": {"x": nested}})


def test_integer_literals_beyond_the_digit_limit():
    with pytest.raises(BundleError, match="not valid JSON"):
        Manifest.from_json(json.dumps(VALID)[:-1] + ', "extra": {"n": ' + "1" * 5000 + "}}")


def test_brackets_inside_strings_do_not_count_as_nesting():
    manifest = Manifest.from_json(json.dumps({**VALID, "extra": {"note": "[" * 1000 + '\\"{' * 100}}))
    assert manifest.extra["note"].startswith("[[[")


def test_a_million_unknown_keys_give_a_short_line(tmp_path):
    data = {**VALID, **{f"k{i}": 0 for i in range(1_000_000)}}
    with pytest.raises(BundleError) as info:
        Manifest.from_dict(data)
    message = str(info.value)
    assert len(message) < 300 and "and 999995 more" in message
    with pytest.raises(BundleError) as info:
        Manifest.from_dict({**VALID, "io": {**VALID["io"], **{f"x{i}": 0 for i in range(100_000)}}})
    assert len(str(info.value)) < 300 and "and 99995 more" in str(info.value)
    (tmp_path / "fastip.json").write_text(json.dumps(data))
    from fastip.bundle import Bundle

    with pytest.raises(BundleError, match="larger than"):
        Bundle.load(tmp_path)


def test_size_multiple_cannot_push_the_padded_image_past_the_limit():
    from fastip.pipeline import check_size

    with pytest.raises(BundleError, match="size_multiple must be an integer from 1 to 1024"):
        ImageIO.from_dict({"size_multiple": 100_000})
    image = np.zeros((7000, 9000, 3), np.uint8)  # 63 MP: under the limit as it is
    check_size(image, 64_000_000)
    with pytest.raises(InputError, match="above the 64 MP limit"):
        check_size(image, 64_000_000, 1024)  # padded to 7168x9216 = 66 MP


ANCHORS = {"num_layers": 4, "strides": [8, 16, 16, 16], "input_size": [128, 128], "aspect_ratios": [1.0],
           "interpolated_scale_aspect_ratio": 1.0, "fixed_anchor_size": True, "num_anchors": 896}


@pytest.mark.parametrize("change, message", [
    ({"strides": [0, 16, 16, 16]}, "strides must be positive"),
    ({"strides": [-8, 16, 16, 16]}, "strides must be positive"),
    ({"input_size": [100_000, 100_000]}, "outside 1..4096"),
    ({"strides": [1, 1, 1, 1], "input_size": [4096, 4096]}, "above the 200000 limit"),
    ({"num_layers": 10**10, "strides": [8]}, "strides for"),
    ({"aspect_ratios": [1.0] * 1000}, "aspect ratios"),
    ({"strides": [1e300, 16, 16, 16]}, None),
])
def test_anchor_specs_are_bounded(change, message):
    from fastip.detection.anchors import generate_anchors

    assert generate_anchors(ANCHORS).shape == (896, 4)
    with pytest.raises(BundleError, match=message):
        generate_anchors({**ANCHORS, **change})
