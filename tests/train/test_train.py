"""Smoke tests of training: loss goes down, resume reproduces the weights, bad input fails clearly."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from fastip.cli.train_cmd import main  # noqa: E402
from fastip.errors import FastipError, InputError  # noqa: E402
from fastip.images import write_image  # noqa: E402
from fastip.models.checkpoint import load_state_dict  # noqa: E402
from fastip.train import TrainConfig, train_can, train_sr  # noqa: E402
from fastip.train import targets as targets_mod  # noqa: E402
from fastip.train.metrics import psnr  # noqa: E402
from fastip.train.targets import TargetCache  # noqa: E402


def box_blur(image: np.ndarray, params: dict) -> np.ndarray:
    """A cheap stand-in operator: 3x3 mean with edge padding."""
    r = int(params.get("radius", 1))
    x = np.pad(image.astype(np.float32), ((r, r), (r, r), (0, 0)), mode="edge")
    h, w = image.shape[:2]
    out = sum(x[i:i + h, j:j + w] for i in range(2 * r + 1) for j in range(2 * r + 1)) / (2 * r + 1) ** 2
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


@pytest.fixture
def blur_operator(monkeypatch):
    calls = []

    def fake(operator, image, params):
        calls.append(operator)
        return box_blur(image, params)

    monkeypatch.setattr(targets_mod, "apply_operator", fake)
    return calls


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(0)
    d = tmp_path / "images"
    yy, xx = np.mgrid[0:48, 0:64]
    for i in range(2):
        smooth = np.stack([(xx * 3 + i * 40) % 256, (yy * 4) % 256, (xx + yy) % 256], axis=2)
        noisy = np.clip(smooth + rng.normal(0, 25, smooth.shape), 0, 255).astype(np.uint8)
        write_image(d / f"img{i}.png", noisy)
    return d


PUBLISHABLE_STEPS = 400  # the blur CAN passes the shipping rule on `folder` (>= 30 dB against the blur) by then


def _config(**kw) -> TrainConfig:
    base = dict(steps=12, batch=4, crop=24, lr=3e-3, lr_final=1e-4, seed=1, threads=1, checkpoint_every=6, eval_every=6)
    base.update(kw)
    return TrainConfig(**base)


def test_can_learns_a_blur(tmp_path, folder, blur_operator):
    from fastip.train.data import load_images

    config = _config(steps=30, eval_every=30, checkpoint_every=30)
    result = train_can("can24", "blur", folder, tmp_path / "w.pt", config=config, val=folder, max_side=64,
                       cache_dir=tmp_path / "cache", progress=lambda _: None)
    identity = np.mean([psnr(i.pixels, box_blur(i.pixels, {})) for i in load_images(folder)])
    assert result.metrics["psnr"] > identity + 1.0  # the identity-initialised CAN starts at `identity`
    assert (tmp_path / "w.json").is_file() and (tmp_path / "w.state.pt").is_file()
    import torch

    from fastip import models

    # shipped as the default batch-norm CAN: loads strictly and computes the same function
    state = load_state_dict(tmp_path / "w.pt")
    net = models.get("can24").build(weights=str(tmp_path / "w.pt"))
    trained = models.get("can24").build(norm="none")
    trained.load_state_dict({k: v for k, v in state.items() if "running" not in k})
    x = torch.rand(1, 3, 20, 28)
    with torch.no_grad():
        assert torch.allclose(net(x), trained.eval()(x), atol=1e-5)
        assert torch.allclose(net.fuse()(x), net(x), atol=1e-4)
    torch.load(tmp_path / "w.state.pt", weights_only=True)


def test_shift_trained_can_ships_as_the_same_batch_norm_function(tmp_path, folder, blur_operator):
    import torch

    from fastip import models

    config = _config(steps=6, eval_every=6, checkpoint_every=6)
    train_can("can24", "blur", folder, tmp_path / "w.pt", config=config, val=folder, max_side=64, norm="shift",
              cache_dir=tmp_path / "cache", progress=lambda _: None)
    state = load_state_dict(tmp_path / "w.pt")
    assert max(state[f"layers.{i}.norm.beta"].abs().max().item() for i in range(8)) > 1e-4  # the shifts trained
    trained = models.get("can24").build(norm="shift")
    trained.load_state_dict({k: v for k, v in state.items() if "running" not in k})
    net = models.get("can24").build(weights=str(tmp_path / "w.pt"))  # the default batch-norm CAN
    x = torch.rand(1, 3, 20, 28)
    with torch.no_grad():
        assert torch.allclose(net(x), trained.eval()(x), atol=1e-5)
        assert torch.allclose(net.fuse()(x), net(x), atol=1e-4)


def test_resume_reproduces_the_same_weights(tmp_path, folder, blur_operator):
    kw = dict(val=folder, max_side=64, cache_dir=tmp_path / "cache")
    train_can("can24", "blur", folder, tmp_path / "straight.pt", config=_config(), progress=lambda _: None, **kw)

    class Stop(Exception):
        pass

    def stop_at_the_end(line: str) -> None:
        if line.startswith("step 12/"):
            raise Stop  # after the step-6 checkpoint, before the step-12 one
    with pytest.raises(Stop):
        train_can("can24", "blur", folder, tmp_path / "resumed.pt", config=_config(), progress=stop_at_the_end, **kw)
    lines = []
    train_can("can24", "blur", folder, tmp_path / "resumed.pt", config=_config(resume=True), progress=lines.append, **kw)
    assert any("resumed" in line and "step 6" in line for line in lines)
    a, b = load_state_dict(tmp_path / "straight.pt"), load_state_dict(tmp_path / "resumed.pt")
    assert a.keys() == b.keys()
    assert all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)


def test_target_cache_reuses_and_keys_on_params(tmp_path, blur_operator):
    cache = TargetCache(tmp_path)
    image = np.random.default_rng(0).integers(0, 256, (16, 20, 3), dtype=np.uint8)
    first = cache.target(image, "blur", {"radius": 1})
    again = cache.target(image, "blur", {"radius": 1})
    other = cache.target(image, "blur", {"radius": 2})
    assert np.array_equal(first, again) and not np.array_equal(first, other)
    assert (cache.hits, cache.misses) == (1, 2) and len(blur_operator) == 2


def test_target_key_changes_with_the_operator_implementation(monkeypatch):
    import inspect

    from fastip.train.targets import target_key

    image = np.zeros((8, 8, 3), np.uint8)
    before = target_key(image, "rof", {"weight": 0.1})
    assert target_key(image, "rof", {"weight": 0.1}) == before
    source = inspect.getsource
    monkeypatch.setattr(inspect, "getsource", lambda obj: source(obj) + "# changed\n")
    assert target_key(image, "rof", {"weight": 0.1}) != before


def test_sr_smoke(tmp_path, folder):
    config = _config(steps=4, batch=2, crop=12, eval_every=4, checkpoint_every=4)
    result = train_sr("espcn_x2", folder, tmp_path / "sr.safetensors", config=config, val=folder, max_side=64,
                      progress=lambda _: None)
    assert np.isfinite(result.metrics["psnr"]) and "bicubic_psnr" in result.baseline
    assert (tmp_path / "sr.safetensors").is_file()


@pytest.mark.parametrize("args, message", [
    (["can24", "--operator", "blur", "--data", "{missing}"], "not found"),
    (["can24", "--operator", "blur", "--data", "{empty}"], "no images"),
    (["can24", "--data", "{empty}"], "--operator"),
    (["espcn_x2", "--operator", "blur"], "super-resolution"),
    (["can24", "--operator", "blur", "--steps", "0"], "--steps"),
    (["no_such_model"], "unknown model"),
])
def test_cli_rejects_bad_input(tmp_path, capsys, args, message):
    (tmp_path / "empty").mkdir()
    args = [a.format(missing=tmp_path / "nope", empty=tmp_path / "empty") for a in args]
    assert main([*args, "-o", str(tmp_path / "w.pt"), "-q"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_cli_trains(tmp_path, folder, blur_operator, capsys):
    rc = main(["can24", "--operator", "blur", "--param", "radius=1", "--data", str(folder), "--val", str(folder),
               "--steps", "2", "--crop", "16", "--max-side", "64", "--variants", "2", "--threads", "1", "--cache", str(tmp_path / "c"),
               "-o", str(tmp_path / "w.pt"), "-q"])
    assert rc == 0
    assert "held-out PSNR" in capsys.readouterr().out


def test_cli_trains_can_on_whole_images_by_default(tmp_path, folder, blur_operator):
    """Crops would show the deepest dilations zero padding where whole images show content."""
    import json

    assert main(["can24", "--operator", "blur", "--data", str(folder), "--val", str(folder), "--steps", "1",
                 "--max-side", "64", "--threads", "1", "--cache", str(tmp_path / "c"), "-o", str(tmp_path / "w.pt"), "-q"]) == 0
    params = json.loads((tmp_path / "w.json").read_text())["params"]
    assert (params["batch"], params["crop"]) == (1, 64)
    # the library call takes the same defaults from TrainConfig; SR has no whole-image mode and asks for a crop
    train_can("can24", "blur", folder, tmp_path / "lib.pt", config=TrainConfig(steps=1, threads=1), val=folder,
              max_side=48, cache_dir=tmp_path / "c", progress=lambda line: None)
    params = json.loads((tmp_path / "lib.json").read_text())["params"]
    assert (params["batch"], params["crop"]) == (1, 48)
    with pytest.raises(InputError, match="give --crop"):
        train_sr("espcn_x2", folder, tmp_path / "sr.pt", config=TrainConfig(steps=1, threads=1), val=folder)


def test_windows_are_training_images_of_their_own(tmp_path, folder, blur_operator, astronaut):
    """--windows adds sub-images of the (at most 2x max-side) image, each with the operator run on it."""
    import json

    from fastip.train.can import windows_of
    from fastip.train.data import downscale

    big = downscale(astronaut, 128)
    wins = windows_of(astronaut, 6, 64, np.random.default_rng(0))
    assert len(wins) == 6 and len({w.shape for w in wins}) > 1
    for w in wins:
        assert 32 <= w.shape[0] <= 64 and 32 <= w.shape[1] <= 64
        hits = [(y, x) for y in range(129 - w.shape[0]) for x in range(129 - w.shape[1])
                if np.array_equal(big[y:y + w.shape[0], x:x + w.shape[1]], w)]
        assert hits, "a window is a piece of the image, not resampled"
    assert all(np.array_equal(a, b) for a, b in zip(wins, windows_of(astronaut, 6, 64, np.random.default_rng(0))))
    lines = []
    train_can("can24", "blur", folder, tmp_path / "w.pt", val=folder, max_side=64, windows=3, cache_dir=tmp_path / "c",
              config=TrainConfig(steps=1, batch=1, crop=64, threads=1), progress=lines.append)
    images = len(list(folder.iterdir()))
    assert f"{images * (3 + 3)} training pairs" in lines[0]  # 3 resolutions + 3 windows of each image
    assert json.loads((tmp_path / "w.json").read_text())["params"]["windows"] == 3


def test_synthetic_images_join_the_training_set(tmp_path, folder, blur_operator):
    import json

    lines = []
    train_can("can24", "blur", folder, tmp_path / "w.pt", val=folder, max_side=64, synthetic=2, cache_dir=tmp_path / "c",
              config=TrainConfig(steps=1, batch=1, crop=64, threads=1), progress=lines.append)
    images = len(list(folder.iterdir()))
    assert f"{(images + 2) * 3} training pairs" in lines[0]
    params = json.loads((tmp_path / "w.json").read_text())["params"]
    assert params["synthetic"] == 2 and params["data"] == ["img0.png", "img1.png"]  # the count names the rest
    with pytest.raises(FastipError, match="--synthetic"):
        train_can("can24", "blur", folder, tmp_path / "w.pt", synthetic=-1, progress=lambda _: None)


def test_errors_are_fastip_errors(tmp_path):
    with pytest.raises(FastipError):
        train_can("can24", "blur", tmp_path / "missing", tmp_path / "w.pt", progress=lambda _: None)


def test_publish_lists_finished_runs_only(tmp_path, folder, blur_operator):
    import json

    import torch

    from fastip.train.loop import state_path
    from fastip.train.publish import publish

    out = tmp_path / "run" / "blur.pt"
    train_can("can24", "blur", folder, out, config=_config(steps=PUBLISHABLE_STEPS), val=folder, max_side=64,
              cache_dir=tmp_path / "cache", progress=lambda _: None)
    ship = dict(weights_dir=tmp_path / "w", val=folder, cache_dir=tmp_path / "cache")  # the shipping rule on `folder`
    entry = publish(out.with_suffix(".json"), "blur", "test", **ship)
    index = json.loads((tmp_path / "w" / "index.json").read_text())
    assert index == [entry] and (tmp_path / "w" / entry["file"]).is_file()
    assert entry["params"]["steps"] == PUBLISHABLE_STEPS and entry["evaluated_on"] == "img0.png, img1.png"
    assert entry["evaluation"]["320px"]["gain"] >= 2.0 and entry["evaluation"]["320px"]["images"] == 2
    better = dict(entry, metrics={**entry["metrics"], "psnr": entry["metrics"]["psnr"] + 1.0})
    (tmp_path / "w" / "index.json").write_text(json.dumps([better]))
    with pytest.raises(FastipError, match="keeps the shipped weight"):
        publish(out.with_suffix(".json"), "blur", "test", **ship)
    assert publish(out.with_suffix(".json"), "blur", "test", replace=True, **ship) == entry
    state = torch.load(state_path(out), weights_only=True)
    torch.save({**state, "step": 1}, state_path(out))  # as if a later run had overwritten the weights
    with pytest.raises(FastipError, match="step 1"):
        publish(out.with_suffix(".json"), "blur", "test", **ship)


def test_remeasure_reproduces_the_published_metrics(tmp_path, folder, blur_operator):
    import json

    from fastip.train.publish import publish, remeasure

    out = tmp_path / "run" / "blur.pt"
    train_can("can24", "blur", folder, out, config=_config(steps=PUBLISHABLE_STEPS), val=folder, max_side=64,
              cache_dir=tmp_path / "cache", progress=lambda _: None)
    published = publish(out.with_suffix(".json"), "blur", "test", weights_dir=tmp_path / "w", val=folder,
                        cache_dir=tmp_path / "cache")
    index_path = tmp_path / "w" / "index.json"
    index = json.loads(index_path.read_text())
    index[0]["metrics"] = {"psnr": 0.0, "ssim": 0.0}
    index_path.write_text(json.dumps(index))
    entry = remeasure("can24", "blur", weights_dir=tmp_path / "w", val=folder, cache_dir=tmp_path / "cache")
    assert entry["metrics"] == pytest.approx(published["metrics"], abs=1e-4)
    assert json.loads(index_path.read_text())[0]["metrics"] == entry["metrics"]
    with pytest.raises(FastipError, match="no shipped weight"):
        remeasure("can24", "sharpen", weights_dir=tmp_path / "w", val=folder)


def test_shipped_rof_weight_reproduces_its_recorded_metrics(tmp_path):
    """The registry's numbers are measurements: re-running the held-out evaluation gives them again."""
    import shutil

    from fastip import models
    from fastip.models.registry import WEIGHTS_DIR
    from fastip.train.publish import remeasure

    recorded = models.get("can24").weights["rof"]
    (tmp_path / "w").mkdir()
    for name in ("index.json", recorded.path.name):
        shutil.copy(WEIGHTS_DIR / name, tmp_path / "w" / name)
    entry = remeasure("can24", "rof", weights_dir=tmp_path / "w", cache_dir=tmp_path / "cache")
    assert entry["metrics"]["psnr"] == pytest.approx(recorded.metrics["psnr"], abs=0.01)
    assert entry["metrics"]["ssim"] == pytest.approx(recorded.metrics["ssim"], abs=1e-4)


