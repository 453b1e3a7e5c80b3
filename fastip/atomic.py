"""Writing one file atomically: an unpredictable temporary file beside the target, then a rename over it."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable


def write_atomic(path: str | os.PathLike, write: Callable[[BinaryIO], None] | bytes) -> Path:
    """Write `path` through `write(handle)` (or write these bytes); readers see the old file or the whole new one.

    The temporary file comes from `mkstemp` in the target's directory (created with O_EXCL, so a planted file or
    symlink at a guessable name is never followed), is fsynced, given the permissions a plain `open` would give,
    and renamed over `path`; on any failure it is removed and `path` is untouched.
    """
    path = Path(path)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            if isinstance(write, bytes):
                handle.write(write)
            else:
                write(handle)
            handle.flush()
            os.fsync(handle.fileno())
            if hasattr(os, "fchmod"):  # POSIX: the descriptor, so no name can be swapped in between
                os.fchmod(handle.fileno(), 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _umask() -> int:
    """The process umask, read without changing it where /proc tells it (changing it is not thread-safe)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
