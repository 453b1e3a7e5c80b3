"""`fastip operators`: list the classical reference operators, or apply one to an image file."""

from __future__ import annotations

import argparse
from typing import Any

from fastip.errors import InputError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add `operators list` and `operators apply` to the main CLI's subparsers."""
    parser = subparsers.add_parser("operators", help="classical reference operators the CAN models approximate")
    sub = parser.add_subparsers(metavar="ACTION")

    def show_help(_args: argparse.Namespace) -> int:
        parser.print_help()
        return 2

    parser.set_defaults(func=show_help)

    p = sub.add_parser("list", help="name, description, parameters and citation of every operator")
    p.add_argument("-v", "--verbose", action="store_true", help="also show each parameter's default and meaning")
    p.set_defaults(func=list_handler)

    p = sub.add_parser("apply", help="apply an operator to an image file and write the result")
    p.add_argument("name", help="operator name (see `fastip operators list`)")
    p.add_argument("image", help="input image (PNG, JPEG, ...)")
    p.add_argument("-o", "--out", required=True, help="output image path; format from the suffix")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="operator parameter, repeatable, e.g. --param weight=0.2")
    p.set_defaults(func=apply_handler)


def list_handler(args: argparse.Namespace) -> int:
    from fastip import operators

    for name in operators.list_operators():
        op = operators.get(name)
        print(f"{name:24s} {op.description}")
        print(f"{'':24s} {op.citation}")
        if args.verbose:
            for key, default in op.defaults.items():
                print(f"{'':26s}{key}={default!r}: {op.param_help[key]}")
    return 0


def parse_params(name: str, pairs: list[str]) -> dict[str, Any]:
    """Turn KEY=VALUE strings into typed values, using the type of each parameter's default."""
    from fastip import operators

    defaults = operators.get(name).defaults
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep:
            raise InputError(f"--param needs KEY=VALUE, got {pair!r}")
        if key not in defaults:
            raise InputError(f"operator {name!r} has no parameter {key!r}; valid: {', '.join(defaults) or 'none'}")
        kind = type(defaults[key])
        try:
            if kind is bool:
                if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(text)
                params[key] = text.lower() in ("true", "1", "yes")
            else:
                params[key] = kind(text)
        except ValueError as exc:
            raise InputError(f"--param {key} must be {kind.__name__} (default {defaults[key]!r}), got {text!r}") from exc
    return params


def apply_handler(args: argparse.Namespace) -> int:
    from fastip import operators
    from fastip.images import read_image, write_image

    params = parse_params(args.name, args.param)
    image = read_image(args.image)
    result = operators.apply(args.name, image, **params)
    write_image(args.out, result)
    shown = ", ".join(f"{k}={v!r}" for k, v in params.items()) or "defaults"
    print(f"{args.out}: {args.name} ({shown}) of {args.image}, {result.shape[1]}x{result.shape[0]}")
    return 0
