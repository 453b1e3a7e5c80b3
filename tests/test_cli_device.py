"""`--device` on fastip-export and fastip-bench: the OpenVINO device is used and recorded, a missing one is one line."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from fastip.bundle import Bundle  # noqa: E402
from fastip.cli import bench_cmd, export_cmd  # noqa: E402
from tests.support import has  # noqa: E402

needs_openvino = pytest.mark.skipif(not has("openvino"), reason="needs openvino")
BENCH = ["--sizes", "24x16", "--min-runs", "2", "--min-time", "0", "--warmup", "1", "--no-overhead", "-q"]


def _absent_device(name: str) -> str:
    """`name` when OpenVINO does not see it here (the test is skipped on a machine that has one)."""
    import openvino as ov

    if any(d.split(".")[0] == name for d in ov.Core().available_devices):
        pytest.skip(f"this machine has an OpenVINO {name}")
    return name


def _error_lines(capsys) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.strip()]


@needs_openvino
@pytest.mark.parametrize("command", ["export", "bench"])
def test_a_device_openvino_does_not_see_is_one_line_naming_those_it_does(command, tmp_path, capsys):
    import openvino as ov

    device = _absent_device("GPU")
    out = tmp_path / "out"
    if command == "export":
        code = export_cmd.main(["espcn_x2", "--target", "openvino", "--device", device, "-o", str(out), "-q"])
    else:
        code = bench_cmd.main(["espcn_x2", "--backends", "openvino", "--device", device, *BENCH, "-o", str(out)])
    prog = "fastip-export" if command == "export" else "fastip-bench"
    assert code == 2
    assert _error_lines(capsys) == [f"{prog}: error: OpenVINO device 'GPU' is not available here (OpenVINO sees: "
                                    f"{', '.join(ov.Core().available_devices)}); use --device CPU or AUTO"]
    assert not out.exists()


@pytest.mark.parametrize("argv, prog, fix", [
    ([export_cmd.main, "espcn_x2", "--target", "onnx", "--device", "CPU"], "fastip-export", "use --target openvino"),
    ([bench_cmd.main, "espcn_x2", "--backends", "ort", "--device", "CPU", *BENCH], "fastip-bench",
     "add openvino to --backends"),
])
def test_a_device_without_openvino_is_refused_as_run_refuses_it(argv, prog, fix, tmp_path, capsys):
    main, *args = argv
    out = tmp_path / "out"
    assert main([*args, "-o", str(out)]) == 2
    assert _error_lines(capsys) == [f"{prog}: error: a device ('CPU') is chosen for the openvino backend only; "
                                    f"drop --device or {fix}"]
    assert not out.exists()


@needs_openvino
def test_export_compiles_and_validates_the_ir_on_the_device(tmp_path, capsys):
    out = tmp_path / "sr"
    assert export_cmd.main(["espcn_x2", "--target", "openvino", "--device", "AUTO", "-o", str(out), "-q"]) == 0
    records = Bundle.load(out).manifest.validation
    assert {(r.artifact, r.backend) for r in records} == {("onnx", "ort"), ("openvino", "openvino:AUTO")}
    assert all(r.passed for r in records)
    assert "openvino" in capsys.readouterr().out


@needs_openvino
def test_bench_runs_openvino_rows_on_the_device_and_records_it(tmp_path, capsys):
    out = tmp_path / "report"
    assert bench_cmd.main(["espcn_x2", "--backends", "ort,openvino", "--device", "AUTO", *BENCH, "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    data = json.loads((out / "results.json").read_text())
    rows = {r["backend"]: r for r in data["results"]}
    assert rows["openvino"]["status"] == "ok", rows["openvino"]["reason"]
    assert rows["openvino"]["device"] == "AUTO" and rows["ort"]["device"] == ""
    # AUTO picks among the real devices; OpenVINO says which one ran (this machine's CPU when it has nothing else).
    assert rows["openvino"]["backend_info"]["devices"]
    assert data["settings"]["device"] == "AUTO"
    assert "openvino fp32 t=auto b=1 r=1 latency AUTO" in printed and "ort fp32 t=auto b=1 r=1 " in printed
