"""`fastip-export` / `fastip export`: a registry model or your own nn.Module -> validated bundle."""

from __future__ import annotations

import argparse

EPILOG = """examples:
  fastip-export can32 --target onnx -o out/can32
  fastip-export can32 --target openvino -o out/can32-ov
  fastip-export fsrcnn_x2 --target onnx -o out/fsrcnn
  fastip-export mypkg.models:build_net --input-shape 1x3xHxW --target onnx -o out/mine
"""


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the export arguments to `parser`."""
    from fastip.export import MIN_OPSET, PRECISIONS, TARGETS

    parser.add_argument("model", help="a registered model (see `fastip models`) or package.module:function returning an nn.Module")
    parser.add_argument("-o", "--out", required=True, help="bundle directory to write (replaced atomically)")
    parser.add_argument("--target", choices=TARGETS, default="onnx",
                        help="onnx/ort: ONNX for ONNX Runtime; openvino: also OpenVINO IR; trt: TensorRT engine")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32", help="numeric precision of the deployed artifact")
    parser.add_argument("--weights", help="shipped weight name (see `fastip models -v`) or a .pt/.safetensors file")
    parser.add_argument("--norm", choices=("batch", "instance", "none"), help="CAN only: norm mode (batch folds into the convs)")
    parser.add_argument("--input-shape", help="for your own module: NxCxHxW with letters for dynamic dims, e.g. 1x3xHxW")
    parser.add_argument("--opset", type=int, default=MIN_OPSET, help=f"ONNX opset (>= {MIN_OPSET})")
    parser.add_argument("--rtol", type=float, default=1e-4, help="validation tolerance: max abs error / output range")
    parser.add_argument("--no-force", dest="overwrite", action="store_false", help="refuse to replace an existing bundle")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from fastip.cli.common import quiet
    from fastip.export import export_model, stderr_progress

    quant = {k: v for k, v in vars(args).items() if k.startswith("quant_") and v is not None}
    bundle = export_model(args.model, args.out, target=args.target, precision=args.precision, weights=args.weights,
                          norm=args.norm, input_shape=args.input_shape, opset=args.opset, rtol=args.rtol,
                          overwrite=args.overwrite, progress=quiet if args.quiet else stderr_progress,
                          **{k[len("quant_"):]: v for k, v in quant.items()})
    worst = max((v.max_abs_error for v in bundle.manifest.validation), default=0.0)
    print(f"{bundle.root}: {bundle.manifest.model} [{', '.join(bundle.manifest.artifacts)}], "
          f"validated on {len(bundle.manifest.validation)} runs, worst max abs error {worst:.2e}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fastip-export", description="Export a PyTorch image model to a validated fastip bundle.",
                                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    configure(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    from fastip.cli.common import run_main

    return run_main(build_parser, argv)
