"""`fastip cpp-flags`: the OpenVINO SDK paths a C++ host builds against."""

from pathlib import Path


from fastip.cli import main
from tests.support import requires_openvino


@requires_openvino
def test_cmake_args_point_at_the_sdk(capsys):
    assert main.main(["cpp-flags", "--cmake"]) == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith("-DOpenVINO_DIR=")
    assert (Path(out.split("=", 1)[1]) / "OpenVINOConfig.cmake").is_file()


@requires_openvino
def test_flags_name_headers_and_library(capsys):
    from fastip.cli.cpp_cmd import cpp_paths

    assert main.main(["cpp-flags"]) == 0
    out = capsys.readouterr().out
    paths = cpp_paths()
    assert (paths.include_dir / "openvino" / "openvino.hpp").is_file()
    assert (paths.library_dir / paths.library).is_file()
    assert f"-I{paths.include_dir}" in out and f"-l:{paths.library}" in out


def test_missing_openvino_names_the_extra(monkeypatch, capsys):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "openvino" else real(name, *a))
    assert main.main(["cpp-flags"]) == 2
    assert "pip install 'fastip[openvino]'" in capsys.readouterr().err
