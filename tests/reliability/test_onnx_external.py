"""ONNX external data anywhere in a model (subgraphs, sparse tensors, attribute lists, functions) stays in the bundle."""

import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402
from onnx import TensorProto, helper  # noqa: E402

from fastip import runtimes  # noqa: E402
from fastip.bundle import MANIFEST, Bundle  # noqa: E402
from fastip.errors import BundleError  # noqa: E402
from fastip.manifest import Manifest  # noqa: E402
from fastip.runtimes.external_data import verified_onnx  # noqa: E402
from fastip.spec import ImageIO, TensorSpec  # noqa: E402
from tests.support import has  # noqa: E402

SHAPE = [1, 1, 1, 4]
C = np.array([1.5, -2.0, 3.25, 0.5], np.float32)
PAD = 16  # the tensor sits at this offset of its data file, after bytes that must not be read
DATA = b"\xee" * PAD + C.tobytes()
# Placements the runtimes can execute (the tensor's value reaches the output: Y = X + C).
RUNNABLE = ("initializer", "if_then", "loop_body", "sparse_initializer", "constant_value", "constant_sparse")
# Placements only the check sees (not executable, or not by every runtime), refused before any runtime reads them.
PLACEMENTS = RUNNABLE + ("if_else", "scan_body", "sparse_indices", "attribute_tensors", "attribute_sparse_tensors",
                         "attribute_graphs", "function_body", "nested_if_loop")


def external(name: str, location: str, dims=(1, 1, 1, 4)) -> TensorProto:
    tensor = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=list(dims))
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", str(PAD)), ("length", str(C.nbytes))):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    return tensor


def _vi(name, elem=TensorProto.FLOAT, shape=SHAPE):
    return helper.make_tensor_value_info(name, elem, shape)


def _sparse(location: str, where: str = "values") -> onnx.SparseTensorProto:
    values = external("C", location, dims=(4,)) if where == "values" else helper.make_tensor("C", TensorProto.FLOAT, [4], C)
    indices = helper.make_tensor("C_idx", TensorProto.INT64, [4], [0, 1, 2, 3])
    if where == "indices":
        indices = TensorProto(name="C_idx", data_type=TensorProto.INT64, dims=[4], data_location=TensorProto.EXTERNAL)
        entry = indices.external_data.add()
        entry.key, entry.value = "location", location
    return helper.make_sparse_tensor(values, indices, SHAPE)


def _branch(name: str, tensor: TensorProto | None) -> onnx.GraphProto:
    const = tensor if tensor is not None else helper.make_tensor("C", TensorProto.FLOAT, SHAPE, np.zeros(4))
    return helper.make_graph([helper.make_node("Identity", ["C"], [f"{name}_out"])], name, [], [_vi(f"{name}_out")],
                             initializer=[const])


def _loop_body(tensor: TensorProto) -> onnx.GraphProto:
    return helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]), helper.make_node("Add", ["v_in", "C"], ["v_out"])],
        "body", [_vi("i", TensorProto.INT64, []), _vi("cond_in", TensorProto.BOOL, []), _vi("v_in")],
        [_vi("cond_out", TensorProto.BOOL, []), _vi("v_out")], initializer=[tensor])