def test_samples_plus_grey_adds_greyscale_photographs_and_keeps_the_held_out_pair():
    pytest.importorskip("skimage")
    from fastip.images import sample_names
    from fastip.train.data import GREY_SAMPLES, HELD_OUT, TRAIN_SAMPLES, load_images

    grey = load_images("samples+grey")
    assert [i.name for i in grey] == [*TRAIN_SAMPLES, *GREY_SAMPLES]
    for image in grey[len(TRAIN_SAMPLES):]:
        assert image.pixels.ndim == 3 and image.pixels.shape[2] == 3 and min(image.pixels.shape[:2]) >= 190
        assert (image.pixels[..., 0] == image.pixels[..., 2]).all() and image.pixels.std() > 10
    assert [i.name for i in load_images("samples+grey", held_out=True)] == list(HELD_OUT)
    assert not set(GREY_SAMPLES) & set(sample_names())  # calibration and the CLI's sample list stay colour


def test_sr_cli_trains_with_the_models_recipe_and_records_it(tmp_path, folder):
    """Flags left out come from fastip.train.sr.RECIPES; the result names the command line that repeats the run."""
    import json

    from fastip.cli.train_cmd import build_parser
    from fastip.train.sr import RECIPES

    assert main(["espcn_x2", "--data", str(folder), "--val", str(folder), "--steps", "2", "--batch", "2", "--crop", "12",
                 "--max-side", "64", "--threads", "1", "-o", str(tmp_path / "sr.safetensors"), "-q"]) == 0
    params = json.loads((tmp_path / "sr.json").read_text())["params"]
    assert (params["lr"], params["lr_final"]) == (RECIPES["espcn_x2"]["lr"], RECIPES["espcn_x2"]["lr_final"])
    again = build_parser().parse_args(params["recipe"].split()[1:])
    assert (again.model, again.data, again.steps, again.batch, again.crop, again.lr, again.max_side) == (
        "espcn_x2", str(folder), 2, 2, 12, params["lr"], 64)


