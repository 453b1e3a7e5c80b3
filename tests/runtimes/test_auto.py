"""backend="auto": every runnable candidate measured on the same input, the fastest opened, the choice cached."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("torch")

from fastip import runtimes  # noqa: E402
from fastip.errors import InputError  # noqa: E402
from fastip.runtimes import auto  # noqa: E402
from tests.support import has  # noqa: E402

QUICK = {"min_rounds": 2, "min_time": 0.0}


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(auto.CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache" / "auto"


def test_choice_is_the_fastest_measured_candidate_and_is_cached(can_bundle, cache, monkeypatch):
    choice = auto.choose(can_bundle, threads=1, size=(40, 24), **QUICK)
    labels = {t.candidate.label for t in choice.timings}
    assert "ort fp32" in labels and ({"openvino fp32 latency", "openvino fp32 throughput"} <= labels) == has("openvino")
    ran = [t for t in choice.timings if t.median_ms is not None]
    assert choice.chosen == min(ran, key=lambda t: t.median_ms).candidate
    assert choice.rounds >= 2 and not choice.cached and choice.size == (40, 24)
    assert choice.chosen.label in choice.reason and "40x24" in choice.reason
    (entry,) = cache.glob("*.json")
    assert json.loads(entry.read_text())["key"] == choice.key == entry.stem

    def no_measuring(*args, **kwargs):
        raise AssertionError("a cached choice must not be measured again")

    monkeypatch.setattr(auto, "measure", no_measuring)
    again = auto.choose(can_bundle, threads=1, size=(40, 24))
    assert again.cached and again.chosen == choice.chosen and again.reason.endswith("[cached]")
    with pytest.raises(AssertionError, match="measured again"):  # another size or thread count is another key
        auto.choose(can_bundle, threads=2, size=(40, 24))


def test_unreadable_cache_entry_is_measured_again(can_bundle, cache):
    first = auto.choose(can_bundle, threads=1, size=(24, 16), **QUICK)
    (cache / f"{first.key}.json").write_text("{not json")
    second = auto.choose(can_bundle, threads=1, size=(24, 16), **QUICK)
    assert not second.cached and second.key == first.key
    assert auto.choose(can_bundle, threads=1, size=(24, 16)).cached


def test_cache_key_follows_the_bundle_files_and_cpu_flags(can_bundle, monkeypatch):
    base = auto.cache_key(can_bundle, ("fp32",), 1, (32, 32))
    assert base == auto.cache_key(can_bundle, ("fp32",), 1, (32, 32))
    assert base != auto.cache_key(can_bundle, ("fp32", "int8"), 1, (32, 32))
    monkeypatch.setattr("fastip.benchmarks.environment.cpu_info", lambda: {"model": "x", "flags": ["avx512f"]})
    assert base != auto.cache_key(can_bundle, ("fp32",), 1, (32, 32))


def test_open_auto_runs_the_chosen_backend(can_bundle, cache, monkeypatch, astronaut):
    monkeypatch.setattr(auto, "DEFAULT_SIZE", (32, 32))
    feed = {"input": np.random.default_rng(3).random((1, 3, 20, 28), dtype=np.float32)}
    with runtimes.open(can_bundle, "auto", precision="auto", threads=1) as session:
        choice = session.choice
        assert session.backend == choice.chosen.backend and choice.chosen.precision == "fp32"
        got = session.run(feed)["output"]
    chosen = choice.chosen
    with runtimes.open(can_bundle, chosen.backend, threads=1, **({"hint": chosen.hint} if chosen.hint else {})) as direct:
        np.testing.assert_array_equal(got, direct.run(feed)["output"])
    with pytest.raises(InputError, match="picks the backend"):
        runtimes.open(can_bundle, "auto", providers=["CPUExecutionProvider"])
    with pytest.raises(InputError, match="or auto"):
        runtimes.open(can_bundle, "auto", precision="int4")


def test_no_runnable_candidate_is_one_clear_error(can_bundle, cache):
    with pytest.raises(InputError, match="no candidate could run"):
        auto.choose(can_bundle, precisions=("int8",), size=(16, 16), **QUICK)


def test_cli_run_auto_says_what_it_chose(can_bundle, cache, monkeypatch, tmp_path, capsys):
    from fastip.cli.main import main

    monkeypatch.setattr(auto, "DEFAULT_SIZE", (32, 32))
    out = tmp_path / "out.png"
    assert main(["run", str(can_bundle.root), "sample:coffee", "-o", str(out), "--backend", "auto", "--threads", "1"]) == 0
    captured = capsys.readouterr()
    assert "backend auto chose" in captured.err and out.is_file()
    assert " on ort fp32" in captured.out or " on openvino fp32" in captured.out


@pytest.mark.skipif(not has("onnxruntime"), reason="needs onnxruntime")
def test_bench_auto_row_names_its_pick(tmp_path, cache, capsys):
    from fastip.cli.bench_cmd import main
    from fastip.export import export_model

    bundle = export_model("espcn_x2", tmp_path / "espcn", target="onnx")
    report = tmp_path / "report"
    assert main([str(bundle.root), "--backends", "auto", "--sizes", "24x16", "--min-runs", "2", "--min-time", "0",
                 "--warmup", "1", "--no-overhead", "-q", "-o", str(report)]) == 0
    out = capsys.readouterr().out
    data = json.loads((report / "results.json").read_text())
    (row,) = data["results"]
    chosen = data["settings"]["auto"][0]["choice"]["chosen"]
    assert chosen["backend"] in ("ort", "openvino") and chosen["precision"] == "fp32"
    assert row["status"] == "ok" and row["backend"] == f"auto:{chosen['backend']}" and row["hint"] == (chosen["hint"] or "latency")
    assert f"auto:{chosen['backend']} fp32 t=auto" in out
    assert f"auto (fp32 24x16 threads=auto): chose {chosen['backend']} fp32" in out
    assert "Backend auto (fp32 24x16" in (report / "report.md").read_text()
