"""The runner's bookkeeping with the worker replaced: Ctrl-C keeps what was measured, rows are skipped with reasons."""

from __future__ import annotations

import numpy as np
import pytest

from fastip.benchmarks import runner
from fastip.benchmarks.latency import Budget, WorkerError, summarize
from tests.support import has

pytestmark = pytest.mark.skipif(not has("torch"), reason="exports a model")


@pytest.fixture(scope="module")
def espcn_bundle(tmp_path_factory):
    from fastip.export import export_model

    return export_model("espcn_x2", tmp_path_factory.mktemp("bundles") / "espcn", target="onnx")


def fake_worker(interrupt_on: int):
    calls = {"model": 0}

    def run_worker(spec, threads=None):
        if spec["kind"] == "operator":
            raise WorkerError("no operator in this test")
        if spec["kind"] == "peak":
            return {"gflop_per_s": 20.0, "threads": threads, "method": "fake", "runs": 3}
        calls["model"] += 1
        if calls["model"] == interrupt_on:
            raise KeyboardInterrupt
        for image, path in zip(spec["images"], spec["outputs"]):
            lr = np.load(image)
            np.save(path, np.repeat(np.repeat(lr, 2, axis=0), 2, axis=1))
        return {"latency": summarize([1.0, 2.0]).to_dict(), "first_inference_ms": 5.0, "peak_rss_mb": 10.0}

    return run_worker


def test_ctrl_c_keeps_measured_rows(espcn_bundle, monkeypatch):
    monkeypatch.setattr(runner, "run_worker", fake_worker(interrupt_on=2))
    plan = runner.Plan(target=str(espcn_bundle.root), backends=("ort",), sizes=((16, 16), (24, 16)),
                       budget=Budget(warmup=0, min_runs=2, min_time=0))
    report = runner.run_plan(plan)
    assert report.interrupted
    (row,) = report.results
    assert row.status == "ok" and row.width == 16 and row.latency.p50 == 1.5
    assert row.operator.error == "no operator in this test"
    assert row.quality["hr_psnr_y"] > 0 and "bicubic_psnr_y" not in row.quality
    assert report.environment["fp32_peak"] == {"None": {"gflop_per_s": 20.0, "threads": None, "method": "fake", "runs": 3}}


def test_missing_artifacts_and_backends_are_skipped(espcn_bundle, monkeypatch):
    monkeypatch.setattr(runner, "run_worker", fake_worker(interrupt_on=0))
    monkeypatch.setattr("fastip.runtimes.available_backends", lambda: ["ort"])
    plan = runner.Plan(target=str(espcn_bundle.root), backends=("ort", "openvino"), precisions=("fp32", "int8"),
                       sizes=((16, 16),), budget=Budget(warmup=0, min_runs=2, min_time=0))
    report = runner.run_plan(plan)
    by = {(r.backend, r.precision): r for r in report.results}
    assert not report.interrupted and by[("ort", "fp32")].status == "ok"
    assert "no int8 artifact" in by[("ort", "int8")].reason
    assert "not installed" in by[("openvino", "fp32")].reason
    assert by[("ort", "int8")].status == "skipped"


def test_batch_requests_and_hints_make_rows(espcn_bundle, monkeypatch):
    specs = []
    fake = fake_worker(interrupt_on=0)

    def recording(spec, threads=None):
        specs.append(spec)
        return fake(spec, threads)

    monkeypatch.setattr(runner, "run_worker", recording)
    monkeypatch.setattr("fastip.runtimes.available_backends", lambda: ["ort", "openvino"])
    plan = runner.Plan(target=str(espcn_bundle.root), backends=("ort", "openvino"), sizes=((16, 16),),
                       batches=(1, 2), requests=(1, 3), hints=("latency", "throughput"),
                       budget=Budget(warmup=0, min_runs=2, min_time=0))
    report = runner.run_plan(plan)
    model = [s for s in specs if s["kind"] == "model"]
    assert sorted((s["backend"], s["batch"], s["requests"], s["hint"]) for s in model) == sorted(
        [("ort", b, r, "latency") for b in (1, 2) for r in (1, 3)]
        + [("openvino", b, r, h) for b in (1, 2) for r in (1, 3) for h in ("latency", "throughput")])
    # The fastip-vs-raw overhead is measured once per backend: batch 1, one request, the first hint.
    assert sorted((s["backend"], s["hint"]) for s in model if s["overhead_runs"]) == [("openvino", "latency"), ("ort", "latency")]
    assert len({r.key for r in report.results}) == len(report.results) == 12
    assert {r.label for r in report.results} >= {"espcn_x2 ort fp32 16x16 t=auto b=2 r=3",
                                                 "espcn_x2 openvino fp32 16x16 t=auto b=2 r=3 throughput"}
    assert report.settings["batches"] == [1, 2] and report.settings["hints"] == ["latency", "throughput"]
