"""ImagePipeline.batch: equal-sized images in one Session run give each image's own result."""

from __future__ import annotations

import numpy as np
import pytest

from fastip.errors import InputError
from tests.support import crop, has


@pytest.mark.skipif(not has("onnxruntime"), reason="needs fastip[ort]")
def test_batch_equals_one_by_one_and_refuses_mixed_sizes(can_bundle, astronaut):
    from fastip.pipeline import open_pipeline

    images = [crop(astronaut, 37, 52, top=40 * i, left=25 * i) for i in range(3)]
    with open_pipeline(can_bundle, "ort", threads=1) as pipeline:
        batched = pipeline.batch(images)
        for image, result in zip(images, batched):
            np.testing.assert_array_equal(result, pipeline(image))
        assert len({r.tobytes() for r in batched}) == 3
        with pytest.raises(InputError, match="one size"):
            pipeline.batch([images[0], crop(astronaut, 30, 30)])
        with pytest.raises(InputError, match="one or more"):
            pipeline.batch([])
