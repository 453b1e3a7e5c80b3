"""Triton model repositories from bundles: configs that Triton's own protobuf schema parses, and bad input refused."""

from __future__ import annotations

import pytest

from fastip.errors import BundleError, FastipError, InputError
from fastip.serving.triton import ServingOptions, check_model_name, sanitise_model_name, write_repository
from tests.support import has

pytestmark = pytest.mark.skipif(not has("onnx"), reason="needs onnx (fastip[ort])")


def parse_config(path):
    """A config.pbtxt parsed by tritonclient's copy of Triton's ModelConfig protobuf (text format)."""
    model_config_pb2 = pytest.importorskip("tritonclient.grpc.model_config_pb2",
                                           reason="needs tritonclient: pip install 'fastip[triton]'")
    from google.protobuf import text_format

    return text_format.Parse(path.read_text(), model_config_pb2.ModelConfig())


def test_every_config_parses_with_the_expected_fields(trt_bundle, tmp_path):
    options = ServingOptions(max_batch_size=8, instances=2, threads=3, ov_hint="throughput")
    configs = write_repository([trt_bundle], tmp_path / "repo", options=options)
    names = {c.name: c for c in configs}
    expected = {"can24", "can24_onnx", "can24_trt"} | ({"can24_openvino"} if "openvino" in trt_bundle.manifest.artifacts else set())
    assert set(names) == expected
    for name in names:
        parsed = parse_config(tmp_path / "repo" / name / "config.pbtxt")
        assert parsed.name == name
        assert parsed.instance_group[0].count == 2
        if parsed.max_batch_size:
            preferred = list(parsed.dynamic_batching.preferred_batch_size)
            assert preferred and max(preferred) <= parsed.max_batch_size
    onnx = parse_config(tmp_path / "repo" / "can24_onnx" / "config.pbtxt")
    assert onnx.backend == "onnxruntime" and onnx.default_model_filename == "model.onnx" and onnx.max_batch_size == 8
    assert [(t.name, list(t.dims)) for t in onnx.input] == [("input", [3, -1, -1])]
    assert onnx.input[0].data_type == onnx.output[0].data_type == 11  # TYPE_FP32
    assert onnx.parameters["intra_op_thread_count"].string_value == "3"
    assert (tmp_path / "repo" / "can24_onnx" / "1" / "model.onnx").read_bytes() == trt_bundle.path("onnx").read_bytes()
    trt = parse_config(tmp_path / "repo" / "can24_trt" / "config.pbtxt")
    assert trt.platform == "tensorrt_plan" and trt.max_batch_size == 4  # the engine profile's max batch
    python = parse_config(tmp_path / "repo" / "can24" / "config.pbtxt")
    assert python.backend == "python" and python.input[0].data_type == 2  # TYPE_UINT8
    assert list(python.input[0].dims) == [-1, -1, 3] and python.input[0].allow_ragged_batch
    assert python.parameters["fastip_backend"].string_value == "ort"
    assert (tmp_path / "repo" / "can24" / "1" / "bundle" / "fastip.json").is_file()
    if "can24_openvino" in names:
        ov = parse_config(tmp_path / "repo" / "can24_openvino" / "config.pbtxt")
        assert ov.backend == "openvino" and ov.max_batch_size == 0 and list(ov.input[0].dims) == [-1, 3, -1, -1]
        assert ov.parameters["PERFORMANCE_HINT"].string_value == "THROUGHPUT"
        assert ov.parameters["INFERENCE_NUM_THREADS"].string_value == "3"
        assert {p.name for p in (tmp_path / "repo" / "can24_openvino" / "1").iterdir()} == {"model.xml", "model.bin"}
    readme = (tmp_path / "repo" / "README.md").read_text()
    assert "tritonserver --model-repository" in readme and 'client.infer("can24"' in readme


def test_kinds_can_be_chosen(can_bundle, tmp_path):
    configs = write_repository([can_bundle], tmp_path / "repo", kinds=["onnxruntime"], names=["smoother"])
    assert [c.name for c in configs] == ["smoother_onnx"]
    assert 'client.infer("smoother_onnx"' in (tmp_path / "repo" / "README.md").read_text()


def test_model_names_are_checked_or_sanitised():
    assert check_model_name("can24-rof_v2.1") == "can24-rof_v2.1"
    assert sanitise_model_name("mypkg.models:build_net") == "mypkg.models_build_net"
    assert sanitise_model_name("../x") == "__x"
    for bad in ("", "a b", "../up", "x/y", ".hidden", "a" * 65):
        with pytest.raises(InputError, match="not valid for Triton"):
            check_model_name(bad)