def model_with(placement: str, location: str) -> onnx.ModelProto:
    """Y = X + C with C's data external at `location`, the tensor placed as named."""
    nodes, inits, sparse, functions = [], [], [], []
    true = helper.make_tensor("cond", TensorProto.BOOL, [], [True])
    add = helper.make_node("Add", ["X", "c"], ["Y"])
    if placement == "initializer":
        inits, nodes = [external("c", location)], [add]
    elif placement in ("if_then", "if_else"):
        then_t, else_t = (external("C", location), None) if placement == "if_then" else (None, external("C", location))
        nodes = [helper.make_node("If", ["cond"], ["c"], then_branch=_branch("then", then_t),
                                  else_branch=_branch("else", else_t)), add]
        inits = [true]
    elif placement == "loop_body":
        nodes = [helper.make_node("Loop", ["M", "cond", "X"], ["Y"], body=_loop_body(external("C", location)))]
        inits = [helper.make_tensor("M", TensorProto.INT64, [], [1]), true]
    elif placement == "nested_if_loop":
        loop = helper.make_node("Loop", ["M", "cond", "X"], ["t_out"], body=_loop_body(external("C", location)))
        then = helper.make_graph([loop], "then", [], [_vi("t_out")])
        nodes = [helper.make_node("If", ["cond"], ["Y"], then_branch=then, else_branch=_branch("else", None))]
        inits = [helper.make_tensor("M", TensorProto.INT64, [], [1]), true]
    elif placement == "scan_body":
        body = helper.make_graph([helper.make_node("Add", ["s_in", "C"], ["s_out"])], "scan",
                                 [_vi("s_in")], [_vi("s_out")], initializer=[external("C", location)])
        nodes = [helper.make_node("Scan", ["X"], ["Y"], body=body, num_scan_inputs=0)]
    elif placement == "sparse_initializer":
        sparse, nodes = [_sparse(location)], [helper.make_node("Add", ["X", "C"], ["Y"])]
    elif placement == "sparse_indices":
        sparse, nodes = [_sparse(location, "indices")], [helper.make_node("Add", ["X", "C"], ["Y"])]
    elif placement == "constant_value":
        nodes = [helper.make_node("Constant", [], ["c"], value=external("C", location)), add]
    elif placement == "constant_sparse":
        nodes = [helper.make_node("Constant", [], ["c"], sparse_value=_sparse(location)), add]
    elif placement.startswith("attribute_"):
        node = helper.make_node("Identity", ["X"], ["Y"])
        kind = placement[len("attribute_"):]
        if kind == "tensors":
            node.attribute.append(helper.make_attribute("extra", [external("C", location)]))
        elif kind == "sparse_tensors":
            node.attribute.append(helper.make_attribute("extra", [_sparse(location)]))
        else:
            node.attribute.append(helper.make_attribute("extra", [_branch("g", external("C", location))]))
        nodes = [node]
    elif placement == "function_body":
        body = [helper.make_node("Constant", [], ["k"], value=external("C", location)), helper.make_node("Add", ["a", "k"], ["b"])]
        functions = [helper.make_function("local", "AddC", ["a"], ["b"], body, [helper.make_opsetid("", 17)])]
        nodes = [helper.make_node("AddC", ["X"], ["Y"], domain="local")]
    else:
        raise AssertionError(placement)
    graph = helper.make_graph(nodes, "g", [_vi("X")], [_vi("Y")], initializer=inits)
    graph.sparse_initializer.extend(sparse)
    opsets = [helper.make_opsetid("", 17)] + ([helper.make_opsetid("local", 1)] if functions else [])
    model = helper.make_model(graph, opset_imports=opsets, functions=functions)
    model.ir_version = 8
    return model


def write_bundle(root: Path, model: onnx.ModelProto, members: dict[str, bytes], listed: tuple[str, ...] | None = None) -> Path:
    """A bundle holding `model` as model.onnx and `members`; `listed` names the members the manifest hashes."""
    root.mkdir(parents=True, exist_ok=True)
    files = {"model.onnx": model.SerializeToString(), **members}
    for name, data in files.items():
        (root / name).write_bytes(data)
    listed = tuple(files) if listed is None else ("model.onnx", *listed)
    manifest = Manifest(model="probe", family="custom", io=ImageIO(), inputs=[TensorSpec("X", tuple(SHAPE))],
                        outputs=[TensorSpec("Y", tuple(SHAPE))], artifacts={"onnx": "model.onnx"},
                        files={n: hashlib.sha256(files[n]).hexdigest() for n in listed})
    (root / MANIFEST).write_text(manifest.to_json())
    return root


