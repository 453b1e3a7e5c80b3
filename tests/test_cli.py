"""The console scripts: happy paths on real images, and one-line errors with a non-zero exit."""

import textwrap

import numpy as np
import pytest

pytest.importorskip("torch")

from fastip.bundle import Bundle  # noqa: E402
from fastip.cli import export_cmd, main  # noqa: E402
from fastip.images import read_image, write_image  # noqa: E402
from tests.support import crop  # noqa: E402


@pytest.fixture
def photo(tmp_path, astronaut):
    return write_image(tmp_path / "photo.png", crop(astronaut, 61, 83, 100, 150))


def test_run_writes_the_image(can_bundle, photo, tmp_path, capsys):
    out = tmp_path / "smoothed.png"
    assert main.main(["run", str(can_bundle.root), str(photo), "-o", str(out), "--backend", "ort"]) == 0
    assert read_image(out).shape == (61, 83, 3)
    assert "smoothed.png" in capsys.readouterr().out


def test_run_sr_upscales(tmp_path, photo):
    assert export_cmd.main(["fsrcnn_x2", "--target", "onnx", "-o", str(tmp_path / "sr"), "-q"]) == 0
    out = tmp_path / "big.png"
    assert main.main(["run", str(tmp_path / "sr"), str(photo), "-o", str(out)]) == 0
    assert read_image(out).shape == (122, 166, 3)


def test_bring_your_own_module(tmp_path, monkeypatch, photo, capsys):
    pkg = tmp_path / "mypkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "models.py").write_text(textwrap.dedent("""
        import torch
        from torch import nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(3, 3, 3, padding=1)

            def forward(self, x):
                return torch.sigmoid(self.conv(x))

        def build_net():
            torch.manual_seed(0)
            return Net()
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "mine"
    rc = export_cmd.main(["mypkg.models:build_net", "--input-shape", "1x3xHxW", "--target", "onnx", "-o", str(out)])
    assert rc == 0, capsys.readouterr().err
    bundle = Bundle.load(out)
    assert bundle.manifest.model == "build_net" and bundle.manifest.family == "custom"
    assert bundle.manifest.source["builder"] == "mypkg.models:build_net"
    result = tmp_path / "r.png"
    assert main.main(["run", str(out), str(photo), "-o", str(result), "--backend", "ort"]) == 0
    capsys.readouterr()
    # torch rebuilds the module: the manifest's `mypkg.models:build_net` is imported only when asked to.
    assert main.main(["run", str(out), str(photo), "-o", str(result), "--backend", "torch"]) == 2
    assert "--trust-code" in capsys.readouterr().err
    assert main.main(["run", str(out), str(photo), "-o", str(result), "--backend", "torch", "--trust-code"]) == 0
    assert read_image(result).shape == (61, 83, 3)


def test_models_and_info(can_bundle, capsys):
    assert main.main(["models", "can*"]) == 0
    assert "can32" in capsys.readouterr().out
    assert main.main(["info", str(can_bundle.root)]) == 0
    assert "validated onnx on ort" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["run", "no/such/bundle", "x.png", "-o", "y.png"], "not found"),  # the image or the bundle, one line
    (["export", "can33", "-o", "OUT"], "unknown model 'can33'"),
    (["export", "nopkg.nomod:fn", "-o", "OUT"], "cannot import 'nopkg.nomod'"),
    (["export", "can24", "--input-shape", "1x3xHxW", "-o", "OUT"], "--input-shape is for your own modules"),
    (["export", "fsrcnn_x2", "--norm", "instance", "-o", "OUT"], "--norm applies to CAN models only"),
    (["export", "x.y:z", "--input-shape", "1x3", "-o", "OUT"], "cannot import"),
])
def test_errors_are_one_line(argv, message, tmp_path, capsys):
    argv = [str(tmp_path / a) if a == "OUT" else a for a in argv]
    rc = main.main(argv)
    err = capsys.readouterr().err
    assert rc == 2 and message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) <= 2


def test_run_rejects_a_non_image(can_bundle, tmp_path, capsys):
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    assert main.main(["run", str(can_bundle.root), str(bad), "-o", str(tmp_path / "o.png")]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert not (tmp_path / "o.png").exists()
    assert np.all(read_image(write_image(tmp_path / "ok.png", np.zeros((2, 2, 3), np.uint8))) == 0)


def test_every_console_script_is_a_subcommand_too(capsys):
    for name in ("export", "bench", "train"):
        with pytest.raises(SystemExit) as exit_info:
            main.main([name, "--help"])
        assert exit_info.value.code == 0
        assert "examples:" in capsys.readouterr().out
