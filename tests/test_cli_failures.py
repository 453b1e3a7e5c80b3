"""Every CLI path answers bad user input with one `fastip: error:` line, exit 2, no traceback."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from fastip.cli import main  # noqa: E402
from fastip.errors import BundleError, require  # noqa: E402
from fastip.images import write_image  # noqa: E402
from tests.images_support import png_bomb, png_bytes  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def _one_line(capsys, code: int) -> str:
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fastip: error: ") and "Traceback" not in err, err
    return lines[0]


@pytest.fixture
def photo(tmp_path):
    return write_image(tmp_path / "photo.png", np.random.default_rng(0).integers(0, 256, (20, 24, 3), dtype=np.uint8))


def test_info_into_a_closed_pipe():
    """`fastip info B | head -2` ends quietly, as any Unix tool does when its reader leaves."""
    code = ("import json, sys\n"
            "from fastip.cli import main\n"
            "real = sys.stdout.write\n"
            "def closed(text):\n"
            "    raise BrokenPipeError(32, 'Broken pipe')\n"
            "sys.stdout.write = closed\n"
            "sys.exit(main.main(['models']))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert "Traceback" not in done.stderr and "BrokenPipeError" not in done.stderr, done.stderr
    assert done.returncode == 141


@pytest.mark.skipif(shutil.which("fastip") is None or shutil.which("head") is None, reason="needs the fastip script")
def test_info_piped_to_head(can_bundle):
    done = subprocess.run(f"fastip info --json {can_bundle.root} | head -2", shell=True, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert len(done.stdout.splitlines()) == 2 and "Traceback" not in done.stderr, done.stderr


def test_ctrl_c_during_an_import_is_not_a_missing_package(tmp_path, monkeypatch):
    (tmp_path / "interrupted_lib.py").write_text(
        "try:\n    raise KeyboardInterrupt\nexcept KeyboardInterrupt as exc:\n"
        "    raise ImportError('initialization failed') from exc\n")
    (tmp_path / "broken_lib.py").write_text("raise ImportError('no such library')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(KeyboardInterrupt):
        require("interrupted_lib", "openvino", "the openvino backend")
    with pytest.raises(Exception, match="pip install 'fastip\\[openvino\\]'"):
        require("broken_lib", "openvino", "the openvino backend")


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_weights_of_another_model_name_model_and_weight(tmp_path, capsys, suffix):
    import torch

    from fastip.models.checkpoint import load_state_dict, save_state_dict

    weights = tmp_path / f"can24{suffix}"
    state = load_state_dict(REPO / "fastip" / "models" / "weights" / "can24_rof.safetensors")
    save_state_dict(state, weights) if suffix == ".safetensors" else torch.save(state, weights)
    line = _one_line(capsys, main.main(["export", "can32", "--weights", str(weights), "-o", str(tmp_path / "b"), "-q"]))
    assert "do not fit can32" in line and "has shape" in line and "in the model" in line
    assert not (tmp_path / "b").exists()


def test_bundle_weights_of_the_wrong_shape(can_bundle, tmp_path):
    from fastip import runtimes
    from fastip.models.checkpoint import load_state_dict, save_state_dict
    from tests.support import rehash_manifest

    copy = tmp_path / "b"
    shutil.copytree(can_bundle.root, copy)
    save_state_dict(load_state_dict(REPO / "fastip" / "models" / "weights" / "can32_wls_tone.safetensors"),
                    copy / "weights.safetensors")
    rehash_manifest(copy)
    with pytest.raises(BundleError, match="do not fit can24: .* has shape"):
        runtimes.open(copy, "torch")


def test_tile_smaller_than_the_halo(can_bundle, photo, tmp_path, capsys):
    line = _one_line(capsys, main.main(["run", str(can_bundle.root), str(photo), "-o", str(tmp_path / "o.png"),
                                        "--tile", "8"]))
    assert "smaller than the model's halo of 128" in line and "--tile 512" in line


@pytest.mark.parametrize("make, message", [
    (lambda p: p.write_bytes(png_bomb(30000, 30000)), "150 MP"),
    (lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n garbage"), "cannot read"),
    (lambda p: None, "not found"),
])
def test_bad_images(can_bundle, tmp_path, capsys, make, message):
    image = tmp_path / "in.png"
    make(image)
    line = _one_line(capsys, main.main(["run", str(can_bundle.root), str(image), "-o", str(tmp_path / "o.png")]))
    assert message in line


def test_run_takes_a_one_bit_png(can_bundle, tmp_path, capsys):
    (tmp_path / "bits.png").write_bytes(png_bytes(np.random.default_rng(1).integers(0, 2, (16, 20)), 0, bit_depth=1))
    assert main.main(["run", str(can_bundle.root), str(tmp_path / "bits.png"), "-o", str(tmp_path / "o.png")]) == 0


def test_run_output_path_problems(can_bundle, photo, tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    out = tmp_path / "file" / "o.png"
    line = _one_line(capsys, main.main(["run", str(can_bundle.root), str(photo), "-o", str(out)]))
    assert str(out) in line


def test_run_into_an_existing_directory_writes_inside_it(can_bundle, photo, tmp_path):
    """`-o` naming a directory is a folder of outputs (as `cp` reads it), never replaced by an image."""
    (tmp_path / "out.png").mkdir()
    assert main.main(["run", str(can_bundle.root), str(photo), "-o", str(tmp_path / "out.png")]) == 0
    assert (tmp_path / "out.png").is_dir() and (tmp_path / "out.png" / photo.name).is_file()


def test_export_to_an_existing_file(tmp_path, capsys):
    (tmp_path / "taken").write_text("x")
    line = _one_line(capsys, main.main(["export", "espcn_x2", "-o", str(tmp_path / "taken"), "-q"]))
    assert "is a file" in line and (tmp_path / "taken").read_text() == "x"


def test_damaged_manifests_through_the_cli(can_bundle, tmp_path, capsys):
    for i, edit in enumerate([
        lambda d: d["io"].update(size_multiple=2.5),
        lambda d: d["inputs"][0].update(dtype="complex"),
        lambda d: d.update({f"k{i}": 1 for i in range(10_000)}),
        lambda d: None,  # nested 5,000 deep below
    ]):
        copy = tmp_path / f"b{i}"
        shutil.copytree(can_bundle.root, copy)
        data = json.loads((copy / "fastip.json").read_text())
        edit(data)
        text = json.dumps(data)
        if i == 3:
            text = text[:-1] + ', "deep": ' + "[" * 5000 + "]" * 5000 + "}"
        (copy / "fastip.json").write_text(text)
        line = _one_line(capsys, main.main(["info", str(copy)]))
        assert len(line) < 400


@pytest.mark.parametrize("backend", ["ort", "torch"])
def test_negative_thread_counts(can_bundle, photo, tmp_path, capsys, backend):
    line = _one_line(capsys, main.main(["run", str(can_bundle.root), str(photo), "-o", str(tmp_path / "o.png"),
                                        "--backend", backend, "--threads", "-2"]))
    assert "threads must be a positive number" in line