@pytest.mark.parametrize("placement", RUNNABLE)
@pytest.mark.parametrize("backend", ["ort", "openvino"])
def test_listed_external_data_runs_from_the_verified_bytes(tmp_path, placement, backend):
    if not has({"ort": "onnxruntime", "openvino": "openvino"}[backend]):
        pytest.skip(f"needs {backend}")
    if backend == "openvino" and placement in ("sparse_initializer", "constant_sparse"):
        pytest.skip("OpenVINO's ONNX frontend does not read sparse tensors")
    root = write_bundle(tmp_path / "b", model_with(placement, "w.bin"), {"w.bin": DATA})
    x = np.arange(4, dtype=np.float32).reshape(SHAPE)
    with runtimes.open(root, backend) as session:
        y = session.run({"X": x})["Y"]
    np.testing.assert_array_equal(y, x + C.reshape(SHAPE))


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_external_data_outside_the_bundle_is_refused_wherever_it_sits(tmp_path, placement):
    (tmp_path / "secret.bin").write_bytes(DATA)  # what a traversal would read if the check missed this placement
    root = write_bundle(tmp_path / "b", model_with(placement, "../secret.bin"), {})
    with pytest.raises(BundleError, match="outside the model's directory"):
        verified_onnx(Bundle.load(root), "model.onnx")
    with pytest.raises(BundleError, match="outside the model's directory"):
        runtimes.open(root, "ort")


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_unlisted_external_data_is_refused_wherever_it_sits(tmp_path, placement):
    root = write_bundle(tmp_path / "b", model_with(placement, "w.bin"), {"w.bin": DATA}, listed=())
    with pytest.raises(BundleError, match="does not list and hash"):
        runtimes.open(root, "ort")


@pytest.mark.parametrize("placement", ["if_then", "sparse_initializer", "constant_sparse"])
def test_symlinked_external_data_is_refused_even_with_a_matching_hash(tmp_path, placement):
    (tmp_path / "secret.bin").write_bytes(DATA)
    root = write_bundle(tmp_path / "b", model_with(placement, "w.bin"), {"w.bin": DATA})
    (root / "w.bin").unlink()
    os.symlink(tmp_path / "secret.bin", root / "w.bin")
    with pytest.raises(BundleError, match="symbolic link"):
        runtimes.open(root, "ort")


def test_external_data_span_must_lie_inside_its_file(tmp_path):
    root = write_bundle(tmp_path / "b", model_with("if_then", "w.bin"), {"w.bin": DATA[:-4]})
    with pytest.raises(BundleError, match="which holds"):
        verified_onnx(Bundle.load(root), "model.onnx")


def test_ep_context_nodes_that_read_files_are_refused(tmp_path):
    model = model_with("initializer", "w.bin")
    node = model.graph.node.add(op_type="EPContext", domain="com.microsoft", name="ctx")
    node.attribute.append(helper.make_attribute("ep_cache_context", "/etc/passwd"))
    root = write_bundle(tmp_path / "b", model, {"w.bin": DATA})
    with pytest.raises(BundleError, match="EPContext"):
        runtimes.open(root, "ort")


_ESCAPES = st.sampled_from(["../secret.bin", "/etc/passwd", "sub/w.bin", "..", ".", "", ".w.bin", "w.bin/..",
                            "C:\\secret.bin", "..\\secret.bin", "w.bin\x00", "/proc/self/environ", "./w.bin"])


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(placement=st.sampled_from(PLACEMENTS), location=st.one_of(_ESCAPES, st.text(max_size=24)),
       listed=st.booleans())
def test_any_location_is_either_a_listed_member_or_refused(placement, location, listed):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "secret.bin").write_bytes(DATA)
        root = write_bundle(tmp / "b", model_with(placement, location), {"w.bin": DATA},
                            listed=("w.bin",) if listed else ())
        # A listed member is the only place data may come from: w.bin when listed, or the (listed) model file itself.
        member = (listed and location == "w.bin") or location == "model.onnx"
        try:
            data = verified_onnx(Bundle.load(root), "model.onnx")
        except BundleError:
            assert not (listed and location == "w.bin")
            return
        assert member
        model = onnx.ModelProto.FromString(data)
        from fastip.runtimes.external_data import messages

        assert not any(isinstance(m, TensorProto) and m.external_data for m in messages(model))
