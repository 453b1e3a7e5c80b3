"""The resume journal of a folder run: input sha256 -> output sha256 per output name, under one settings key.

The journal is a JSON-lines file in the output folder. Each finished image appends one line with a
single write after its output was renamed into place, so a line always describes a complete file; a
line torn by a crash is ignored on load (that image is simply done again). At the end of a run the
journal is rewritten compacted, atomically (temporary file, fsync, rename). An output counts as done
only if the journal has it under the same settings (bundle files, backend, precision, device, tiling)
and both the input and the output still hash to what was recorded.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from fastip.bundle import sha256_file as file_sha256

JOURNAL_NAME = ".fastip-run.jsonl"


def settings_key(bundle_files: Mapping[str, str], **settings: Any) -> str:
    """A short hash of everything that changes an output: the bundle's file hashes and the run settings."""
    text = json.dumps({"files": dict(sorted(bundle_files.items())), **settings}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Entry:
    """What the journal knows of one finished output."""

    input_sha256: str
    output_sha256: str


def verified(src: Path, dst: Path, entry: Entry | None) -> bool:
    """Whether `dst` is a finished output of the unchanged `src`, as the journal recorded it."""
    if entry is None or not dst.is_file():
        return False
    try:
        return file_sha256(dst) == entry.output_sha256 and file_sha256(src) == entry.input_sha256
    except OSError:
        return False


class Journal:
    """Load, append to and compact the journal of one output folder."""

    def __init__(self, out_dir: str | os.PathLike, settings: str, *, resume: bool = True):
        self.path = Path(out_dir) / JOURNAL_NAME
        self.settings = settings
        self._entries: dict[str, tuple[str, Entry]] = {}
        self._lock = threading.Lock()
        self._fd: int | None = None
        if resume and self.path.is_file():
            for line in self.path.read_text(encoding="utf-8", errors="replace").splitlines():
                try:
                    rec = json.loads(line)
                    self._entries[rec["name"]] = (rec["settings"], Entry(rec["input"], rec["output"]))
                except (ValueError, KeyError, TypeError):
                    continue  # a torn or foreign line: that output is redone

    def expected(self, name: str) -> Entry | None:
        """The recorded entry for an output name, if it was made with this run's settings."""
        settings, entry = self._entries.get(name, (None, None))
        return entry if settings == self.settings else None

    def record(self, name: str, input_sha256: str, output_sha256: str) -> None:
        """Append one finished output (thread-safe; one write per line)."""
        line = json.dumps({"name": name, "settings": self.settings, "input": input_sha256,
                           "output": output_sha256}) + "\n"
        with self._lock:
            self._entries[name] = (self.settings, Entry(input_sha256, output_sha256))
            if self._fd is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            os.write(self._fd, line.encode())

    def close(self) -> None:
        """Rewrite the journal with one line per output, atomically."""
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            if not self._entries:
                return
            tmp = self.path.with_name(f"{self.path.name}.tmp{os.getpid()}")
            try:
                with open(tmp, "w", encoding="utf-8") as f:
                    for name, (settings, e) in sorted(self._entries.items()):
                        f.write(json.dumps({"name": name, "settings": settings, "input": e.input_sha256,
                                            "output": e.output_sha256}) + "\n")
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, self.path)
            finally:
                tmp.unlink(missing_ok=True)
