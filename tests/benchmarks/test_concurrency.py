"""Batch and in-flight axes: threads really overlap on one session, OpenVINO's AsyncInferQueue runs every job,
batches reach the backend with their batch dimension, fixed-batch models are refused with the batch they take."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from fastip.benchmarks.concurrency import batched, fixed_batch_reason, measure_load
from fastip.benchmarks.latency import Budget
from fastip.spec import TensorSpec
from tests.support import has

SPEC_IN = TensorSpec("x", ("N", 3, "H", "W"), "float32", "NCHW")
SPEC_OUT = TensorSpec("y", ("N", 3, "H", "W"), "float32", "NCHW")
BUDGET = Budget(warmup=1, min_runs=6, min_time=0)


class Overlapping:
    """A session stand-in whose first calls wait for each other, so `requests` of them must be in flight at once."""

    backend = "ort"

    def __init__(self, requests: int):
        self.meet = threading.Barrier(requests, timeout=30)
        self.lock = threading.Lock()
        self.active = self.most = self.calls = 0
        self.batches = set()

    def run(self, feed):
        with self.lock:
            self.active += 1
            self.calls += 1
            self.most = max(self.most, self.active)
            first = self.calls <= self.meet.parties
        self.batches.add(feed["x"].shape[0])
        if first:
            self.meet.wait()  # raises BrokenBarrierError unless `parties` calls overlap
        with self.lock:
            self.active -= 1
        return {"y": feed["x"]}


def test_threads_overlap_and_batches_reach_the_session():
    feed = {"x": np.zeros((1, 3, 4, 4), np.float32)}
    session = Overlapping(3)  # no warm-up: the first three timed calls must overlap
    load = measure_load(session, feed, batch=2, requests=3, budget=Budget(warmup=0, min_runs=6, min_time=0))
    assert session.most == 3 and session.batches == {2}
    assert session.calls == load.latency.count >= 6
    assert load.images_per_s > 0
    session = Overlapping(3)  # with warm-up: every thread warms up once, untimed, and the clock starts after
    load = measure_load(session, feed, batch=1, requests=3, budget=BUDGET)
    assert session.calls == load.latency.count + 3 and load.latency.count >= BUDGET.min_runs
    assert load.images_per_s > 0


def test_batched_feed_and_fixed_batch():
    feed = {"x": np.arange(12, dtype=np.float32).reshape(1, 3, 2, 2)}
    out = batched(feed, 3)["x"]
    assert out.shape == (3, 3, 2, 2) and all(np.array_equal(out[i], feed["x"][0]) for i in range(3))
    assert batched(feed, 1) is feed
    fixed = TensorSpec("x", (1, 3, 128, 128), "float32", "NCHW")
    assert "fixed batch of 1" in fixed_batch_reason([fixed], 4) and "--batch 1" in fixed_batch_reason([fixed], 4)
    assert fixed_batch_reason([fixed], 1) is None and fixed_batch_reason([SPEC_IN], 8) is None


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    weight = helper.make_tensor("w", TensorProto.FLOAT, (3, 3, 1, 1), np.eye(3, dtype=np.float32).ravel() * 2)
    graph = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["y"])], "tiny",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, "H", "W"])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3, "H", "W"])], [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path_factory.mktemp("tiny") / "tiny.onnx"
    onnx.save(model, str(path))
    return path


@pytest.mark.skipif(not has("openvino"), reason="needs openvino")
@pytest.mark.parametrize("hint", ["latency", "throughput"])
def test_openvino_async_queue_runs_every_job(tiny_onnx, hint):
    from fastip.runtimes.openvino import OpenVinoSession

    session = OpenVinoSession(tiny_onnx, [SPEC_IN], [SPEC_OUT], hint=hint)
    feed = {"x": np.ones((1, 3, 8, 8), np.float32)}
    load = measure_load(session, feed, batch=2, requests=3, budget=BUDGET)
    assert load.latency.count >= BUDGET.min_runs and load.latency.min > 0 and load.images_per_s > 0
    assert isinstance(load.backend_info["streams"], int) and load.backend_info["optimal_requests"] >= 1
    np.testing.assert_array_equal(session.run(batched(feed, 2))["y"], 2 * batched(feed, 2)["x"])
    session.close()


@pytest.mark.skipif(not has("onnxruntime"), reason="needs onnxruntime")
def test_ort_threads_on_one_session(tiny_onnx):
    from fastip.runtimes.ort import OrtSession

    session = OrtSession(tiny_onnx, [SPEC_IN], [SPEC_OUT], threads=1)
    load = measure_load(session, {"x": np.ones((1, 3, 8, 8), np.float32)}, batch=4, requests=2, budget=BUDGET)
    assert load.latency.count >= BUDGET.min_runs and load.images_per_s > 0 and load.backend_info == {}
    session.close()
