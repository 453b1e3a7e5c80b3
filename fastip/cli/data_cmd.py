"""`fastip data`: fetch the training photographs from Debian packages into a cache, list them, verify them."""

from __future__ import annotations

import argparse
import sys


def _fetch(args: argparse.Namespace) -> int:
    from fastip.train.photos import cache_dir, fetch

    photos = fetch(args.cache, progress=lambda line: print(line, file=sys.stderr, flush=True))
    print(f"{cache_dir(args.cache)}: {len(photos)} photographs, {sum(p.size for p in photos) / 1e6:.1f} MB")
    return 0


def _list(args: argparse.Namespace) -> int:
    from fastip.train.data import is_held_out_photo
    from fastip.train.photos import cache_dir, load_index

    photos = load_index(args.cache)
    for p in photos:
        split = "held-out" if is_held_out_photo(p.name) else "train"
        print(f"{p.name:24s} {p.width:5d}x{p.height:<5d} {split:8s} {p.package} {p.version}  {p.licence}")
    print(f"{cache_dir(args.cache)}: {len(photos)} photographs")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from fastip.errors import BundleError
    from fastip.train.photos import cache_dir, load_index, verify

    problems = verify(args.cache)
    if problems:
        raise BundleError(f"{len(problems)} cached photographs fail their check ({problems[0]}"
                          f"{', ...' if len(problems) > 1 else ''}); run `fastip data fetch` again")
    print(f"{cache_dir(args.cache)}: all {len(load_index(args.cache))} photographs match their sha256")
    return 0


def add_parser(sub) -> None:
    """Register `fastip data fetch|list|verify`."""
    p = sub.add_parser("data", help="fetch, list or verify the training photographs (Debian packages)")
    p.set_defaults(func=lambda _: p.print_help() or 2)
    actions = p.add_subparsers(metavar="ACTION")
    for name, func, text in (("fetch", _fetch, "apt-get download the photo packages and cache their photographs"),
                             ("list", _list, "list the cached photographs, their split and licence"),
                             ("verify", _verify, "recheck every cached photograph's sha256")):
        q = actions.add_parser(name, help=text)
        q.add_argument("--cache", help="cache folder (default $FASTIP_DATA, else ~/.cache/fastip/photos)")
        q.set_defaults(func=func)
