"""Progress of a folder run on stderr: a line with images/s and ETA every ~2 s on a terminal, one error line per
failed file, and a final summary (the only line besides errors when stderr is not a terminal)."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import TextIO

from fastip.batch.overlap import FAILED, SKIPPED, WRITTEN, Outcome


@dataclass
class BatchReport:
    """Counts and rate of a finished folder run; `errors` holds (file, reason) for every failure."""

    total: int
    written: int = 0
    skipped: int = 0
    failed: int = 0
    seconds: float = 0.0
    errors: list[tuple[str, str]] = field(default_factory=list)
    ignored: int = 0
    where: str = ""

    @property
    def images_per_second(self) -> float:
        """Images processed (written or failed, not skipped) per second of wall time."""
        done = self.written + self.failed
        return done / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        """One line: what happened to every image and how fast."""
        parts = [f"{self.written} written"]
        if self.skipped:
            parts.append(f"{self.skipped} skipped (done before)")
        if self.failed:
            parts.append(f"{self.failed} failed")
        if self.ignored:
            parts.append(f"{self.ignored} non-image entries ignored")
        where = f" {self.where}" if self.where else ""
        return (f"{self.total} images{where}: {', '.join(parts)} in {self.seconds:.1f} s "
                f"({self.images_per_second:.2f} images/s)")


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


class Progress:
    """Counts outcomes into a BatchReport and shows them; `stream=None` prints nothing."""

    def __init__(self, report: BatchReport, *, stream: TextIO | None = sys.stderr, prog: str = "fastip",
                 interval: float = 2.0, live: bool | None = None):
        self.report, self.stream, self.prog, self.interval = report, stream, prog, interval
        self.live = bool(stream is not None and (stream.isatty() if live is None else live))
        self.start = time.perf_counter()
        self._shown = self.start
        self._line = False

    def restart(self) -> None:
        """Start the clock now."""
        self.start = self._shown = time.perf_counter()

    def add(self, outcome: Outcome) -> None:
        """Count one outcome; print its error line, and the progress line when it is due."""
        r = self.report
        if outcome.status == WRITTEN:
            r.written += 1
        elif outcome.status == SKIPPED:
            r.skipped += 1
        elif outcome.status == FAILED:
            self.error(outcome.src, outcome.error)
        now = time.perf_counter()
        r.seconds = now - self.start
        if self.live and now - self._shown >= self.interval:
            self._shown = now
            self._print(self.line(), end="\r")
            self._line = True

    def error(self, path: str, reason: str) -> None:
        """Count a failed file and print `prog: error: FILE: reason`."""
        self.report.failed += 1
        self.report.errors.append((path, reason))
        self._print(f"{self.prog}: error: {path}: {reason}")

    def line(self) -> str:
        """The progress line: done/total, rate and ETA."""
        r = self.report
        done = r.written + r.skipped + r.failed
        rate = r.images_per_second
        left = r.total - done
        eta = f"ETA {_clock(left / rate)}" if rate > 0 and left else "ETA --:--"
        extra = "".join(f", {n} {what}" for n, what in ((r.skipped, "skipped"), (r.failed, "failed")) if n)
        return f"{done}/{r.total} images, {rate:.2f} images/s, {eta}{extra}"

    def finish(self) -> BatchReport:
        """Stop the clock and print the summary line."""
        self.report.seconds = time.perf_counter() - self.start
        self._print(self.report.summary())
        return self.report

    def _print(self, text: str, end: str = "\n") -> None:
        if self.stream is None:
            return
        if self._line:
            self.stream.write("\r\033[K")
            self._line = False
        self.stream.write(text + end)
        self.stream.flush()
