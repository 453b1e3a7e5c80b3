"""SR networks: the bicubic skip is PIL's bicubic, the shipped weights reach white and keep colours."""

import numpy as np
import pytest

pytest.importorskip("torch")

import torch  # noqa: E402

from fastip import models  # noqa: E402
from fastip.images import sample_image  # noqa: E402
from fastip.models.sr import BicubicSkip  # noqa: E402
from fastip.operators import bicubic_upscale  # noqa: E402
from fastip.train.sr import bicubic_down  # noqa: E402


def _tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image.astype(np.float32).transpose(2, 0, 1)[None] / 255.0)


def _run(net, image: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        out = net(_tensor(image))[0].numpy().transpose(1, 2, 0)
    return np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_bicubic_skip_is_pils_bicubic_away_from_the_borders(scale):
    image = sample_image("coffee")[100:160, 200:290]
    skip = torch.nn.functional.pixel_shuffle(BicubicSkip(scale)(_tensor(image)), scale)[0].numpy().transpose(1, 2, 0)
    reference = bicubic_upscale(image.astype(np.float32) / 255.0, scale)
    m = 2 * scale  # PIL renormalises its taps at the borders, the skip replicates edge pixels
    np.testing.assert_allclose(np.clip(skip, 0, 1)[m:-m, m:-m], reference[m:-m, m:-m], atol=1e-5)


@pytest.mark.parametrize("name", ["espcn_x2", "espcn_x3", "fsrcnn_x4"])
def test_untrained_networks_start_as_a_skip_plus_a_residual(name):
    """The skip is rebuilt from the scale, not saved: the weight files hold learned tensors only."""
    net = models.get(name).build()
    assert not any("skip" in key for key in net.state_dict())
    assert any(key.startswith("skip") for key, _ in net.named_buffers())


def _shipped(name: str):
    spec = models.get(name)
    if spec.default_weights is None:
        pytest.skip(f"{name} ships no weights")
    return spec.build(weights=spec.default_weights)


@pytest.mark.parametrize("name", ["espcn_x2", "espcn_x4", "fsrcnn_x2", "fsrcnn_x4"])
def test_shipped_weights_reach_white_and_black(name):
    """Flat white and black areas come out white and black (a tanh output path stopped 5 levels short of white)."""
    scale = models.get(name).io.scale_factor
    image = np.full((48, 48, 3), 255, np.uint8)
    image[:, 24:] = 0
    out = _run(_shipped(name), image)
    inner = 6 * scale
    white, black = out[inner:-inner, inner:20 * scale], out[inner:-inner, 28 * scale:-inner]
    assert white.min() >= 254 and black.max() <= 1, (white.min(), black.max())


@pytest.mark.parametrize("name", ["espcn_x2", "fsrcnn_x2", "espcn_x4", "fsrcnn_x4"])
def test_shipped_weights_keep_the_mean_colour_of_a_held_out_photo(name):
    """Per channel, the mean of the output is within one level of the original's (bicubic: within 0.1)."""
    scale = models.get(name).io.scale_factor
    hr = sample_image("grace_hopper")
    lr = bicubic_down(hr, scale)
    hr = hr[:lr.shape[0] * scale, :lr.shape[1] * scale]
    out = _run(_shipped(name), lr)
    m = 2 * scale
    shift = (out[m:-m, m:-m].astype(np.float64) - hr[m:-m, m:-m]).mean(axis=(0, 1))
    assert np.abs(shift).max() < 1.0, shift


@pytest.mark.parametrize("scale,kernel", [(2, 5), (3, 5), (4, 3)])
def test_fsrcnn_deploy_form_is_the_same_function_with_a_subpixel_conv(scale, kernel):
    """The transposed conv becomes a conv at low resolution into 3*s^2 planes; outputs agree to float rounding,
    at odd sizes, with perturbed weights (so every tap and the bias matter)."""
    from fastip.export.source import deploy_form
    from fastip.models.sr import SubPixelFSRCNN

    net = models.get(f"fsrcnn_x{scale}").build()
    torch.manual_seed(scale)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    deploy = deploy_form(net)
    assert isinstance(deploy, SubPixelFSRCNN)
    assert tuple(deploy.tail.weight.shape) == (3 * scale * scale, 56, kernel, kernel)
    assert not any(isinstance(m, torch.nn.ConvTranspose2d) for m in deploy.modules())
    x = torch.rand(1, 3, 23, 17)
    with torch.no_grad():
        expected, got = net(x), deploy(x)
    assert got.shape == expected.shape == (1, 3, 23 * scale, 17 * scale)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)
    # each sub-pixel plane's taps are the transposed kernel's: no tap of it is dropped or used twice
    assert torch.count_nonzero(deploy.tail.weight) == torch.count_nonzero(net.deconv.weight)
