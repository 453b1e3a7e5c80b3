"""`fastip`: run, inspect and export models; each subcommand is one call of the public API."""

from __future__ import annotations

import argparse
import importlib

# Subcommand modules that contribute an `add_parser(subparsers)`.
_PLUGGABLE = ("fastip.cli.operators_cmd", "fastip.cli.detect_cmd", "fastip.cli.cpp_cmd", "fastip.cli.triton_cmd",
              "fastip.cli.validate_cmd", "fastip.cli.data_cmd")


def _run(args: argparse.Namespace) -> int:
    from fastip.batch import open_image_pipeline
    from fastip.cli import batch_cmd
    from fastip.cli.common import stderr_line
    from fastip.cli.info_cmd import warn_if_untrained
    from fastip.images import read_image, write_image

    if batch_cmd.wanted(args):
        code = batch_cmd.run(args)
    else:
        image = read_image(args.image[0])
        with open_image_pipeline(args.bundle, batch_cmd.settings(args)) as pipeline:
            if args.tile:
                pipeline.progress = stderr_line
            result = pipeline(image)
        write_image(args.out, result)
        choice = pipeline.session.choice
        if choice is not None:
            import sys

            print(f"fastip: backend auto chose {choice.reason}", file=sys.stderr)
        on = choice.chosen.label if choice is not None else args.backend
        print(f"{args.out}: {result.shape[1]}x{result.shape[0]} from {args.image[0]} on {on} "
              f"({pipeline.session.precision})")
        code = 0
    warn_if_untrained(args.bundle)  # after the work, so that an error stays the one line a failed run prints
    return code


def _models(args: argparse.Namespace) -> int:
    from fastip import models

    for name in models.list_models(args.pattern, family=args.family):
        spec = models.get(name)
        print(f"{name:20s} {spec.family:5s} {spec.description}")
        if args.verbose:
            for w in spec.weights.values():
                metrics = ", ".join(f"{k} {v:.2f}" for k, v in w.metrics.items())
                default = " (default)" if w.name == spec.default_weights else ""
                print(f"    weights {w.name}{default}: {w.description} [{metrics}] on {w.evaluated_on}")
                print("".join(f"      held-out {size}: {e['psnr']:.2f} dB (input unchanged {e['input_psnr']:.2f}, "
                              f"worst {e['worst']['image']} {e['worst']['psnr']:.2f})\n"
                              for size, e in w.evaluation.items() if isinstance(e, dict)), end="")
            for w in spec.withdrawn.values():
                print(f"    withdrawn {w.name}: {w.withdrawn}")
    return 0


def _info(args: argparse.Namespace) -> int:
    from fastip.bundle import Bundle
    from fastip.cli.common import printable
    from fastip.cli.info_cmd import info_lines

    bundle = Bundle.load(args.bundle)
    if args.json:
        print(bundle.manifest.to_json(), end="")  # JSON escapes every control character
        return 0
    lines = info_lines(bundle.root, bundle.manifest)
    if bundle.manifest.calibration or "quantization" in bundle.manifest.extra:
        from fastip.calibration.mixed import describe

        lines += describe(bundle.manifest.calibration, bundle.manifest.extra.get("quantization"))
    print("\n".join(printable(line) for line in lines))
    return 0


def build_parser() -> argparse.ArgumentParser:
    from fastip.cli import batch_cmd, bench_cmd, export_cmd, train_cmd
    from fastip.cli.common import add_trust_code
    from fastip.runtimes import BACKENDS

    parser = argparse.ArgumentParser(prog="fastip", description="Deploy PyTorch image models: export, run and inspect bundles.")
    sub = parser.add_subparsers(metavar="COMMAND")

    p = sub.add_parser("run", help="run a bundle on an image (or a folder of them) and write the result")
    p.add_argument("bundle", help="bundle directory written by fastip-export")
    p.add_argument("image", nargs="+", help="input image (PNG, JPEG, ...), or folders, globs, several images")
    p.add_argument("-o", "--out", required=True, help="output image path (format from the suffix), or a folder")
    p.add_argument("--backend", choices=(*BACKENDS, "auto"), default="ort",
                   help="auto: the fastest backend and OpenVINO hint measured for this bundle here (cached)")
    p.add_argument("--precision", choices=("fp32", "fp16", "int8", "auto"),
                   help="default: the bundle's own precision; auto (with --backend auto): choose among its precisions")
    p.add_argument("--threads", type=int, help="intra-op threads (default: the backend's choice)")
    p.add_argument("--tile", type=int, help="run in tiles of this many input pixels (bounded memory, same result)")
    p.add_argument("--halo", type=int, help="tile overlap in input pixels (default: the model's receptive field)")
    add_trust_code(p)
    batch_cmd.add_arguments(p)
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
