"""`fastip validate`: rerun a bundle's artifacts against its reference on your images; non-zero exit on a mismatch."""

from __future__ import annotations

import argparse
import sys

EPILOG = """examples:
  fastip validate out/can24-rof                                   # every artifact, every installed backend
  fastip validate out/can24-int8 --backends ort,openvino --images photos/
"""
MISMATCH = 1  # bad input exits 2, like every command


def add_parser(sub) -> None:
    """Register `fastip validate` on the main parser's subcommands."""
    from fastip.export.validate import RTOL
    from fastip.export.recheck import MAX_SIDE

    p = sub.add_parser("validate", help="rerun every artifact of a bundle against its reference (PyTorch or FP32 ONNX)",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("bundle", help="bundle directory written by fastip-export")
    p.add_argument("--backends", help="comma-separated: ort, openvino, trt (default: every installed one)")
    p.add_argument("--images", help="folder of images (or one image) to check on (default: bundled photographs)")
    p.add_argument("--rtol", type=float, default=RTOL, help="FP32 tolerance: max abs error / reference output range")
    p.add_argument("--max-side", type=int, default=MAX_SIDE, help="images larger than this are downscaled first")
    p.add_argument("-q", "--quiet", action="store_true", help="print mismatches and the summary only")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from fastip.cli.info_cmd import warn_if_untrained
    from fastip.errors import InputError
    from fastip.export.recheck import validate_bundle

    if args.max_side < 16:
        raise InputError(f"--max-side must be at least 16, not {args.max_side}")
    warn_if_untrained(args.bundle)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()] if args.backends else None
    result = validate_bundle(args.bundle, backends=backends, images=args.images, rtol=args.rtol, max_side=args.max_side,
                             progress=(lambda _: None) if args.quiet else (lambda m: print(m, file=sys.stderr)))
    print(f"{result.bundle}: reference {result.reference}")
    for check in result.checks:
        if not (args.quiet and check.passed):
            print(f"  {check.line()}")
    for reason in result.skipped:
        if not args.quiet:
            print(f"  skipped: {reason}")
    failed = result.failures
    print(f"{len(result.checks) - len(failed)}/{len(result.checks)} checks passed"
          + (f"; {len(failed)} mismatch(es)" if failed else ""))
    if not result.checks:
        raise InputError("nothing was checked: no artifact runs on the asked backends; see `fastip info` for its artifacts")
    return MISMATCH if failed else 0
