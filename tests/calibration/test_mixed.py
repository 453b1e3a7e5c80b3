"""Mixed precision: the sensitivity table, the budgeted search, its cache, and the export candidate it adds."""

from __future__ import annotations

import numpy as np
import pytest

from fastip.calibration.mixed import Budget, MixedChoice, SearchBudgetError, describe, search
from fastip.errors import FastipError

LAYERS = [(f"conv{i}", "Conv") for i in range(6)]


def _measure(gains: dict[str, float], threshold: float, base: float = 30.0, calls: list | None = None):
    def measure(float_layers):
        if calls is not None:
            calls.append(sorted(float_layers))
        score = base + sum(gains.get(name, 0.0) for name in float_layers)
        return score, score >= threshold
    return measure


def test_search_finds_the_smallest_passing_set_and_ranks_layers():
    gains = {"conv0": 4.0, "conv3": 2.0, "conv5": 1.0, "conv1": 0.5, "conv2": -0.5}
    choice = search(LAYERS, _measure(gains, 36.0), Budget(60.0))
    assert choice.passed and set(choice.float_layers) == {"conv0", "conv3"}
    assert choice.score == pytest.approx(36.0) and choice.quantized_score == pytest.approx(30.0)
    assert [row["layer"] for row in choice.sensitivity][:3] == ["conv0", "conv3", "conv5"]
    assert choice.sensitivity[0]["gain"] == pytest.approx(4.0)
    assert MixedChoice.from_dict(choice.to_dict()).to_dict() == choice.to_dict()


def test_pruning_drops_layers_that_only_helped_together_with_worse_ones():
    # conv5 alone helps a little, but conv2 (harmful) is ranked below it; the pruned set keeps what is needed
    gains = {"conv0": 3.0, "conv5": 0.2, "conv1": 0.1}
    choice = search(LAYERS, _measure(gains, 33.0), Budget(60.0))
    assert choice.float_layers == ("conv0",)


def test_a_passing_quantized_model_needs_no_search():
    calls: list = []
    choice = search(LAYERS, _measure({}, 20.0, calls=calls), Budget(60.0))
    assert choice.passed and choice.float_layers == () and calls == [[]]


def test_never_passing_reports_failure_without_keeping_every_layer_float():
    choice = search(LAYERS, _measure({"conv0": 1.0}, 99.0), Budget(60.0))
    assert not choice.passed and len(choice.float_layers) < len(LAYERS)


def test_a_budget_too_small_for_the_sensitivity_table_is_one_line_naming_the_flag():
    with pytest.raises(SearchBudgetError) as info:
        search(LAYERS, _measure({"conv0": 9.0}, 35.0), Budget(60.0, steps=3))
    assert isinstance(info.value, FastipError)
    message = str(info.value)
    assert "\n" not in message and "--search-budget" in message and "layer 3 of 6" in message


def test_pruning_stops_at_the_budget_with_a_passing_set():
    gains = {name: 2.0 for name, _ in LAYERS}
    # 1 + 6 sensitivity steps + bisection leaves no room to prune everything
    choice = search(LAYERS, _measure(gains, 33.0), Budget(60.0, steps=9))
    assert choice.passed and not choice.complete


def test_describe_lists_float_layers_and_the_table():
    choice = search(LAYERS, _measure({"conv0": 4.0, "conv3": 2.0}, 36.0), Budget(60.0), base="u8-per-channel")
    lines = describe({"mixed_precision": {**choice.to_dict(), "cache_hit": True}}, {"chosen": {"onnx_int8": "mixed"}})
    assert any("2 float layers (conv0, conv3)" in line and "[cached]" in line for line in lines)
    assert sum("float alone" in line for line in lines) == len(LAYERS)


@pytest.mark.slow
def test_export_adds_a_mixed_candidate_that_passes_and_is_cached(tmp_path, capsys):
    from fastip import runtimes
    from fastip.export import export_model
    from tests.support import perturbed_source

    source = perturbed_source("espcn_x2")
    options = dict(target="ort", precision="int8", cache_dir=str(tmp_path / "cache"), calib_count=2,
                   candidates="u8-per-channel", search_budget=120.0)
    probe = export_model(source, tmp_path / "probe", allow_fallback=True, min_psnr=200.0, search_budget=0.0,
                         **{k: v for k, v in options.items() if k != "search_budget"})
    quantized = max(c["score"] for c in probe.manifest.extra["quantization"]["candidates"])  # twins included
    # a gate just above what full INT8 reaches: only keeping some layer float can pass it
    bundle = export_model(source, tmp_path / "mixed", min_psnr=quantized + 0.3, **options)
    m = bundle.manifest
    mixed = m.calibration["mixed_precision"]
    assert mixed["passed"] and 1 <= len(mixed["float_layers"]) < len(mixed["sensitivity"])
    # the search starts from the best-scoring candidate (on saturating kernels possibly the 7-bit-input twin)
    assert not mixed["cache_hit"] and m.extra["quantization"]["chosen"]["onnx_int8"] == f"mixed-{mixed['base']}"
    chosen = m.extra["quantization"]["candidates"][-1]
    assert chosen["passed"] and set(mixed["float_layers"]) <= set(chosen["settings"]["nodes_excluded"])
    with runtimes.open(bundle, "ort") as session:  # an INT8 bundle opens in INT8 unless asked otherwise
        assert session.precision == "int8"
        assert session.run({"input": np.zeros((1, 3, 8, 8), np.float32)})["output"].shape == (1, 3, 16, 16)
    with runtimes.open(bundle, "ort", precision="fp32") as session, runtimes.open(bundle, "torch") as torch_session:
        assert session.precision == "fp32" and torch_session.precision == "fp32"
    from PIL import Image

    from fastip.cli.main import main

    Image.fromarray(np.full((12, 10, 3), 128, np.uint8)).save(tmp_path / "in.png")
    assert main(["run", str(bundle.root), str(tmp_path / "in.png"), "-o", str(tmp_path / "out.png")]) == 0
    assert "on ort (int8)" in capsys.readouterr().out
    again = export_model(source, tmp_path / "again", min_psnr=quantized + 0.3, **options)
    assert again.manifest.calibration["mixed_precision"]["cache_hit"]
    assert again.manifest.calibration["mixed_precision"]["float_layers"] == mixed["float_layers"]


def test_export_with_too_small_a_search_budget_writes_nothing(tmp_path):
    from fastip.export import export_model
    from tests.support import perturbed_source

    with pytest.raises(SearchBudgetError, match="--search-budget"):
        export_model(perturbed_source("espcn_x2"), tmp_path / "out", target="ort", precision="int8", calib_count=2,
                     cache_dir=str(tmp_path / "cache"), candidates="u8-per-channel", min_psnr=200.0, search_steps=2)
    assert not (tmp_path / "out").exists()
