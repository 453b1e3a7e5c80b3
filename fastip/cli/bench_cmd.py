"""`fastip-bench`: latency and quality of a model or bundle on each backend, against its reference operator."""

from __future__ import annotations

import argparse

EPILOG = """examples:
  fastip-bench can32 --weights l0_smoothing --backends torch,ort,openvino --precisions fp32,int8 \\
      --sizes 512x512,1280x720,1920x1080 --images photos/ -o report/
  fastip-bench fsrcnn_x2 --backends ort,openvino -o report-sr/
  fastip-bench out/my-bundle --backends openvino --threads 1,2 -o report-mine/
  fastip-bench can32 --weights l0_smoothing --backends ort,openvino --batch 1,4 --requests 1,4 \
      --hints latency,throughput -o report-serving/
  fastip-bench --compare report-old/results.json report/results.json
  fastip-bench --widths 16,24,32,48,24p32 --backends ort,openvino --sizes 1920x1080 --threads 2 --min-runs 3 -o widths/
"""


def _list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _threads(text: str) -> tuple[int | None, ...]:
    from fastip.errors import InputError

    values: list[int | None] = []
    for part in _list(text):
        if part == "auto":
            values.append(None)
        elif part.isdigit() and int(part) > 0:
            values.append(int(part))
        else:
            raise InputError(f"bad --threads value {part!r}; give positive integers or 'auto', e.g. 1,2")
    return tuple(values) or (None,)


