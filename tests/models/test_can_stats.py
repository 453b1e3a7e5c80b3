"""Instance-norm CANs deployed with low-resolution statistics folded into the convolutions."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402

from fastip import models, runtimes  # noqa: E402
from fastip.errors import InputError  # noqa: E402
from fastip.export import export_model  # noqa: E402
from fastip.export.validate import RTOL  # noqa: E402
from fastip.models.can import EPS  # noqa: E402
from fastip.models.can_stats import LowResStatsCAN, stats_form  # noqa: E402
from fastip.pipeline import to_tensor  # noqa: E402
from tests.support import crop, perturbed_source  # noqa: E402


def _image(astronaut, h=96, w=128):
    return torch.from_numpy(crop(astronaut, h, w).transpose(2, 0, 1)[None].astype(np.float32) / 255)


def _unfolded_with_stats(can, x, stats):
    """The CAN's own layers, each instance norm applied with the given (mean, var) instead of its image's."""
    h = x
    for layer, (mean, var) in zip(can.layers, stats):
        y = layer.conv(h)
        n = layer.norm
        normed = (y - mean.view(1, -1, 1, 1)) / torch.sqrt(var.view(1, -1, 1, 1) + EPS) + n.beta.view(1, -1, 1, 1)
        h = F.leaky_relu(n.lam * y + n.mu * normed, 0.2)
    return can.last(h)


def _low_res_stats(can, x, factor):
    """Per-layer (mean, var) of the exact instance-norm CAN run on the area-downsampled image."""
    stats, h = [], F.avg_pool2d(x, factor, stride=factor)
    for layer in can.layers:
        y = layer.conv(h)
        stats.append((y.mean(dim=(0, 2, 3)), y.var(dim=(0, 2, 3), unbiased=False)))
        h = layer(h)  # the exact AdaptiveNorm on the low-resolution image
    return stats


def test_folded_low_res_statistics_equal_the_norm_applied_with_them(astronaut):
    """The fold is exact: conv weights x scale + shift == the instance norm evaluated with the low-res statistics."""
    source = perturbed_source("can24", seed=7, norm="instance", norm_stats=1)
    can = source.module
    x = _image(astronaut)
    with torch.no_grad():
        for factor in (2, 4):
            folded = stats_form(can, factor, EPS)(x)
            reference = _unfolded_with_stats(can, x, _low_res_stats(can, x, factor))
            exact = can(x)
            assert (folded - reference).abs().max().item() <= 1e-5 * float(reference.max() - reference.min())
            assert (folded - exact).abs().max().item() > 1e-4, "low-res statistics are not the full image's"


def test_statistics_factor_one_is_the_exact_instance_norm():
    for kwargs in ({"norm_stats": 1}, {}):  # the default deploys the exact instance norm
        source = perturbed_source("can24", seed=1, norm="instance", **kwargs)
        assert source.deploy is source.module and source.input.shape[0] == "N"
        assert "norm_stats" not in source.record["kwargs"] or kwargs
    assert stats_form(source.module, 1, EPS) is source.module


def test_shipped_instance_weights_deploy_close_to_the_exact_norm(astronaut):
    """Shipped instance-norm weights (can32 wls_tone) on a real photograph: 1/4-resolution statistics stay near the exact output."""
    assert models.get("can32").build(weights="wls_tone").fuse().norm_mode == "instance"
    can = models.get("can32").build(weights="wls_tone", norm_stats=4)
    assert can.norm_stats == 4 and isinstance(can.fuse(), LowResStatsCAN)
    x = _image(astronaut, 256, 256)
    with torch.no_grad():
        exact, folded = can(x), can.fuse()(x)
    mse = float(((exact.clamp(0, 1) - folded.clamp(0, 1)) ** 2).mean())
    assert 10 * np.log10(1.0 / mse) >= 30.0


def test_export_folds_instance_norms_and_takes_one_image(tmp_path, astronaut):
    source = perturbed_source("can24", seed=2, norm="instance", norm_stats=4)
    bundle = export_model(source, tmp_path / "stats", target="openvino")
    import onnx

    ops = {node.op_type for node in onnx.load(str(bundle.path("onnx"))).graph.node}
    assert "InstanceNormalization" not in ops and "Conv" in ops
    assert bundle.manifest.inputs[0].shape[0] == 1 and bundle.manifest.source["kwargs"]["norm_stats"] == 4
    feed = {"input": to_tensor(crop(astronaut, 53, 77), source.io)}
    with torch.no_grad():
        ref = source.deploy(torch.from_numpy(feed["input"])).numpy()
    for backend in ("ort", "openvino", "torch"):
        if backend not in runtimes.available_backends():
            continue
        with runtimes.open(bundle, backend) as session:
            got = session.run(feed)["output"]
        assert np.abs(got - ref).max() <= RTOL * float(ref.max() - ref.min()), backend


def test_norm_stats_is_refused_where_it_does_not_apply():
    with pytest.raises(InputError, match="instance-norm weights"):
        models.get("can24").build(weights="rof", norm_stats=4)
    with pytest.raises(InputError, match="norm_stats must be one of"):
        models.get("can32").build(weights="wls_tone", norm_stats=3)
    from fastip.export.source import resolve

    with pytest.raises(InputError, match="--norm-stats applies to can24 and can32"):
        resolve("fsrcnn_x2", norm_stats=2)
