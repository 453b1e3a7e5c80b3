"""`fastip triton-repo BUNDLE... -o repo/`: a Triton / KServe v2 model repository for existing bundles."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> None:
    """Add the `triton-repo` subcommand."""
    from fastip.serving.triton.repository import KINDS, PIPELINE_BACKENDS

    p = subparsers.add_parser("triton-repo", help="write a Triton model repository (KServe v2) for bundles",
                              epilog="example: fastip triton-repo out/can24-rof out/face -o repo/ --threads 2")
    p.add_argument("bundles", nargs="+", metavar="BUNDLE", help="bundle directories written by fastip-export")
    p.add_argument("-o", "--out", required=True, help="repository directory to create (must not exist)")
    p.add_argument("--name", action="append", dest="names", metavar="NAME",
                   help="model name per bundle, in order (default: the bundle's model name)")
    p.add_argument("--kinds", help=f"comma-separated model kinds from {','.join(KINDS)} (default: python + every artifact)")
    p.add_argument("--pipeline-backend", choices=PIPELINE_BACKENDS, default="ort", help="backend of the Python model (auto: the fastest for the bundle, measured on the server when the model loads, then cached)")
    p.add_argument("--precision", choices=("fp32", "fp16", "int8"), default="fp32", help="precision of the Python model")
    p.add_argument("--max-batch", type=int, default=8, help="max_batch_size (dynamic batching merges up to this)")
    p.add_argument("--queue-delay-us", type=int, default=2000, help="dynamic batcher's max queue delay (µs)")
    p.add_argument("--instances", type=int, default=1, help="model instances (instance_group count)")
    p.add_argument("--threads", type=int, help="intra-op threads per instance (default: the backend's choice)")
    p.add_argument("--ov-hint", choices=("latency", "throughput"), default="latency", help="OpenVINO performance hint")
    p.set_defaults(func=handler)


def handler(args: argparse.Namespace) -> int:
    """Write the repository and list its models."""
    from fastip.serving.triton import ServingOptions, write_repository

    options = ServingOptions(max_batch_size=args.max_batch, queue_delay_us=args.queue_delay_us,
                             instances=args.instances, threads=args.threads, ov_hint=args.ov_hint)
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()] if args.kinds else None
    configs = write_repository(args.bundles, args.out, names=args.names, kinds=kinds,
                               pipeline_backend=args.pipeline_backend, precision=args.precision, options=options)
    for c in configs:
        print(f"{args.out}/{c.name}: {c.backend or c.platform}, max batch {c.max_batch_size}")
    print(f"serve it: tritonserver --model-repository={args.out} (see {args.out}/README.md)")
    return 0
