"""Tiled inference equals untiled inference when the halo covers the receptive field."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from fastip import models  # noqa: E402
from fastip.errors import InputError  # noqa: E402
from fastip.models.can import CAN, CAN_IO  # noqa: E402
from fastip.models.fast import FastCAN  # noqa: E402
from fastip.runtimes.torch import TorchSession  # noqa: E402
from fastip.spec import TensorSpec  # noqa: E402
from fastip.tiling import (NotTileableError, ReceptiveField, TiledPipeline, receptive_field,  # noqa: E402
                           registry_receptive_field, tile_spans)

# Tiled and untiled runs sum the same terms in a different order: float32 rounding only.
RTOL = 1e-5  # max abs difference / output range


def _session(module) -> TorchSession:
    dyn = ("N", 3, "H", "W")
    return TorchSession(module.eval(), [TensorSpec("input", dyn)], [TensorSpec("output", dyn)])


def _perturbed(module, seed: int = 0):
    """Non-trivial weights (CAN's identity init would hide tile seams)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * (0.2 if p.dim() > 1 else 0.05))
    return module.eval()


def _max_rel_diff(module, io, x, **tiling) -> float:
    session = _session(module)
    full = session.run({"input": x})["output"]
    tiled = TiledPipeline(session, io, **tiling).run_tensor(x)
    assert tiled.shape == full.shape
    return float(np.abs(tiled - full).max() / (np.ptp(full) or 1.0))


def _receptive_radius(module, size: int, scale: int) -> int:
    """Measured: how far from the centre the input gradient of the centre output pixel reaches."""
    x = torch.rand(1, 3, size, size, requires_grad=True)
    y = module(x)
    c = size // 2
    y[0, :, c * scale, c * scale].sum().backward()
    ys, xs = np.nonzero(x.grad[0].abs().sum(0).numpy())
    return int(max(c - ys.min(), ys.max() - c, c - xs.min(), xs.max() - c))


@pytest.mark.parametrize("name", ["espcn_x2", "espcn_x3", "fsrcnn_x2", "fsrcnn_x3", "fsrcnn_x4"])
def test_sr_tiled_equals_untiled_at_odd_sizes(name):
    spec = models.get(name)
    module = _perturbed(spec.build())
    x = np.random.default_rng(1).random((1, 3, 53, 41), dtype=np.float32)
    assert _max_rel_diff(module, spec.io, x, tile=16, model=name) <= RTOL


@pytest.mark.parametrize("name", ["espcn_x2", "fsrcnn_x3", "edsr_baseline_x2"])
def test_receptive_field_bounds_the_measured_one(name):
    module = _perturbed(models.get(name).build())
    field = receptive_field(module)
    assert field.radius >= _receptive_radius(module, 2 * field.radius + 3, field.scale)


def test_espcn_radius_from_architecture():
    assert receptive_field(models.get("espcn_x2").build()) == ReceptiveField(4, 2, 1)  # 5x5, 3x3, 3x3
    assert receptive_field(models.get("can32").build()).radius == 256  # 1 + 2 + ... + 128 + 1


def test_short_halo_shows_seams():
    spec = models.get("espcn_x2")
    module = _perturbed(spec.build())
    x = np.random.default_rng(2).random((1, 3, 40, 40), dtype=np.float32)
    assert _max_rel_diff(module, spec.io, x, tile=16, halo=2) > 100 * RTOL


def test_can_with_halo_equals_untiled():
    module = _perturbed(CAN(depth=6, width=8, norm="batch")).fuse()  # dilations 1, 2, 4, 8 + 3x3: radius 16
    assert receptive_field(module).radius == 16
    x = np.random.default_rng(3).random((1, 3, 71, 58), dtype=np.float32)
    assert _max_rel_diff(module, CAN_IO, x, tile=20, field=receptive_field(module)) <= RTOL


def test_fast_can_tiles_on_aligned_grid():
    module = _perturbed(FastCAN(CAN(depth=5, width=8), 2)).fuse()
    field = receptive_field(module)
    assert field.align == 2
    x = np.random.default_rng(4).random((1, 3, 93, 67), dtype=np.float32)
    assert _max_rel_diff(module, CAN_IO, x, tile=25, field=field) <= RTOL  # rounded up to the 2-pixel grid


def test_instance_norm_is_refused():
    with pytest.raises(NotTileableError, match="--norm batch"):
        receptive_field(CAN(depth=4, width=8, norm="instance"))
    with pytest.raises(NotTileableError, match="per-image statistics"):
        receptive_field(FastCAN(CAN(depth=4, width=8, norm="instance"), 2))
    with pytest.raises(InputError, match="untiled"):
        registry_receptive_field("can24_fast2", norm="instance")


def test_bundle_of_instance_norm_weights_is_refused(tmp_path):
    """Weights saved from an instance-norm CAN export as one (no --norm needed), and tiling refuses the bundle."""
    from fastip.export import export_model
    from fastip.models.checkpoint import save_state_dict
    from fastip.tiling import bundle_receptive_field

    path = save_state_dict(_perturbed(CAN(depth=9, width=24, norm="instance")).state_dict(), tmp_path / "w.safetensors")
    bundle = export_model("can24", tmp_path / "bundle", target="onnx", weights=str(path))
    assert bundle.manifest.source["kwargs"] == {"norm": "instance"}
    with pytest.raises(NotTileableError, match="untiled"):
        bundle_receptive_field(bundle)


def test_image_path_matches_untiled_pipeline():
    from fastip.pipeline import ImagePipeline

    spec = models.get("espcn_x2")
    session = _session(_perturbed(spec.build()))
    image = np.random.default_rng(5).integers(0, 256, (37, 29, 3), dtype=np.uint8)
    full = ImagePipeline(session, spec.io)(image)
    tiled = TiledPipeline(session, spec.io, tile=10, model="espcn_x2")(image)
    assert tiled.shape == full.shape == (74, 58, 3)
    assert np.abs(tiled.astype(int) - full).max() <= 1  # rounding to uint8 of values a float ulp apart


def test_tile_spans_cover_every_pixel_once():
    spans = list(tile_spans(37, 10, 3))
    assert [(a, b) for a, b, _, _ in spans] == [(0, 10), (10, 20), (20, 30), (30, 37)]
    assert [(a, b) for _, _, a, b in spans] == [(0, 13), (7, 23), (17, 33), (27, 37)]


def test_bad_arguments():
    session = _session(models.get("espcn_x2").build())
    with pytest.raises(InputError, match="halo="):
        TiledPipeline(session, models.get("espcn_x2").io)
    with pytest.raises(InputError, match="tile"):
        TiledPipeline(session, models.get("espcn_x2").io, tile=0, halo=4)
