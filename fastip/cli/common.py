"""What every console script shares: error reporting without tracebacks, progress on stderr."""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Sequence

from fastip.errors import FastipError


def run_main(build: Callable[[], argparse.ArgumentParser], argv: Sequence[str] | None) -> int:
    """Parse, dispatch to `args.func`, print FastipError as one line and return the exit code."""
    parser = build()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except FastipError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted", file=sys.stderr)
        return 130


def quiet(_: str) -> None:
    """A progress callback that prints nothing."""


def stderr_line(message: str) -> None:
    """A progress callback printing one flushed line on stderr."""
    print(message, file=sys.stderr, flush=True)
