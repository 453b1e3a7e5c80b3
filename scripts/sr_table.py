"""Held-out PSNR of SR weights against bicubic at several image sizes (Y and RGB, mean and worst image).

  python scripts/sr_table.py espcn_x2=photos fsrcnn_x2=/tmp/fsrcnn_x2.safetensors --sizes 320 1024
A size >= 1024 measures only the held-out photographs at least that long.
"""

from __future__ import annotations

import argparse

import numpy as np

from fastip.train.sr import measure_sr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("weights", nargs="+", help="MODEL=WEIGHTS (a shipped name or a file)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[320, 1024], help="longest side of the held-out images")
    parser.add_argument("--val", default="samples+photos", help="named set whose held-out split is measured")
    parser.add_argument("--per-image", action="store_true", help="print every image's row")
    args = parser.parse_args()
    print("| weight | size | images | Y PSNR | bicubic Y | gain Y | RGB PSNR | bicubic RGB | gain RGB | worst image (gain Y / RGB) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for item in args.weights:
        model, _, weights = item.partition("=")
        for size in args.sizes:
            rows = measure_sr(model, weights, val=args.val, max_side=size, min_side=size if size >= 1024 else 0)
            gy = np.array([r["model_psnr_y"] - r["bicubic_psnr_y"] for r in rows])
            grgb = np.array([r["model_psnr_rgb"] - r["bicubic_psnr_rgb"] for r in rows])
            mean = {k: np.mean([r[k] for r in rows]) for k in ("model_psnr_y", "bicubic_psnr_y", "model_psnr_rgb", "bicubic_psnr_rgb")}
            worst = int(np.argmin(grgb))
            print(f"| {model}={weights} | {size} | {len(rows)} | {mean['model_psnr_y']:.2f} | {mean['bicubic_psnr_y']:.2f} | "
                  f"{gy.mean():+.2f} | {mean['model_psnr_rgb']:.2f} | {mean['bicubic_psnr_rgb']:.2f} | {grgb.mean():+.2f} | "
                  f"{rows[worst]['image']} ({gy[worst]:+.2f} / {grgb[worst]:+.2f}) |", flush=True)
            if args.per_image:
                for r, a, b in zip(rows, gy, grgb):
                    print(f"|   {r['image']} | {r['size']} | | {r['model_psnr_y']:.2f} | {r['bicubic_psnr_y']:.2f} | {a:+.2f} | "
                          f"{r['model_psnr_rgb']:.2f} | {r['bicubic_psnr_rgb']:.2f} | {b:+.2f} | |")


if __name__ == "__main__":
    main()
