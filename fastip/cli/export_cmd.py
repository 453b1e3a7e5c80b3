"""`fastip-export` / `fastip export`: a registry model or your own nn.Module -> validated bundle."""

from __future__ import annotations

import argparse

EPILOG = """examples:
  fastip-export can24 --weights tv_l1 --target onnx -o out/can24
  fastip-export can24 --weights tv_l1 --target openvino -o out/can24-ov
  fastip-export can24 --weights tv_l1 --target openvino --device GPU -o out/can24-gpu   # compiled and validated on GPU
  fastip-export fsrcnn_x2 --target onnx -o out/fsrcnn            # SR and face models take their shipped weights
  fastip-export can24 --weights none --target onnx -o out/can24-untrained
  fastip-export mypkg.models:build_net --input-shape 1x3xHxW --target onnx -o out/mine
  fastip-export path/to/model.onnx --family sr --scale 2 --target openvino -o out/imported
  fastip-export can24 --weights tv_l1 --target openvino --precision int8 --calib path/to/images/ -o out/can24-int8
  fastip-export fsrcnn_x2 --target ort --precision int8 --calib-method percentile -o out/fsrcnn-int8
  fastip-export can24 --weights tv_l1 --target trt --precision fp16 --shapes 1x3x256x256:1x3x1080x1920:1x3x2160x3840 -o out/can24-trt
"""


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the export arguments to `parser`."""
    from fastip.export import MIN_OPSET, PRECISIONS, TARGETS

    parser.add_argument("model", help="a registered model (see `fastip models`), package.module:function returning an "
                                      "nn.Module, or an existing .onnx file (with --family)")
    parser.add_argument("-o", "--out", required=True, help="bundle directory to write (replaced atomically)")
    parser.add_argument("--target", choices=TARGETS, default="onnx",
                        help="onnx/ort: ONNX for ONNX Runtime; openvino: also OpenVINO IR; trt: TensorRT engine")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32", help="numeric precision of the deployed artifact")
    parser.add_argument("--weights", help="shipped weight name (see `fastip models -v`; SR and face models default to theirs, "
                                             "CAN needs one per operator), a .pt/.safetensors file, or none for untrained")
    parser.add_argument("--norm", choices=("batch", "instance", "none"), help="CAN only: norm mode (batch folds into the convs)")
    parser.add_argument("--norm-stats", type=int, choices=(1, 2, 4, 8),
                        help="CAN with instance-norm weights: fold each image's norms into the convs from statistics "
                             "measured at 1/N resolution (default 1: the exact full-resolution instance norm)")
    parser.add_argument("--input-shape", help="for your own module: NxCxHxW with letters for dynamic dims, e.g. 1x3xHxW")
    parser.add_argument("--opset", type=int, default=MIN_OPSET, help=f"ONNX opset (>= {MIN_OPSET})")
    parser.add_argument("--rtol", type=float, default=1e-4, help="validation tolerance: max abs error / output range")
    parser.add_argument("--device", help="--target openvino: the OpenVINO device to compile and validate on: CPU, GPU, "
                                         "AUTO, ... (default: CPU)")
    parser.add_argument("--no-force", dest="overwrite", action="store_false", help="refuse to replace an existing bundle")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    _configure_import(parser.add_argument_group("an existing ONNX file (fastip-export model.onnx --family ...)"))
    _configure_quantization(parser.add_argument_group("quantization and compilation (--precision int8/fp16, --target trt)"))
    parser.set_defaults(func=run)


def _configure_import(group) -> None:
    """Flags describing an imported ONNX file's image I/O (dest onnx_<name>; for .onnx files only)."""
    from fastip.export.onnx_import import FAMILIES, LAYOUTS

    group.add_argument("--family", dest="onnx_family", choices=FAMILIES,
                       help="what the ONNX model is: can/sr (image in, image out), face (BlazeFace-style), custom")
    group.add_argument("--layout", dest="onnx_layout", choices=LAYOUTS, help="input/output layout of the file (default NCHW)")
    group.add_argument("--value-range", dest="onnx_value_range", metavar="LO,HI",
                       help="input pixel range the model expects, e.g. 0,255 (default 0,1; face -1,1)")
    group.add_argument("--colour-order", dest="onnx_colour_order", choices=("RGB", "BGR"), help="channel order (default RGB)")
    group.add_argument("--scale", dest="onnx_scale", type=int, metavar="N", help="SR: the upscaling factor (checked against the graph)")
    group.add_argument("--mean", dest="onnx_mean", metavar="R,G,B", help="subtracted after scaling to the value range")
    group.add_argument("--std", dest="onnx_std", metavar="R,G,B", help="divided by after subtracting the mean")


