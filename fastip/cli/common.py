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
        # Multi-line reports (validation tables) keep their lines, indented: no text can start a line of its own.
        message = "\n  ".join(printable(line) for line in str(exc).split("\n"))
        print(f"{parser.prog}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted", file=sys.stderr)
        return 130


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
