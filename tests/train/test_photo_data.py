"""The photo cache and the `photos` training sets, on a fake Debian package built here (no network)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from fastip.cli.main import main
from fastip.errors import FastipError, InputError, MissingDependencyError
from fastip.images import write_image
from fastip.train.data import NamedImage, is_held_out_photo, load_images, scale_crops
from fastip.train.photos import fetch, load_index, verify
from fastip.train.photos.catalogue import PhotoPackage
from fastip.train.photos.debian import apt_download, licence_of

COPYRIGHT = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: fake-photos

Files: *
Copyright: 2020, Someone <someone@example.org>
License: MIT

Files: pics/f.png
Copyright: 2021, A Photographer
           2022, Another One
License: CC0-1.0
 Public domain dedication.

License: MIT
 Permission is hereby granted.
"""
# fake-a is in the training split and fake-f held out (sha256 of the name divisible by 5)
FAKE = PhotoPackage("fake-photos", "fake", "usr/share/pics", "pics", (("a", "a.png"), ("f", "f.png")))


def _photo(seed: int) -> np.ndarray:
    yy, xx = np.mgrid[0:90, 0:120]
    smooth = np.stack([(xx * 2 + seed * 50) % 256, (yy * 3) % 256, (xx + yy) % 256], axis=2)
    noise = np.random.default_rng(seed).normal(0, 20, smooth.shape)
    return np.clip(smooth + noise, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def fake_deb(tmp_path_factory) -> Path:
    if shutil.which("dpkg-deb") is None:
        pytest.skip("dpkg-deb is not installed")
    root = tmp_path_factory.mktemp("deb") / "fake-photos"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN/control").write_text("Package: fake-photos\nVersion: 1.2-3\nArchitecture: all\n"
                                         "Maintainer: Nobody <nobody@example.org>\nDescription: test photographs\n")
    write_image(root / "usr/share/pics/a.png", _photo(1))
    write_image(root / "usr/share/pics/f.png", _photo(2))
    (root / "usr/share/doc/fake-photos").mkdir(parents=True)
    (root / "usr/share/doc/fake-photos/copyright").write_text(COPYRIGHT)
    deb = root.parent / "fake-photos_1.2-3_all.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "--build", str(root), str(deb)], check=True, capture_output=True)
    return deb


@pytest.fixture(autouse=True)
def _no_data_env(monkeypatch):
    monkeypatch.delenv("FASTIP_DATA", raising=False)


def _downloader(deb: Path, log: list | None = None):
    def download(package: str, dest: Path) -> Path:
        if log is not None:
            log.append(package)
        if package != "fake-photos":
            raise InputError(f"package {package} cannot be downloaded")
        return Path(shutil.copy(deb, dest))
    return download


def test_fetch_writes_hashed_licensed_index(tmp_path, fake_deb):
    import hashlib

    cache = tmp_path / "photos"
    photos = fetch(cache, packages=(FAKE,), download=_downloader(fake_deb))
    assert [p.name for p in photos] == ["fake-a", "fake-f"]
    index = json.loads((cache / "index.json").read_text())["photos"]
    assert [e["name"] for e in index] == ["fake-a", "fake-f"]
    a, f = load_index(cache)
    assert (a.package, a.version, a.source) == ("fake-photos", "1.2-3", "/usr/share/pics/a.png")
    assert (a.licence, a.copyright) == ("MIT", "2020, Someone <someone@example.org>")
    assert (f.licence, f.copyright) == ("CC0-1.0", "2021, A Photographer / 2022, Another One")
    for p in (a, f):
        data = (cache / p.file).read_bytes()
        assert hashlib.sha256(data).hexdigest() == p.sha256 and len(data) == p.size
        assert (p.width, p.height) == (120, 90)
    assert verify(cache) == []
    assert sorted(x.name for x in tmp_path.iterdir()) == ["photos"]  # no temp folders left beside it


def test_failed_fetch_leaves_no_partial_cache(tmp_path, fake_deb):
    other = PhotoPackage("gone-photos", "gone", "usr/share/pics", "pics", (("x", "x.png"),))
    cache = tmp_path / "photos"
    with pytest.raises(InputError, match="gone-photos"):
        fetch(cache, packages=(FAKE, other), download=_downloader(fake_deb))
    assert list(tmp_path.iterdir()) == []
    fetch(cache, packages=(FAKE,), download=_downloader(fake_deb))
    before = (cache / "index.json").read_text()
    missing = PhotoPackage("fake-photos", "fake", "usr/share/pics", "pics", (("a", "a.png"), ("z", "z.png")))
    with pytest.raises(InputError, match="no longer holds usr/share/pics/z.png"):
        fetch(cache, packages=(missing,), download=_downloader(fake_deb))
    assert (cache / "index.json").read_text() == before  # the old cache stands
    assert sorted(x.name for x in tmp_path.iterdir()) == ["photos"]