@pytest.mark.parametrize("case", ["missing artifact", "bad name", "exists", "duplicate names", "bad kind"])
def test_bad_input_is_one_error_and_nothing_written(can_bundle, tmp_path, case):
    out = tmp_path / "repo"
    kwargs = {}
    if case == "missing artifact":
        kwargs, error, match = {"kinds": ["tensorrt"]}, BundleError, "no TensorRT engine for the tensorrt backend"
    elif case == "bad name":
        kwargs, error, match = {"names": ["my model"]}, InputError, "not valid for Triton"
    elif case == "exists":
        out.mkdir()
        error, match = InputError, "exists; choose a new directory"
    elif case == "duplicate names":
        kwargs, error, match = {"names": ["m", "m"]}, InputError, "two models would be named 'm'"
    else:
        kwargs, error, match = {"kinds": ["tensorflow"]}, InputError, "unknown model kind"
    bundles = [can_bundle, can_bundle] if case == "duplicate names" else [can_bundle]
    with pytest.raises(error, match=match):
        write_repository(bundles, out, **kwargs)
    assert sorted(p.name for p in tmp_path.iterdir()) == (["repo"] if case == "exists" else [])
    assert case != "exists" or not any(out.iterdir())


def test_a_failure_while_writing_leaves_nothing(can_bundle, tmp_path, monkeypatch):
    from fastip.serving.triton import config

    def fail(self):
        raise FastipError("disk full")

    monkeypatch.setattr(config.ModelConfig, "render", fail)
    with pytest.raises(FastipError, match="disk full"):
        write_repository([can_bundle], tmp_path / "repo")
    assert list(tmp_path.iterdir()) == []


def test_cli_writes_a_repository_and_reports_bad_input_in_one_line(can_bundle, tmp_path, capsys):
    from fastip.cli.main import main

    assert main(["triton-repo", str(can_bundle.root), "-o", str(tmp_path / "repo"), "--kinds", "python,onnxruntime",
                 "--max-batch", "4", "--threads", "1"]) == 0
    assert "can24_onnx: onnxruntime, max batch 4" in capsys.readouterr().out
    assert parse_config(tmp_path / "repo" / "can24" / "config.pbtxt").max_batch_size == 4
    assert main(["triton-repo", str(can_bundle.root), "-o", str(tmp_path / "repo")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("fastip: error: ") and "exists" in err and "\n" not in err
    assert main(["triton-repo", str(can_bundle.root), "-o", str(tmp_path / "r2"), "--kinds", "tensorrt"]) == 2
    err = capsys.readouterr().err.strip()
    assert "has no TensorRT engine" in err and "\n" not in err and not (tmp_path / "r2").exists()


def test_serving_imports_without_triton_or_backends():
    import subprocess
    import sys

    code = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {'tritonclient', 'pytriton', 'onnx', 'onnxruntime', 'openvino', 'torch', 'grpc'}:
            raise ImportError('blocked ' + name)
sys.meta_path.insert(0, Block())
import fastip.serving.triton, fastip.serving.triton.server, fastip.serving.triton.server_env, fastip.cli.triton_cmd
print('ok')
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


@pytest.mark.skipif(not has("onnxruntime"), reason="needs onnxruntime")
def test_python_model_on_backend_auto_measures_at_load_and_serves_what_it_picked(can_bundle, tmp_path, monkeypatch,
                                                                                 capsys):
    """The Python model's `initialize` as Triton calls it (no server: execute needs Triton's stub), backend auto."""
    import json

    import numpy as np

    from fastip.pipeline import open_pipeline
    from fastip.serving.triton.python_model import TritonPythonModel

    monkeypatch.setenv("FASTIP_CACHE_DIR", str(tmp_path / "cache"))
    write_repository([can_bundle], tmp_path / "repo", kinds=[], pipeline_backend="auto",
                     options=ServingOptions(threads=1))
    config_path = tmp_path / "repo" / "can24" / "config.pbtxt"
    python = parse_config(config_path)
    assert python.parameters["fastip_backend"].string_value == "auto"
    parameters = {k: {"string_value": v.string_value} for k, v in python.parameters.items()}
    args = {"model_config": json.dumps({"parameters": parameters, "max_batch_size": python.max_batch_size}),
            "model_repository": str(tmp_path / "repo" / "can24"), "model_version": "1", "model_name": "can24"}
    model = TritonPythonModel()
    model.initialize(args)
    choice = model.pipeline.session.choice
    assert "backend auto chose " in capsys.readouterr().err
    assert choice.chosen.backend in ("ort", "openvino") and list((tmp_path / "cache" / "auto").glob("*.json"))
    image = np.random.default_rng(0).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    got = model._run([image])[0]  # what execute() runs on a request's images
    with open_pipeline(tmp_path / "repo" / "can24" / "1" / "bundle", "ort", threads=1) as reference:
        want = reference(image)
    assert np.abs(got.astype(int) - want).max() <= 1  # the backends agree to a rounding step of the uint8 output
    again = TritonPythonModel()  # a second load (another instance, a restart) reads the cached choice
    again.initialize(args)
    assert again.pipeline.session.choice.key == choice.key and again.pipeline.session.choice.chosen == choice.chosen
