"""Channel-width study: CAN of each width (and zero-padded layouts) timed per backend, as GFLOP/s and % of peak.

`fastip-bench --widths 16,24,32,48,24p32` builds a CAN of every width (depth 9 by default, folded, seeded random
weights: timing does not depend on trained values), exports each to ONNX and times it on every backend in one
pinned worker, the backends alternating run by run so load drifts hit them alike; medians are reported. `24p32` is CAN24
with its hidden channels zero-padded to 32: the same outputs (the worker checks), the MACs of a CAN32 layer.
Besides the whole network, one hidden layer (width -> width, dilation 4) is timed alone: the whole network's
rate mixes in the 3-channel first and last layers, whose work fills the vector units badly.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from fastip.errors import InputError

_VARIANT = re.compile(r"^(\d+)(?:p(\d+))?$")
WEIGHT_STD = 0.1  # random conv weights: activations stay O(1) through the layers (no denormals, no overflow)
LAYER_DILATION = 4
STUDY_BACKENDS = ("ort", "openvino")


@dataclass(frozen=True)
class WidthVariant:
    """A CAN of `width` channels, computed on `padded` channels (zeros beyond `width`) when given."""

    width: int
    padded: int | None = None

    @property
    def label(self) -> str:
        return f"{self.width}p{self.padded}" if self.padded else str(self.width)

    @property
    def channels(self) -> int:
        return self.padded or self.width


def parse_widths(text: str) -> tuple[WidthVariant, ...]:
    """'16,24,32,48,24p32' -> variants; `AxB` pads width A to B channels."""
    variants = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        match = _VARIANT.match(part)
        width = int(match.group(1)) if match else 0
        padded = int(match.group(2)) if match and match.group(2) else None
        if not match or not 1 <= width <= 256 or (padded is not None and not width < padded <= 256):
            raise InputError(f"bad --widths entry {part!r}; give channel counts 1-256, or WpP to pad width W to P "
                             "channels, e.g. 16,24,32,48,24p32")
        variants.append(WidthVariant(width, padded))
    if not variants:
        raise InputError("--widths needs at least one channel count, e.g. 16,24,32,48")
    return tuple(dict.fromkeys(variants))


def padded_can(deploy, channels: int):
    """A folded CAN (Sequential of Conv+LeakyReLU pairs and a 1x1 Conv) with hidden channels zero-padded to
    `channels`: extra filters and biases are zero, so extra channels stay zero and the output is unchanged."""
    import torch
    from torch import nn

    convs = [m for m in deploy.modules() if isinstance(m, nn.Conv2d)]
    parts = []
    for i, conv in enumerate(convs):
        cin = conv.in_channels if i == 0 else channels
        cout = conv.out_channels if i == len(convs) - 1 else channels
        new = nn.Conv2d(cin, cout, conv.kernel_size, padding=conv.padding, dilation=conv.dilation, bias=True)
        with torch.no_grad():
            new.weight.zero_()
            new.bias.zero_()
            new.weight[:conv.out_channels, :conv.in_channels] = conv.weight
            if conv.bias is not None:
                new.bias[:conv.out_channels] = conv.bias
        parts += [new] if i == len(convs) - 1 else [new, nn.LeakyReLU(0.2)]
    return nn.Sequential(*parts).eval()


def study_models(variant: WidthVariant, depth: int, seed: int = 0):
    """(whole network, one hidden layer) as folded torch modules for `variant`."""
    import torch
    from torch import nn

    from fastip.models.can import CAN

    torch.manual_seed(seed)
    can = CAN(depth=depth, width=variant.width, norm="none")
    with torch.no_grad():
        for p in can.parameters():
            p.normal_(0.0, WEIGHT_STD)
    deploy = can.fuse()
    if variant.padded:
        deploy = padded_can(deploy, variant.padded)
    c = variant.channels
    layer = nn.Sequential(nn.Conv2d(c, c, 3, padding=LAYER_DILATION, dilation=LAYER_DILATION), nn.LeakyReLU(0.2))
    with torch.no_grad():
        layer[0].weight.normal_(0.0, WEIGHT_STD)
    return deploy, layer.eval()


def export_study_onnx(module, path: Path, channels: int) -> None:
    """One ONNX file with dynamic height and width (input 'input', output 'output')."""
    import io
    import warnings

    import torch

    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (torch.zeros(1, channels, 40, 56),), buffer, dynamo=False, opset_version=17,
                          input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": {2: "H", 3: "W"}, "output": {2: "H", 3: "W"}})
    path.write_bytes(buffer.getvalue())


def macs_per_pixel(module) -> int:
    """Multiply-accumulates per output pixel of a size-preserving conv stack."""
    from torch import nn

    return sum(m.weight[0].numel() * m.out_channels for m in module.modules() if isinstance(m, nn.Conv2d))


def run_study(variants: tuple[WidthVariant, ...], backends: tuple[str, ...], size: tuple[int, int],
              threads: int | None, *, depth: int = 9, rounds: int = 3, note: Callable[[str], None] = lambda _: None,
              workdir: str | Path | None = None) -> dict[str, Any]:
    """Export every variant, time it in a pinned worker (interleaved rounds) and return rows and the environment."""
    from fastip.benchmarks.environment import collect_environment
    from fastip.benchmarks.latency import run_worker
    from fastip.benchmarks.runner import measure_peaks

    unknown = [b for b in backends if b not in STUDY_BACKENDS]
    if unknown or not backends:
        raise InputError(f"the width study runs on {' and '.join(STUDY_BACKENDS)}, not {', '.join(unknown) or 'nothing'}")
    if rounds < 1:
        raise InputError("the width study needs at least one round (--min-runs)")
    environment = collect_environment()
    environment["fp32_peak"] = measure_peaks((threads,), note)
    items = []
    with tempfile.TemporaryDirectory(prefix="fastip-widths-", dir=workdir) as tmp:
        for variant in variants:
            note(f"exporting CAN width {variant.label}")
            network, layer = study_models(variant, depth)
            for part, module, cin in (("network", network, 3), ("layer", layer, variant.channels)):
                path = Path(tmp) / f"{part}-{variant.label}.onnx"
                export_study_onnx(module, path, cin)
                items.append({"variant": variant.label, "width": variant.width, "channels": variant.channels,
                              "part": part, "onnx": str(path), "in_channels": cin, "macs_per_pixel": macs_per_pixel(module)})
        note(f"timing {len(items)} models x {len(backends)} backends, {rounds} interleaved rounds")
        reply = run_worker({"kind": "widths", "items": items, "backends": list(backends), "size": list(size),
                            "threads": threads, "rounds": rounds}, threads=threads)
    measured = environment["fp32_peak"].get(str(threads)) or {}
    peak = max([measured.get("gflop_per_s") or 0.0, *reply.get("peaks", [])]) or None
    if peak:  # the best of the start's and the in-study measurements: the least disturbed GEMM rate seen
        environment["fp32_peak"][str(threads)] = {**measured, "gflop_per_s": peak, "in_study": reply.get("peaks", [])}
    rows = []
    for row in reply["rows"]:
        flops = 2.0 * row["macs_per_pixel"] * size[0] * size[1]
        gflops = flops / (row["median_ms"] / 1000.0) / 1e9
        rows.append({**{k: v for k, v in row.items() if k != "onnx"}, "gflop": flops / 1e9, "gflop_per_s": gflops,
                     "percent_of_peak": 100.0 * gflops / peak if peak else None})
    import os

    environment["load_average_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    return {"rows": rows, "environment": environment,
            "settings": {"widths": [v.label for v in variants], "backends": list(backends), "size": f"{size[0]}x{size[1]}",
                         "threads": threads, "depth": depth, "rounds": rounds, "layer_dilation": LAYER_DILATION}}


def time_items(spec: dict[str, Any]) -> dict[str, Any]:
    """Worker side: per variant, open its models on every backend, time them in interleaved rounds, close them.

    Variants run one after another (all of them open at once would not fit in memory at 1080p); within a variant
    the backends and parts alternate run by run. A padded network's output is checked against its unpadded twin.
    """
    groups: dict[str, list[dict[str, Any]]] = {}
    for item in spec["items"]:
        groups.setdefault(item["variant"], []).append(item)
    from fastip.benchmarks.peak import measure_peak

    rows, first, peaks = [], {}, []
    for items in groups.values():
        # the peak again before each variant: on a shared machine the load at the start may not be the load later
        peaks.append(measure_peak(spec.get("threads")).gflop_per_s)
        rows += _time_group(items, spec, first)
    return {"rows": rows, "peaks": peaks}


def _time_group(items: list[dict[str, Any]], spec: dict[str, Any], first: dict) -> list[dict[str, Any]]:
    import time

    from fastip.runtimes.openvino import OpenVinoSession
    from fastip.runtimes.ort import OrtSession
    from fastip.spec import TensorSpec

    w, h = spec["size"]
    threads = spec.get("threads")
    calls = []
    for item in items:
        inputs = [TensorSpec("input", (1, item["in_channels"], "H", "W"))]
        outputs = [TensorSpec("output", ("N", "C", "H", "W"))]
        # one input per channel count: a padded network and its unpadded twin see the same image
        feed = {"input": np.random.default_rng(item["in_channels"]).random((1, item["in_channels"], h, w), dtype=np.float32)}
        for backend in spec["backends"]:
            if backend == "ort":
                session = OrtSession(Path(item["onnx"]), inputs, outputs, threads=threads)
            else:
                session = OpenVinoSession(Path(item["onnx"]), inputs, outputs, threads=threads, hint="latency")
            calls.append((item, backend, session, feed))
    rows = []
    try:
        for item, backend, session, feed in calls:  # warm-up, keeping the networks' outputs for the parity check
            out = session.run(feed)["output"]
            if item["part"] == "network":
                first[(item["variant"], backend)] = out
        samples: list[list[float]] = [[] for _ in calls]
        for _ in range(int(spec["rounds"])):
            for i, (_, _, session, feed) in enumerate(calls):
                t0 = time.perf_counter()
                session.run(feed)
                samples[i].append((time.perf_counter() - t0) * 1000.0)
    finally:
        for _, _, session, _ in calls:
            session.close()
    for (item, backend, _, _), times in zip(calls, samples):
        row = {**item, "backend": backend, "median_ms": float(np.median(times)), "min_ms": float(np.min(times)),
               "samples_ms": times}
        twin = first.get((str(item["width"]), backend))
        if item["part"] == "network" and item["channels"] != item["width"] and twin is not None:
            row["max_abs_diff_vs_unpadded"] = float(np.abs(first[(item["variant"], backend)] - twin).max())
        rows.append(row)
    return rows


def study_table(study: dict[str, Any]):
    """The study as a Table: one row per (variant, part, backend)."""
    from fastip.benchmarks.table import Table

    rows = []
    for r in study["rows"]:
        pct = "—" if r.get("percent_of_peak") is None else f"{r['percent_of_peak']:.0f}%"
        parity = r.get("max_abs_diff_vs_unpadded")
        rows.append((r["variant"], r["part"], r["backend"], f"{r['macs_per_pixel']:,}", f"{r['median_ms']:.0f} ms",
                     f"{r['min_ms']:.0f} ms", f"{r['gflop_per_s']:.1f}", pct, "—" if parity is None else f"{parity:.1e}"))
    s, env = study["settings"], study["environment"]
    peak = (env.get("fp32_peak", {}).get(str(s["threads"])) or {}).get("gflop_per_s")
    title = (f"CAN widths at {s['size']}, threads={s['threads'] or 'auto'}, depth {s['depth']}, {s['rounds']} rounds "
             f"(medians); FP32 peak {peak or 0:.1f} GFLOP/s; simd {' '.join(env.get('simd', []))}; "
             f"load {_load(env.get('load_average'))} -> {_load(env.get('load_average_end'))}")
    return Table(title, ("width", "part", "backend", "MACs/px", "median", "min", "GFLOP/s", "% peak", "pad diff"),
                 tuple(rows))


def _load(values) -> str:
    return "/".join(f"{v:.2f}" for v in values) if values else "?"


def write_study(study: dict[str, Any], out: str | Path) -> dict[str, Path]:
    """widths.json (every sample) and widths.md (the table and every CPU flag) under `out`, written atomically."""
    import json

    from fastip.atomic import write_atomic
    from fastip.benchmarks.table import markdown_table

    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"json": folder / "widths.json", "md": folder / "widths.md"}
    write_atomic(paths["json"], json.dumps(study, indent=1).encode())
    env = study["environment"]
    lines = [*markdown_table(study_table(study)), "", f"CPU: {env.get('cpu_model')}; flags: {' '.join(env.get('cpu_flags', []))}"]
    write_atomic(paths["md"], ("\n".join(lines) + "\n").encode())
    return paths
