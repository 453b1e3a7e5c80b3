"""Under load: parallel sessions agree with serial runs; repeated inference keeps memory flat."""

import resource
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

pytest.importorskip("torch")

from fastip import runtimes  # noqa: E402
from fastip.errors import InputError  # noqa: E402
from tests.support import has  # noqa: E402

BACKENDS = ["ort"] + (["openvino"] if has("openvino") else [])


@pytest.mark.parametrize("backend", BACKENDS)
def test_several_sessions_in_parallel_equal_serial(can_bundle, backend):
    feeds = [{"input": np.random.default_rng(i).random((1, 3, 20, 27), dtype=np.float32)} for i in range(8)]
    with runtimes.open(can_bundle, backend) as session:
        serial = [session.run(f)["output"] for f in feeds]

    def work(feed):
        with runtimes.open(can_bundle, backend, threads=1) as own:
            return own.run(feed)["output"]

    with ThreadPoolExecutor(4) as pool:
        parallel = list(pool.map(work, feeds))
    for a, b in zip(serial, parallel):
        np.testing.assert_array_equal(a, b)


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.parametrize("backend", BACKENDS)
def test_short_soak_keeps_memory_flat(can_bundle, backend):
    """2,000 small inferences; the long version is scripts/soak.py."""
    feed = {"input": np.random.default_rng(0).random((1, 3, 16, 16), dtype=np.float32)}
    with runtimes.open(can_bundle, backend, threads=1) as session:
        for _ in range(200):
            session.run(feed)
        start = _rss_mb()
        for _ in range(2000):
            session.run(feed)
        grown = _rss_mb() - start
    assert grown < 20, f"resident memory grew {grown:.1f} MB over 2,000 inferences"


def test_nan_and_inf_inputs_are_reported(can_bundle):
    feed = np.zeros((1, 3, 8, 8), np.float32)
    feed[0, 1, 2, 3] = np.nan
    feed[0, 2, 0, 0] = np.inf
    with runtimes.open(can_bundle, "ort") as session:
        with pytest.raises(InputError, match="contains 2 NaN or Inf values"):
            session.run({"input": feed})


def test_huge_images_are_refused_with_the_fix(can_bundle):
    from fastip.pipeline import open_pipeline

    with open_pipeline(can_bundle.root, "ort") as pipeline:
        pipeline.max_pixels = 1000
        with pytest.raises(InputError, match="above the 0 MP limit.*--tile"):
            pipeline(np.zeros((40, 40, 3), np.uint8))
