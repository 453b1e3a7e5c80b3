"""Ray Data batch processing: one bundle per actor over `Dataset.map_batches`, on one machine or a cluster.

`BundlePredictor` is the callable class for a user's own Ray Data pipeline (images in, results out).
`run_folder_on_ray` is `fastip run BUNDLE photos/ -o out/ --ray`: the driver plans the jobs and keeps
the resume journal exactly as a local folder run does (fastip.batch); the actors read, run and write
the files themselves with the same overlapped code, so only paths and hashes travel through Ray's
object store. Inputs and outputs must therefore be on storage every node sees at the same path.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, Sequence, TextIO

import numpy as np

from fastip.batch.folder import FolderRun, RunSettings, open_image_pipeline
from fastip.batch.jobs import Job
from fastip.batch.journal import Entry
from fastip.batch.overlap import Outcome, process_jobs
from fastip.batch.progress import BatchReport
from fastip.errors import FastipError, InputError, require

CONNECT_TIMEOUT_S = 10.0  # for a TCP answer at --address
_OUTCOME_FIELDS = tuple(f.name for f in fields(Outcome))


class BundlePredictor:
    """For `ds.map_batches(BundlePredictor, fn_constructor_kwargs={"bundle": ...}, compute=ActorPoolStrategy(size=N))`.

    Each actor opens the bundle once (backend, precision, threads per actor). A batch's "image"
    column (uint8 HxWx3 RGB, any sizes) is replaced by "output" (images) or, for detectors,
    "detections" (one JSON list per image); other columns pass through.
    """

    def __init__(self, bundle: str | os.PathLike, *, backend: str = "ort", precision: str = "fp32", threads: int = 1,
                 device: str | None = None, hint: str | None = None):
        from fastip.pipeline import ImagePipeline, open_pipeline

        options: dict[str, Any] = {"precision": precision, "threads": threads}
        options.update({k: v for k, v in (("device", device), ("hint", hint)) if v is not None})
        self.pipeline = open_pipeline(bundle, backend, **options)
        self.detector = not isinstance(self.pipeline, ImagePipeline)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if "image" not in batch:
            raise InputError(f"BundlePredictor needs an 'image' column; the batch has {sorted(batch)}")
        results = [self.pipeline(np.asarray(image)) for image in batch["image"]]
        out = {k: v for k, v in batch.items() if k != "image"}
        if self.detector:
            out["detections"] = np.array([json.dumps([d.to_dict() for d in r]) for r in results])
        else:
            column = np.empty(len(results), dtype=object)
            column[:] = results
            out["output"] = column
        return out


class FileProcessor:
    """For `map_batches` over rows (src, dst, name, input_sha256, output_sha256): read, run, write each file.

    The files of a batch go through the same overlapped reader/inference/writer threads as a local
    folder run; an output the row's hashes verify as done is skipped. Returns one Outcome per row.
    """

    def __init__(self, bundle: str, settings: dict[str, Any]):
        self.pipeline = open_image_pipeline(bundle, RunSettings(**settings))

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        jobs = [Job(Path(s), Path(d), str(n)) for s, d, n in zip(batch["src"], batch["dst"], batch["name"])]
        expected = {str(n): Entry(str(i), str(o))
                    for n, i, o in zip(batch["name"], batch["input_sha256"], batch["output_sha256"]) if i}
        outcomes: list[Outcome] = []
        process_jobs(self.pipeline, jobs, outcomes.append, expected=expected.get, workers=1, readers=1, writers=1)
        return {f: np.array([str(getattr(o, f)) for o in outcomes]) for f in _OUTCOME_FIELDS}


def connect(address: str | None = None, *, num_cpus: int | None = None, timeout: float = CONNECT_TIMEOUT_S) -> bool:
    """Join the Ray cluster at `address` ('auto', HOST:PORT, ray://HOST:PORT) or start a local one (None, 'local').

    Returns whether this call connected (so the caller shuts down). An address where nothing answers
    within `timeout` seconds is one FastipError.
    """
    ray = require("ray", "ray", "running on Ray")
    if address not in (None, "local"):
        _probe(address, timeout)
    if ray.is_initialized():
        return False
    # Ray's own notices stay off the user's terminal: token-auth and progress-bar warnings, and the C++ error
    # line every Ray Data actor pool logs about constructor arguments (ray-project/ray#53727).
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
    logging.getLogger("ray").setLevel(logging.ERROR)
    options: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.ERROR, "include_dashboard": False}
    if address in (None, "local"):
        options["num_cpus"] = num_cpus or os.cpu_count()
    else:
        options["address"] = address
    # ray.init runs in this thread: the processes of a local Ray die with the thread that started them.
    where = "a local Ray" if address in (None, "local") else f"the Ray cluster at {address}"
    try:
        ray.init(**options)
    except Exception as exc:
        lines = [line for line in str(exc).splitlines() if line.strip()]
        raise FastipError(f"cannot connect to {where}: {lines[0] if lines else type(exc).__name__}") from None
    return True


def _probe(address: str, timeout: float) -> None:
    """Fail fast when nothing listens at HOST:PORT ('auto' is left to Ray, which fails fast itself)."""
    if address == "auto":
        return
    hostport = address.split("://", 1)[-1]
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise InputError(f"--address {address!r} is not auto, HOST:PORT or ray://HOST:PORT")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as exc:
        raise FastipError(f"no Ray cluster answers at {address} ({exc.strerror or exc}); start one there with "
                          "`ray start --head`, or leave out --address to start a local Ray") from None


def run_folder_on_ray(bundle: str | os.PathLike, inputs: Sequence[str | os.PathLike] | Any, out: str | os.PathLike,
                      settings: RunSettings = RunSettings(), *, fmt: str | None = None, resume: bool = True,
                      address: str | None = None, actors: int | None = None, batch_size: int = 4,
                      stream: TextIO | None = sys.stderr) -> BatchReport:
    """`run_folder` with `actors` Ray actors of `settings.threads` threads each; `inputs` may be a Ray dataset of paths."""
    if actors is not None and actors < 1:
        raise InputError(f"--actors must be at least 1, got {actors}")
    settings = RunSettings(**{**asdict(settings), "threads": settings.threads or 1})
    if not isinstance(inputs, (list, tuple)) and hasattr(inputs, "iter_rows"):
        inputs = [str(row["path"]) for row in inputs.select_columns(["path"]).iter_rows()]
    run = FolderRun(bundle, inputs, out, settings, fmt=fmt, resume=resume, stream=stream)
    started = connect(address)
    try:
        return _execute(run, settings, actors, batch_size)
    finally:
        if started:
            import ray

            ray.shutdown()


def _execute(run: FolderRun, settings: RunSettings, actors: int | None, batch_size: int) -> BatchReport:
    import ray
    import ray.data

    cpus = int(ray.cluster_resources().get("CPU", 0))
    threads = settings.threads
    actors = actors or max(1, cpus // threads)
    if actors * threads > cpus:
        raise InputError(f"{actors} actors x {threads} threads need {actors * threads} CPUs; the Ray cluster has "
                         f"{cpus}; lower --actors or --threads")
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    logging.getLogger("ray.data").setLevel(logging.ERROR)
    by_name = {job.name: job for job in run.plan.jobs}
    rows = []
    for job in run.plan.jobs:
        entry = run.journal.expected(job.name) or Entry("", "")
        rows.append({"src": str(job.src.resolve()), "dst": str(job.dst.resolve()), "name": job.name,
                     "input_sha256": entry.input_sha256, "output_sha256": entry.output_sha256})
    run.progress.report.where = f"on Ray, {actors} actor(s) x {threads} thread(s)"
    run.start()
    try:
        if rows:
            ds = ray.data.from_items(rows, override_num_blocks=max(1, min(len(rows), actors * 4)))
            ds = ds.map_batches(FileProcessor, fn_constructor_kwargs={"bundle": str(run.bundle.root.resolve()),
                                                                      "settings": asdict(settings)},
                                compute=ray.data.ActorPoolStrategy(size=actors), batch_size=batch_size,
                                num_cpus=threads, batch_format="numpy")
            try:
                for row in ds.iter_rows():
                    outcome = Outcome(**{f: str(row[f]) for f in _OUTCOME_FIELDS})
                    outcome.src = str(by_name[outcome.name].src) if outcome.name in by_name else outcome.src
                    run.add(outcome)
            except FastipError:
                raise
            except Exception as exc:  # Ray wraps what failed in an actor; say what it was in one line
                raise _cause(exc) from None
    finally:
        report = run.finish()
    return report


def _cause(exc: BaseException) -> FastipError:
    """The FastipError an actor raised, or one line saying what went wrong on the cluster."""
    seen: BaseException | None = exc
    for _ in range(8):  # Ray nests a few wrappers; never loop on a cycle
        if seen is None:
            break
        if isinstance(seen, FastipError):
            return seen
        seen = getattr(seen, "cause", None) or seen.__cause__
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return FastipError(f"the Ray run failed: {lines[-1] if lines else type(exc).__name__}")
