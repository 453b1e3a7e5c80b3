"""`fastip-train`: train a CAN on a reference operator, or a super-resolution network."""

from __future__ import annotations

import argparse

EPILOG = """examples:
  fastip-train can24 --operator l0_smoothing --data samples --steps 3000 --threads 1 -o weights/can24_l0.pt
  fastip-train can32 --operator rof --param weight=0.1 --data images/ -o weights/can32_rof.pt --resume
  fastip-train can24 --operator rtv --synthetic 40 --steps 6000 -o weights/can24_rtv.pt   # + 40 dead-leaves images
  fastip-train can24 --operator dehaze --norm instance -o weights/can24_dehaze.pt         # whole-image statistics
  fastip-train fsrcnn_x2 --data images/ -o weights/fsrcnn_x2.pt
  fastip-train can24 --evaluate l0_smoothing                 # a CAN weight on the held-out photographs
  fastip-train can24 --evaluate rof --record                 # ... into index.json; withdraws it if it fails the rule
  fastip-train can24 --operator rof --qat --from-weights rof --steps 2000 --threads 1 -o weights/can24_rof_qat.pt
  fastip-train espcn_x2 --threads 1 -o espcn_x2.safetensors   # the shipped weight's recipe (samples+photos)
  fastip-train can24 --recipe rof -o can24_rof.safetensors   # any shipped weight's recorded recipe, by name

--data samples trains on the bundled natural images; held-out metrics use grace_hopper and china
(or --val FOLDER). --data photos / samples+photos add the photographs of `fastip data fetch` (whole and in
crops at several scales); their held-out split adds every fetched photograph whose name's sha256 is divisible by 5. Checkpoints go to the -o file plus <stem>.state.pt; --resume continues from them.

--evaluate measures a CAN weight (shipped name, or a file with --operator) on the photos held-out split (or --val's) at
320 and 1280 px longest side (fast-mode models at 1280 only): PSNR/SSIM against the operator, the unchanged
input's PSNR, the gain and the worst image. The shipping rule: a gain of >= 2 dB on average and >= 0 dB on
every image, at 320 px (fast-mode models: at 1280 px); fastip-train exits 1 when the weight fails it.
"""

MAX_SIDE = {"can": 320, "sr": 640}


