"""Reference operators: each one's defining property on real images, plus the contract shared by all."""

from __future__ import annotations

import numpy as np
import pytest

from fastip import operators
from fastip.errors import InputError
from fastip.images import sample_image

pytest.importorskip("cv2")
pytest.importorskip("scipy")
pytest.importorskip("skimage")


def small(name: str, step: int = 3) -> np.ndarray:
    return np.ascontiguousarray(sample_image(name)[::step, ::step])


def total_variation(image: np.ndarray) -> float:
    x = image.astype(np.float64)
    return float(np.abs(np.diff(x, axis=0)).mean() + np.abs(np.diff(x, axis=1)).mean())


def high_frequency_energy(image: np.ndarray) -> float:
    import cv2

    gray = image.astype(np.float32).mean(axis=2)
    return float(np.abs(gray - cv2.GaussianBlur(gray, (0, 0), 2.0)).mean())


def step_edge_texture(size: int = 96) -> np.ndarray:
    """A dark/bright vertical step overlaid with a strong fine checker texture, as uint8 RGB."""
    half = np.where(np.arange(size) < size // 2, 0.25, 0.75)[None, :].repeat(size, axis=0)
    checker = ((np.arange(size)[:, None] // 2 + np.arange(size)[None, :] // 2) % 2) * 0.16 - 0.08
    return (np.clip(half + checker, 0, 1)[..., None].repeat(3, axis=2) * 255).round().astype(np.uint8)


def test_registry_lists_the_papers_operators():
    names = operators.list_operators()
    assert {"rof", "tv_l1", "l0_smoothing", "rtv", "wls_tone", "local_laplacian_detail", "local_laplacian_style",
            "dehaze", "pencil"} <= set(names)
    for name in names:
        op = operators.get(name)
        assert op.citation and op.description and set(op.param_help) == set(op.defaults)


@pytest.mark.parametrize("name", ["rof", "tv_l1"])
def test_total_variation_operators_reduce_total_variation(name):
    image = small("astronaut")
    out = operators.apply(name, image)
    assert total_variation(out) < 0.6 * total_variation(image)
    # TV smoothing keeps the mean brightness
    assert abs(out.astype(float).mean() - image.astype(float).mean()) < 3.0


def test_tv_l1_removes_small_features_and_keeps_large_ones_at_full_contrast():
    image = np.full((64, 64, 3), 40, np.uint8)
    image[10:30, 10:30] = 200  # large: survives TV-L1 unchanged
    image[45:47, 45:47] = 200  # smaller than 2 / lam: removed
    out = operators.apply("tv_l1", image, lam=0.8, iterations=300).astype(float)
    assert abs(out[14:26, 14:26].mean() - 200) < 4
    assert abs(out[45:47, 45:47].mean() - 40) < 10


def test_l0_smoothing_reduces_nonzero_gradients():
    image = small("chelsea") / 255.0

    def nonzero_gradients(x: np.ndarray) -> int:
        return int((np.abs(np.diff(x, axis=0)).sum(axis=2) > 0.01).sum() + (np.abs(np.diff(x, axis=1)).sum(axis=2) > 0.01).sum())

    out = operators.apply("l0_smoothing", image)
    assert nonzero_gradients(out) < 0.5 * nonzero_gradients(image)
    assert nonzero_gradients(operators.apply("l0_smoothing", image, lam=0.1)) < 0.7 * nonzero_gradients(out)
    # no wrap-around: the top row stays close to the input's top row
    assert np.abs(out[0] - image[0]).mean() < 2 * np.abs(out - image).mean()


def test_l0_smoothing_keeps_colour_means_and_flat_regions():
    """The L0 energy's data term fixes each channel's mean; an image of two flat regions is already optimal."""
    image = small("chelsea") / 255.0
    out = operators.apply("l0_smoothing", image)
    np.testing.assert_allclose(out.mean(axis=(0, 1)), image.mean(axis=(0, 1)), atol=0.005)
    steps = np.zeros((40, 60, 3), np.float32)
    steps[:, 30:] = (0.8, 0.5, 0.2)
    np.testing.assert_allclose(operators.apply("l0_smoothing", steps), steps, atol=1e-4)


@pytest.mark.parametrize("name, params", [("rtv", {}), ("wls_tone", {"fine": 0.0, "medium": 0.0, "coarse": 0.0})])
def test_edge_preserving_smoothers_remove_texture_and_keep_the_step(name, params):
    image = step_edge_texture()
    out = operators.apply(name, image, **params).astype(float)[..., 0]
    assert total_variation(out[..., None]) < 0.2 * total_variation(image[..., :1])
    contrast_in = image[:, 60:, 0].mean() - image[:, :36, 0].mean()
    assert out[:, 60:].mean() - out[:, :36].mean() > 0.75 * contrast_in
    # the edge stays sharp: most of the step happens within a few columns of the boundary
    profile = out.mean(axis=0)
    assert profile[51] - profile[44] > 0.5 * contrast_in


def test_rtv_smooths_a_real_texture():
    image = small("chelsea")
    assert total_variation(operators.apply("rtv", image)) < 0.5 * total_variation(image)


@pytest.mark.parametrize("name", ["wls_tone", "local_laplacian_detail"])
def test_detail_enhancement_raises_high_frequency_energy(name):
    image = small("coffee")
    out = operators.apply(name, image)
    assert high_frequency_energy(out) > 1.3 * high_frequency_energy(image)
    # halo-free operators keep the overall tone
    assert abs(out.astype(float).mean() - image.astype(float).mean()) < 15.0


def test_local_laplacian_detail_smooths_with_alpha_above_one():
    image = small("coffee")
    assert high_frequency_energy(operators.apply("local_laplacian_detail", image, alpha=2.0)) < high_frequency_energy(image)


def test_local_laplacian_style_moves_tones_towards_the_model():
    import cv2

    image = small("chelsea")
    model = cv2.cvtColor(sample_image("rocket"), cv2.COLOR_RGB2GRAY).astype(float)
    out = operators.apply("local_laplacian_style", image, reference="rocket")

    def quantile_distance(a: np.ndarray) -> float:
        q = np.linspace(0.05, 0.95, 19)
        return float(np.abs(np.quantile(cv2.cvtColor(a, cv2.COLOR_RGB2GRAY).astype(float), q) - np.quantile(model, q)).mean())

    assert quantile_distance(out) < 0.5 * quantile_distance(image)
    np.testing.assert_allclose(operators.apply("local_laplacian_style", image, strength=0.0), image, atol=2)


def test_dehaze_recovers_a_synthetically_hazed_image():
    clear = small("coffee").astype(np.float32) / 255
    h, w = clear.shape[:2]
    depth = np.linspace(0.2, 1.0, h)[:, None] * np.ones((1, w))
    t = np.exp(-1.5 * depth)[..., None]
    hazy = (clear * t + 0.9 * (1 - t)).astype(np.float32)
    out = operators.apply("dehaze", hazy)
    assert out.dtype == np.float32
    assert np.mean((out - clear) ** 2) < 0.25 * np.mean((hazy - clear) ** 2)
    assert out.std() > 1.5 * hazy.std()


def test_pencil_is_gray_with_dark_strokes_along_edges():
    import cv2

    image = small("chelsea")
    out = operators.apply("pencil", image)
    assert np.abs(out.astype(int) - out[..., :1]).max() == 0
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    gradient = np.hypot(cv2.Sobel(gray, cv2.CV_32F, 1, 0), cv2.Sobel(gray, cv2.CV_32F, 0, 1))
    edges = gradient > np.percentile(gradient, 95)
    flat = gradient < np.percentile(gradient, 30)
    assert out[..., 0][edges].mean() < out[..., 0][flat].mean() - 20
    colour = operators.apply("pencil", image, color=True)
    assert np.abs(colour.astype(int) - colour[..., :1]).max() > 10


def test_bicubic_upscale():
    image = small("astronaut", step=8)
    up = operators.bicubic_upscale(image, 2)
    assert up.shape == (128, 128, 3) and up.dtype == np.uint8
    upf = operators.bicubic_upscale(image / 255.0, 3)
    assert upf.shape == (192, 192, 3) and upf.dtype == np.float32
    np.testing.assert_allclose(upf[1::3, 1::3] * 255, image, atol=40)
    with pytest.raises(InputError):
        operators.bicubic_upscale(image, 0)


@pytest.fixture(scope="module")
def tiny() -> np.ndarray:
    return np.ascontiguousarray(sample_image("astronaut")[100:148:2, 200:264:2])


@pytest.mark.parametrize("name", operators.list_operators())
def test_dtype_and_shape_follow_the_input(name, tiny):
    out8 = operators.apply(name, tiny)
    assert out8.dtype == np.uint8 and out8.shape == tiny.shape
    for dtype in (np.float32, np.float64):
        outf = operators.apply(name, tiny.astype(dtype) / 255)
        assert outf.dtype == np.float32 and outf.shape == tiny.shape
        assert outf.min() >= 0 and outf.max() <= 1
        assert np.abs(outf * 255 - out8).mean() < 2.0


@pytest.mark.parametrize("name", operators.list_operators())
@pytest.mark.parametrize("shape", [(1, 1, 3), (1, 9, 3), (7, 5, 3)])
def test_small_and_thin_images(name, shape):
    rng = np.random.default_rng(0)
    assert operators.apply(name, rng.random(shape)).shape == shape


BAD_IMAGES = {
    "int32": np.zeros((8, 8, 3), np.int32),
    "bool": np.zeros((8, 8, 3), bool),
    "gray": np.zeros((8, 8), np.uint8),
    "rgba": np.zeros((8, 8, 4), np.uint8),
    "chw": np.zeros((3, 8, 8), np.float32),
    "empty": np.zeros((0, 8, 3), np.uint8),
    "nan": np.full((8, 8, 3), np.nan, np.float32),
    "above_one": np.full((8, 8, 3), 2.0, np.float32),
}


@pytest.mark.parametrize("name", operators.list_operators())
@pytest.mark.parametrize("bad", list(BAD_IMAGES))
def test_bad_images_raise_input_error(name, bad):
    with pytest.raises(InputError):
        operators.apply(name, BAD_IMAGES[bad])


@pytest.mark.parametrize("name", operators.list_operators())
def test_bad_parameters_raise_input_error_naming_the_choices(name, tiny):
    op = operators.get(name)
    with pytest.raises(InputError, match=next(iter(op.defaults))):
        operators.apply(name, tiny, no_such_param=1)
    key, default = next(iter(op.defaults.items()))
    with pytest.raises(InputError):
        operators.apply(name, tiny, **{key: "not a number" if not isinstance(default, str) else 3})


def test_unknown_operator_lists_the_valid_ones():
    with pytest.raises(InputError, match="rof"):
        operators.apply("no_such_operator", np.zeros((4, 4, 3), np.uint8))


def test_out_of_range_parameter_values_raise_input_error(tiny):
    with pytest.raises(InputError):
        operators.apply("rof", tiny, weight=-1.0)
    with pytest.raises(InputError):
        operators.apply("local_laplacian_style", tiny, reference="no_such_image")


def test_importing_operators_is_light():
    import subprocess
    import sys

    code = "import sys, fastip.operators as o; o.list_operators(); print(any(m in sys.modules for m in ('cv2', 'scipy', 'skimage')))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


def test_cli_lists_and_applies(tmp_path, capsys):
    import argparse

    from fastip.cli import operators_cmd
    from fastip.images import read_image, write_image

    parser = argparse.ArgumentParser(prog="fastip")
    operators_cmd.add_parser(parser.add_subparsers())
    args = parser.parse_args(["operators", "list"])
    assert args.func(args) == 0
    assert "Rudin" in capsys.readouterr().out
    source = write_image(tmp_path / "in.png", small("chelsea", step=6))
    args = parser.parse_args(["operators", "apply", "pencil", str(source), "-o", str(tmp_path / "out.png"),
                              "--param", "color=true", "--param", "stroke_size=0.05"])
    assert args.func(args) == 0
    assert read_image(tmp_path / "out.png").shape == read_image(source).shape
    for bad in (["--param", "wieght=1"], ["--param", "weight=abc"], ["--param", "weight"]):
        args = parser.parse_args(["operators", "apply", "rof", str(source), "-o", str(tmp_path / "x.png"), *bad])
        with pytest.raises(InputError):
            args.func(args)