def test_verify_catches_a_modified_file(tmp_path, fake_deb, capsys, monkeypatch):
    cache = tmp_path / "photos"
    fetch(cache, packages=(FAKE,), download=_downloader(fake_deb))
    assert main(["data", "verify", "--cache", str(cache)]) == 0
    path = cache / load_index(cache)[1].file
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    problems = verify(cache)
    assert len(problems) == 1 and "fake-f" in problems[0]
    capsys.readouterr()
    assert main(["data", "verify", "--cache", str(cache)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fastip: error: 1 cached photographs fail") and "fastip data fetch" in err
    assert err.count("\n") == 1
    monkeypatch.setenv("FASTIP_DATA", str(cache))
    with pytest.raises(InputError, match="changed since it was fetched"):
        load_images("photos", held_out=True)


def test_licence_is_the_last_matching_stanza():
    assert licence_of(COPYRIGHT, "pics/f.png").licence == "CC0-1.0"
    assert licence_of(COPYRIGHT, "pics/sub/a.png").licence == "MIT"  # DEP-5: * matches across /
    with pytest.raises(FastipError, match="no licence"):
        licence_of("Files: other/*\nCopyright: x\nLicense: MIT\n", "pics/a.png")


def test_missing_apt_and_vanished_package_are_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))  # neither apt-get nor dpkg-deb
    assert main(["data", "fetch", "--cache", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fastip: error: `fastip data fetch` needs `apt-get`") and err.count("\n") == 1
    assert not (tmp_path / "c").exists()
    fake_apt = tmp_path / "apt-get"
    fake_apt.write_text("#!/bin/sh\necho 'E: Unable to locate package vanished-photos' >&2\nexit 100\n")
    fake_apt.chmod(0o755)
    with pytest.raises(InputError, match=r"package vanished-photos cannot be downloaded \(E: Unable to locate"):
        apt_download("vanished-photos", tmp_path)
    with pytest.raises(MissingDependencyError):
        monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
        apt_download("x", tmp_path)


def test_split_is_deterministic_and_disjoint(tmp_path, fake_deb, monkeypatch, capsys):
    cache = tmp_path / "photos"
    fetch(cache, packages=(FAKE,), download=_downloader(fake_deb))
    monkeypatch.setenv("FASTIP_DATA", str(cache))
    assert (is_held_out_photo("fake-a"), is_held_out_photo("fake-f")) == (False, True)
    train = [i.name for i in load_images("photos")]
    held = [i.name for i in load_images("photos", held_out=True)]
    assert train == ["fake-a"] and held == ["grace_hopper", "china", "fake-f"]
    assert [i.name for i in load_images("samples+photos", held_out=True)] == held
    both = [i.name for i in load_images("samples+photos")]
    assert "astronaut" in both and "fake-a" in both and not set(both) & set(held)
    small = [i.name for i in load_images("photos", crop_side=50)]
    assert small == ["fake-a", "fake-a@1"]  # 120 px long: a 50 px crop at full resolution; at 1/2 under 1.5 crops
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    assert "fake-a" in out and "train" in out and "held-out" in out and "CC0-1.0" in out


def test_scale_crops_are_deterministic_and_sized():
    image = NamedImage("big", np.random.default_rng(0).integers(0, 256, (300, 400, 3), dtype=np.uint8))
    crops = scale_crops(image, 64, (1.0, 0.5, 0.25))
    assert [c.name for c in crops] == ["big@1", "big@0.5", "big@0.25"]
    assert all(c.pixels.shape == (64, 64, 3) for c in crops)
    again = scale_crops(image, 64, (1.0, 0.5, 0.25))
    assert all(np.array_equal(a.pixels, b.pixels) for a, b in zip(crops, again))
    assert [c.name for c in scale_crops(image, 200, (1.0, 0.5))] == ["big@1"]  # at 1/2: 200 px, under 1.5 crops


def test_photos_without_a_cache_is_one_error_line(tmp_path, capsys):
    pytest.importorskip("torch")
    from fastip.cli.train_cmd import main as train_main

    out = tmp_path / "w.pt"
    assert train_main(["can24", "--operator", "rof", "--data", "photos", "-o", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fastip-train: error: no photographs cached in") and "run `fastip data fetch`" in err
    assert err.count("\n") == 1 and not out.exists()


def test_training_smoke_on_fetched_photos(tmp_path, fake_deb, monkeypatch):
    pytest.importorskip("torch")
    from fastip.train import TrainConfig, train_can
    from fastip.train import targets as targets_mod

    monkeypatch.setattr(targets_mod, "apply_operator", lambda op, image, params: 255 - image)  # a cheap operator
    cache = tmp_path / "photos"
    fetch(cache, packages=(FAKE,), download=_downloader(fake_deb))
    monkeypatch.setenv("FASTIP_DATA", str(cache))
    config = TrainConfig(steps=2, batch=1, crop=16, threads=1, checkpoint_every=2, eval_every=2)
    result = train_can("can24", "invert", "photos", tmp_path / "w.pt", config=config, val="photos", max_side=32,
                       cache_dir=tmp_path / "targets", progress=lambda _: None)
    assert result.steps == 2 and np.isfinite(result.loss)
    assert result.evaluated_on == ("grace_hopper", "china", "fake-f")
    assert result.params["data"] == ["fake-a"] and (tmp_path / "w.pt").is_file()
