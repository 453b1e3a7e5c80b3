"""fastip-bench end to end on a tiny SR model, and its refusals of bad input."""

from __future__ import annotations

import json

import pytest

from fastip.benchmarks.inputs import parse_size
from fastip.cli.bench_cmd import main
from fastip.errors import InputError
from tests.support import has


@pytest.mark.parametrize("argv, message", [
    (["espcn_x2", "--backends", "tpu"], "unknown backend 'tpu'"),
    (["espcn_x2", "--precisions", "int4"], "unknown precision 'int4'"),
    (["espcn_x2", "--sizes", "12by34"], "bad size '12by34'"),
    (["espcn_x2", "--threads", "0"], "bad --threads value"),
    (["espcn_x2", "--batch", "0"], "bad --batch value"),
    (["espcn_x2", "--requests", "two"], "bad --requests value"),
    (["espcn_x2", "--hints", "fast"], "unknown OpenVINO hint 'fast'"),
    (["out/no-such-bundle"], "bundle not found"),
    (["no_such_model"], "unknown model"),
    ([], "give a model name"),
])
def test_bad_input_is_one_line_error(argv, message, capsys, tmp_path):
    assert main([*argv, "-q", "-o", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_parse_size():
    assert parse_size("1920x1080") == (1920, 1080)
    with pytest.raises(InputError):
        parse_size("0x10")


@pytest.mark.skipif(not (has("torch") and has("onnxruntime")), reason="needs torch and onnxruntime")
def test_end_to_end_espcn(tmp_path, capsys):
    out = tmp_path / "report"
    code = main(["espcn_x2", "--backends", "ort", "--sizes", "24x16", "--min-runs", "2", "--min-time", "0",
                 "--warmup", "1", "-q", "-o", str(out)])
    assert code == 0
    assert "espcn_x2 ort fp32 24x16" in capsys.readouterr().out
    data = json.loads((out / "results.json").read_text())
    (row,) = data["results"]
    assert row["status"] == "ok", row["reason"]
    assert len(row["latency"]["samples_ms"]) >= 2
    # ESPCN x2: 5x5 3->64, 3x3 64->32, 3x3 32->12, and the bicubic skip's grouped 5x5 3->12
    assert row["flops"] == 2 * (26688 + 300) * 24 * 16
    assert {"hr_psnr_y", "hr_ssim_y", "hr_psnr_rgb", "hr_ssim_rgb"} <= set(row["quality"])
    assert row["operator"]["latency"] is not None or row["operator"]["error"]
    if "bicubic_psnr_y" in row["quality"]:  # HR is a native crop, not an upscaled (too easy) picture
        assert row["quality"]["bicubic_psnr_y"] < 40
    assert data["environment"]["versions"]["onnxruntime"]
    assert (out / "report.html").is_file() and (out / "report.md").is_file()

    assert main(["--compare", str(out / "results.json"), str(out / "results.json")]) == 0
    assert "1 rows compared, 0 regressions" in capsys.readouterr().out


@pytest.mark.skipif(not (has("torch") and has("onnxruntime") and has("openvino")), reason="needs torch, onnxruntime, openvino")
def test_batch_requests_and_hints_are_axes(tmp_path, capsys):
    out = tmp_path / "report"
    code = main(["espcn_x2", "--backends", "ort,openvino", "--sizes", "24x16", "--batch", "2", "--streams", "2",
                 "--hints", "latency,throughput", "--min-runs", "4", "--min-time", "0", "--warmup", "1", "--no-overhead",
                 "-q", "-o", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "espcn_x2 at 24x16, network vs bicubic_upscale" in printed and "operator bicubic_upscale t=auto" in printed
    rows = {(r["backend"], r["hint"]): r for r in json.loads((out / "results.json").read_text())["results"]}
    assert set(rows) == {("ort", "latency"), ("openvino", "latency"), ("openvino", "throughput")}  # hints: OpenVINO only
    for row in rows.values():
        assert row["status"] == "ok", row["reason"]
        assert row["batch"] == 2 and row["requests"] == 2 and row["throughput"] > 0
        assert len(row["latency"]["samples_ms"]) >= 4
        assert row["quality"]["hr_psnr_y"] == pytest.approx(rows["ort", "latency"]["quality"]["hr_psnr_y"], abs=0.01)
    assert rows["openvino", "throughput"]["backend_info"]["streams"] >= 1
    assert "ort fp32 t=auto b=2 r=2" in printed and "openvino fp32 t=auto b=2 r=2 throughput" in printed


@pytest.mark.skipif(not has("onnxruntime"), reason="needs onnxruntime")
def test_a_requested_row_that_cannot_run_fails_unless_keep_going(tmp_path, capsys):
    from fastip.export import export_model
    from tests.support import perturbed_source

    bundle = export_model(perturbed_source("espcn_x2"), tmp_path / "b", target="ort")
    argv = [str(bundle.root), "--backends", "ort", "--precisions", "fp32,int8", "--sizes", "16x16", "--min-runs", "1",
            "--min-time", "0", "--warmup", "0", "--no-overhead", "-q"]
    assert main([*argv, "-o", str(tmp_path / "r1")]) == 1
    err = capsys.readouterr().err
    assert "1 requested row(s) did not run" in err and "espcn_x2 UNTRAINED ort int8 16x16" in err and "--keep-going" in err
    assert main([*argv, "--keep-going", "-o", str(tmp_path / "r2")]) == 0
    assert "skipped: bundle has no int8 artifact for ort" in capsys.readouterr().out
    assert main([*argv, "--min-psnr", "30", "-o", str(tmp_path / "r3")]) == 2  # gates belong to exports, not bundles
