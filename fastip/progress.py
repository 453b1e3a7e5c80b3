"""Progress by time for long work: rate and ETA every ~10 s, and a heartbeat while one long step runs."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator

Report = Callable[[str], None]
EVERY_S = 10.0


def format_duration(seconds: float) -> str:
    """'42 s', '7 min 05 s', '2 h 03 min'."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class RateProgress:
    """Reports `what done/total`, the rate and the ETA through `report`, at most once per `every` seconds and at the end."""

    def __init__(self, total: int, report: Report, *, what: str = "step", unit: str = "step", start: int = 0,
                 every: float = EVERY_S, clock: Callable[[], float] = time.monotonic):
        self.total, self.report, self.what, self.unit, self.every, self.clock = total, report, what, unit, every, clock
        self.start_count = start
        self.started = self.last = clock()

    def update(self, done: int, detail: str = "") -> bool:
        """Report when `every` seconds passed since the last report (or `done` reached the total); True if it did."""
        now = self.clock()
        if now - self.last < self.every and done < self.total:
            return False
        self.last = now
        elapsed = max(now - self.started, 1e-9)
        rate = (done - self.start_count) / elapsed
        eta = (self.total - done) / rate if rate > 0 else float("inf")
        eta_text = "done" if done >= self.total else ("ETA ?" if eta == float("inf") else f"ETA {format_duration(eta)}")
        parts = [f"{self.what} {done}/{self.total}", detail, f"{rate:.2f} {self.unit}/s", eta_text]
        self.report("  ".join(p for p in parts if p))
        return True


@contextmanager
def heartbeat(report: Report, what: str, *, every: float = EVERY_S) -> Iterator[None]:
    """While the block runs, report `still {what} (N s)` every `every` seconds (a step with no progress of its own)."""
    stop = threading.Event()
    started = time.monotonic()

    def beat() -> None:
        while not stop.wait(every):
            report(f"still {what} ({format_duration(time.monotonic() - started)})")

    thread = threading.Thread(target=beat, name="fastip-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
