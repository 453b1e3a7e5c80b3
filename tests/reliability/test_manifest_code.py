"""A manifest never names code to run: only registry builders with typed options, custom code only when the caller says."""

import json
import shutil
import sys

import numpy as np
import pytest

pytest.importorskip("torch")
from hypothesis import given, settings, strategies as st  # noqa: E402

from fastip import runtimes  # noqa: E402
from fastip.bundle import MANIFEST, Bundle  # noqa: E402
from fastip.cli.main import main  # noqa: E402
from fastip.errors import BundleError  # noqa: E402
from fastip.export.source import registry_record  # noqa: E402
from fastip.images import write_image  # noqa: E402
from fastip.tiling import TiledPipeline, bundle_receptive_field  # noqa: E402
from tests.support import rehash_manifest  # noqa: E402

EVIL = '''
import pathlib
pathlib.Path({marker!r}).write_text("imported")


def build():
    pathlib.Path({marker!r}).write_text("called")
    from fastip import models
    return models.get("can24").build(weights=None, norm="batch")
'''


@pytest.fixture
def evil(tmp_path, monkeypatch):
    """A module on sys.path that writes a marker file when imported or called; returns (module name, marker)."""
    name = f"fastip_probe_{tmp_path.name.replace('-', '_')}"
    marker = tmp_path / "marker"
    code_dir = tmp_path / "code"
    code_dir.mkdir()
    (code_dir / f"{name}.py").write_text(EVIL.format(marker=str(marker)))
    monkeypatch.syspath_prepend(str(code_dir))
    yield name, marker
    sys.modules.pop(name, None)


def _with_source(can_bundle, root, source: dict, *, keep_field: bool = False):
    shutil.copytree(can_bundle.root, root)
    data = json.loads((root / MANIFEST).read_text())
    data["source"] = source
    if not keep_field:
        data["extra"].pop("receptive_field", None)  # so tiling has to ask the model
    (root / MANIFEST).write_text(json.dumps(data))
    rehash_manifest(root)
    return root


def test_import_source_is_never_imported_on_load(can_bundle, tmp_path, evil):
    name, marker = evil
    root = _with_source(can_bundle, tmp_path / "b", {"kind": "import", "builder": f"{name}:build", "kwargs": {}})
    with pytest.raises(BundleError, match="does not import code a manifest names"):
        runtimes.open(root, "torch")
    with pytest.raises(BundleError, match="does not import code a manifest names"):
        bundle_receptive_field(root)
    with pytest.raises(BundleError, match="does not import code a manifest names"):
        TiledPipeline.open(root, "ort", tile=64)
    assert not marker.exists() and name not in sys.modules
    with runtimes.open(root, "ort"):  # the exported artifacts need no code at all
        pass


def test_cli_refuses_the_import_without_trust_code(can_bundle, tmp_path, evil, astronaut, capsys):
    name, marker = evil
    root = _with_source(can_bundle, tmp_path / "b", {"kind": "import", "builder": f"{name}:build", "kwargs": {}})
    image = write_image(tmp_path / "in.png", astronaut[:48, :48])
    for extra in (["--backend", "torch"], ["--tile", "32"]):
        assert main(["run", str(root), str(image), "-o", str(tmp_path / "out.png"), *extra]) == 2
        errors = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("warning: ")]
        assert len(errors) == 1 and errors[0].startswith("fastip: error: ") and "--trust-code" in errors[0], errors
    assert not marker.exists() and name not in sys.modules


def test_caller_supplied_builder_or_trust_code_opens_it(can_bundle, tmp_path, evil, astronaut):
    """The gate is what stops the import: naming the builder yourself, or trusting the bundle, runs the same model."""
    from fastip.models import get

    name, marker = evil
    root = _with_source(can_bundle, tmp_path / "b", {"kind": "import", "builder": f"{name}:build", "kwargs": {}})
    x = np.random.default_rng(0).random((1, 3, 40, 40), np.float32)
    with runtimes.open(root, "torch", builder=lambda: get("can24").build(weights=None, norm="batch")) as session:
        mine = session.run({"input": x})["output"]
    assert not marker.exists()
    with runtimes.open(root, "torch", trust_code=True) as session:
        trusted = session.run({"input": x})["output"]
    assert marker.read_text() == "called"
    with runtimes.open(can_bundle.root, "torch") as session:
        np.testing.assert_array_equal(mine, session.run({"input": x})["output"])
    np.testing.assert_array_equal(mine, trusted)


@pytest.mark.parametrize("source", [
    {"kind": "registry", "builder": "{mod}:build"},  # a module path where a model name belongs
    {"builder": "{mod}:build"},  # no kind: treated as registry, never imported
    {"kind": "registry", "builder": "os.system"},
    {"kind": "registry", "builder": "can24", "kwargs": {"weights": "/etc/passwd"}},
    {"kind": "registry", "builder": "can24", "kwargs": {"norm": ["batch"]}},
    {"kind": "registry", "builder": "can24", "kwargs": {"norm": "bogus"}},
    {"kind": "registry", "builder": "can24", "kwargs": "norm=batch"},
    {"kind": "pickle", "builder": "{mod}:build"},
])
def test_registry_sources_build_only_registered_models_with_typed_options(can_bundle, tmp_path, evil, source):
    name, marker = evil
    source = {k: (v.format(mod=name) if isinstance(v, str) else v) for k, v in source.items()}
    root = _with_source(can_bundle, tmp_path / "b", source)
    for attempt in (lambda: runtimes.open(root, "torch"), lambda: bundle_receptive_field(root)):
        with pytest.raises(BundleError, match="manifest|not registered"):
            attempt()
    assert not marker.exists() and name not in sys.modules


_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
                     max_leaves=8)
_KEYS = st.sampled_from(["norm", "radius", "eps", "weights", "depth", "__class__"]) | st.text(max_size=10)


@settings(max_examples=150, deadline=None)
@given(builder=st.sampled_from(["can24", "can32_fast2", "espcn_x2", "blazeface_front", "nope", "os:system"]) | _JSON,
       kwargs=st.dictionaries(_KEYS, _JSON, max_size=4) | _JSON)
def test_any_source_record_gives_typed_options_or_one_bundle_error(builder, kwargs):
    try:
        spec, checked = registry_record({"kind": "registry", "builder": builder, "kwargs": kwargs})
    except BundleError:
        return
    assert spec.name == builder
    allowed = {"can24": {"norm": (str, type(None))},
               "can32_fast2": {"norm": (str, type(None)), "radius": (int,), "eps": (float, int)}}.get(builder, {})
    for key, value in checked.items():
        assert key in allowed and isinstance(value, allowed[key]) and not isinstance(value, bool)


def test_registry_bundle_still_tiles_and_opens(can_bundle, tmp_path):
    root = _with_source(can_bundle, tmp_path / "b", dict(Bundle.load(can_bundle.root).manifest.source))
    assert bundle_receptive_field(root).radius > 0
    with runtimes.open(root, "torch"):
        pass
