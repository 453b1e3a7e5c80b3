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
    # Multi-line reports (gate tables) keep their lines, indented and escaped: no text can start a line of its
    # own or drive the terminal; the whole message is bounded.
    line = "\n  ".join(printable(part) for part in message.strip().split("\n"))
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


def printable(text: object) -> str:
    """`text` with control, format and other non-printing characters escaped: a terminal shows them, never obeys them."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in str(text))


def add_trust_code(parser: argparse.ArgumentParser) -> None:
    """The opt-in that lets a command import the module a bundle's manifest names (torch backend, tiling)."""
    parser.add_argument("--trust-code", action="store_true",
                        help="for a bundle exported from your own module: import the module its manifest names "
                             "(runs that code; only for bundles from people you trust)")


def quiet(_: str) -> None:
    """A progress callback that prints nothing."""


def stderr_line(message: str) -> None:
    """A progress callback printing one flushed line on stderr."""
    print(message, file=sys.stderr, flush=True)
