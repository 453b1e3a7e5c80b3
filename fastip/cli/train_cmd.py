"""`fastip-train`: train a CAN on a reference operator, or a super-resolution network."""

from __future__ import annotations

import argparse

EPILOG = """examples:
  fastip-train can24 --operator l0_smoothing --data samples --steps 3000 --threads 1 -o weights/can24_l0.pt
  fastip-train can32 --operator rof --param weight=0.1 --data images/ -o weights/can32_rof.pt --resume
  fastip-train can24 --operator rtv --synthetic 40 --steps 6000 -o weights/can24_rtv.pt   # + 40 dead-leaves images
  fastip-train can24 --operator dehaze --norm instance -o weights/can24_dehaze.pt         # whole-image statistics
  fastip-train fsrcnn_x2 --data images/ -o weights/fsrcnn_x2.pt
  fastip-train espcn_x2 --threads 1 -o espcn_x2.safetensors   # the shipped weight's recipe (samples+photos)

--data samples trains on the bundled natural images; held-out metrics use grace_hopper and china
(or --val FOLDER). --data photos / samples+photos add the photographs of `fastip data fetch` (whole and in
crops at several scales); their held-out split adds every fetched photograph whose name's sha256 is divisible by 5. Checkpoints go to the -o file plus <stem>.state.pt; --resume continues from them.
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
    parser.add_argument("-o", "--out", required=True, help="weight file to write (.pt or .safetensors)")
    parser.add_argument("--operator", help="CAN only: the operator to approximate (see `fastip operators`)")
    parser.add_argument("--param", action="append", type=_param, default=[], metavar="NAME=VALUE",
                        help="CAN only: an operator parameter (repeatable), JSON values")
    parser.add_argument("--data", help="folder of training images, `samples` (CAN default: 9 colour photographs), `samples+grey` (+ 8 greyscale ones), `photos` (`fastip data fetch`) or `samples+photos` (SR default)")
    parser.add_argument("--val", help="folder of held-out images, or a named set's held-out split (default: --data's when it is a named set, else `samples`: grace_hopper, china)")
    parser.add_argument("--steps", type=int, help="optimizer steps (default 2000; SR: the model's recipe)")
    parser.add_argument("--batch", type=int, help="crops per step (default 1 for CAN, the recipe's for SR)")
    parser.add_argument("--crop", type=int, help="crop side in input pixels (default: whole images for CAN, 32 for SR; >= --max-side means whole images)")
    parser.add_argument("--lr", type=float, help="initial Adam learning rate (paper: 1e-4; default 1e-3, SR: the recipe's)")
    parser.add_argument("--lr-final", type=float, help="learning rate reached by cosine decay at the last step (default 1e-5)")
    parser.add_argument("--norm", choices=("none", "shift", "batch", "instance"), default="none",
                        help="CAN only: norm while training; `none` (no norm) and `shift` (no norm, a learned per-channel "
                             "shift) are saved as the equivalent batch-norm CAN")
    parser.add_argument("--max-side", type=int, help="longest image side (default 320 for CAN, 640 for SR)")
    parser.add_argument("--variants", type=int, default=0,
                        help="CAN only: photometric variants per training image (1: + tone/colour change, 2: + haze)")
    parser.add_argument("--windows", type=int, default=0,
                        help="CAN only: random windows per training image, each a training image of its own")
    parser.add_argument("--synthetic", type=int, default=0,
                        help="CAN only: dead-leaves images (textured occluding discs) added to the training images")
    parser.add_argument("--cache", help="CAN only: directory for cached operator targets (default ~/.cache/fastip/targets)")
    parser.add_argument("--seed", type=int, default=0, help="seed for initialisation and crop sampling")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads")
    parser.add_argument("--checkpoint-every", type=int, default=250, help="steps between checkpoints")
    parser.add_argument("--eval-every", type=int, help="steps between held-out evaluations (default 250)")
    parser.add_argument("--progress-every", type=float, default=10.0,
                        help="seconds between progress lines (step, loss, step/s, ETA)")
    parser.add_argument("--resume", action="store_true", help="continue from the -o file and its .state.pt")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from fastip import models
    from fastip.cli.common import quiet
    from fastip.errors import InputError
    from fastip.train import TrainConfig, train_can, train_sr
    from fastip.train.data import NAMED_SETS
    from fastip.train.loop import FAMILY_DEFAULTS, stderr_progress
    from fastip.train.sr import DATA as SR_DATA
    from fastip.train.sr import recipe as sr_recipe

    spec = models.get(args.model)
    if spec.family not in FAMILY_DEFAULTS:
        raise InputError(f"{args.model} is a {spec.family} model; fastip-train trains can and sr models")
    max_side = args.max_side or MAX_SIDE[spec.family]
    recipe = sr_recipe(args.model) if spec.family == "sr" else {}
    data = args.data or (SR_DATA if spec.family == "sr" else "samples")
    given = dict(steps=args.steps, batch=args.batch, crop=args.crop, lr=args.lr, lr_final=args.lr_final, seed=args.seed,
                 threads=args.threads, checkpoint_every=args.checkpoint_every, eval_every=args.eval_every,
                 progress_every=args.progress_every, resume=args.resume)
    config = TrainConfig.for_family(spec.family, **{**recipe, **{k: v for k, v in given.items() if v is not None}})
    progress = quiet if args.quiet else stderr_progress
    val = args.val or (data if data in NAMED_SETS else "samples")
    if spec.family == "can":
        if not args.operator:
            raise InputError(f"{args.model} is a CAN: name the operator to approximate with --operator")
        result = train_can(args.model, args.operator, data, args.out, config=config, params=dict(args.param),
                           val=val, norm=args.norm, max_side=max_side, variants=args.variants,
                           windows=args.windows, synthetic=args.synthetic, cache_dir=args.cache,
                           progress=progress)
    else:
        if args.operator or args.param:
            raise InputError(f"{args.model} is a super-resolution model; --operator/--param apply to CAN models")
        result = train_sr(args.model, data, args.out, config=config, val=val, max_side=max_side,
                          progress=progress)
    extra = "".join(f"  {k} {v:.4g}" for k, v in result.baseline.items())
    print(f"{result.out}: {result.model} {result.steps} steps in {result.seconds:.0f} s; held-out "
          f"PSNR {result.metrics['psnr']:.2f} dB SSIM {result.metrics['ssim']:.4f}{extra} on {', '.join(result.evaluated_on)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fastip-train", description="Train a CAN operator approximation or an SR network.",
                                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    configure(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    from fastip.cli.common import run_main

    return run_main(build_parser, argv)