def _counts(text: str, flag: str) -> tuple[int, ...]:
    from fastip.errors import InputError

    parts = _list(text)
    if not parts or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise InputError(f"bad {flag} value {text!r}; give positive integers, e.g. 1,4")
    return tuple(int(p) for p in parts)


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the benchmark arguments to `parser`."""
    from fastip.cli.common import add_trust_code

    parser.add_argument("target", nargs="?", help="a registered model (exported to a temporary bundle) or a bundle directory")
    parser.add_argument("--backends", default="ort,openvino",
                        help="comma list of torch, ort, openvino, trt, auto (the fastest measured here, cached) (default: ort,openvino)")
    parser.add_argument("--precisions", default="fp32", help="comma list of fp32, fp16, int8 (default: fp32)")
    parser.add_argument("--sizes", default="512x512", help="comma list of WIDTHxHEIGHT model input sizes (SR: the low-resolution input)")
    parser.add_argument("--threads", default="auto", help="comma list of thread counts, each pinned to that many cores (default: auto)")
    parser.add_argument("--images", help="folder of images (each fitted to every size; quality is their mean); default: a bundled sample")
    parser.add_argument("--weights", help="shipped weight name (see `fastip models -v`) or a checkpoint, for a model name")
    parser.add_argument("--operator", help="reference operator for a CAN model (default: the shipped weight's operator)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs before timing (default: 2)")
    parser.add_argument("--min-runs", type=int, default=10, help="at least this many timed runs (default: 10)")
    parser.add_argument("--min-time", type=float, default=1.0, help="and at least this many seconds of timed runs (default: 1)")
    parser.add_argument("--hints", "--hint", dest="hints", default="latency",
                        help="comma list of OpenVINO performance hints, latency and/or throughput (default: latency)")
    parser.add_argument("--device", help="OpenVINO device of the openvino rows: CPU, GPU, AUTO, ... (default: CPU)")
    parser.add_argument("--batch", default="1", help="comma list of images per call (default: 1)")
    parser.add_argument("--requests", "--streams", dest="requests", default="1",
                        help="comma list of calls in flight at once: OpenVINO AsyncInferQueue jobs, threads on one "
                             "ORT session (default: 1); rows report images/s beside latency")
    parser.add_argument("--no-overhead", dest="overhead", action="store_false",
                        help="skip the fastip-vs-raw-backend overhead check (run at the smallest size)")
    parser.add_argument("-o", "--out", default="bench-report", help="report directory (results.json, report.md, report.html)")
    parser.add_argument("--compare", nargs=2, metavar=("OLD", "NEW"),
                        help="compare two results.json files (latency, images/s, PSNR/SSIM/box agreement) instead of "
                             "measuring; exit 1 when a row got slower beyond noise or lower in quality")
    parser.add_argument("--min-psnr", type=float, help="quality gate of the fp16/int8 exports of a model name (dB vs FP32)")
    parser.add_argument("--allow-fallback", action="store_true",
                        help="a precision that fails its gate is reported as fallen back, not as a failure")
    parser.add_argument("--keep-going", action="store_true",
                        help="exit 0 even when a requested row could not run (it is still reported)")
    parser.add_argument("--env", action="store_true",
                        help="print this machine's CPU, flags, load, versions and measured FP32 peak per --threads value, then exit")
    parser.add_argument("--widths", help="channel-width study instead of a model: CAN of these widths (WpP: width W "
                        "zero-padded to P channels), e.g. 16,24,32,48,24p32, timed per --backends at the first --sizes "
                        "and --threads in --min-runs interleaved rounds; writes widths.json/widths.md to -o")
    parser.add_argument("--depth", type=int, default=9, help="layers of the --widths CANs (default: 9, CAN24's)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress line")
    add_trust_code(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import sys

    from fastip.errors import InputError

    if args.compare:
        from fastip.benchmarks.compare import comparison
        from fastip.benchmarks.report import load_report

        text, regressed = comparison(load_report(args.compare[0]), load_report(args.compare[1]))
        print(text)
        return 1 if regressed else 0
    if args.env:
        from fastip.benchmarks.environment import collect_environment, describe_environment
        from fastip.benchmarks.runner import measure_peaks

        environment = collect_environment()
        environment["fp32_peak"] = measure_peaks(_threads(args.threads))
        print("\n".join(describe_environment(environment)))
        return 0
    if args.widths:
        return _width_study(args)
    if not args.target:
        raise InputError("give a model name or a bundle directory to benchmark (or --compare OLD NEW)")
    from fastip.benchmarks.inputs import check_bundle_path, parse_size
    from fastip.benchmarks.latency import Budget
    from fastip.benchmarks.report import write_report
    from fastip.benchmarks.runner import Plan, Progress, run_plan
    from fastip.benchmarks.summary import format_summary

    check_bundle_path(args.target)
    plan = Plan(target=args.target, backends=tuple(_list(args.backends)), precisions=tuple(_list(args.precisions)),
                sizes=tuple(parse_size(s) for s in _list(args.sizes)), threads=_threads(args.threads),
                hints=tuple(_list(args.hints)), batches=_counts(args.batch, "--batch"),
                requests=_counts(args.requests, "--requests"), device=args.device,
                budget=Budget(warmup=args.warmup, min_runs=args.min_runs, min_time=args.min_time),
                weights=args.weights, operator=args.operator, images=args.images, overhead=args.overhead,
                trust_code=args.trust_code,
                quant={k: v for k, v in (("min_psnr", args.min_psnr), ("allow_fallback", args.allow_fallback or None))
                       if v is not None})
    progress = None if args.quiet else Progress(0)
    try:
        report = run_plan(plan, progress=progress)
    finally:
        if progress:
            progress.close()
    paths = write_report(report, args.out)
    print(format_summary(report))
    for auto in report.settings.get("auto") or []:
        print(f"auto ({auto['precision']} {auto['size']} threads={auto['threads'] or 'auto'}): chose {auto['reason']}")
    print(f"wrote {', '.join(str(p) for p in paths.values())}")
    if report.settings.get("untrained"):
        print("warning: the model is UNTRAINED (--weights none): its quality numbers mean nothing", file=sys.stderr)
    if report.interrupted:
        print("fastip-bench: interrupted; the report holds what was measured so far", file=sys.stderr)
        return 130
    failed = [row for row in report.results if row.status not in ("ok", "fallback")]
    if failed and not args.keep_going:
        print(f"fastip-bench: error: {len(failed)} requested row(s) did not run ({failed[0].label}: "
              f"{(failed[0].reason or failed[0].status).splitlines()[0]}); pass --keep-going to accept that, "
              "or --allow-fallback for a precision that fails its gate", file=sys.stderr)
        return 1
    return 0


def _width_study(args: argparse.Namespace) -> int:
    from fastip.benchmarks.inputs import parse_size
    from fastip.benchmarks.runner import Progress
    from fastip.benchmarks.table import text_table
    from fastip.benchmarks.widths import parse_widths, run_study, study_table, write_study
    from fastip.errors import InputError

    if args.target:
        raise InputError("--widths builds its own CANs; give no model or bundle with it")
    if not 3 <= args.depth <= 12:
        raise InputError(f"--depth must be 3-12, not {args.depth}")
    variants = parse_widths(args.widths)
    progress = None if args.quiet else Progress(0)
    try:
        study = run_study(variants, tuple(_list(args.backends)), parse_size(_list(args.sizes)[0]),
                          _threads(args.threads)[0], depth=args.depth, rounds=args.min_runs,
                          note=progress.note if progress else lambda _: None)
    finally:
        if progress:
            progress.close()
    paths = write_study(study, args.out)
    print(text_table(study_table(study)))
    print(f"wrote {', '.join(str(p) for p in paths.values())}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fastip-bench", description="Benchmark a model's latency and quality on each backend "
                                     "against its classical reference operator.", epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    configure(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    from fastip.cli.common import run_main

    return run_main(build_parser, argv)
