"""The Session contract on every installed backend, and pipelines that give the same image everywhere."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

pytest.importorskip("torch")

from fastip import runtimes  # noqa: E402
from fastip.errors import InputError  # noqa: E402
from fastip.pipeline import open_pipeline, to_image, to_tensor  # noqa: E402
from fastip.spec import ImageIO  # noqa: E402
from tests.support import crop, has  # noqa: E402

BACKENDS = ["torch", "ort"] + (["openvino"] if has("openvino") else [])


@pytest.mark.parametrize("backend", BACKENDS)
def test_session_contract(can_bundle, backend):
    with runtimes.open(can_bundle, backend, threads=1) as session:
        assert session.backend == backend
        assert [t.name for t in session.inputs] == ["input"] and [t.name for t in session.outputs] == ["output"]
        assert session.inputs[0].channels == 3
        out = session.run({"input": np.full((2, 3, 9, 13), 0.5, np.float32)})
        assert out["output"].shape == (2, 3, 9, 13) and out["output"].dtype == np.float32
        assert "backend=" + backend in repr(session)


def test_pipelines_agree_across_backends(can_bundle, astronaut):
    image = crop(astronaut, 71, 97, 150, 200)
    results = {}
    for backend in BACKENDS:
        with open_pipeline(can_bundle.root, backend) as pipeline:
            results[backend] = pipeline(image)
    ref = results["torch"].astype(int)
    assert ref.shape == image.shape
    for backend, got in results.items():
        assert np.abs(got.astype(int) - ref).max() <= 1, f"{backend} differs from torch by more than rounding"


@pytest.mark.skipif(not has("openvino"), reason="needs openvino")
def test_openvino_hint_and_bad_hint(can_bundle):
    with runtimes.open(can_bundle, "openvino", hint="throughput", threads=2) as session:
        assert session.config["PERFORMANCE_HINT"] == "THROUGHPUT" and session.config["INFERENCE_NUM_THREADS"] == 2
    with pytest.raises(InputError, match="latency, throughput"):
        runtimes.open(can_bundle, "openvino", hint="fastest")


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_session_shared_by_threads_equals_serial(can_bundle, backend):
    rng = np.random.default_rng(1)
    feeds = [{"input": rng.random((1, 3, 24 + i, 31), dtype=np.float32)} for i in range(6)]
    with runtimes.open(can_bundle, backend) as session:
        serial = [session.run(f)["output"] for f in feeds]
        with ThreadPoolExecutor(3) as pool:
            parallel = list(pool.map(lambda f: session.run(f)["output"], feeds))
    for a, b in zip(serial, parallel):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("io", [ImageIO(), ImageIO(colour_order="BGR", value_range=(-1.0, 1.0)),
                                ImageIO(mean=(0.4, 0.5, 0.6), std=(0.2, 0.3, 0.25))])
def test_to_tensor_and_back_is_lossless(io, astronaut):
    image = crop(astronaut, 20, 30)
    tensor = to_tensor(image, io)
    assert tensor.shape == (1, 3, 20, 30) and tensor.dtype == np.float32
    lo, hi = io.value_range
    if io.mean == (0.0, 0.0, 0.0):
        assert lo <= tensor.min() and tensor.max() <= hi
    np.testing.assert_array_equal(to_image(tensor, io), image)
