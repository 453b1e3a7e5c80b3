"""A folder of small real photographs in mixed sizes and formats, for the folder and Ray tests."""

from __future__ import annotations

import numpy as np

from fastip.images import GREY_SAMPLES, sample_image, sample_names, write_image


def make_photo_folder(root, count: int = 22):
    """`count` downscaled scikit-image/matplotlib/scikit-learn photographs, sizes 40-75 px, PNG and JPEG."""
    from PIL import Image

    root.mkdir(parents=True, exist_ok=True)
    names = sample_names() + list(GREY_SAMPLES)
    for i in range(count):
        image = sample_image(names[i % len(names)])
        if i >= len(names):  # a second view of a photo: flipped, another size
            image = np.ascontiguousarray(image[:, ::-1])
        w, h = 40 + (7 * i) % 36, 40 + (11 * i) % 30
        small = np.asarray(Image.fromarray(image).resize((w, h), Image.BILINEAR))
        write_image(root / f"photo{i:02d}.{'png' if i % 3 else 'jpg'}", small)
    return root