def test_shipped_sr_weights_are_the_default_recipe_by_name():
    """`fastip-train MODEL` with no flags but -o repeats the recipe every shipped SR weight records."""
    from fastip.cli.train_cmd import build_parser
    from fastip.train.publish import read_index
    from fastip.train.sr import DATA, RECIPES

    entries = [e for e in read_index() if e["model"].startswith(("espcn", "fsrcnn", "edsr"))]
    assert entries
    for entry in entries:
        args = build_parser().parse_args(entry["params"]["recipe"].split()[1:])
        recipe = RECIPES[args.model]
        assert args.model == entry["model"] and args.data == DATA and args.max_side == 640, entry["params"]["recipe"]
        assert (args.steps, args.batch, args.crop, args.lr, args.lr_final, args.seed) == (
            recipe["steps"], recipe["batch"], recipe["crop"], recipe["lr"], recipe["lr_final"], 0), entry["model"]
        assert entry["params"]["steps"] == recipe["steps"]


def test_sr_training_pairs_take_each_image_at_the_fractions_that_hold_a_crop():
    from fastip.train.data import NamedImage
    from fastip.train.sr import training_pairs

    big, small = NamedImage("big", np.zeros((400, 600, 3), np.uint8)), NamedImage("small", np.zeros((50, 70, 3), np.uint8))
    pairs = training_pairs([big, small], 2, 32)
    assert [lr.shape[:2] for lr, _ in pairs] == [(200, 300), (100, 150), (50, 75), (25, 35)]
    assert all(hr.shape[:2] == (lr.shape[0] * 2, lr.shape[1] * 2) for lr, hr in pairs)