def _param(text: str) -> tuple[str, object]:
    import json

    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"--param must look like name=value, not {text!r}")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the training arguments to `parser`."""
    parser.add_argument("model", help="can24/can32 (with --operator) or an SR model such as fsrcnn_x2, espcn_x4")
    parser.add_argument("-o", "--out", help="weight file to write (.pt or .safetensors); required to train")
    parser.add_argument("--recipe", metavar="WEIGHTS",
                        help="repeat the recipe of this shipped weight of MODEL (its recorded data, operator, steps, ...); flags given override it")
    parser.add_argument("--evaluate", metavar="WEIGHTS",
                        help="CAN only: measure these weights (a shipped name or a file) under the shipping rule instead of training")
    parser.add_argument("--record", action="store_true",
                        help="with --evaluate of a shipped name: write the measurement to index.json, withdrawing a failing weight")
    parser.add_argument("--operator", help="CAN only: the operator to approximate (see `fastip operators`)")
    parser.add_argument("--param", action="append", type=_param, default=[], metavar="NAME=VALUE",
                        help="CAN only: an operator parameter (repeatable), JSON values")
    parser.add_argument("--data", help="folder of training images, `samples` (CAN default: 9 colour photographs), `samples+grey` (+ 8 greyscale ones), `photos` (`fastip data fetch`) or `samples+photos` (SR default)")
    parser.add_argument("--val", help="folder of held-out images, or a named set's held-out split (default: --data's when it is a named set, else `samples`: grace_hopper, china)")
    parser.add_argument("--steps", type=int, help="optimizer steps (default 2000; SR: the model's recipe)")
    parser.add_argument("--batch", type=int, help="crops per step (default 1 for CAN, the recipe's for SR)")
    parser.add_argument("--crop", type=int, help="crop side in input pixels (default: whole images for CAN, 32 for SR; >= --max-side means whole images)")
    parser.add_argument("--lr", type=float, help="initial Adam learning rate (paper: 1e-4; default 1e-3, --qat 1e-4, SR: the recipe's)")
    parser.add_argument("--lr-final", type=float, help="learning rate reached by cosine decay at the last step (default 1e-5, --qat 1e-6, SR: the recipe's)")
    parser.add_argument("--norm", choices=("none", "shift", "batch", "instance"),
                        help="CAN only: norm while training; `none` (no norm) and `shift` (no norm, a learned per-channel "
                             "shift) are saved as the equivalent batch-norm CAN")
    parser.add_argument("--max-side", type=int, help="longest image side (default 320 for CAN, 640 for SR)")
    parser.add_argument("--variants", type=int,
                        help="CAN only: photometric variants per training image (1: + tone/colour change, 2: + haze)")
    parser.add_argument("--windows", type=int,
                        help="CAN only: random windows per training image, each a training image of its own")
    parser.add_argument("--synthetic", type=int,
                        help="CAN only: dead-leaves images (textured occluding discs) added to the training images")
    parser.add_argument("--loss", choices=("mse", "gradient"),
                        help="CAN only: mse (the paper's) or gradient (+ MSE of horizontal/vertical differences)")
    parser.add_argument("--context", action="store_true", default=None,
                        help="CAN only: add a global-context branch (pooled features fed back; exports to plain ONNX)")
    parser.add_argument("--cache", help="CAN only: directory for cached operator targets (default ~/.cache/fastip/targets)")
    parser.add_argument("--seed", type=int, help="seed for initialisation and crop sampling (default 0)")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads")
    parser.add_argument("--checkpoint-every", type=int, default=250, help="steps between checkpoints")
    parser.add_argument("--eval-every", type=int, help="steps between held-out evaluations (default 250)")
    parser.add_argument("--progress-every", type=float, default=10.0,
                        help="seconds between progress lines (step, loss, step/s, ETA)")
    parser.add_argument("--resume", action="store_true", help="continue from the -o file and its .state.pt")
    qat = parser.add_argument_group("quantization-aware fine-tuning (CAN)")
    qat.add_argument("--qat", action="store_true", default=None, help="fine-tune --from-weights through their INT8 Q/DQ graph (fake quantization)")
    qat.add_argument("--from-weights", help="--qat: the shipped weight name (or file) to start from, e.g. rof")
    qat.add_argument("--qat-candidate", help="--qat: the gate candidate whose Q/DQ scheme to copy (default u8-per-channel)")
    qat.add_argument("--qat-float-layers", help="--qat: comma-separated weight layers (ONNX node names) kept float")
    qat.add_argument("--distill", type=float, help="--qat: share of the loss on the FP32 model's output (rest: the operator; default 0.9)")
    qat.add_argument("--recalibrate-every", type=int, help="--qat: steps between re-collecting activation ranges (default 250)")
    qat.add_argument("--calib", help="--qat: folder of calibration images (default: the bundled samples, as fastip-export)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from fastip import models
    from fastip.cli.common import quiet
    from fastip.errors import InputError
    from fastip.train import TrainConfig, train_can, train_sr
    from fastip.train.data import NAMED_SETS
    from fastip.train.loop import FAMILY_DEFAULTS, stderr_progress
    from fastip.train.recipes import command, resolve
    from fastip.train.sr import DATA as SR_DATA
    from fastip.train.sr import recipe as sr_recipe

    spec = models.get(args.model)
    if args.recipe and (args.evaluate or args.record):
        raise InputError("--recipe trains; --evaluate measures: give one of them")
    resolved = resolve(args.model, vars(args), args.recipe)
    vars(args).update(resolved)
    if args.evaluate or args.record:
        return evaluate(args, spec)
    if not args.out:
        raise InputError("fastip-train needs -o FILE for the weights it trains (or --evaluate WEIGHTS to measure some)")
    if spec.family not in FAMILY_DEFAULTS:
        raise InputError(f"{args.model} is a {spec.family} model; fastip-train trains can and sr models")
    max_side = args.max_side or MAX_SIDE[spec.family]
    if args.from_weights and not args.qat:
        raise InputError("--from-weights starts quantization-aware fine-tuning: add --qat")
    recipe = sr_recipe(args.model) if spec.family == "sr" else {}
    if args.qat:
        recipe = {"lr": 1e-4, "lr_final": 1e-6, **recipe}
    data = args.data or (SR_DATA if spec.family == "sr" else "samples")
    given = dict(steps=args.steps, batch=args.batch, crop=args.crop, lr=args.lr, lr_final=args.lr_final, seed=args.seed,
                 threads=args.threads, checkpoint_every=args.checkpoint_every, eval_every=args.eval_every,
                 progress_every=args.progress_every, resume=args.resume)
    config = TrainConfig.for_family(spec.family, **{**recipe, **{k: v for k, v in given.items() if v is not None}})
    progress = quiet if args.quiet else stderr_progress
    if args.recipe:
        progress(f"recipe of {args.model} {args.recipe}: {command(args.model, resolved)}")
    val = args.val or (data if data in NAMED_SETS else "samples")
    if args.qat:
        result = _qat(args, config, data, val, max_side, progress)
    elif spec.family == "can":
        if not args.operator:
            raise InputError(f"{args.model} is a CAN: name the operator to approximate with --operator")
        result = train_can(args.model, args.operator, data, args.out, config=config, params=dict(args.param),
                           val=val, norm=args.norm, max_side=max_side, variants=args.variants,
                           windows=args.windows, synthetic=args.synthetic, cache_dir=args.cache,
                           loss=args.loss, context=args.context, progress=progress)
    else:
        if args.operator or args.param:
            raise InputError(f"{args.model} is a super-resolution model; --operator/--param apply to CAN models")
        result = train_sr(args.model, data, args.out, config=config, val=val, max_side=max_side,
                          progress=progress)
    extra = "".join(f"  {k} {v:.4g}" for k, v in result.baseline.items())
    print(f"{result.out}: {result.model} {result.steps} steps in {result.seconds:.0f} s; held-out "
          f"PSNR {result.metrics['psnr']:.2f} dB SSIM {result.metrics['ssim']:.4f}{extra} on {', '.join(result.evaluated_on)}")
    return 0


def evaluate(args: argparse.Namespace, spec) -> int:
    """--evaluate: print a CAN weight's held-out measurements and whether it passes the shipping rule."""
    from fastip.cli.common import quiet
    from fastip.errors import InputError
    from fastip.train.evaluate import evaluate_weight, failures, table_lines
    from fastip.train.loop import stderr_progress
    from fastip.train.shipping import review

    if spec.family != "can" or not args.evaluate:
        raise InputError("--evaluate WEIGHTS measures CAN weights (--record needs --evaluate)")
    progress = quiet if args.quiet else stderr_progress
    val = args.val or "photos"
    if args.record:
        if args.evaluate not in spec.weights:
            raise InputError(f"--record updates index.json: give a shipped weight name of {spec.name}, not {args.evaluate}")
        entry, evaluations = review(spec.name, args.evaluate, val=val, cache_dir=args.cache, progress=progress)
    else:
        shipped = spec.weights.get(args.evaluate)
        operator = args.operator or (shipped.params.get("operator") if shipped else None)
        if not operator:
            raise InputError(f"name the operator that {args.evaluate} approximates with --operator")
        params = dict(args.param) if args.param or not shipped else shipped.params.get("operator_params", {})
        evaluations = evaluate_weight(spec.name, args.evaluate, operator, params=params, data=val,
                                      cache_dir=args.cache, progress=progress)
    print(f"{spec.name} {args.evaluate}:")
    print("\n".join("  " + line for line in table_lines(evaluations)))
    reasons = failures(evaluations, spec.name)
    print("  shipping rule: " + ("passes" if not reasons else "FAILS: " + "; ".join(reasons))
          + (" (withdrawn)" if args.record and reasons else ""))
    return 1 if reasons else 0


def _qat(args: argparse.Namespace, config, data: str, val: str, max_side: int, progress):
    from fastip.errors import InputError
    from fastip.train.qat import QatScheme, train_qat

    if not args.from_weights:
        raise InputError("--qat fine-tunes shipped weights: name them with --from-weights (e.g. --from-weights rof)")
    if not args.operator:
        raise InputError(f"--qat on {args.model} needs --operator (the one --from-weights approximates)")
    scheme = QatScheme(args.qat_candidate, tuple(n.strip() for n in args.qat_float_layers.split(",") if n.strip()),
                       calib=args.calib)
    return train_qat(args.model, args.operator, args.from_weights, data, args.out, config=config, scheme=scheme,
                     distill=args.distill, recalibrate_every=args.recalibrate_every, params=dict(args.param), val=val,
                     max_side=max_side, cache_dir=args.cache, progress=progress)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fastip-train", description="Train a CAN operator approximation or an SR network.",
                                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    configure(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    from fastip.cli.common import run_main

    return run_main(build_parser, argv)
