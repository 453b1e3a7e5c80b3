"""Decode, inference and encode overlapped: reader threads -> inference threads -> writer threads.

Bounded queues join the stages, so at most a few decoded images wait in memory. Inference threads
share one pipeline: ONNX Runtime runs concurrent `run` calls on one session, and the OpenVINO
session keeps one infer request per thread, so N inference threads keep N requests in flight (what an
`AsyncInferQueue` of N jobs does, with pre/post-processing overlapped too). A file that fails at any
stage becomes a failed Outcome and the others go on.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from fastip.batch.jobs import Job
from fastip.batch.journal import Entry, file_sha256, verified
from fastip.errors import FastipError

WRITTEN, SKIPPED, FAILED = "written", "skipped", "failed"


@dataclass
class Outcome:
    """What became of one job: written, skipped (verified done before) or failed (with the reason)."""

    name: str
    src: str
    status: str
    input_sha256: str = ""
    output_sha256: str = ""
    error: str = ""


class _Item:
    __slots__ = ("job", "image", "input_sha256", "outcome")

    def __init__(self, job: Job):
        self.job, self.image, self.input_sha256, self.outcome = job, None, "", None

    def fail(self, exc: BaseException) -> None:
        reason = str(exc) if isinstance(exc, FastipError) else f"{type(exc).__name__}: {exc}"
        self.outcome = Outcome(self.job.name, str(self.job.src), FAILED, self.input_sha256, error=reason)
        self.image = None


_END = object()


def process_jobs(pipeline: Callable[[Any], Any], jobs: Iterable[Job], on_outcome: Callable[[Outcome], None], *,
                 expected: Callable[[str], Entry | None] = lambda name: None, workers: int = 1, readers: int = 2,
                 writers: int = 2, stop: threading.Event | None = None) -> None:
    """Run `pipeline` over every job with the three stages overlapped; `on_outcome` is called once per job."""
    from fastip.images import read_image, write_image

    stop = stop or threading.Event()

    def read(item: _Item) -> None:
        job = item.job
        if verified(job.src, job.dst, expected(job.name)):
            e = expected(job.name)
            item.outcome = Outcome(job.name, str(job.src), SKIPPED, e.input_sha256, e.output_sha256)
            return
        item.input_sha256 = file_sha256(job.src)
        item.image = read_image(job.src)

    def infer(item: _Item) -> None:
        item.image = pipeline(item.image)

    def write(item: _Item) -> None:
        write_image(item.job.dst, item.image)
        item.image = None
        item.outcome = Outcome(item.job.name, str(item.job.src), WRITTEN, item.input_sha256,
                               file_sha256(item.job.dst))

    depth = max(2, workers + 1)
    source: queue.Queue = queue.Queue()
    for job in jobs:
        source.put(_Item(job))
    source.put(_END)
    decoded, inferred, finished = queue.Queue(depth), queue.Queue(depth), queue.Queue()
    threads = (_stage(read, source, decoded, readers, stop) + _stage(infer, decoded, inferred, workers, stop)
               + _stage(write, inferred, finished, writers, stop))
    try:
        while True:
            item = finished.get()
            if item is _END:
                break
            on_outcome(item.outcome)
    except BaseException:  # Ctrl-C: the stages drop what is queued; outputs already renamed stay whole
        stop.set()
        raise
    for t in threads:
        t.join()


def _stage(fn: Callable[[_Item], None], inbox: queue.Queue, outbox: queue.Queue, n: int,
           stop: threading.Event) -> list[threading.Thread]:
    """Start `n` threads applying `fn` to items from `inbox`; the last one to see the end passes it on."""
    left = [n]
    lock = threading.Lock()

    def loop() -> None:
        while True:
            item = inbox.get()
            if item is _END:
                inbox.put(_END)  # let the sibling threads see it too
                with lock:
                    left[0] -= 1
                    if left[0] == 0:
                        outbox.put(_END)
                return
            if stop.is_set():
                continue
            if item.outcome is None:
                try:
                    fn(item)
                except Exception as exc:  # one bad file must not stop the others
                    item.fail(exc)
            outbox.put(item)

    threads = [threading.Thread(target=loop, name=f"fastip-{fn.__name__}-{i}", daemon=True) for i in range(max(1, n))]
    left[0] = len(threads)
    for t in threads:
        t.start()
    return threads
