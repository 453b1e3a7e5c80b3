"""Bundles: a directory of model files plus `fastip.json`, loaded with hash checks and written atomically."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import signal
import tempfile
import threading
from pathlib import Path
from typing import Iterator

from fastip.errors import BundleError
from fastip.manifest import MAX_MANIFEST_BYTES, Manifest
from fastip.members import read_member, verify_member

MANIFEST = "fastip.json"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Bundle:
    """A loaded bundle: its directory and its typed manifest."""

    def __init__(self, root: Path, manifest: Manifest):
        self.root = root
        self.manifest = manifest

    @classmethod
    def load(cls, path: str | os.PathLike, *, verify: bool = True) -> "Bundle":
        """Read and check a bundle directory; with `verify`, every file's sha256 must match."""
        root = Path(path)
        if root.is_file() and root.name == MANIFEST:
            root = root.parent
        if not root.is_dir():
            raise BundleError(f"bundle not found: {root} is not a directory; create one with `fastip-export`")
        manifest_path = root / MANIFEST
        if not manifest_path.exists() and not manifest_path.is_symlink():
            raise BundleError(f"{root} is not a fastip bundle: it has no {MANIFEST}")
        try:
            text = read_member(root, MANIFEST, None, max_bytes=MAX_MANIFEST_BYTES).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BundleError(f"cannot read {manifest_path}: {exc}") from exc
        manifest = Manifest.from_json(text)
        for role, name in manifest.artifacts.items():
            for needed in (name, *companions(name)):
                if needed not in manifest.files:
                    raise BundleError(f"malformed manifest: artifact {role!r} reads {needed}, which has no sha256 in 'files'")
        bundle = cls(root, manifest)
        if verify:
            bundle.verify()
        return bundle

    def verify(self) -> None:
        """Raise BundleError naming the first file that is missing, linked, or whose sha256 differs."""
        for name, expected in self.manifest.files.items():
            verify_member(self.root, name, expected)

    def read(self, name: str) -> bytes:
        """A listed member's bytes, read once and checked against its sha256: what a runtime should load."""
        if name not in self.manifest.files:
            raise BundleError(f"bundle {self.root}: {name!r} is not listed with a sha256 in {MANIFEST}; refusing to read it")
        return read_member(self.root, name, self.manifest.files[name])

    def path(self, role: str) -> Path:
        """Path of the artifact with this role, e.g. 'onnx' or 'openvino'."""
        if role not in self.manifest.artifacts:
            have = ", ".join(self.manifest.artifacts) or "none"
            raise BundleError(f"bundle {self.root} has no {role!r} artifact (it has: {have}); export it with the matching --target")
        return self.root / self.manifest.artifacts[role]

    def __repr__(self) -> str:
        return f"Bundle({str(self.root)!r}, model={self.manifest.model!r}, artifacts={list(self.manifest.artifacts)})"


