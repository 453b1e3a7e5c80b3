"""Bundles: a directory of model files plus `fastip.json`, loaded with hash checks and written atomically."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from fastip.errors import BundleError
from fastip.manifest import Manifest
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
            text = read_member(root, MANIFEST, None).decode("utf-8")
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
    """

    def __init__(self, target: str | os.PathLike, *, base: Bundle | None = None, overwrite: bool = True):
        self.target = Path(target)
        self.base = base
        self.overwrite = overwrite
        self.dir: Path | None = None

    def __enter__(self) -> "BundleWriter":
        if self.target.exists() and not self.overwrite:
            raise BundleError(f"{self.target} exists; pass --force to replace it")
        if self.target.exists() and not (self.target / MANIFEST).is_file() and any(self.target.iterdir()):
            raise BundleError(f"{self.target} exists and is not a fastip bundle; choose an empty or new directory")
        self.target.parent.mkdir(parents=True, exist_ok=True)
        _remove_orphans(self.target)
        self.dir = Path(tempfile.mkdtemp(prefix=f".{self.target.name}.tmp-{os.getpid()}-", dir=self.target.parent))
        os.chmod(self.dir, 0o777 & ~_umask())
        if self.base is not None:
            for name in self.base.manifest.files:
                shutil.copy2(self.base.root / name, self.dir / name)
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
        old = None
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

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None


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
