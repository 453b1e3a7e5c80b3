"""A folder run on this machine: plan the jobs, skip verified outputs, run them overlapped, journal and report."""

from __future__ import annotations

import os
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Sequence, TextIO

from fastip.batch.jobs import Plan, plan_jobs
from fastip.batch.journal import Journal, settings_key
from fastip.batch.overlap import WRITTEN, Outcome, process_jobs
from fastip.batch.progress import BatchReport, Progress
from fastip.errors import InputError

# ONNX Runtime / PyTorch: one run at a time on all cores, decoding and encoding overlapped around it. At 1080p on
# 2 cores this took 5.1 CPU-s per image against 6.6 for two concurrent single-thread runs (scripts/folder_throughput.py).
DEFAULT_WORKERS = 1


@dataclass(frozen=True)
class RunSettings:
    """How images are run: everything that changes an output is in the journal's settings key."""

    backend: str = "ort"
    precision: str | None = None  # None: the bundle's own precision
    device: str | None = None  # OpenVINO device (CPU, GPU, AUTO); None: CPU
    hint: str | None = None  # OpenVINO performance hint; None: latency
    tile: int | None = None
    halo: int | None = None
    threads: int | None = None  # intra-op threads per session; not part of the key
    trust_code: bool = False  # torch/tiling may import the module a custom bundle names; not part of the key

    def key_fields(self) -> dict[str, Any]:
        """The settings that decide the output bytes."""
        fields = asdict(self)
        fields.pop("threads")
        fields.pop("trust_code")
        fields.pop("hint")
        return fields


def open_image_pipeline(bundle: Any, settings: RunSettings):
    """The image-to-image pipeline of a bundle (tiled if asked); detectors are refused with the command to use."""
    from fastip.pipeline import ImagePipeline, open_pipeline

    options: dict[str, Any] = {"precision": settings.precision, "threads": settings.threads,
                               "trust_code": settings.trust_code}
    if settings.device is not None:
        options["device"] = settings.device
    if settings.hint is not None:
        options["hint"] = settings.hint
    if settings.tile:
        from fastip.tiling import TiledPipeline  # refuses detectors and instance-norm models itself

        return TiledPipeline.open(bundle, settings.backend, tile=settings.tile, halo=settings.halo, **options)
    pipeline = open_pipeline(bundle, settings.backend, **options)
    if not isinstance(pipeline, ImagePipeline):
        pipeline.close()
        raise InputError(f"{getattr(bundle, 'root', bundle)} is a detector; use `fastip detect` for it")
    return pipeline


class FolderRun:
    """The plan, journal and progress of one folder run, whichever executor (threads here, or Ray) runs the jobs."""

    def __init__(self, bundle: str | os.PathLike, inputs: Sequence[str | os.PathLike], out: str | os.PathLike,
                 settings: RunSettings, *, fmt: str | None = None, resume: bool = True,
                 stream: TextIO | None = sys.stderr, where: str = ""):
        from fastip.bundle import Bundle

        self.bundle = Bundle.load(bundle)
        self.settings = settings
        self.plan: Plan = plan_jobs(inputs, out, suffix=fmt)
        self.out = Path(out)
        key = settings_key(self.bundle.manifest.files, format=fmt, **settings.key_fields())
        self.journal = Journal(self.out, key, resume=resume)
        report = BatchReport(total=len(self.plan.jobs) + len(self.plan.problems), ignored=len(self.plan.ignored),
                             where=where)
        self.progress = Progress(report, stream=stream)

    def start(self) -> None:
        """Start the clock and name the inputs refused before the run."""
        self.progress.restart()
        for path, reason in self.plan.problems:
            self.progress.error(path, reason)

    def add(self, outcome: Outcome) -> None:
        """Journal a written output and count the outcome."""
        if outcome.status == WRITTEN:
            self.journal.record(outcome.name, outcome.input_sha256, outcome.output_sha256)
        self.progress.add(outcome)

    def finish(self) -> BatchReport:
        """Compact the journal and print the summary."""
        self.journal.close()
        return self.progress.finish()


def run_folder(bundle: str | os.PathLike, inputs: Sequence[str | os.PathLike], out: str | os.PathLike,
               settings: RunSettings = RunSettings(), *, fmt: str | None = None, resume: bool = True,
               workers: int | None = None, stream: TextIO | None = sys.stderr) -> BatchReport:
    """Run a bundle over folders, globs or files, writing `out/NAME` for each; returns the counts and rate."""
    if workers is not None and workers < 1:
        raise InputError(f"--workers must be at least 1, got {workers}")
    if settings.backend in ("ort", "torch") and settings.threads is None and (workers or DEFAULT_WORKERS) > 1:
        # Share the cores among concurrent runs instead of oversubscribing them.
        settings = replace(settings, threads=max(1, (os.cpu_count() or 1) // (workers or DEFAULT_WORKERS)))
    run = FolderRun(bundle, inputs, out, settings, fmt=fmt, resume=resume, stream=stream)
    with open_image_pipeline(run.bundle, settings) as pipeline:
        # OpenVINO says how many requests keep its streams busy; a TensorRT session has one execution context.
        n = workers or getattr(pipeline.session, "optimal_requests", None) or (
            1 if settings.backend == "trt" else DEFAULT_WORKERS)
        run.progress.report.where = f"on {settings.backend}, {n} at once"
        run.start()
        try:
            process_jobs(pipeline, run.plan.jobs, run.add, expected=run.journal.expected, workers=n)
        finally:
            report = run.finish()
    return report
