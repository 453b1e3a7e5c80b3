"""Fast mode: low-resolution CAN + guided upsampling keeps the input's size and exports as one graph."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from fastip import models  # noqa: E402
from fastip.errors import InputError  # noqa: E402
from fastip.models.can import CAN  # noqa: E402
from fastip.models.checkpoint import save_state_dict  # noqa: E402
from fastip.models.registry import Weights  # noqa: E402
from fastip.models.fast import (FACTORS, FastCAN, GuidedUpsample, base_model, box_mean, downsample,  # noqa: E402
                                pad_to_multiple)
from tests.support import has, perturbed_source  # noqa: E402

FAST = [n for n in models.list_models("can*_fast*")]


def test_every_base_and_factor_is_registered():
    assert FAST == sorted(f"{b}_fast{f}" for b in ("can24", "can32") for f in FACTORS)
    assert all(models.get(n).family == "can" and base_model(n) in ("can24", "can32") for n in FAST)
    assert base_model("can32") is None


@pytest.mark.parametrize("factor", FACTORS)
@pytest.mark.parametrize("size", [(37, 51), (64, 64), (9, 17)])
def test_output_keeps_odd_input_size(factor, size):
    model = FastCAN(CAN(depth=4, width=8), factor).eval()
    with torch.no_grad():
        assert model(torch.rand(2, 3, *size)).shape == (2, 3, *size)


def test_box_mean_counts_only_pixels_inside():
    x = torch.ones(1, 1, 5, 7)
    assert torch.equal(box_mean(x, 2), x)  # borders average fewer pixels, not zeros
    ramp = torch.arange(6.0).view(1, 1, 1, 6)
    assert torch.allclose(box_mean(ramp, 1)[0, 0, 0], torch.tensor([0.5, 1, 2, 3, 4, 4.5]))


def test_downsample_is_area_mean_with_replicated_edge():
    x = torch.arange(15.0).view(1, 1, 3, 5)
    low = downsample(x, 2)
    assert low.shape == (1, 1, 2, 3)
    assert low[0, 0, 0, 0] == x[0, 0, :2, :2].mean()
    assert low[0, 0, 1, 2] == x[0, 0, 2, 4]  # a corner cell made of replicated pixels


@pytest.mark.parametrize("factor", FACTORS)
def test_guided_upsampling_of_constant_is_exact(factor):
    up = GuidedUpsample(factor)
    guide = pad_to_multiple(torch.full((1, 3, 29, 43), 0.3), factor)
    low = downsample(guide, factor)
    out = up(low, torch.full_like(low, 0.7), guide)
    assert torch.allclose(out, torch.full_like(guide, 0.7), atol=1e-6)


@pytest.mark.parametrize("factor", FACTORS)
def test_guided_upsampling_of_linear_map_is_exact(factor):
    """Output = alpha * guide + beta at low resolution is reproduced at full resolution (eps -> 0)."""
    up = GuidedUpsample(factor, eps=1e-12)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 61), torch.linspace(0, 1, 83), indexing="ij")
    guide = torch.stack([xx, yy, 0.5 * (xx + yy) ** 2], 0)[None].double()  # a different image per channel
    guide = pad_to_multiple(guide, factor)
    low = downsample(guide, factor)
    alpha, beta = torch.tensor([0.5, -1.0, 2.0]).view(1, 3, 1, 1), torch.tensor([0.1, 1.0, -0.3]).view(1, 3, 1, 1)
    out = up(low, alpha * low + beta, guide)
    assert torch.allclose(out, alpha * guide + beta, atol=1e-6)


def test_identity_can_keeps_a_smooth_image():
    """Identity-initialised CAN: fast mode returns a linear ramp (eps small against its variance)."""
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 48), torch.linspace(0, 1, 40), indexing="ij")
    image = torch.stack([xx, yy, 0.3 + 0.2 * xx], 0)[None]
    with torch.no_grad():
        out = models.get("can24_fast4").build(norm="none", eps=1e-8)(image)
    assert (out - image).abs().max() < 1e-5


def test_fuse_matches_unfused():
    source = perturbed_source("can24_fast2", seed=3)
    x = torch.rand(1, 3, 45, 39)
    with torch.no_grad():
        assert torch.allclose(source.module(x), source.deploy(x), atol=1e-5)


def test_accepts_base_weights_and_own_layout(tmp_path):
    base = models.get("can24").build()
    with torch.no_grad():
        base.last.bias.fill_(0.25)
    plain = save_state_dict(base.state_dict(), tmp_path / "base.safetensors")
    fast = models.get("can24_fast4").build(weights=str(plain))
    assert torch.equal(fast.can.last.bias, base.last.bias)
    own = save_state_dict(fast.state_dict(), tmp_path / "fast.safetensors")
    assert torch.equal(models.get("can24_fast4").build(weights=str(own)).can.last.bias, base.last.bias)
    with pytest.raises(InputError, match="no weights named 'nope'"):
        models.get("can24_fast4").build(weights="nope")


def test_base_weight_names_resolve(tmp_path):
    """`fastip-export can24_fast4 --weights <name of a can24 weight>` loads the base CAN's shipped file."""
    base = models.get("can24").build()
    with torch.no_grad():
        base.last.bias.fill_(-0.5)
    name = f"test-{uuid.uuid4().hex[:8]}"
    models.add_weights("can24", Weights(name=name, file=str(save_state_dict(base.state_dict(), tmp_path / "w.pt"))))
    assert torch.equal(models.get("can24_fast2").build(weights=name).can.last.bias, base.last.bias)


