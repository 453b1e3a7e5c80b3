"""Row-blocked image <-> tensor conversion: bit-identical to the plain whole-image numpy formula."""

import numpy as np
import pytest

from fastip import conversion
from fastip.conversion import block_rows, to_image, to_tensor
from fastip.errors import InputError
from fastip.images import sample_image
from fastip.spec import ImageIO
from tests.support import crop

# every colour order / value range / normalisation the registry's manifests use, and the general case
IOS = {
    "can_sr": ImageIO(colour_order="RGB", value_range=(0.0, 1.0)),
    "face": ImageIO(value_range=(-1.0, 1.0)),
    "bgr_255": ImageIO(colour_order="BGR", value_range=(0.0, 255.0)),
    "imagenet": ImageIO(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)),
    "bgr_all": ImageIO(colour_order="BGR", value_range=(-0.5, 1.5), mean=(0.1, -0.2, 0.3), std=(0.5, 1.0, 2.0)),
}


def plain_to_tensor(image: np.ndarray, io: ImageIO) -> np.ndarray:
    """The manifest's formula as one whole-image numpy expression (the reference)."""
    if io.colour_order == "BGR":
        image = image[..., ::-1]
    lo, hi = io.value_range
    x = image.astype(np.float32) * np.float32((hi - lo) / 255.0) + np.float32(lo)
    x = (x - np.asarray(io.mean, np.float32)) / np.asarray(io.std, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


def plain_to_image(tensor: np.ndarray, io: ImageIO) -> np.ndarray:
    lo, hi = io.value_range
    x = tensor[0].transpose(1, 2, 0).astype(np.float32) * np.asarray(io.std, np.float32) + np.asarray(io.mean, np.float32)
    x = (x - np.float32(lo)) * np.float32(255.0 / (hi - lo))
    image = np.clip(np.rint(np.nan_to_num(x, nan=0.0)), 0, 255).astype(np.uint8)
    return image[..., ::-1].copy() if io.colour_order == "BGR" else image


@pytest.fixture(params=["serial", "split", "numpy-only"], autouse=True)
def way(request, monkeypatch):
    """Every test three ways: one thread; row blocks split among threads even for tiny images; without OpenCV."""
    if request.param == "split":
        monkeypatch.setattr(conversion, "PARALLEL_PIXELS", 0)
        monkeypatch.setattr(conversion, "conversion_workers", lambda: 3)
    if request.param == "numpy-only":
        monkeypatch.setattr(conversion, "_opencv", [None])
    return request.param


@pytest.fixture(scope="module")
def photos():
    names = ("astronaut", "coffee", "chelsea")
    return [sample_image(n) for n in names]


# odd sizes, one row, one column, and a width whose row blocks do not divide the height
SHAPES = [(1, 1), (1, 37), (41, 1), (17, 33), (511, 257), (block_rows(300) * 3 + 1, 300), (block_rows(300) * 7 - 2, 300)]


@pytest.mark.parametrize("io_name", IOS)
@pytest.mark.parametrize("shape", SHAPES)
def test_to_tensor_is_bit_identical_to_the_formula(photos, io_name, shape):
    io = IOS[io_name]
    for photo in photos:
        image = crop(photo, *shape, top=5, left=9)
        got = to_tensor(image, io)
        want = plain_to_tensor(image, io)
        assert got.dtype == np.float32 and got.flags.c_contiguous
        np.testing.assert_array_equal(got, want)
        assert np.array_equal(got.view(np.uint32), want.view(np.uint32))  # signed zeros too


@pytest.mark.parametrize("io_name", IOS)
@pytest.mark.parametrize("shape", SHAPES)
def test_to_image_is_bit_identical_to_the_formula(photos, io_name, shape):
    io = IOS[io_name]
    rng = np.random.default_rng(shape[0] * 1000 + shape[1])
    for photo in photos:
        image = crop(photo, *shape, top=3, left=2)
        tensor = plain_to_tensor(image, io)
        # a model's output: the input moved off the pixel grid, past both ends of the range
        noisy = tensor + rng.normal(0, 0.3, tensor.shape).astype(np.float32)
        np.testing.assert_array_equal(to_image(noisy, io), plain_to_image(noisy, io))
        np.testing.assert_array_equal(to_image(tensor, io), image)


def test_to_image_reads_float16_and_strided_outputs_and_maps_non_finite_values(photos):
    io = IOS["can_sr"]
    tensor = plain_to_tensor(crop(photos[0], 40, 50), io)
    half = tensor.astype(np.float16)
    np.testing.assert_array_equal(to_image(half, io), plain_to_image(half, io))
    strided = tensor[..., 3:31, 5:44:2]
    np.testing.assert_array_equal(to_image(strided, io), plain_to_image(strided, io))
    special = tensor.copy()
    special[0, :, 0, :4] = [[np.nan, np.inf, -np.inf, 2.0]] * 3
    got = to_image(special, io)
    np.testing.assert_array_equal(got, plain_to_image(special, io))
    assert got[0, :4, 0].tolist() == [0, 255, 0, 255]


def test_out_buffers_are_filled_and_wrong_ones_refused(photos):
    io = IOS["face"]
    image = crop(photos[1], 30, 20)
    buffer = np.full((1, 3, 30, 20), np.nan, np.float32)
    assert to_tensor(image, io, out=buffer) is buffer
    np.testing.assert_array_equal(buffer, plain_to_tensor(image, io))
    pixels = np.zeros((30, 20, 3), np.uint8)
    assert to_image(buffer, io, out=pixels) is pixels
    np.testing.assert_array_equal(pixels, image)
    with pytest.raises(InputError, match=r"\(1, 3, 30, 20\)"):
        to_tensor(image, io, out=np.empty((1, 3, 20, 30), np.float32))
    with pytest.raises(InputError, match="uint8"):
        to_image(buffer, io, out=np.empty((30, 20, 3), np.float32))
    with pytest.raises(InputError, match="1x3xHxW"):
        to_image(buffer[0], io)


def test_a_full_hd_frame_is_bit_identical_whichever_way_its_rows_are_split(photos):
    io = IOS["bgr_all"]
    image = np.tile(photos[0], (3, 4, 1))[:1080, :1920]
    want = plain_to_tensor(image, io)
    got = to_tensor(image, io)
    assert np.array_equal(got.view(np.uint32), want.view(np.uint32))
    noisy = want + np.random.default_rng(0).normal(0, 0.3, want.shape).astype(np.float32)
    np.testing.assert_array_equal(to_image(noisy, io), plain_to_image(noisy, io))
