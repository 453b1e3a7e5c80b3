"""Ray Data on a local 2-CPU Ray: folder runs identical to local runs, resumable across both, BundlePredictor."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from fastip.errors import FastipError, MissingDependencyError  # noqa: E402
from tests.batch.photos import make_photo_folder  # noqa: E402
from tests.support import has  # noqa: E402

requires_ray = pytest.mark.skipif(not has("ray"), reason="needs Ray Data: pip install 'fastip[ray]'")
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray with 2 CPUs, its files in a short temporary folder, shut down after the module."""
    from fastip.serving.ray import connect

    import ray

    tmp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # Ray's socket paths must stay short
    saved = {k: os.environ.get(k) for k in ("RAY_TMPDIR", "PYTHONPATH")}
    os.environ["RAY_TMPDIR"] = tmp
    # actors import this checkout of fastip, as the driver does
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), saved["PYTHONPATH"]) if p)
    try:
        assert connect(num_cpus=2)
        yield ray
    finally:
        ray.shutdown()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    return make_photo_folder(tmp_path_factory.mktemp("ray-photos") / "photos", count=20)


def outputs(folder) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if not p.name.startswith(".")}


@requires_ray
def test_ray_folder_run_equals_single_runs_and_resumes_a_local_one(local_ray, can_bundle, photos, tmp_path, capsys):
    from fastip.cli import main

    single = tmp_path / "single"
    for src in sorted(photos.iterdir()):
        assert main.main(["run", str(can_bundle.root), str(src), "-o", str(single / src.name)]) == 0
    out = tmp_path / "out"
    # half of the folder done by a local run first: the Ray run skips it, verified by the shared journal
    assert main.main(["run", str(can_bundle.root), str(photos / "*.png"), "-o", str(out)]) == 0
    (photos / "bad.jpg").write_text("not an image")
    capsys.readouterr()
    try:
        rc = main.main(["run", str(can_bundle.root), str(photos), "-o", str(out), "--ray", "--actors", "2",
                        "--threads", "1"])
    finally:
        (photos / "bad.jpg").unlink()
    err = capsys.readouterr().err
    assert rc == 2
    pngs = len(list(photos.glob("*.png")))
    assert f"21 images on Ray, 2 actor(s) x 1 thread(s): {20 - pngs} written, {pngs} skipped (done before), 1 failed" in err
    assert err.count("fastip: error: ") == 1 and f"fastip: error: {photos / 'bad.jpg'}: cannot read" in err
    assert outputs(out) == outputs(single)


@requires_ray
def test_bundle_predictor_maps_batches_of_images(local_ray, can_bundle, photos):
    import ray.data

    from fastip.pipeline import open_pipeline
    from fastip.images import read_image
    from fastip.ray import BundlePredictor

    files = sorted(photos.iterdir())[:6]
    images = [read_image(p) for p in files]
    ds = ray.data.from_items([{"image": im, "name": p.name} for im, p in zip(images, files)])
    ds = ds.map_batches(BundlePredictor, fn_constructor_kwargs={"bundle": str(can_bundle.root), "threads": 1},
                        compute=ray.data.ActorPoolStrategy(size=2), batch_size=2, num_cpus=1)
    got = {row["name"]: np.asarray(row["output"]) for row in ds.iter_rows()}
    with open_pipeline(can_bundle.root, "ort", threads=1) as pipe:
        for p, im in zip(files, images):
            np.testing.assert_array_equal(got[p.name], pipe(im))


def test_unanswered_address_is_one_error_within_bounds(can_bundle, photos, tmp_path, capsys):
    pytest.importorskip("ray", reason="needs Ray Data: pip install 'fastip[ray]'")
    from fastip.cli import main

    start = time.perf_counter()
    rc = main.main(["run", str(can_bundle.root), str(photos), "-o", str(tmp_path / "out"), "--ray",
                    "--address", "127.0.0.1:1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and time.perf_counter() - start < 30
    assert err == ["fastip: error: no Ray cluster answers at 127.0.0.1:1 (Connection refused); start one there "
                   "with `ray start --head`, or leave out --address to start a local Ray"]
    assert not (tmp_path / "out").exists()


def test_missing_ray_names_the_extra(monkeypatch, can_bundle, photos, tmp_path):
    from fastip.serving.ray import run_folder_on_ray

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'fastip\[ray\]'"):
        run_folder_on_ray(can_bundle.root, [photos], tmp_path / "out", stream=None)


def test_bad_ray_addresses(can_bundle, photos, tmp_path):
    pytest.importorskip("ray", reason="needs Ray Data: pip install 'fastip[ray]'")
    from fastip.serving.ray import connect

    with pytest.raises(FastipError, match="is not auto, HOST:PORT or ray://HOST:PORT"):
        connect("nowhere")
    with pytest.raises(FastipError, match="no Ray cluster answers at ray://127.0.0.1:1"):
        connect("ray://127.0.0.1:1")


def test_import_needs_neither_ray_nor_a_backend():
    import subprocess

    code = ("import sys\n"
            "class Block:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name.split('.')[0] in {'ray', 'torch', 'onnx', 'onnxruntime', 'openvino', 'pyarrow', 'pandas'}:\n"
            "            raise ImportError('blocked ' + name)\n"
            "sys.meta_path.insert(0, Block())\n"
            "import fastip.ray, fastip.batch, fastip.cli.batch_cmd\n"
            "print('ok')\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr
