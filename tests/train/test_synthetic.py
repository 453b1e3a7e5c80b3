"""Dead-leaves training images: seeded, sized as asked, with edges at many scales and texture."""

from __future__ import annotations

import numpy as np
import pytest

from fastip.train.synthetic import dead_leaves, synthetic_images


def test_images_are_seeded_and_sized():
    a, b = synthetic_images(3, 96, seed=1), synthetic_images(3, 96, seed=1)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], synthetic_images(1, 96, seed=2)[0])
    for x in a:
        assert x.dtype == np.uint8 and x.ndim == 3 and x.shape[2] == 3
        assert max(x.shape[:2]) == 96 and min(x.shape[:2]) >= 63


def test_leaves_cover_the_image_with_edges_at_many_scales():
    """Nearly no pixel keeps the background colour, and gradients are heavy-tailed (flat leaves, sharp occlusions)."""
    x = dead_leaves(160, 160, np.random.default_rng(0)).astype(np.float32) / 255
    grad = np.abs(np.diff(x.mean(axis=2), axis=1))
    assert np.median(grad) < 0.02 < np.percentile(grad, 99)
    assert np.percentile(grad, 99.9) > 0.2  # occlusion edges
    from scipy.ndimage import gaussian_filter

    coarse = gaussian_filter(x.mean(axis=2), 8)
    assert coarse.std() > 0.03, "large leaves make structure at coarse scales too"
    assert len(np.unique(x.reshape(-1, 3), axis=0)) > 5000, "shading, texture and noise, not flat paint"


def test_tiny_images_are_refused():
    with pytest.raises(ValueError, match="8x8"):
        dead_leaves(4, 32, np.random.default_rng(0))
