"""The registry: every model declared once, with a checked I/O spec; builders are keyword-only."""

import inspect

import pytest

from fastip import models
from fastip.errors import FastipError, InputError
from fastip.spec import ImageIO

pytest.importorskip("torch")


def test_lists_every_family():
    names = models.list_models()
    assert {"can24", "can32"} <= set(names)
    for arch in ("espcn", "fsrcnn", "edsr_baseline"):
        assert {f"{arch}_x{s}" for s in (2, 3, 4)} <= set(names)
    assert models.list_models("can??") == ["can24", "can32"]
    assert set(models.list_models(family="sr")) == {n for n in names if models.get(n).family == "sr"}


@pytest.mark.parametrize("name", models.list_models())
def test_spec_is_complete(name):
    spec = models.get(name)
    assert spec.name == name and spec.family in ("can", "sr", "face")
    spec.io.check()
    params = inspect.signature(spec.builder).parameters.values()
    assert all(p.kind in (p.KEYWORD_ONLY, p.VAR_KEYWORD) for p in params), "builders take keyword arguments only"
    if spec.family == "sr":
        assert spec.io.scale_factor == int(name[-1])


def test_unknown_model_names_the_choices():
    with pytest.raises(InputError, match="unknown model 'can33'.*did you mean.*can32"):
        models.get("can33")


def test_duplicate_name_rejected():
    register = models.register_model(family="can", io=ImageIO())

    def can32(*, weights=None):  # same name as the registered CAN32
        return None

    with pytest.raises(FastipError, match="registered twice"):
        register(can32)


def test_unknown_weights_listed():
    with pytest.raises(InputError, match="has no weights named 'nope'"):
        models.get("can32").build(weights="nope")