class BundleWriter:
    """Builds a bundle in a temporary sibling directory and renames it into place on success.

    A failure (or Ctrl-C) inside the `with` block removes the temporary directory and leaves any
    existing bundle at `target` untouched. `base` copies an existing bundle's files in first, so a
    later step (quantization, compilation) can add artifacts without rewriting the others.
    Writers of bundles in one directory take turns at the swap (an flock on the directory), and a
    Ctrl-C during the swap waits for it: once the new bundle is in place, the write has happened.
    OS failures (disk full, read-only filesystem, no permission, a file where a directory should
    be) become one BundleError naming the target.
    """

    def __init__(self, target: str | os.PathLike, *, base: Bundle | None = None, overwrite: bool = True):
        self.target = Path(target)
        self.base = base
        self.overwrite = overwrite
        self.dir: Path | None = None

    def __enter__(self) -> "BundleWriter":
        try:
            if self.target.parent.exists() and not self.target.parent.is_dir():
                raise BundleError(f"{self.target.parent} is a file, not a directory; choose another output path")
            self.target.parent.mkdir(parents=True, exist_ok=True)
            with _directory_lock(self.target.parent):
                _remove_orphans(self.target)  # first: a restored bundle counts as existing below
            if self.target.exists() and not self.target.is_dir():
                raise BundleError(f"{self.target} is a file; a bundle is a directory: choose a new or empty directory")
            if self.target.exists() and not self.overwrite:
                raise BundleError(f"{self.target} exists; to replace it, leave out --no-force (overwrite=True)")
            if self.target.exists() and not (self.target / MANIFEST).is_file() and any(self.target.iterdir()):
                raise BundleError(f"{self.target} exists and is not a fastip bundle; choose an empty or new directory")
            self.dir = Path(tempfile.mkdtemp(prefix=f".{self.target.name}.tmp-{os.getpid()}-", dir=self.target.parent))
            os.chmod(self.dir, 0o777 & ~_umask())
            if self.base is not None:
                for name in self.base.manifest.files:
                    shutil.copy2(self.base.root / name, self.dir / name)
        except OSError as exc:
            self._discard()
            raise write_error(self.target, exc) from exc
        except BaseException:
            self._discard()
            raise
        return self

    def commit(self, manifest: Manifest) -> Bundle:
        """Hash every artifact, write the manifest, fsync, and move the bundle into place."""
        assert self.dir is not None
        files = {}
        for name in sorted(set(manifest.artifacts.values()) | _companions(self.dir, manifest)):
            path = self.dir / name
            if not path.is_file():
                raise BundleError(f"artifact {name} was not written")
            files[name] = sha256_file(path)
        manifest.files = files
        (self.dir / MANIFEST).write_text(manifest.to_json(), encoding="utf-8")
        mode = 0o666 & ~_umask()
        for name in [*files, MANIFEST]:
            os.chmod(self.dir / name, mode)
            _fsync(self.dir / name)
        stale = [p for p in self.dir.iterdir() if p.name not in files and p.name != MANIFEST]
        for path in stale:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        self._swap_into_place()
        return Bundle(self.target, manifest)

    def _swap_into_place(self) -> None:
        with _sigint_deferred():
            old = None
            with _directory_lock(self.target.parent):
                if self.target.exists():
                    old = Path(tempfile.mkdtemp(prefix=f".{self.target.name}.old-{os.getpid()}-", dir=self.target.parent))
                    os.rmdir(old)
                    os.rename(self.target, old)
                try:
                    os.rename(self.dir, self.target)
                except OSError:
                    if old is not None:
                        os.rename(old, self.target)
                    raise
                self.dir = None
                _fsync_dir(self.target.parent)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)

    def _discard(self) -> None:
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __exit__(self, exc_type, exc, tb) -> None:
        self._discard()
        if isinstance(exc, OSError) and exc.errno in WRITE_ERRNOS:
            raise write_error(self.target, exc) from exc


# errno -> what the user can do about it
WRITE_ERRNOS = {
    errno.ENOSPC: "free disk space or choose another output directory",
    errno.EDQUOT: "free disk space or choose another output directory",
    errno.EROFS: "the filesystem is read-only; choose another output directory",
    errno.EACCES: "choose a directory you can write to",
    errno.EPERM: "choose a directory you can write to",
    errno.ENOTDIR: "a part of the path is a file; choose another output path",
    errno.EISDIR: "a directory is in the way; choose another output path",
    errno.EEXIST: "something is in the way; choose another output path",
    errno.ENAMETOOLONG: "choose a shorter output path",
}


def write_error(target: Path, exc: OSError) -> BundleError:
    """One line for an OS failure while writing `target`; the previous contents are untouched."""
    fix = WRITE_ERRNOS.get(exc.errno, "check the output path")
    return BundleError(f"cannot write {target}: {exc.strerror or exc}; {fix} (nothing was changed)")


@contextlib.contextmanager
def _directory_lock(directory: Path) -> Iterator[None]:
    """An exclusive flock on `directory`, held by one bundle writer at a time (no lock file left behind)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        yield
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


@contextlib.contextmanager
def _sigint_deferred() -> Iterator[None]:
    """Hold Ctrl-C until the block ends; a Ctrl-C during it is dropped, as the work it guards is done.

    Only the main thread receives signals, so elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    try:
        previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    except (ValueError, TypeError, OSError):
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if received and callable(previous) and previous is not signal.default_int_handler:
            previous(signal.SIGINT, None)  # a caller's own handler still hears of it


def _remove_orphans(target: Path) -> None:
    """Clean up after writers of `target` that were killed (their pid is gone).

    A half-built `.tmp-` directory is deleted; an `.old-` directory is the previous bundle, moved
    aside just before the swap: it is put back when the new one never arrived.
    """
    for kind in ("tmp", "old"):
        prefix = f".{target.name}.{kind}-"
        for path in target.parent.glob(f"{prefix}*-*"):
            pid = path.name[len(prefix):].split("-")[0]
            if not pid.isdigit() or _alive(int(pid)):
                continue
            if kind == "old" and not target.exists():
                os.rename(path, target)
            else:
                shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def companions(name: str) -> tuple[str, ...]:
    """Files an artifact is read with (OpenVINO's .bin beside its .xml); ONNX external data is found in the graph."""
    return (name[:-4] + ".bin",) if name.endswith(".xml") else ()


def _companions(root: Path, manifest: Manifest) -> set[str]:
    """The companions present beside the artifacts being committed."""
    return {c for name in manifest.artifacts.values() for c in companions(name) if (root / c).is_file()}


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    try:
        _fsync(path)
    except OSError:  # some filesystems refuse fsync on directories
        pass
