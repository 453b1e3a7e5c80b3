"""Reading bundle members safely: regular files directly inside the bundle, never through a link, hash-checked."""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from pathlib import Path

from fastip.errors import BundleError

_CHUNK = 1 << 20


def check_member_name(name: object) -> str:
    """Bundle members are plain file names: no directories, no traversal, no hidden or control characters."""
    if (not isinstance(name, str) or not name or "/" in name or "\\" in name or name.startswith(".")
            or "\x00" in name or not name.isprintable()):
        raise BundleError(f"malformed manifest: {name!r} is not a plain file name inside the bundle")
    return name


def _open(root: Path, name: str) -> int:
    """A read-only descriptor of `root/name`, refused unless it is a regular file with one link, inside `root`."""
    check_member_name(name)
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    where = root / name
    try:
        if os.open in os.supports_dir_fd:  # the name is looked up in the directory itself: no path to swap
            dir_fd = os.open(root, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0))
            try:
                fd = os.open(name, flags, dir_fd=dir_fd)
            finally:
                os.close(dir_fd)
        else:
            if os.path.islink(where) or os.path.realpath(where) != os.path.join(os.path.realpath(root), name):
                raise BundleError(f"bundle member {where} is a symbolic link; a bundle holds plain files only")
            fd = os.open(where, flags)
    except FileNotFoundError as exc:
        raise BundleError(f"bundle {root} is missing {name}; re-export it") from exc
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EMLINK):  # O_NOFOLLOW on a symlink
            raise BundleError(f"bundle member {where} is a symbolic link; a bundle holds plain files only") from exc
        raise BundleError(f"cannot read bundle member {where}: {exc.strerror or exc}") from exc
    info = os.fstat(fd)
    problem = None
    if not stat.S_ISREG(info.st_mode):
        problem = "is not a regular file"
    elif info.st_nlink > 1:
        problem = f"has {info.st_nlink} hard links; a bundle member must be its own file"
    if problem:
        os.close(fd)
        raise BundleError(f"bundle member {where} {problem}; refusing to read it")
    return fd


def read_member(root: Path, name: str, sha256: str | None, *, max_bytes: int | None = None) -> bytes:
    """The bytes of one member, read once through a checked descriptor; they must match `sha256` when given."""
    fd = _open(root, name)
    with os.fdopen(fd, "rb") as handle:
        data = handle.read() if max_bytes is None else handle.read(max_bytes + 1)
    if max_bytes is not None and len(data) > max_bytes:
        raise BundleError(f"bundle member {root / name} is larger than {max_bytes} bytes; it is not what fastip writes")
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise _mismatch(root, name)
    return data


def verify_member(root: Path, name: str, sha256: str) -> None:
    """Check one member's placement and sha256 without holding it in memory."""
    digest = hashlib.sha256()
    with os.fdopen(_open(root, name), "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    if digest.hexdigest() != sha256:
        raise _mismatch(root, name)


def _mismatch(root: Path, name: str) -> BundleError:
    return BundleError(f"bundle file {root / name} does not match its sha256 in fastip.json: it was modified or "
                       "corrupted; re-export it")
