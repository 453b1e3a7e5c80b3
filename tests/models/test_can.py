"""CAN as in Chen et al. 2017: architecture, identity init, norm modes and deploy-time folding."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from fastip import models  # noqa: E402
from fastip.models.can import CAN  # noqa: E402
from tests.support import crop, perturbed_source  # noqa: E402


@pytest.mark.parametrize("name, depth, width, dilations", [
    ("can24", 9, 24, [1, 2, 4, 8, 16, 32, 64, 1]),
    ("can32", 10, 32, [1, 2, 4, 8, 16, 32, 64, 128, 1]),
])
def test_architecture(name, depth, width, dilations):
    net = models.get(name).build()
    convs = [layer.conv for layer in net.layers]
    assert len(convs) + 1 == depth
    assert [c.dilation[0] for c in convs] == dilations
    assert all(c.bias is None and c.kernel_size == (3, 3) and c.padding == c.dilation for c in convs)
    assert convs[0].in_channels == 3 and all(c.out_channels == width for c in convs)
    assert net.last.kernel_size == (1, 1) and net.last.out_channels == 3 and net.last.bias is not None
    assert all(layer.norm.lam.item() == 1.0 and layer.norm.mu.item() == 0.0 for layer in net.layers)


def test_identity_initialisation_is_the_identity_map(astronaut):
    x = torch.from_numpy(crop(astronaut, 41, 57).transpose(2, 0, 1)[None].astype(np.float32) / 255)
    for norm in ("batch", "instance"):
        with torch.no_grad():
            assert torch.equal(CAN(norm=norm).eval()(x), x)


def test_every_hidden_channel_learns_from_the_identity_start(astronaut):
    """Identity init must not leave channels 3..width-1 with zero gradient (they would stay zero forever)."""
    x = torch.from_numpy(crop(astronaut, 48, 48).transpose(2, 0, 1)[None].astype(np.float32) / 255)
    torch.manual_seed(0)
    net = CAN(depth=5, width=8, norm="none")
    loss = (net(x) - x.flip(-1)).pow(2).mean()
    loss.backward()
    for layer in net.layers:
        grad = layer.conv.weight.grad.abs().sum(dim=(1, 2, 3))  # per output channel
        assert (grad > 0).all(), f"dead output channels {torch.nonzero(grad == 0).ravel().tolist()}"


def test_folded_batch_can_equals_unfolded(astronaut):
    source = perturbed_source("can32", seed=3)
    x = torch.from_numpy(crop(astronaut, 67, 91, 200, 180).transpose(2, 0, 1)[None].astype(np.float32) / 255)
    with torch.no_grad():
        ref, folded = source.module(x), source.deploy(x)
    assert not torch.allclose(ref, x, atol=1e-2), "perturbed weights must not be the identity"
    assert 0.2 < (ref.max() - ref.min()).item() < 5, "outputs stay in an image-like range"
    assert (ref - folded).abs().max().item() <= 1e-5
    kinds = {type(m).__name__ for m in source.deploy.modules()} - {"Sequential"}
    assert kinds == {"Conv2d", "LeakyReLU"}


def test_instance_norm_uses_image_statistics(astronaut):
    source = perturbed_source("can24", seed=1, norm="instance", norm_stats=1)  # the exact form
    x = torch.from_numpy(crop(astronaut, 40, 40).transpose(2, 0, 1)[None].astype(np.float32) / 255)
    with torch.no_grad():
        single = source.deploy(x)
        batched = source.deploy(torch.cat([x, x * 0.5 + 0.3]))
    assert source.deploy is source.module, "instance norm cannot fold"
    assert torch.allclose(batched[:1], single, atol=1e-5), "each image is normalised by its own statistics"


def test_weights_choose_the_norm_they_were_saved_in(tmp_path, astronaut):
    """Instance-norm weights (no running statistics) build an instance CAN, by file or without --norm."""
    from fastip.models.checkpoint import save_state_dict

    x = torch.from_numpy(crop(astronaut, 40, 40).transpose(2, 0, 1)[None].astype(np.float32) / 255)
    for norm, seed in (("instance", 4), ("batch", 5)):
        source = perturbed_source("can24", seed=seed, norm=norm)
        path = save_state_dict(source.module.state_dict(), tmp_path / f"{norm}.safetensors")
        net = models.get("can24").build(weights=str(path))
        assert net.norm_mode == norm
        with torch.no_grad():
            assert torch.allclose(net(x), source.module.eval()(x), atol=1e-6)
    with pytest.raises(Exception, match="do not fit"):
        models.get("can24").build(weights=str(tmp_path / "instance.safetensors"), norm="batch")
    # fast mode builds its inner CAN the same way: the instance base runs on the pooled image
    fast = models.get("can24_fast2").build(weights=str(tmp_path / "instance.safetensors"))
    assert fast.norm_mode == "instance"
    base = models.get("can24").build(weights=str(tmp_path / "instance.safetensors"))
    with torch.no_grad():
        assert torch.allclose(fast.can(x), base(x), atol=1e-6)


def test_batch_norm_training_updates_running_stats():
    net = CAN(depth=4, width=8, norm="batch").train()
    before = net.layers[0].norm.running_mean.clone()
    net(torch.rand(2, 3, 16, 16))
    assert not torch.equal(before, net.layers[0].norm.running_mean)


def test_global_context_branch_folds_exports_and_is_found_in_its_weights(tmp_path, astronaut):
    """The opt-in global-context CAN: identity at init, its norms fold, it loads from its weights alone and exports
    to plain ONNX (ReduceMean/ReduceMax, Conv, Add) that ONNX Runtime runs to the same output."""
    pytest.importorskip("onnxruntime")
    from fastip import runtimes
    from fastip.export import export_model
    from fastip.models.checkpoint import save_state_dict
    from fastip.tiling import NotTileableError, receptive_field

    x = torch.from_numpy(crop(astronaut, 48, 64).transpose(2, 0, 1)[None].astype(np.float32) / 255)
    with torch.no_grad():
        assert torch.equal(models.get("can24").build(context=True)(x), x)
    module = models.get("can24").build(context=True, norm="batch")
    missing, _ = module.load_state_dict(perturbed_source("can24", seed=6).module.state_dict(), strict=False)
    assert sorted(missing) == ["context.proj.bias", "context.proj.weight"]
    with torch.no_grad():
        module.context.proj.weight.normal_(0.0, 0.2, generator=torch.Generator().manual_seed(7))
        ref = module(x)
        assert (ref - module.fuse()(x)).abs().max().item() <= 1e-5
        assert (ref[..., :32, :32] - module(x[..., :32, :32])).abs().max().item() > 1e-4, "whole-image statistics"
    kinds = {type(m).__name__ for m in module.fuse().modules()} - {"Sequential"}
    assert kinds == {"Conv2d", "LeakyReLU", "GlobalContext"}
    with pytest.raises(NotTileableError, match="whole image"):
        receptive_field(module)
    path = save_state_dict(module.state_dict(), tmp_path / "context.safetensors")
    assert models.get("can24").build(weights=str(path)).context is not None
    bundle = export_model("can24", tmp_path / "b", target="onnx", weights=str(path))
    import onnx

    ops = {n.op_type for n in onnx.load(str(bundle.root / "model.onnx")).graph.node}
    assert {"ReduceMean", "ReduceMax"} <= ops and ops <= {"Conv", "LeakyRelu", "ReduceMean", "ReduceMax", "Concat", "Add"}
    with runtimes.open(bundle, backend="ort") as session:
        out = session.run({session.inputs[0].name: x.numpy()})
    assert np.abs(next(iter(out.values())) - ref.numpy()).max() <= 1e-4
