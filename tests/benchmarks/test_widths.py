"""The channel-width study: variants, zero-padded layouts with unchanged outputs, and the study on real backends."""

import json

import pytest

from fastip.benchmarks.widths import WidthVariant, parse_widths
from fastip.errors import InputError


def test_parse_widths():
    assert parse_widths("16, 24,24p32,16") == (WidthVariant(16), WidthVariant(24), WidthVariant(24, 32))
    assert WidthVariant(24, 32).label == "24p32" and WidthVariant(24, 32).channels == 32
    for bad in ("", "0", "24p16", "24p24", "abc", "24x32", "300"):
        with pytest.raises(InputError, match="--widths"):
            parse_widths(bad)


def test_zero_padded_can_computes_the_same_outputs():
    torch = pytest.importorskip("torch")
    from fastip.benchmarks.widths import macs_per_pixel, padded_can, study_models

    network, _ = study_models(WidthVariant(24), depth=5)
    padded, _ = study_models(WidthVariant(24, 32), depth=5)
    convs = [m for m in padded.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [32, 32, 32, 32, 3] and convs[0].in_channels == 3
    x = torch.rand(1, 3, 40, 52)
    with torch.no_grad():
        ref, got = network(x), padded(x)
    assert ref.abs().max().item() > 1e-2, "random weights compute something"
    assert torch.allclose(got, ref, atol=1e-6)
    assert macs_per_pixel(padded) > macs_per_pixel(network) == 3 * 24 * 9 + 3 * 24 * 24 * 9 + 24 * 3
    again = padded_can(network, 40)
    with torch.no_grad():
        assert torch.allclose(again(x), ref, atol=1e-6)


def test_study_runs_on_real_backends(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    from fastip.benchmarks.widths import run_study, study_table, write_study
    from fastip.runtimes import available_backends

    backends = tuple(b for b in ("ort", "openvino") if b in available_backends())
    study = run_study(parse_widths("8,8p16"), backends, (48, 32), 1, depth=4, rounds=2, workdir=tmp_path)
    rows = study["rows"]
    assert {(r["variant"], r["part"], r["backend"]) for r in rows} == {
        (v, p, b) for v in ("8", "8p16") for p in ("network", "layer") for b in backends}
    for row in rows:
        assert len(row["samples_ms"]) == 2 and row["median_ms"] > 0 and row["gflop_per_s"] > 0
        if row["variant"] == "8p16" and row["part"] == "network":
            assert row["max_abs_diff_vs_unpadded"] <= 1e-5, "padding changed the output"
    assert str(1) in study["environment"]["fp32_peak"]
    paths = write_study(study, tmp_path / "out")
    assert json.loads(paths["json"].read_text())["settings"]["widths"] == ["8", "8p16"]
    assert "% peak" in paths["md"].read_text() and len(study_table(study).rows) == len(rows)


def test_study_refuses_other_backends():
    from fastip.benchmarks.widths import run_study

    with pytest.raises(InputError, match="ort and openvino"):
        run_study(parse_widths("8"), ("torch",), (32, 32), 1)


@pytest.mark.parametrize("argv, message", [
    (["--widths", "8", "can24"], "give no model"),
    (["--widths", "8x"], "--widths"),
    (["--widths", "8", "--depth", "2"], "--depth"),
])
def test_cli_refuses_bad_width_studies(argv, message, capsys):
    from fastip.cli.bench_cmd import main

    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("fastip-bench: error:") and message in err and "Traceback" not in err, err


def test_padded_parity_column_in_rows():
    """A row without an unpadded twin shows a dash, not a number."""
    from fastip.benchmarks.widths import study_table

    row = {"variant": "24p32", "part": "network", "backend": "ort", "macs_per_pixel": 1, "median_ms": 2.0,
           "min_ms": 1.0, "gflop_per_s": 1.0, "percent_of_peak": None}
    study = {"rows": [row], "settings": {"size": "8x8", "threads": 1, "depth": 4, "rounds": 1},
             "environment": {"fp32_peak": {}, "simd": []}}
    assert study_table(study).rows[0][-2:] == ("—", "—")
