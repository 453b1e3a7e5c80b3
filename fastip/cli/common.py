"""What every console script shares: error reporting without tracebacks, progress on stderr."""

from __future__ import annotations

import argparse
import errno
import os
import sys
from typing import Callable, Sequence

from fastip.errors import FastipError

# OS conditions a user fixes (space, permissions, paths), reported as one line when no layer below named them.
_USER_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOENT, errno.ENOTDIR,
                errno.EISDIR, errno.EEXIST, errno.ENAMETOOLONG, errno.EMFILE, errno.ENFILE, errno.EXDEV}


def run_main(build: Callable[[], argparse.ArgumentParser], argv: Sequence[str] | None) -> int:
    """Parse, dispatch to `args.func`, print FastipError as one line and return the exit code."""
    parser = build()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows up here, inside the handlers below
        return code
    except FastipError as exc:
        return _fail(parser.prog, str(exc))
    except BrokenPipeError:
        return _closed_pipe()
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        return _fail(parser.prog, "out of memory; use a smaller input, `--tile`, or a machine with more memory")
    except OSError as exc:
        if exc.errno not in _USER_ERRNOS:
            raise
        where = f": {exc.filename}" if exc.filename else ""
        return _fail(parser.prog, f"{exc.strerror or exc}{where}")


MAX_MESSAGE = 2000


def _fail(prog: str, message: str) -> int:
    line = " ".join(message.split())  # one line, whatever the message holds
    if len(line) > MAX_MESSAGE:
        line = line[:MAX_MESSAGE] + f" ... ({len(line) - MAX_MESSAGE} more characters)"
    try:
        print(f"{prog}: error: {line}", file=sys.stderr)
    except BrokenPipeError:
        pass
    return 2


def _closed_pipe() -> int:
    """The reader went away (`fastip info B | head -2`): stop quietly, as a SIGPIPE would."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the interpreter's final flush must not fail again
    except (OSError, ValueError):
        pass
    return 141


def quiet(_: str) -> None:
    """A progress callback that prints nothing."""
