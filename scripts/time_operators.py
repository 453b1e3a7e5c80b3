"""Time every reference operator once on a natural image resized to 1920x1080; prints a Markdown table."""

from __future__ import annotations

import argparse
import time

import numpy as np
from PIL import Image

from fastip import operators
from fastip.images import sample_image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", default="1920x1080", help="WIDTHxHEIGHT of the test image")
    parser.add_argument("--image", default="astronaut", help="bundled sample image to resize")
    parser.add_argument("operators", nargs="*", help="operators to time (default: all)")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    image = np.asarray(Image.fromarray(sample_image(args.image)).resize((width, height), Image.BICUBIC))
    print(f"| operator | seconds ({width}x{height}, uint8 in) |")
    print("|---|---:|")
    for name in args.operators or operators.list_operators():
        start = time.perf_counter()
        operators.apply(name, image)
        print(f"| {name} | {time.perf_counter() - start:.2f} |", flush=True)
    start = time.perf_counter()
    operators.bicubic_upscale(image[::2, ::2], 2)
    print(f"| bicubic_upscale (x2 to this size) | {time.perf_counter() - start:.2f} |")


if __name__ == "__main__":
    main()