def _configure_quantization(group) -> None:
    """Flags forwarded to export_model as quant options (dest quant_<name>; unset flags are not forwarded)."""
    group.add_argument("--calib", dest="quant_calib", help="folder of calibration images (default: the bundled samples)")
    group.add_argument("--calib-method", dest="quant_calib_method", choices=("min-max", "percentile", "entropy"),
                       help="activation range method (default min-max)")
    group.add_argument("--calib-count", dest="quant_calib_count", type=int, help="calibration samples to draw (default 8)")
    group.add_argument("--calib-seed", dest="quant_calib_seed", type=int, help="seed of the random crops (default 0)")
    group.add_argument("--calib-shape", dest="quant_calib_shape", help="HxW of calibration crops for dynamic-size models")
    group.add_argument("--cache-dir", dest="quant_cache_dir", help="calibration range cache (default ~/.cache/fastip/calibration)")
    group.add_argument("--min-psnr", dest="quant_min_psnr", type=float,
                       help="quality gate: dB vs FP32 (default 40 for CAN, 35 for SR and custom models)")
    group.add_argument("--max-hr-drop", dest="quant_max_hr_drop", type=float,
                       help="quality gate, SR: dB of PSNR vs the HR image that may be lost (default 0.5)")
    group.add_argument("--min-iou", dest="quant_min_iou", type=float, help="quality gate, face: mean box IoU vs FP32 (default 0.85)")
    group.add_argument("--allow-fallback", dest="quant_allow_fallback", action="store_true", default=None,
                       help="ship FP32 (and say so in the manifest) when no candidate passes the gate")
    group.add_argument("--candidates", dest="quant_candidates", help="comma-separated quantization candidates to try")
    group.add_argument("--search-budget", dest="quant_search_budget", type=float, metavar="SECONDS",
                       help="time for the mixed-precision search run when no fully INT8 candidate passes (default 300; 0 skips it)")
    group.add_argument("--search-steps", dest="quant_search_steps", type=int, metavar="N",
                       help="at most N measurements in the mixed-precision search")
    group.add_argument("--ov-hint", dest="quant_hint", choices=("latency", "throughput"), help="OpenVINO performance hint to record")
    group.add_argument("--ort-opt-level", dest="quant_opt_level", choices=("disable", "basic", "extended", "all"),
                       help="ONNX Runtime graph optimisation level to record")
    group.add_argument("--shapes", dest="quant_shapes", help="TensorRT profile MIN:OPT:MAX, e.g. 1x3x256x256:1x3x1080x1920:1x3x2160x3840")
    group.add_argument("--workspace-mib", dest="quant_workspace_mib", type=int, help="TensorRT builder workspace (MiB)")
    group.add_argument("--timing-cache", dest="quant_timing_cache", help="TensorRT timing cache file, reused and updated")
    group.add_argument("--hardware-compatibility", dest="quant_hardware_compatibility",
                       choices=("none", "ampere_plus", "same_compute_capability"), help="TensorRT hardware-compatibility level")


def run(args: argparse.Namespace) -> int:
    from fastip.cli.common import quiet
    from fastip.export import export_model, stderr_progress

    quant = {k: v for k, v in vars(args).items() if k.startswith("quant_") and v is not None}
    model = _source(args)
    bundle = export_model(model, args.out, target=args.target, precision=args.precision, weights=args.weights,
                          norm=args.norm, norm_stats=args.norm_stats, input_shape=args.input_shape, opset=args.opset,
                          rtol=args.rtol, overwrite=args.overwrite, device=args.device,
                          progress=quiet if args.quiet else stderr_progress,
                          **{k[len("quant_"):]: v for k, v in quant.items()})
    worst = max((v.max_abs_error for v in bundle.manifest.validation), default=0.0)
    print(f"{bundle.root}: {bundle.manifest.model} [{', '.join(bundle.manifest.artifacts)}], "
          f"validated on {len(bundle.manifest.validation)} runs, worst max abs error {worst:.2e}"
          + (", UNTRAINED (--weights none)" if bundle.manifest.untrained else ""))
    return 0


def _source(args: argparse.Namespace):
    """The model argument as export_model takes it: a name, or a ModelSource read from an ONNX file."""
    import os
    import sys

    from fastip.errors import InputError
    from fastip.export.onnx_import import ImportOptions, import_onnx, is_onnx_path, parse_numbers

    given = {k: v for k, v in vars(args).items() if k.startswith("onnx_") and v is not None}
    if not is_onnx_path(args.model):
        if given:
            flags = ", ".join("--" + k[len("onnx_"):].replace("_", "-") for k in given)
            raise InputError(f"{flags} describe an imported .onnx file; {args.model} is not one")
        if ":" in args.model and os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())  # `mypkg.models:fn` named here, on the command line, resolves from cwd
        return args.model
    if "onnx_family" not in given:
        raise InputError(f"importing {args.model} needs --family can|sr|face|custom (what the model does)")
    for flag, value in (("--weights", args.weights), ("--norm", args.norm), ("--norm-stats", args.norm_stats),
                        ("--input-shape", args.input_shape)):
        if value is not None:
            raise InputError(f"{flag} does not apply to an ONNX file: its graph holds its weights and input shape")
    options = ImportOptions(family=args.onnx_family, layout=args.onnx_layout or "NCHW",
                            value_range=parse_numbers(args.onnx_value_range, 2, "--value-range"),
                            colour_order=args.onnx_colour_order or "RGB", scale=args.onnx_scale,
                            mean=parse_numbers(args.onnx_mean, 3, "--mean") or (0.0, 0.0, 0.0),
                            std=parse_numbers(args.onnx_std, 3, "--std") or (1.0, 1.0, 1.0))
    return import_onnx(args.model, options)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fastip-export", description="Export a PyTorch image model to a validated fastip bundle.",
                                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    configure(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    from fastip.cli.common import run_main

    return run_main(build_parser, argv)
