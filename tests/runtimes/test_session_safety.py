"""Sessions under concurrency and memory pressure: closed means closed, budgets refuse, thread counts stay scoped."""

import threading
import time

import numpy as np
import pytest

pytest.importorskip("torch")

from fastip import runtimes  # noqa: E402
from fastip.errors import FastipError, InputError  # noqa: E402
from fastip.runtimes.base import SessionClosedError  # noqa: E402
from fastip.runtimes.memory import activation_model, parse_bytes  # noqa: E402
from tests.support import has  # noqa: E402

BACKENDS = ["ort", "torch"] + (["openvino"] if has("openvino") else [])


def _feed(h=24, w=24, seed=0):
    return {"input": np.random.default_rng(seed).random((1, 3, h, w), dtype=np.float32)}


@pytest.mark.parametrize("backend", BACKENDS)
def test_close_while_other_threads_run(can_bundle, backend):
    session = runtimes.open(can_bundle, backend, threads=1)
    expected = session.run(_feed())["output"]
    outcomes = []

    def worker():
        while True:  # until the session is closed under it
            try:
                np.testing.assert_array_equal(session.run(_feed())["output"], expected)
                outcomes.append("ran")
            except SessionClosedError:
                outcomes.append("closed")
                return
            except BaseException as exc:  # noqa: BLE001 - anything else (AttributeError, ...) is the bug
                outcomes.append(exc)
                return

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    session.close()
    for t in threads:
        t.join(30)
    assert [o for o in outcomes if not isinstance(o, str)] == []
    assert outcomes.count("closed") == 4, "every worker ends on a clear 'session is closed'"
    with pytest.raises(InputError, match="session is closed"):
        session.run(_feed())
    session.close()  # twice is fine


def test_torch_thread_counts_stay_with_their_session(can_bundle):
    import torch

    original = torch.get_num_threads()
    seen = []
    one = runtimes.open(can_bundle, "torch", threads=1)
    free = runtimes.open(can_bundle, "torch")
    forward = free._module.forward

    def spy(*args):  # what an unthreaded session sees while a threads=1 session is busy
        seen.append(torch.get_num_threads())
        return forward(*args)

    free._module.forward = spy
    stop = threading.Event()

    def busy():
        while not stop.is_set():
            one.run(_feed(48, 48))

    thread = threading.Thread(target=busy)
    thread.start()
    try:
        for i in range(20):
            free.run(_feed(seed=i))
    finally:
        stop.set()
        thread.join(30)
    assert seen and set(seen) == {original}, f"the unthreaded session ran with {set(seen)} threads"
    assert torch.get_num_threads() == original


def test_memory_budget_refuses_before_running(can_bundle):
    with runtimes.open(can_bundle, "ort", memory_budget="1M") as session:
        session.run(_feed(8, 8))  # ~3 x 8*8*24 floats: fits
        with pytest.raises(InputError, match="GiB of activations, above the memory budget.*--tile"):
            session.run(_feed(200, 300))


def test_activation_estimate_grows_with_the_graph(tmp_path):
    """A graph that blows a small input up (Tile x64 each side) is estimated from its inferred shapes."""
    import onnx
    from onnx import TensorProto, helper

    repeats = helper.make_tensor("repeats", TensorProto.INT64, [4], [1, 16, 64, 64])
    graph = helper.make_graph(
        [helper.make_node("Tile", ["input", "repeats"], ["big"]), helper.make_node("ReduceMean", ["big"], ["output"])],
        "expand", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, "H", "W"])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, None)], [repeats])
    path = tmp_path / "expand.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    model = activation_model(path)
    need = model.estimate(1000, 1000)
    assert need == pytest.approx(3 * 1000 * 1000 * 48 * 64 * 64 * 4, rel=1e-6)  # ~2.2 TiB
    assert need > parse_bytes("1T")


@pytest.mark.parametrize("message", ["std::bad_alloc", "Failed to allocate memory for requested buffer of size 1"])
def test_runtime_out_of_memory_is_one_line(can_bundle, message):
    with runtimes.open(can_bundle, "ort") as session:
        class Failing:
            def run(self, *args):
                raise RuntimeError(f"[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : {message}")

        session._session = Failing()
        with pytest.raises(InputError, match=r"ran out of memory on input shape \[1, 3, 24, 24\]"):
            session.run(_feed())


def test_parse_bytes():
    assert parse_bytes("8G") == 8 << 30 and parse_bytes("512m") == 512 << 20 and parse_bytes("100") == 100
    assert parse_bytes("1.5GiB") == 3 << 29
    with pytest.raises(FastipError, match="not a number of bytes"):
        parse_bytes("lots")


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmRSS:"))


@pytest.mark.openvino
@pytest.mark.slow
@pytest.mark.skipif(not has("openvino"), reason="needs openvino")
def test_openvino_memory_stays_bounded_over_varying_shapes(can_bundle):
    """Each new input size adds ~1 MB of compiled kernels to OpenVINO's CPU cache unless its capacity is bounded."""
    rng = np.random.default_rng(0)
    sizes = [tuple(rng.integers(8, 40, 2)) for _ in range(300)]
    with runtimes.open(can_bundle, "openvino", threads=1) as session:
        for h, w in sizes[:150]:  # more distinct sizes than the cache holds: it is full from here on
            session.run(_feed(h, w))
        start = _rss_mb()
        for h, w in sizes[150:]:
            session.run(_feed(h, w))
        grown = _rss_mb() - start
    assert grown < 40, f"resident memory grew {grown:.0f} MB over 150 runs of new sizes"