def test_bad_factor():
    with pytest.raises(InputError, match="factor"):
        FastCAN(CAN(depth=4, width=8), 3)


def test_exports_and_validates_on_ort_and_openvino(tmp_path, astronaut):
    from fastip import runtimes
    from fastip.export import export_model
    from fastip.pipeline import to_tensor

    source = perturbed_source("can24_fast4", seed=5)
    target = "openvino" if has("openvino") else "onnx"
    bundle = export_model(source, tmp_path / "fast", target=target)
    records = bundle.manifest.validation
    assert all(r.passed for r in records) and any(r.shape[2] % 2 for r in records)  # one odd size
    assert {r.backend for r in records} == ({"ort", "openvino"} if has("openvino") else {"ort"})
    feed = {"input": to_tensor(astronaut[101:154, 77:144], source.io)}  # 53 x 67, not a multiple of 4
    with torch.no_grad():
        ref = source.deploy(torch.from_numpy(feed["input"])).numpy()
    for backend in ["ort"] + (["openvino"] if has("openvino") else []):
        with runtimes.open(bundle, backend) as session:
            got = session.run(feed)["output"]
        assert got.shape == ref.shape == (1, 3, 53, 67)
        assert np.abs(got - ref).max() <= 1e-4 * np.ptp(ref)


def test_finetune_fits_whole_images_and_refuses_small_crops(astronaut):
    from fastip.models.fast import finetune
    from tests.support import crop

    x = crop(astronaut, 72, 88, 100, 150)
    y = np.clip(np.rint(x.astype(np.float32) * 0.8 + 20), 0, 255).astype(np.uint8)  # a tone change
    torch.manual_seed(0)
    model = FastCAN(CAN(depth=4, width=8, norm="batch"), 2)
    feed = torch.from_numpy(x.transpose(2, 0, 1)[None].astype(np.float32) / 255)
    target = torch.from_numpy(y.transpose(2, 0, 1)[None].astype(np.float32) / 255)

    def error() -> float:
        with torch.no_grad():
            return torch.nn.functional.mse_loss(model.eval()(feed), target).item()

    before = error()
    finetune(model, [(x, y)], steps=40, lr=1e-2)
    assert error() < 0.5 * before
    with pytest.raises(InputError, match="at least 64 px"):
        finetune(model, [(x, y)], steps=1, crop=32)
    with pytest.raises(InputError, match="images of at least 80 px"):
        finetune(model, [(x, y)], steps=1, crop=80)


def _stacked_upsample(up: GuidedUpsample, guide_lr, out_lr, guide_hr):
    """The guided upsampling with A and b stacked into one tensor, resized together and sliced apart."""
    r = up.radius
    mean_i, mean_p = box_mean(guide_lr, r), box_mean(out_lr, r)
    a = (box_mean(guide_lr * out_lr, r) - mean_i * mean_p) / (box_mean(guide_lr * guide_lr, r) - mean_i * mean_i + up.eps)
    ab = box_mean(torch.cat([a, mean_p - a * mean_i], 1), r)
    ab = torch.nn.functional.interpolate(ab, scale_factor=up.factor, mode="bilinear", align_corners=False)
    c = guide_hr.shape[1]
    return ab[:, :c] * guide_hr + ab[:, c:]


@pytest.mark.parametrize("name", ["can24_fast4", "can24_fast2", "can32_fast8"])
def test_split_coefficients_equal_the_stacked_form_on_real_images(name, astronaut):
    """Resizing A and b apart gives the output of the stacked form (one Resize, two channel slices) within 1e-5."""
    from fastip.images import sample_image
    from fastip.pipeline import to_tensor

    shipped = models.get(name).weights
    model = models.get(name).build(weights=next(iter(shipped))) if shipped else perturbed_source(name, seed=2).deploy
    model = model.eval()
    for image in (astronaut[37:290, 11:410], sample_image("coffee")[:211, :333]):  # odd sizes, need edge padding
        x = torch.from_numpy(to_tensor(image, models.get(name).io))
        with torch.no_grad():
            padded = pad_to_multiple(x, model.factor)
            low = torch.nn.functional.avg_pool2d(padded, model.factor, stride=model.factor)
            lowout = model.can(low)
            got = model(x)
            want = _stacked_upsample(model.upsample, low, lowout, padded)[..., : x.shape[2], : x.shape[3]]
        assert got.shape == x.shape
        assert (got - want).abs().max().item() <= 1e-5


def test_exported_tail_has_no_full_resolution_channel_slices(tmp_path):
    onnx = pytest.importorskip("onnx")
    from fastip.export import export_model

    bundle = export_model(perturbed_source("can24_fast4", seed=3), tmp_path / "fast", target="onnx")
    graph = onnx.load(str(bundle.path("onnx"))).graph
    resized = {o for n in graph.node if n.op_type == "Resize" for o in n.output}
    assert len(resized) == 2
    assert not [n for n in graph.node if n.op_type == "Slice" and n.input[0] in resized]
    concatenated = {o for n in graph.node if n.op_type == "Concat" for o in n.output}
    assert not [n for n in graph.node if n.op_type == "Resize" and n.input[0] in concatenated]
