"""The measured FP32 peak: a real FMA loop and GEMM, the percentages computed from them, and `fastip-bench --env`."""

from __future__ import annotations

import math
import re
import shutil
import subprocess

import pytest

from fastip.benchmarks import fma, runner
from fastip.benchmarks.environment import cpu_info
from fastip.benchmarks.latency import WorkerError
from fastip.benchmarks.peak import format_peaks, measure_gemm, measure_peak, percent_of_peak
from fastip.benchmarks.report import markdown
from fastip.cli.bench_cmd import main
from tests.benchmarks.test_result import make_report, make_row


def test_measure_gemm_times_real_gemms():
    peak = measure_gemm(1, seconds=0.05, size=128)
    assert peak.runs >= 3 and peak.threads == 1 and "GEMM 128^3" in peak.method
    assert math.isfinite(peak.gflop_per_s) and peak.gflop_per_s > 0.01  # any working CPU does 10 MFLOP/s
    assert peak.gemm_gflop_per_s == peak.gflop_per_s


def test_measure_peak_is_the_higher_of_the_fma_loop_and_the_gemm():
    peak = measure_peak(1, seconds=0.05, size=128)
    assert peak.gemm_gflop_per_s > 0.01
    assert peak.gflop_per_s == max(peak.gemm_gflop_per_s, peak.fma_gflop_per_s or 0.0)
    if fma.kernel_for(cpu_info()["flags"]) is None:
        assert peak.fma_gflop_per_s is None and "GEMM" in peak.method
    else:
        assert peak.fma_gflop_per_s > 0.01
    assert measure_peak(1, seconds=0.05, size=128, fma=False).fma_gflop_per_s is None


def test_fma_loop_runs_on_every_thread():
    flags = cpu_info()["flags"]
    if fma.kernel_for(flags) is None:
        pytest.skip("this CPU reports neither avx512f nor avx+fma on x86-64")
    one = fma.measure_fma(1, flags, seconds=0.05)
    two = fma.measure_fma(2, flags, seconds=0.05)
    assert one is not None and two is not None and one[0] > 0.01
    assert "12 chains x 2 threads" in two[1]
    # the loop counts FLOPs of work actually done: two threads never report more than twice one thread's best
    # by more than timer noise, however the scheduler shares the cores
    assert two[0] < 2.5 * one[0]


@pytest.mark.skipif(shutil.which("objdump") is None, reason="binutils' objdump disassembles the machine code")
@pytest.mark.parametrize("code", ["_YMM", "_ZMM"])
def test_fma_machine_code_is_its_listed_assembly(tmp_path, code):
    """The bytes disassemble to the listing in fma.py's comments (the AVX-512 loop cannot run on every CPU)."""
    blob = tmp_path / "code.bin"
    blob.write_bytes(getattr(fma, code))
    out = subprocess.run(["objdump", "-D", "-b", "binary", "-m", "i386:x86-64", str(blob)], capture_output=True,
                         text=True, check=True).stdout
    asm = [re.sub(r"\s+", " ", line.split("\t")[2]).split(" <")[0].split(" #")[0].strip()
           for line in out.splitlines() if line.count("\t") >= 2]
    source = open(fma.__file__, encoding="utf-8").read().split(f"{code} = bytes.fromhex(")[1].split(")")[0]
    listed = [c.split("# ", 1)[1].strip() for c in source.splitlines() if "# " in c]
    assert [a.replace("0x", "") for a in asm if not a.startswith("jne")] == [a for a in listed if not a.startswith("jne")]
    assert sum(a.startswith("vfmadd231ps") for a in asm) == fma.CHAINS
    assert asm[-1] == "ret" and asm[-2] == "vzeroupper"
    # the loop's branch goes back to the first FMA
    first_fma = next(i for i, line in enumerate(l for l in out.splitlines() if l.count("\t") >= 2) if "vfmadd" in line)
    jne = next(line for line in out.splitlines() if "jne" in line)
    fma_line = [line for line in out.splitlines() if line.count("\t") >= 2][first_fma]
    assert jne.split("jne")[1].split()[0].lstrip("0x") == fma_line.split(":")[0].strip()


def test_peak_falls_back_to_the_gemm_when_the_fma_worker_dies(monkeypatch):
    calls = []

    def fake_worker(spec, threads=None):
        calls.append(spec)
        if spec.get("fma", True):
            raise WorkerError("benchmark worker died (exit code -4)")
        return {"gflop_per_s": 12.5, "method": "numpy float32 GEMM 1024^3"}

    monkeypatch.setattr(runner, "run_worker", fake_worker)
    assert runner.measure_peaks((2,)) == {"2": {"gflop_per_s": 12.5, "method": "numpy float32 GEMM 1024^3"}}
    assert [c.get("fma", True) for c in calls] == [True, False]


def test_kernel_choice_follows_the_flags(monkeypatch):
    monkeypatch.setattr(fma.platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(fma.platform, "system", lambda: "Linux")
    assert fma.kernel_for(["avx", "fma", "avx2", "avx512f"])[2] == 16
    assert fma.kernel_for(["avx", "fma", "avx2"])[2] == 8
    assert fma.kernel_for(["avx", "avx2"]) is None and fma.kernel_for([]) is None
    monkeypatch.setattr(fma.platform, "machine", lambda: "aarch64")
    assert fma.kernel_for(["avx", "fma"]) is None


def test_percent_of_peak_uses_the_rows_thread_count():
    peaks = {"2": {"gflop_per_s": 50.0}, "None": {"gflop_per_s": 80.0}, "1": {"error": "worker died"}}
    assert percent_of_peak(40.0, peaks, 2) == 80.0
    assert percent_of_peak(40.0, peaks, None) == 50.0
    assert percent_of_peak(40.0, peaks, 1) is None and percent_of_peak(40.0, {}, 2) is None
    assert percent_of_peak(None, peaks, 2) is None
    assert format_peaks({"2": {"gflop_per_s": 50.04, "method": "m"}, "None": {"error": "boom"}}) == "threads=2: 50.0 (m); threads=auto: boom"


def test_report_states_the_share_of_the_peak():
    row = make_row()  # threads=2
    rate = row.gflop_per_s
    peaks = {"2": {"gflop_per_s": rate * 4, "method": "numpy float32 GEMM 1024^3"}}
    report = make_report()
    report = type(report)(results=(row,), environment=report.environment, settings=report.settings)
    assert "% of peak)" not in markdown(report)
    report.environment["fp32_peak"] = peaks
    text = markdown(report)
    assert "(25% of peak)" in text and "threads=2: " in text


def test_bench_env_prints_flags_and_measured_peak(capsys):
    assert main(["--env", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    peak_line = next(line for line in out.splitlines() if line.startswith("fp32 peak GFLOP/s"))
    value = float(peak_line.split("threads=1: ")[1].split()[0])
    assert value > 0.01
    assert "cpu flags: " in out and "load average: [" in out and "simd: " in out
