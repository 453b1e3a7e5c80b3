"""The gate's large cases: 1280 px images (training-split photographs when cached), and what they catch."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from fastip.calibration.quality import LARGE_SIDE, QualityProbe, QualityThresholds, cached_photos, quality_cases
from fastip.models.can import CAN_IO
from fastip.spec import ImageIO, TensorSpec

SPEC = TensorSpec("input", ("N", 3, "H", "W"))


def _photo_cache(folder, names_sizes):
    """A photo cache folder with an index.json and one noise PNG per (name, (w, h))."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for name, (w, h) in names_sizes:
        pixels = np.random.default_rng(len(name)).integers(0, 256, (h, w, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{name}.png")
        data = (folder / f"{name}.png").read_bytes()
        entries.append({"name": name, "file": f"{name}.png", "package": "test", "version": "1", "source": name,
                        "sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "width": w, "height": h,
                        "licence": "CC0", "copyright": "test"})
    (folder / "index.json").write_text(json.dumps({"photos": entries}))
    return folder


def test_without_photographs_the_quality_images_are_enlarged(tmp_path, monkeypatch):
    monkeypatch.setenv("FASTIP_DATA", str(tmp_path / "nothing"))
    cases = quality_cases("can", CAN_IO, SPEC)
    small, large = cases[:2], cases[2:]
    assert [c.label for c in small] == ["astronaut@192x256", "coffee@192x256"]
    assert len(large) == 2 and all(c.label.endswith("large") for c in large)
    assert [max(c.image.shape[:2]) for c in large] == [LARGE_SIDE, LARGE_SIDE]
    assert all(c.operator_output is None for c in large)
    assert large[0].feed["input"].shape[2:] == large[0].image.shape[:2]


def test_training_split_photographs_are_taken_in_a_fixed_order(tmp_path, monkeypatch):
    from fastip.train.data import is_held_out_photo

    names = [f"photo{i}" for i in range(40)]
    train = [n for n in names if not is_held_out_photo(n)]
    held = [n for n in names if is_held_out_photo(n)]
    assert len(train) >= 3 and held
    sizes = [(n, (1400, 900)) for n in train[:3]] + [(train[3], (800, 600))] + [(held[0], (1500, 1000))]
    monkeypatch.setenv("FASTIP_DATA", str(_photo_cache(tmp_path / "photos", sizes)))
    chosen = [name for name, _ in cached_photos(2)]
    expected = sorted(train[:3], key=lambda n: hashlib.sha256(n.encode()).hexdigest())[:2]
    assert chosen == expected  # >= 1280 px only, training split only
    assert [name for name, _ in cached_photos(2, held_out=True)] == [held[0]]
    large = quality_cases("can", CAN_IO, SPEC)[2:]
    assert [c.label.split("@")[0] for c in large] == expected
    assert large[0].image.shape == (823, 1280, 3)


def test_sr_large_cases_downscale_a_1280_px_hr_image(tmp_path, monkeypatch):
    monkeypatch.setenv("FASTIP_DATA", str(tmp_path / "nothing"))
    io = ImageIO(colour_order="RGB", value_range=(0.0, 1.0), scale_factor=3)
    large = quality_cases("sr", io, SPEC)[2:]
    for case in large:
        h, w = case.image.shape[:2]
        assert max(h, w) in (LARGE_SIDE - 1, LARGE_SIDE, LARGE_SIDE + 1) and h % 3 == 0 and w % 3 == 0
        assert case.feed["input"].shape[2:] == (h // 3, w // 3)


def test_fixed_size_inputs_get_no_large_case(monkeypatch, tmp_path):
    monkeypatch.setenv("FASTIP_DATA", str(tmp_path / "nothing"))
    assert len(quality_cases("can", CAN_IO, TensorSpec("input", ("N", 3, 192, 256)))) == 2


class _Session:
    """Runs a float function of the input; `noise` is added where the image is larger than 512 px."""

    def __init__(self, noise: float):
        self.noise = noise

    def run(self, feed):
        x = feed["input"]
        if max(x.shape[2:]) > 512:
            x = x + self.noise * np.random.default_rng(0).standard_normal(x.shape).astype(np.float32)
        return {"output": x}


def test_an_artifact_that_degrades_only_on_large_images_fails_the_gate(tmp_path, monkeypatch):
    monkeypatch.setenv("FASTIP_DATA", str(tmp_path / "nothing"))
    cases = quality_cases("can", CAN_IO, SPEC)
    probe = QualityProbe("can", CAN_IO, _Session(0.0), cases, QualityThresholds())
    metrics, score, passed = probe.measure(_Session(0.0))
    assert passed and score > 90
    metrics, score, passed = probe.measure(_Session(0.02))  # ~34 dB, on the large cases only
    per_image = metrics["psnr_vs_fp32_per_image"]
    assert min(per_image[:2]) > 90 and max(per_image[2:]) < 40
    assert not passed and score == pytest.approx(min(per_image[2:]))
