"""Train the shipped weights and list them in fastip/models/weights/index.json.

    python scripts/train_all.py                 # every recipe, two jobs at a time, one thread each
    python scripts/train_all.py rof espcn_x2    # some of them
    python scripts/train_all.py can32:l0_smoothing   # another CAN size
    python scripts/train_all.py --publish-only  # re-list finished runs
    python scripts/train_all.py --time-1080p rof l0_smoothing   # operator vs exported network, one run each
    python scripts/train_all.py --remeasure     # measure the shipped CAN weights again (after a metric change)
    python scripts/train_all.py --table         # the README's table of CAN weights under the shipping rule

Each job is one `fastip-train` command (logged to <work>/<job>.log) and is resumable: rerunning
continues from its last checkpoint.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

CAN_MODEL = "can24"
CAN_OPERATORS = ("wls_tone", "dehaze", "local_laplacian_detail", "local_laplacian_style", "tv_l1", "pencil",
                 "l0_smoothing", "rtv", "rof")
# CAN trains on whole images (batch 1), as in the paper. With 128 px crops the dilation-32/64 layers
# saw mostly zero padding in training but image content on whole images: a crop-trained wls_tone
# scored 33-38 dB on 128 px tiles of its training images and 27-33 dB on the same pixels computed
# from the whole image; trained on whole images it scores 30.9 dB on the held-out pair after 1,500
# steps against 28.8 dB after 6,000 steps on crops.
CAN_STEPS = {"rtv": 9000, "wls_tone": 4000, "local_laplacian_detail": 4000, "l0_smoothing": 3000, "local_laplacian_style": 3000,
             "dehaze": 3000, "pencil": 3000,  # default 6000; about 0.24 s per 320 px step on one thread
             "can32:local_laplacian_style": 9000}  # a "model:operator" key holds another size's own recipe
# Photometric variants per training image (tone/colour, then haze); fewer for the slow operators.
# wls_tone: 2 variants lowered held-out PSNR (28.8 -> 27.2 dB), so it trains on the images alone.
CAN_VARIANTS = {"rtv": 1, "pencil": 1, "wls_tone": 0}  # default 2
# Norm while training (default none, shipped folded into the convs). local_laplacian_style matches the whole
# image's histogram and dehaze divides by a whole-image estimate of the airlight: instance norm (the paper's
# batch norm at batch size 1) gives each layer the image's statistics; held-out 24.3 dB against 21.3 dB for
# `none` (style), 23.0 against 22.2 (dehaze). wls_tone, whose output passes through CIELab (a cube root and an
# offset a bias-free network cannot form): 31.43 against 31.07. It cannot fold: 1.64 s against 0.95 s at 1080p.
CAN_NORM = {"local_laplacian_style": "instance", "dehaze": "instance", "wls_tone": "instance"}
# Dead-leaves images added to the 9 photographs (fastip-train --synthetic). l0_smoothing overfit the photographs
# (held-out 28.6 dB after 250 steps, 26.9 after 3,000); with 40 synthetic images it ends at 28.7. rtv 29.8 -> 31.7,
# local_laplacian_detail 29.8 -> 30.0, style 24.3 -> 25.7, dehaze 23.0 -> 23.1; wls_tone 31.4 -> 31.7 with instance
# norm (with `none`, 31.1 -> 30.9).
CAN_SYNTHETIC = {"l0_smoothing": 40, "local_laplacian_detail": 40, "rtv": 40, "local_laplacian_style": 40, "dehaze": 40,
                 "wls_tone": 40}
# Training images (fastip-train --data): rtv adds scikit-image's 8 greyscale photographs (bricks, grass, gravel and
# coins are the textures RTV removes): 32.05 dB after 9,000 steps against 31.93 with the colour photographs alone.
# wls_tone did worse with them (30.4 against 31.2 dB at 2,500 steps).
CAN_DATA = {"rtv": "samples+grey"}
CAN_ARGS = ["--batch", "1", "--crop", "320", "--lr-final", "1e-5", "--max-side", "320"]
SR_MODELS = {"espcn_x2": 4000, "fsrcnn_x2": 8000, "espcn_x4": 4000, "fsrcnn_x4": 8000}
# Later passes (--extend): resume these runs with more steps, one pass per count; the cosine schedule
# restarts part-way up each time. style: 25.74 dB after 3,000 steps, 26.77 after 9,000; wls_tone: 31.66
# after 4,000, 32.50 after 8,000; dehaze: 23.13 after 3,000, 23.69 after 6,000, 24.50 after 9,000, 24.58
# after 12,000.
EXTEND = {"fsrcnn_x4": (16000,), "local_laplacian_style": (9000,), "wls_tone": (8000,), "dehaze": (6000, 9000, 12000),
          "can32:local_laplacian_style": (13000,)}
SR_ARGS = ["--batch", "16", "--lr", "1e-3", "--lr-final", "1e-5", "--max-side", "640"]
SR_NAME = "samples"


def commands(job: str, work: Path, cache: Path, extend: bool = False) -> list[list[str]]:
    """The fastip-train command lines of one job, run one after another (with --extend: its later passes)."""
    passes = [["--steps", str(steps)] for steps in EXTEND.get(job, ())] if extend else [[]]
    base = [sys.executable, "-c", "import sys; from fastip.cli.train_cmd import main; sys.exit(main())"]
    common = ["--threads", "1", "--resume", "--eval-every", "250", "--checkpoint-every", "250",
              "-o", str(work / f"{job.replace(':', '_')}.pt")]
    if job in SR_MODELS:
        crop = "24" if job.endswith("_x4") else "32"
        first = [*base, job, *SR_ARGS, "--steps", str(SR_MODELS[job]), "--crop", crop, "--data", "samples", *common]
    else:
        model, _, op = job.rpartition(":")  # "can32:l0_smoothing" trains another CAN size
        first = [*base, model or CAN_MODEL, "--operator", op, "--lr", "1e-3", "--steps", str(CAN_STEPS.get(job, CAN_STEPS.get(op, 6000))),
                 *CAN_ARGS, "--variants", str(CAN_VARIANTS.get(op, 2)), "--norm", CAN_NORM.get(op, "none"),
                 "--synthetic", str(CAN_SYNTHETIC.get(op, 0)), "--data", CAN_DATA.get(op, "samples"),
                 "--cache", str(cache), *common]
    return [first + more for more in passes]


def publish(job: str, work: Path) -> None:
    from fastip.errors import FastipError
    from fastip.train.publish import publish as ship

    try:
        _publish(job, work, ship)
    except FastipError as exc:
        print(f"{job}: not published: {exc}", file=sys.stderr)


def _publish(job: str, work: Path, ship) -> None:
    result = work / f"{job.replace(':', '_')}.json"
    if not result.is_file():
        print(f"{job}: not finished, nothing to publish", file=sys.stderr)
        return
    if job in SR_MODELS:
        entry = ship(result, SR_NAME, f"{job} trained on the bundled sample images (L1, bicubic-downscaled input)")
    else:
        model, _, op = job.rpartition(":")
        entry = ship(result, op, f"{model or CAN_MODEL} approximating the {op} operator (MSE, identity init)")
    print(f"published {entry['model']}/{entry['name']}: {entry['metrics']}")


def time_1080p(operators: list[str], work: Path) -> None:
    """One timed run of each operator and of its exported CAN (ONNX Runtime, 2 threads) on a 1920x1080 image."""
    import numpy as np

    from fastip import operators as ops
    from fastip import runtimes
    from fastip.export import export_model
    from fastip.images import sample_image
    from fastip.pipeline import to_tensor

    from PIL import Image

    image = np.asarray(Image.fromarray(sample_image("china")).resize((1920, 1080), Image.BICUBIC))
    for op in operators:
        bundle = export_model(CAN_MODEL, work / f"{CAN_MODEL}-{op}-bundle", target="onnx", weights=op)
        with runtimes.open(bundle, backend="ort", threads=2) as session:
            name = session.inputs[0].name
            session.run({name: to_tensor(image[:64, :64], bundle.manifest.io)})  # warm-up at a small size
            t = time.perf_counter()
            session.run({name: to_tensor(image, bundle.manifest.io)})
            network = time.perf_counter() - t
        t = time.perf_counter()
        ops.apply(op, image)
        seconds = time.perf_counter() - t
        print(f"{op}: operator {seconds * 1000:.0f} ms, {CAN_MODEL} ({bundle.manifest.source['kwargs'].get('norm')} norm) "
              f"via ONNX Runtime, 2 threads {network * 1000:.0f} ms ({seconds / network:.1f}x)", flush=True)


def remeasure(jobs: list[str], cache: Path) -> int:
    """Held-out metrics of shipped CAN weights, measured again and written to index.json."""
    from fastip.train.publish import is_full_resolution_can, read_index
    from fastip.train.publish import remeasure as measure

    for entry in read_index():
        job = entry["name"] if entry["model"] == CAN_MODEL else f"{entry['model']}:{entry['name']}"
        if is_full_resolution_can(entry) and (not jobs or job in jobs):
            old = entry["metrics"]
            new = measure(entry["model"], entry["name"], cache_dir=cache)["metrics"]
            print(f"{job}: PSNR {old['psnr']:.2f} -> {new['psnr']:.2f} dB, SSIM {old['ssim']:.4f} -> {new['ssim']:.4f}")
    return 0


def table(cache: Path) -> int:
    """Markdown rows: every CAN weight's held-out measurements under the shipping rule (index.json `evaluation`)."""
    from fastip.train.evaluate import rule_size
    from fastip.train.publish import read_index
    from fastip.train.shipping import is_operator_can

    print("| weights | data | steps | training time | PSNR / SSIM vs operator, 320 px | 1280 px | input unchanged 320 / 1280 | "
          "worst image at the rule's size (PSNR / input) | shipped |")
    print("|---|---|---|---|---|---|---|---|---|")
    for e in sorted((e for e in read_index() if is_operator_can(e) and e.get("evaluation")),
                    key=lambda e: (e["model"], e["name"])):
        p, ev = e["params"], e["evaluation"]
        small, large = ev.get("320px"), ev.get("1280px")
        worst = ev.get(f"{rule_size(e['model'])}px") or small or large  # at the size the rule holds it to
        data = p.get("data_set") or p.get("data") if isinstance(p.get("data_set") or p.get("data"), str) else f"{len(p.get('data', []))} images" if p.get("data") else "-"
        data += f" + {p['synthetic']} dead leaves" if p.get("synthetic") else ""
        cells = [f"{m['psnr']:.2f} / {m['ssim']:.3f}" if m and "psnr" in m else "-" for m in (small, large)]  # stopped early: no mean
        unchanged = " / ".join(f"{m['input_psnr']:.2f}" if m and "input_psnr" in m else "-" for m in (small, large))
        shipped = f"withdrawn (rule at {rule_size(e['model'])} px)" if e.get("withdrawn") else "yes"
        seconds = p.get("train_seconds")
        print(f"| {e['model']} `{e['name']}` | {data} | {p.get('steps', 0):,} | "
              f"{f'{seconds / 60:.0f} min' if seconds else '-'} | {cells[0]} | {cells[1]} | {unchanged} | "
              f"{worst['worst']['image']} {worst['worst']['psnr']:.2f} / {worst['worst']['input_psnr']:.2f} | {shipped} |")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("jobs", nargs="*", help=f"operators and SR models (default: all: {', '.join(CAN_OPERATORS + tuple(SR_MODELS))})")
    parser.add_argument("--work", type=Path, default=Path("/tmp/fastip-train2"), help="checkpoints and logs")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/fastip-train/cache"), help="operator target cache")
    parser.add_argument("--workers", type=int, default=2, help="jobs at once")
    parser.add_argument("--publish-only", action="store_true")
    parser.add_argument("--extend", action="store_true", help=f"resume finished runs with more steps, a pass per count: {EXTEND}")
    parser.add_argument("--time-1080p", action="store_true", help="time the given operators against the exported CAN")
    parser.add_argument("--remeasure", action="store_true", help="re-measure the shipped full-resolution CAN weights")
    parser.add_argument("--table", action="store_true", help="print the shipped CAN weights as a Markdown table")
    args = parser.parse_args()
    if args.remeasure:
        return remeasure(args.jobs, args.cache)
    if args.table:
        return table(args.cache)
    jobs = args.jobs or [job for pair in zip(CAN_OPERATORS, [*SR_MODELS, *[""] * 9]) for job in pair if job]
    args.work.mkdir(parents=True, exist_ok=True)
    if args.time_1080p:
        time_1080p([j for j in jobs if j in CAN_OPERATORS], args.work)
        return 0
    if not args.publish_only:
        pending = [(job, commands(job, args.work, args.cache, args.extend)) for job in jobs]
        pending, running = [(job, runs) for job, runs in pending if runs], {}
        while pending or running:
            while pending and len(running) < args.workers:
                job, runs = pending.pop(0)
                log = open(args.work / f"{job.replace(':', '_')}.log", "a")
                running[job] = (subprocess.Popen(runs[0], stdout=log, stderr=log), log, runs[1:])
            time.sleep(5)
            for job, (proc, log, rest) in list(running.items()):
                if proc.poll() is None:
                    continue
                print(f"{job}: exit {proc.returncode}", file=sys.stderr)
                if rest and proc.returncode == 0:
                    running[job] = (subprocess.Popen(rest[0], stdout=log, stderr=log), log, rest[1:])
                else:
                    log.close()
                    del running[job]
    for job in jobs:
        publish(job, args.work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
