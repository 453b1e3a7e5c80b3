"""`fastip-train MODEL --recipe NAME`: every shipped weight can be trained again by name from its index record."""

import pytest

pytest.importorskip("torch")

from fastip import models  # noqa: E402
from fastip.cli.train_cmd import build_parser, main  # noqa: E402
from fastip.train.recipes import command, recipe, resolve  # noqa: E402


class Called(Exception):
    """Raised by the stand-in trainers so that a test sees their arguments without training."""


def _shipped(family: str) -> list[tuple[str, str]]:
    return [(m, w) for m in models.list_models(family=family) for w in models.get(m).weights]


@pytest.mark.parametrize("model, name", _shipped("can") + _shipped("sr"))
def test_every_shipped_weight_has_a_recipe_its_command_line_repeats(model, name):
    """The printed command line parses back to the same arguments; the values are the ones the index recorded."""
    values = recipe(model, name)
    params = models.get(model).weights[name].params
    assert values["steps"] == params["steps"] and values["lr"] == params["lr"] and values["batch"] == params["batch"]
    assert values["data"] in ("samples", "samples+photos", "photos")
    again = build_parser().parse_args([*command(model, values).split()[1:], "-o", "w.safetensors"])
    assert resolve(model, vars(again), None) == resolve(model, values, None)


def test_can_recipe_sets_what_the_run_recorded_and_flags_override_it(monkeypatch, tmp_path):
    import fastip.train

    seen = {}

    def train_can(model, operator, data, out, **kw):
        seen.update(model=model, operator=operator, data=data, **kw)
        raise Called

    monkeypatch.setattr(fastip.train, "train_can", train_can)
    with pytest.raises(Called):
        main(["can24", "--recipe", "rof", "--steps", "3", "--threads", "1", "-o", str(tmp_path / "w.pt"), "-q"])
    params = models.get("can24").weights["rof"].params
    assert (seen["operator"], seen["data"], seen["params"]) == ("rof", "samples", params["operator_params"])
    assert (seen["variants"], seen["norm"], seen["max_side"]) == (params["variants"], "none", 320)
    config = seen["config"]
    assert (config.steps, config.batch, config.crop, config.lr) == (3, params["batch"], params["crop"], params["lr"])


def test_qat_recipe_repeats_the_scheme_and_the_teacher(monkeypatch, tmp_path):
    import fastip.train.qat

    seen = {}

    def train_qat(model, operator, from_weights, data, out, **kw):
        seen.update(model=model, operator=operator, from_weights=from_weights, **kw)
        raise Called

    monkeypatch.setattr(fastip.train.qat, "train_qat", train_qat)
    with pytest.raises(Called):
        main(["can24", "--recipe", "tv_l1_qat", "-o", str(tmp_path / "w.pt"), "-q"])
    qat = models.get("can24").weights["tv_l1_qat"].params["qat"]
    assert (seen["operator"], seen["from_weights"], seen["distill"]) == ("tv_l1", qat["from_weights"], qat["distill"])
    assert seen["scheme"].candidate == qat["candidate"] and seen["recalibrate_every"] == qat["recalibrate_every"]
    assert seen["config"].steps == models.get("can24").weights["tv_l1_qat"].params["steps"]


@pytest.mark.parametrize("args, message", [
    (["can24", "--recipe", "no_such_weight"], "shipped weight of can24"),
    (["can24", "--recipe", "l0_smoothing"], "withdrawn"),
    (["can24", "--recipe", "rof", "--evaluate", "rof"], "give one of them"),
    (["blazeface_front", "--recipe", "mediapipe"], "not trained by fastip-train"),
])
def test_recipe_errors_are_one_line(tmp_path, capsys, args, message):
    assert main([*args, "-o", str(tmp_path / "w.pt"), "-q"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
