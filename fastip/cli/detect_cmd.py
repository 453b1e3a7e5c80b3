"""`fastip detect BUNDLE IMAGE`: faces in an image as JSON boxes, optionally drawn on a copy."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_parser(subparsers) -> None:
    """Add the `detect` subcommand."""
    from fastip.cli.common import add_trust_code
    from fastip.runtimes import BACKENDS

    p = subparsers.add_parser("detect", help="detect faces with a detector bundle (e.g. blazeface_front)")
    p.add_argument("bundle", help="detector bundle directory written by fastip-export")
    p.add_argument("image", help="input image (PNG, JPEG, ...)")
    p.add_argument("--backend", choices=tuple(BACKENDS), default="ort")
    p.add_argument("--device", help="OpenVINO device: CPU, GPU, AUTO, ... (default: CPU)")
    p.add_argument("-o", "--out", help="write the detections as JSON here (default: print them)")
    p.add_argument("--draw", help="write a copy of the image with the detections drawn on it")
    p.add_argument("--score-threshold", type=float, help="minimum face score in [0, 1] (default: the manifest's)")
    p.add_argument("--iou-threshold", type=float, help="NMS overlap in [0, 1] above which boxes merge (default: the manifest's)")
    p.add_argument("--max-faces", type=int, help="keep at most this many faces, best first")
    add_trust_code(p)
    p.set_defaults(func=handler)


def handler(args: argparse.Namespace) -> int:
    """Run the detector on one image; print or write the detections."""
    from fastip.detection import FacePipeline, draw_detections
    from fastip.images import read_image, write_image

    from fastip.cli.info_cmd import warn_if_untrained

    image = read_image(args.image)
    warn_if_untrained(args.bundle)
    with FacePipeline.open(args.bundle, args.backend, score_threshold=args.score_threshold,
                           iou_threshold=args.iou_threshold, max_faces=args.max_faces, device=args.device,
                           trust_code=args.trust_code) as pipeline:
        detections = pipeline(image)
    record = {
        "image": str(args.image), "width": int(image.shape[1]), "height": int(image.shape[0]),
        "backend": args.backend, "precision": pipeline.session.precision, "detections": [d.to_dict() for d in detections],
    }
    text = json.dumps(record, indent=2)
    if args.out:
        _write_text(Path(args.out), text + "\n")
    else:
        print(text)
    if args.draw:
        write_image(args.draw, draw_detections(image, detections))
    if args.out or args.draw:
        written = ", ".join(str(p) for p in (args.out, args.draw) if p)
        print(f"{len(detections)} face(s) in {args.image} on {args.backend} ({pipeline.session.precision}) -> {written}", file=sys.stderr)
    return 0


def _write_text(path: Path, text: str) -> None:
    from fastip.atomic import write_atomic

    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, text.encode("utf-8"))
