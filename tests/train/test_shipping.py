"""The shipping rule for CAN weights: measured against the unchanged input on held-out images, enforced by
publish, and a withdrawn weight says why wherever it is asked for."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")

from fastip.errors import FastipError  # noqa: E402
from fastip.train.evaluate import MIN_GAIN, MIN_PSNR, Evaluation, ImageScore, evaluate_weight, failures  # noqa: E402

CHEAP = "local_laplacian_detail"  # about 0.1 s per 320 px image


def _identity_weights(tmp_path):
    """An untrained (identity-initialised) can24 saved as the default batch-norm CAN: it returns its input."""
    from fastip import models
    from fastip.models.checkpoint import save_state_dict
    from fastip.train.can import _batch_norm_form

    return save_state_dict(_batch_norm_form(models.get("can24").build(norm="none")), tmp_path / "identity.safetensors")


def test_rule_needs_two_db_on_average_and_no_image_below_the_input():
    scores = (ImageScore("a", 33.0, 0.9, 30.0), ImageScore("b", 31.5, 0.9, 30.5))
    assert failures([Evaluation(320, scores)], "can24") == []
    short = Evaluation(320, (ImageScore("a", 31.0, 0.9, 30.0), ImageScore("b", 31.5, 0.9, 30.5)))
    assert failures([short], "can32") == [f"+1.00 dB over the unchanged input on average at 320 px (needs +{MIN_GAIN:g})"]
    below = Evaluation(1280, (ImageScore("a", 40.0, 0.9, 30.0), ImageScore("b", 29.9, 0.9, 30.0)))
    assert failures([below], "can24_fast4") == ["worse than the unchanged input on 1 of 2 images at 1280 px "
                                                "(worst b: 29.90 dB against 30.00)"]
    assert below.worst.image == "b" and below.gain == pytest.approx(4.95)
    # full-resolution weights are held to the rule at the training size, fast-mode ones at 1280 px; both are recorded
    assert failures([Evaluation(320, scores), below], "can24") == []
    assert failures([Evaluation(320, scores)], "can24_fast4") == ["not measured at 1280 px (no held-out image that large)"]
    # a weight must also come near its operator: far from it, it approximates something else, however much it gains
    styled = Evaluation(320, (ImageScore("a", 25.0, 0.8, 12.0), ImageScore("b", 26.0, 0.8, 12.5)))
    assert failures([styled], "can32") == [f"25.50 dB against its operator on average at 320 px (needs {MIN_PSNR:g})"]


def test_identity_can_gains_nothing_and_a_shipped_weight_gains_on_the_held_out_pair(tmp_path):
    identity = evaluate_weight("can24", _identity_weights(tmp_path), CHEAP, data="samples", cache_dir=tmp_path / "c")
    assert [e.size for e in identity] == [320]  # grace_hopper and china are under 1280 px: measured at 320 only
    assert [s.image for s in identity[0].scores] == ["grace_hopper", "china"]
    assert all(s.psnr == s.input_psnr for s in identity[0].scores)  # it returns its input: gain exactly 0
    assert f"+0.00 dB over the unchanged input on average at 320 px (needs +{MIN_GAIN:g})" in failures(identity, "can24")
    shipped = evaluate_weight("can24", "rof", "rof", data="samples", cache_dir=tmp_path / "c")
    assert failures(shipped, "can24") == [] and shipped[0].gain > MIN_GAIN


def _entry(model="can24", name="detail_test"):
    from fastip import operators

    return {"model": model, "name": name, "file": f"{model}_{name}.safetensors", "description": "test",
            "metrics": {"psnr": 30.0}, "evaluated_on": "grace_hopper, china",
            "params": {"operator": CHEAP, "operator_params": operators.get(CHEAP).check_params({})}}


def test_review_withdraws_a_failing_weight_and_records_why(tmp_path):
    import shutil

    from fastip.train.publish import read_index, write_index
    from fastip.train.shipping import review

    weights_dir = tmp_path / "w"
    weights_dir.mkdir()
    shutil.copy(_identity_weights(tmp_path), weights_dir / "can24_detail_test.safetensors")
    write_index([_entry()], weights_dir)
    entry, evaluations = review("can24", "detail_test", weights_dir=weights_dir, val="samples", cache_dir=tmp_path / "c")
    assert not (weights_dir / "can24_detail_test.safetensors").exists()
    assert read_index(weights_dir) == [entry] and "file" not in entry
    assert entry["withdrawn"] == "; ".join(failures(evaluations, "can24")) and "needs +2" in entry["withdrawn"]
    assert entry["evaluation"]["320px"]["gain"] == 0.0 and entry["evaluation"]["320px"]["images"] == 2
    assert entry["evaluation"]["on"] == "held-out images of samples"
    with pytest.raises(FastipError, match="no shipped weight"):
        review("can24", "detail_test", weights_dir=weights_dir, val="samples", cache_dir=tmp_path / "c")


def test_publish_refuses_a_weight_that_fails_the_rule(tmp_path):
    from fastip.train.loop import TrainResult, state_path
    from fastip.train.publish import publish, read_index

    out = _identity_weights(tmp_path)
    import torch

    torch.save({"step": 1, "seconds": 0.0, "optimizer": {}}, state_path(out))
    entry = _entry()
    result = TrainResult(out=out, model="can24", steps=1, seconds=0.0, loss=0.0, metrics={"psnr": 30.0, "ssim": 0.9},
                         evaluated_on=("grace_hopper", "china"), params=entry["params"])
    result.write_json(tmp_path / "identity.json")
    with pytest.raises(FastipError, match=r"can24/detail does not ship: .*\+0\.00 dB over the unchanged input"):
        publish(tmp_path / "identity.json", "detail", "test", weights_dir=tmp_path / "w", val="samples",
                cache_dir=tmp_path / "c")
    assert read_index(tmp_path / "w") == [] and not (tmp_path / "w" / "can24_detail.safetensors").exists()


WITHDRAWN = ("can24", "l0_smoothing")  # withdrawn from the shipped index by its measurement


def test_withdrawn_weight_is_listed_with_its_reason(capsys):
    from fastip.cli import main
    from fastip.models.registry import WEIGHTS_INDEX

    entry = next(e for e in json.loads(WEIGHTS_INDEX.read_text()) if (e["model"], e["name"]) == WITHDRAWN)
    assert entry["withdrawn"] and "file" not in entry
    assert main.main(["models", WITHDRAWN[0], "-v"]) == 0
    out = capsys.readouterr().out
    assert f"    withdrawn {WITHDRAWN[1]}: {entry['withdrawn']}\n" in out
    assert f"weights {WITHDRAWN[1]}:" not in out
    shipped = next(e for e in json.loads(WEIGHTS_INDEX.read_text())
                   if e["model"] == WITHDRAWN[0] and e.get("evaluation") and not e.get("withdrawn"))
    small = shipped["evaluation"]["320px"]
    assert (f"      held-out 320px: {small['psnr']:.2f} dB (input unchanged {small['input_psnr']:.2f}, "
            f"worst {small['worst']['image']} {small['worst']['psnr']:.2f})\n") in out


def test_export_of_a_withdrawn_weight_says_why_in_one_line(tmp_path, capsys):
    from fastip.cli import export_cmd

    assert export_cmd.main([WITHDRAWN[0], "--weights", WITHDRAWN[1], "-o", str(tmp_path / "b"), "-q"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"fastip-export: error: {WITHDRAWN[0]} weights '{WITHDRAWN[1]}' were withdrawn: ")
    assert "over the unchanged input" in err and "; use " in err
    assert not (tmp_path / "b").exists()


def test_cli_evaluate_prints_the_measurements_and_fails_a_weight_below_the_rule(tmp_path, capsys):
    from fastip.cli.train_cmd import main

    weights = str(_identity_weights(tmp_path))
    args = ["can24", "--evaluate", weights, "--operator", CHEAP, "--val", "samples", "--cache", str(tmp_path / "c"), "-q"]
    assert main(args) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"can24 {weights}:"
    assert out[1].startswith("    320 px,  2 images: PSNR ") and "gain +0.00 dB; worst " in out[1]
    assert out[2].startswith("  shipping rule: FAILS: ")
    assert f"+0.00 dB over the unchanged input on average at 320 px (needs +{MIN_GAIN:g})" in out[2]
    assert main(["can24", "--evaluate", weights, "--val", "samples", "-q"]) == 2
    assert "--operator" in capsys.readouterr().err
    assert main(["can24", "--evaluate", weights, "--operator", CHEAP, "--record", "-q"]) == 2
    assert "--record updates index.json: give a shipped weight name" in capsys.readouterr().err


def test_gradient_loss_adds_the_error_of_the_differences():
    import torch

    from fastip.train.can import gradient_loss

    target = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    assert gradient_loss(target + 0.1, target).item() == pytest.approx(0.01, rel=1e-4)  # flat error: MSE only
    rough = target + 0.1 * (torch.arange(16) % 2).float()  # the same size of error, alternating column by column
    mse = torch.nn.functional.mse_loss(rough, target).item()
    assert mse == pytest.approx(0.005, rel=1e-4)  # every horizontal difference is off by 0.1, no vertical one
    assert gradient_loss(rough, target).item() == pytest.approx(mse + 0.01, rel=1e-4)


def test_cli_trains_a_context_can_with_the_gradient_loss(tmp_path):
    from fastip import models
    from fastip.cli.train_cmd import main
    from fastip.images import sample_image, write_image
    from fastip.train.data import downscale

    folder = tmp_path / "images"
    for name in ("coffee", "rocket"):
        write_image(folder / f"{name}.png", downscale(sample_image(name), 64))
    assert main(["can24", "--operator", CHEAP, "--data", str(folder), "--val", str(folder), "--steps", "2", "--max-side", "64",
                 "--threads", "1", "--loss", "gradient", "--context", "--cache", str(tmp_path / "c"),
                 "-o", str(tmp_path / "w.pt"), "-q"]) == 0
    params = json.loads((tmp_path / "w.json").read_text())["params"]
    assert (params["loss"], params["context"]) == ("gradient", True)
    net = models.get("can24").build(weights=str(tmp_path / "w.pt"))
    assert net.context is not None and net.context.proj.weight.abs().sum().item() > 0  # the branch trained


def test_qat_weights_are_judged_by_the_int8_gate_not_the_fp32_rule():
    from fastip.train.shipping import is_operator_can

    entry = _entry()
    assert is_operator_can(entry)
    assert not is_operator_can({**entry, "params": {**entry["params"], "qat": {"from_weights": "rof"}}})
    assert not is_operator_can({**entry, "model": "fsrcnn_x2"})
