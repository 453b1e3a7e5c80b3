"""Image files as viewers show them: 16-bit and float samples scaled, EXIF orientation applied, bombs refused."""

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageOps

from fastip.errors import InputError
from fastip.images import read_image, scale_16_to_8, write_image
from tests.images_support import png_bomb, png_bytes


def _expected_8(values: np.ndarray) -> np.ndarray:
    return np.floor(values.astype(np.float64) * 255 / 65535 + 0.5).astype(np.uint8)


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 12), st.integers(1, 12), st.integers(0, 2**32 - 1), st.sampled_from([0, 2, 4, 6]))
def test_16_bit_pngs_scale_to_rounded_8_bit(tmp_path_factory, h, w, seed, colour_type):
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour_type]
    samples = np.random.default_rng(seed).integers(0, 65536, (h, w, channels))
    samples[0, 0] = 65535  # a white pixel stays white, not clipped from a 16-bit value
    path = tmp_path_factory.mktemp("png16") / "in.png"
    path.write_bytes(png_bytes(samples, colour_type))
    grey_or_rgb = samples[..., :1].repeat(3, axis=2) if channels < 3 else samples[..., :3]
    np.testing.assert_array_equal(read_image(path), _expected_8(grey_or_rgb))


def test_scale_16_to_8_is_round_half_up_of_v_times_255_over_65535():
    values = np.arange(65536)
    np.testing.assert_array_equal(scale_16_to_8(values), _expected_8(values))


def test_16_bit_grey_is_not_read_as_white(tmp_path):
    path = tmp_path / "grey16.png"
    path.write_bytes(png_bytes(np.full((4, 5, 1), 32896), 0))  # mid grey
    assert (read_image(path) == 128).all()


def test_float_tiff_scaled_from_unit_range(tmp_path):
    values = np.linspace(-0.5, 1.5, 40, dtype=np.float32).reshape(5, 8)
    Image.fromarray(values, mode="F").save(tmp_path / "f.tif")
    expected = np.rint(np.clip(values, 0, 1) * 255).astype(np.uint8)
    np.testing.assert_array_equal(read_image(tmp_path / "f.tif"), np.repeat(expected[..., None], 3, axis=2))


def test_one_bit_png_is_read(tmp_path):
    bits = np.random.default_rng(0).integers(0, 2, (9, 13))
    (tmp_path / "b.png").write_bytes(png_bytes(bits, 0, bit_depth=1))
    np.testing.assert_array_equal(read_image(tmp_path / "b.png")[..., 0], bits * 255)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_applied_like_viewers(tmp_path, orientation):
    pixels = np.random.default_rng(orientation).integers(0, 256, (6, 10, 3), dtype=np.uint8)
    img = Image.fromarray(pixels)
    exif = img.getexif()
    exif[0x0112] = orientation
    path = tmp_path / "o.png"
    img.save(path, exif=exif.tobytes())
    with Image.open(path) as opened:
        expected = np.asarray(ImageOps.exif_transpose(opened).convert("RGB"))
    np.testing.assert_array_equal(read_image(path), expected)


@pytest.mark.parametrize("width, height", [(30000, 30000), (65000, 65000), (13000, 12000)])
def test_decompression_bombs_refused_from_the_header(tmp_path, width, height):
    path = tmp_path / "bomb.png"
    path.write_bytes(png_bomb(width, height))
    assert path.stat().st_size < 200_000
    with pytest.raises(InputError, match="bomb.png .*150 MP") as info:
        read_image(path)
    assert "\n" not in str(info.value)


def test_jpeg_declaring_65000_squared_is_refused(tmp_path):
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16)).save(buffer, format="JPEG")
    data = bytearray(buffer.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = (65000).to_bytes(2, "big") * 2  # height, width in the frame header
    (tmp_path / "bomb.jpg").write_bytes(bytes(data))
    with pytest.raises(InputError, match="65000x65000|more pixels than"):
        read_image(tmp_path / "bomb.jpg")


def test_write_errors_are_one_line(tmp_path):
    image = np.zeros((4, 4, 3), np.uint8)
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(InputError, match="is a directory"):
        write_image(tmp_path / "dir.png", image)
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="cannot write .*nothing was written"):
        write_image(tmp_path / "file" / "out.png", image)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir.png", "file"]


def test_calibration_reads_images_as_run_does(tmp_path):
    from fastip.calibration.data import _load_folder

    (tmp_path / "grey16.png").write_bytes(png_bytes(np.full((6, 7, 1), 32896), 0))
    (tmp_path / "bits.png").write_bytes(png_bytes(np.eye(6, 7, dtype=int), 0, bit_depth=1))
    rgb = np.random.default_rng(0).integers(0, 65536, (6, 7, 3))
    (tmp_path / "rgb16.png").write_bytes(png_bytes(rgb, 2))
    loaded = _load_folder(tmp_path)
    assert loaded.names == ("bits.png", "grey16.png", "rgb16.png") and loaded.grayscale_converted == 2
    for name, image in zip(loaded.names, loaded.images):
        np.testing.assert_array_equal(image, read_image(tmp_path / name))
    assert (loaded.images[1] == 128).all()
