"""Killing an export at any moment leaves the previous bundle or none, and the next export cleans up."""

import os
import signal
import subprocess
import sys
import time

import pytest

pytest.importorskip("torch")

from fastip.bundle import Bundle  # noqa: E402
from fastip.export import export_model  # noqa: E402

SCRIPT = "import sys; from fastip.export import export_model; export_model('edsr_baseline_x2', sys.argv[1], target='onnx', weights='none')"


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.5, 1.5, 3.0])
def test_kill_mid_export(tmp_path, delay):
    out = tmp_path / "bundle"
    export_model("espcn_x2", out, target="onnx")
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(out)], env={**os.environ, "PYTHONPATH": os.getcwd()})
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    if out.exists():
        model = Bundle.load(out).manifest.model
        assert model in ("espcn_x2", "edsr_baseline_x2"), "either the old bundle or the complete new one"
    export_model("fsrcnn_x2", out, target="onnx")
    assert Bundle.load(out).manifest.model == "fsrcnn_x2"
    assert [p.name for p in tmp_path.iterdir()] == ["bundle"], "orphaned temporary directories are removed"


def test_interrupted_swap_restores_the_old_bundle(tmp_path):
    out = tmp_path / "bundle"
    export_model("espcn_x2", out, target="onnx")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    aside = tmp_path / f".bundle.old-{dead.stdout.strip()}-abc"
    os.rename(out, aside)  # as if the writer died between moving the old bundle aside and the swap
    export_model("fsrcnn_x2", tmp_path / "other", target="onnx")  # unrelated target: leaves it alone
    assert aside.exists()
    export_model("fsrcnn_x2", out, target="onnx")
    assert Bundle.load(out).manifest.model == "fsrcnn_x2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle", "other"]
