"""Calibration data: folders, arrays, bundled samples, and every bad input a user can hand over."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from fastip.calibration.data import calibration_feeds, load_images, make_plan, quality_images
from fastip.errors import InputError
from fastip.spec import ImageIO, TensorSpec

DYNAMIC = TensorSpec("input", ("N", 3, "H", "W"))


def _write(folder, name, array):
    Image.fromarray(array).save(folder / name)


def test_folder_with_grayscale_is_converted_and_counted(tmp_path):
    rng = np.random.default_rng(0)
    _write(tmp_path, "a.png", rng.integers(0, 255, (40, 50, 3), dtype=np.uint8))
    _write(tmp_path, "b.png", rng.integers(0, 255, (40, 50), dtype=np.uint8))
    loaded = load_images(tmp_path, "can")
    assert loaded.names == ("a.png", "b.png")
    assert loaded.grayscale_converted == 1
    assert all(im.shape[2] == 3 for im in loaded.images)


def test_empty_folder_says_how_many_found_and_needed(tmp_path):
    with pytest.raises(InputError, match="at least 2 images; found 0"):
        load_images(tmp_path, "can")


def test_non_image_files_are_named(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "data.csv").write_text("1,2")
    with pytest.raises(InputError, match=r"found 0 .*ignored 2 non-image files: data.csv, notes.txt"):
        load_images(tmp_path, "can")


def test_unreadable_image_is_named(tmp_path):
    _write(tmp_path, "good.png", np.zeros((8, 8, 3), np.uint8))
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(InputError, match="broken.png cannot be read"):
        load_images(tmp_path, "can")


def test_arrays_with_wrong_channel_count_are_rejected():
    with pytest.raises(InputError, match="RGB .* or grayscale"):
        load_images([np.zeros((8, 8, 4), np.uint8), np.zeros((8, 8, 3), np.uint8)], "can")


def test_too_few_arrays():
    with pytest.raises(InputError, match="at least 2 images; found 1"):
        load_images([np.zeros((8, 8, 3), np.uint8)], "can")


def test_bundled_samples_leave_out_the_quality_images():
    loaded = load_images(None, "can")
    assert not set(loaded.names) & set(quality_images("can"))
    assert loaded.origin.startswith("bundled samples")


def test_crops_are_seeded_and_shaped():
    images = load_images([np.arange(30 * 40 * 3, dtype=np.uint8).reshape(30, 40, 3)] * 2, "can")
    plan = make_plan(DYNAMIC, ImageIO(), "can", count=3, seed=5, shape="16x24")
    first = [f["input"] for f in calibration_feeds(images, plan, DYNAMIC, ImageIO())]
    again = [f["input"] for f in calibration_feeds(images, plan, DYNAMIC, ImageIO())]
    assert len(first) == 3 and first[0].shape == (1, 3, 16, 24) and first[0].dtype == np.float32
    assert all(np.array_equal(a, b) for a, b in zip(first, again))


def test_small_images_are_enlarged_to_the_crop():
    images = load_images([np.zeros((10, 12, 3), np.uint8)] * 2, "can")
    plan = make_plan(DYNAMIC, ImageIO(), "can", count=1, shape="32x32")
    assert next(calibration_feeds(images, plan, DYNAMIC, ImageIO()))["input"].shape == (1, 3, 32, 32)


def test_calibration_shape_outside_the_dynamic_range():
    with pytest.raises(InputError, match="outside the dynamic range"):
        make_plan(DYNAMIC, ImageIO(), "can", shape="8x8", bounds=((16, 16), (64, 64)))


def test_calibration_shape_against_a_fixed_input():
    fixed = TensorSpec("input", ("N", 3, 128, 128))
    with pytest.raises(InputError, match="takes 128x128 only"):
        make_plan(fixed, ImageIO(input_size=(128, 128)), "face", shape="64x64")
    assert make_plan(fixed, ImageIO(input_size=(128, 128)), "face").letterbox


def test_bad_shape_text_and_count():
    with pytest.raises(InputError, match="HxW"):
        make_plan(DYNAMIC, ImageIO(), "can", shape="12")
    with pytest.raises(InputError, match="at least 1"):
        make_plan(DYNAMIC, ImageIO(), "can", count=0)
