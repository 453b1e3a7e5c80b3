"""`fastip`: run, inspect and export models; each subcommand is one call of the public API."""

from __future__ import annotations

import argparse
import importlib
import json

# Subcommand modules that contribute an `add_parser(subparsers)`.
_PLUGGABLE = ("fastip.cli.operators_cmd", "fastip.cli.detect_cmd", "fastip.cli.cpp_cmd")


def _run(args: argparse.Namespace) -> int:
    from fastip.images import read_image, write_image
    from fastip.pipeline import ImagePipeline, open_pipeline

    image = read_image(args.image)
    if args.tile:
        from fastip.tiling import TiledPipeline  # refuses detectors and instance-norm models itself

        pipeline = TiledPipeline.open(args.bundle, args.backend, tile=args.tile, halo=args.halo,
                                      precision=args.precision, threads=args.threads)
    else:
        pipeline = open_pipeline(args.bundle, args.backend, precision=args.precision, threads=args.threads)
    with pipeline:
        if not isinstance(pipeline, ImagePipeline) and not args.tile:
            from fastip.errors import InputError

            raise InputError(f"{args.bundle} is a detector; use `fastip detect` for it")
        result = pipeline(image)
    write_image(args.out, result)
    choice = pipeline.session.choice
    if choice is not None:
        import sys

        print(f"fastip: backend auto chose {choice.reason}", file=sys.stderr)
    on = choice.chosen.label if choice is not None else args.backend
    print(f"{args.out}: {result.shape[1]}x{result.shape[0]} from {args.image} on {on}")
    return 0


def _models(args: argparse.Namespace) -> int:
    from fastip import models

    for name in models.list_models(args.pattern, family=args.family):
        spec = models.get(name)
        print(f"{name:20s} {spec.family:5s} {spec.description}")
        if args.verbose:
            for w in spec.weights.values():
                metrics = ", ".join(f"{k} {v:.2f}" for k, v in w.metrics.items())
                print(f"    weights {w.name}: {w.description} [{metrics}] on {w.evaluated_on}")
    return 0


def _info(args: argparse.Namespace) -> int:
    from fastip.bundle import Bundle

    bundle = Bundle.load(args.bundle)
    if args.json:
        print(bundle.manifest.to_json(), end="")
        return 0
    m = bundle.manifest
    print(f"{bundle.root}: {m.model} ({m.family}), precision {m.precision}")
    for t in m.inputs:
        print(f"  input  {t.name} {t.dtype} {t.layout} {list(t.shape)}")
    for t in m.outputs:
        print(f"  output {t.name} {t.dtype} {t.layout} {list(t.shape)}")
    print(f"  artifacts: {', '.join(f'{k}={v}' for k, v in m.artifacts.items())}")
    for v in m.validation:
        print(f"  validated {v.artifact} on {v.backend} with {v.image}: max abs error {v.max_abs_error:.2e}, PSNR {v.psnr:.1f} dB")
    print(f"  versions: {json.dumps(m.versions)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from fastip.cli import bench_cmd, export_cmd, train_cmd
    from fastip.runtimes import BACKENDS

    parser = argparse.ArgumentParser(prog="fastip", description="Deploy PyTorch image models: export, run and inspect bundles.")
    sub = parser.add_subparsers(metavar="COMMAND")

    p = sub.add_parser("run", help="run a bundle on an image and write the result")
    p.add_argument("bundle", help="bundle directory written by fastip-export")
    p.add_argument("image", help="input image (PNG, JPEG, ...)")
    p.add_argument("-o", "--out", required=True, help="output image path; format from the suffix")
    p.add_argument("--backend", choices=(*BACKENDS, "auto"), default="ort",
                   help="auto: the fastest backend and OpenVINO hint measured for this bundle here (cached)")
    p.add_argument("--precision", choices=("fp32", "fp16", "int8", "auto"), default="fp32",
                   help="auto (with --backend auto): also choose among the bundle's precisions")
    p.add_argument("--threads", type=int, help="intra-op threads (default: the backend's choice)")
    p.add_argument("--tile", type=int, help="run in tiles of this many input pixels (bounded memory, same result)")
    p.add_argument("--halo", type=int, help="tile overlap in input pixels (default: the model's receptive field)")
    p.set_defaults(func=_run)

    p = sub.add_parser("models", help="list registered models")
    p.add_argument("pattern", nargs="?", default="*", help="glob, e.g. 'can*'")
    p.add_argument("--family", choices=("can", "sr", "face"))
    p.add_argument("-v", "--verbose", action="store_true", help="also list shipped weights and their metrics")
    p.set_defaults(func=_models)

    p = sub.add_parser("info", help="show a bundle's manifest")
    p.add_argument("bundle")
    p.add_argument("--json", action="store_true", help="print the raw fastip.json")
    p.set_defaults(func=_info)

    for name, module in (("export", export_cmd), ("bench", bench_cmd), ("train", train_cmd)):
        p = sub.add_parser(name, help=f"same as fastip-{name}", epilog=module.EPILOG,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        module.configure(p)

    for name in _PLUGGABLE:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from fastip.cli.common import run_main

    return run_main(build_parser, argv)
