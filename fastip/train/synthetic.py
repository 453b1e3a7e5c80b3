"""Synthetic training images: the dead-leaves model, textured.

Occluding discs with a power-law size distribution (density ~ r^-3) give images with the scale-invariant
statistics and sharp occlusion edges of natural photographs (G. Matheron, "Modèle séquentiel de partition
aléatoire", 1968; A. B. Lee, D. Mumford, J. Huang, "Occlusion models for natural images", IJCV 41, 2001).
Each disc here also carries a shading gradient and fine texture, so smoothing and detail operators have
both edges and detail to act on. They add variety to the few natural photographs that ship offline.
"""

from __future__ import annotations

import numpy as np

R_MIN = 3.0  # smallest disc radius in pixels


def _radii(count: int, r_max: float, rng: np.random.Generator) -> np.ndarray:
    """Radii with density ~ r^-3 on [R_MIN, r_max] (inverse CDF sampling)."""
    u = rng.random(count)
    inv_sq = 1.0 / R_MIN**2 - u * (1.0 / R_MIN**2 - 1.0 / r_max**2)
    return 1.0 / np.sqrt(inv_sq)


def _texture(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """Zero-mean band-limited noise in [-1, 1]: white noise blurred at a random scale."""
    from scipy.ndimage import gaussian_filter

    noise = gaussian_filter(rng.standard_normal((h, w)).astype(np.float32), rng.uniform(0.6, 3.0))
    return noise / max(float(np.abs(noise).max()), 1e-6)


def dead_leaves(height: int, width: int, rng: np.random.Generator, *, leaves: int = 2500) -> np.ndarray:
    """A uint8 HxWx3 dead-leaves image: `leaves` textured, shaded discs painted back to front."""
    from scipy.ndimage import gaussian_filter

    if height < 8 or width < 8:
        raise ValueError(f"dead-leaves images need at least 8x8 pixels, not {height}x{width}")
    image = np.empty((height, width, 3), np.float32)
    image[:] = rng.uniform(0.1, 0.9, 3)
    textures = [_texture(height, width, rng) for _ in range(4)]
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    for r in _radii(leaves, max(height, width) / 2.0, rng):
        cy, cx = rng.uniform(-r, height + r), rng.uniform(-r, width + r)
        top, bottom = max(0, int(cy - r)), min(height, int(cy + r) + 1)
        left, right = max(0, int(cx - r)), min(width, int(cx + r) + 1)
        if top >= bottom or left >= right:
            continue
        y, x = yy[top:bottom, left:right], xx[top:bottom, left:right]
        inside = (y - cy) ** 2 + (x - cx) ** 2 <= r * r
        base = rng.uniform(0.03, 0.97) * (1.0 + rng.uniform(-0.25, 0.25, 3))  # a tint around a random grey level
        slope = rng.normal(0.0, 0.12, 2) / max(r, 1.0)
        shade = (y - cy) * slope[0] + (x - cx) * slope[1]
        detail = textures[rng.integers(len(textures))][top:bottom, left:right] * rng.uniform(0.0, 0.15) ** 1.5
        leaf = base + (shade + detail)[..., None]
        region = image[top:bottom, left:right]
        region[inside] = leaf[inside]
    image = gaussian_filter(image, (rng.uniform(0.3, 0.9), rng.uniform(0.3, 0.9), 0))  # optics
    image += rng.normal(0.0, rng.uniform(0.0, 0.01), image.shape).astype(np.float32)  # sensor noise
    return np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)


def synthetic_images(count: int, max_side: int, seed: int = 0) -> list[np.ndarray]:
    """`count` dead-leaves images, long side `max_side`, aspect 3:4 to 1:1, seeded."""
    out = []
    for i in range(count):
        rng = np.random.default_rng((seed, i, 0xD1))
        short = round(max_side * rng.uniform(0.66, 1.0))
        h, w = (max_side, short) if rng.random() < 0.5 else (short, max_side)
        out.append(dead_leaves(h, w, rng))
    return out
