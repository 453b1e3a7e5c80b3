"""The folder side of `fastip run`: folders, globs and several files, locally or on a Ray cluster."""

from __future__ import annotations

import argparse
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `fastip run` that matter for folders (and --device, which every run takes)."""
    p.add_argument("--device", help="OpenVINO device: CPU, GPU, AUTO, ... (default: CPU)")
    p.add_argument("--hint", choices=("latency", "throughput"),
                   help="OpenVINO performance hint (default: latency for one image, throughput for folders)")
    g = p.add_argument_group("folders", "IMAGE may be a folder, a glob or several files; -o is then a folder")
    g.add_argument("--format", dest="fmt", help="output format for every image, e.g. png (default: each input's own)")
    g.add_argument("--workers", type=int, help="images in inference at once (default: the backend's best)")
    g.add_argument("--no-resume", dest="resume", action="store_false",
                   help="redo every image, even those the journal in -o shows done")
    g.add_argument("--ray", action="store_true", help="run on a Ray cluster, one bundle per actor")
    g.add_argument("--address", help="Ray cluster address: auto, HOST:PORT, ray://HOST:PORT (default: a local Ray)")
    g.add_argument("--actors", type=int, help="Ray actors, each with its own session (default: the cluster's CPUs "
                                               "divided by --threads)")


def wanted(args: argparse.Namespace) -> bool:
    """Whether this `fastip run` is a folder run."""
    from fastip.batch import is_batch

    return args.ray or is_batch(args.image, args.out)


def settings(args: argparse.Namespace, *, folder: bool = False):
    """The RunSettings that the arguments ask for."""
    from fastip.batch import RunSettings

    hint = args.hint or ("throughput" if folder and args.backend == "openvino" else None)
    return RunSettings(backend=args.backend, precision=args.precision, device=args.device, hint=hint,
                       tile=args.tile, halo=args.halo, threads=args.threads,
                       trust_code=getattr(args, "trust_code", False))


def run(args: argparse.Namespace) -> int:
    """Process every image; exit 2 if any failed (each was named on its own line)."""
    from fastip.errors import InputError

    if args.ray:
        if args.workers is not None:
            raise InputError("--workers is for runs on this machine; with --ray, use --actors and --threads")
        from fastip.serving.ray import run_folder_on_ray

        report = run_folder_on_ray(args.bundle, args.image, args.out, settings(args, folder=True), fmt=args.fmt,
                                   resume=args.resume, address=args.address, actors=args.actors, stream=sys.stderr)
    else:
        if args.address or args.actors is not None:
            raise InputError("--address and --actors go with --ray")
        from fastip.batch import run_folder

        report = run_folder(args.bundle, args.image, args.out, settings(args, folder=True), fmt=args.fmt,
                            resume=args.resume, workers=args.workers, stream=sys.stderr)
    return 2 if report.failed else 0
