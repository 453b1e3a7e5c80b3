"""Debian packages without installing them: `apt-get download`, `dpkg-deb -x`, and debian/copyright (DEP-5)."""

from __future__ import annotations

import fnmatch
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from fastip.errors import FastipError, InputError, MissingDependencyError


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise MissingDependencyError(f"`fastip data fetch` needs `{name}` (Debian or Ubuntu): run it on such a system "
                                     f"and copy the cache it writes to $FASTIP_DATA here")
    return path


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def apt_download(package: str, dest: Path) -> Path:
    """Download the candidate .deb of `package` into `dest` with `apt-get download`; returns its path."""
    apt = _tool("apt-get")
    before = set(dest.glob("*.deb"))
    proc = subprocess.run([apt, "download", package], cwd=dest, capture_output=True, text=True, timeout=1800)
    debs = sorted(set(dest.glob(f"{package}_*.deb")) - before)
    if proc.returncode != 0 or not debs:
        raise InputError(f"package {package} cannot be downloaded ({_last_line(proc.stderr or proc.stdout)}); "
                         f"run `apt-get update`, or check that your Debian/Ubuntu release still ships {package}")
    return debs[0]


def _dpkg_deb(*args: str) -> str:
    proc = subprocess.run([_tool("dpkg-deb"), *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise InputError(f"dpkg-deb {' '.join(args)} failed ({_last_line(proc.stderr)}); download the package again")
    return proc.stdout


def deb_field(deb: Path, field: str) -> str:
    """One control field (Package, Version, ...) of a .deb file."""
    return _dpkg_deb("-f", str(deb), field).strip()


def extract(deb: Path, dest: Path) -> Path:
    """Unpack the files of a .deb into `dest` (no maintainer scripts run); returns `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    _dpkg_deb("-x", str(deb), str(dest))
    return dest


@dataclass(frozen=True)
class Licence:
    """The licence and copyright holders debian/copyright gives for one file."""

    licence: str
    copyright: str


def _paragraphs(text: str) -> list[dict[str, str]]:
    paragraphs, current, key = [], {}, None
    for line in text.splitlines() + [""]:
        if not line.strip():
            if current:
                paragraphs.append(current)
            current, key = {}, None
        elif line[0] in " \t" and key is not None:
            current[key] += "\n" + line.strip()
        elif ":" in line:
            key, value = line.split(":", 1)
            key = key.strip().lower()
            current[key] = value.strip()
    return paragraphs


def licence_of(copyright_text: str, path: str) -> Licence:
    """The licence of upstream file `path` per a machine-readable debian/copyright: the last matching Files stanza."""
    found = None
    for para in _paragraphs(copyright_text):
        patterns = para.get("files", "").split()
        if "license" in para and any(fnmatch.fnmatchcase(path, p) for p in patterns):
            found = para
    if found is None:
        raise FastipError(f"debian/copyright names no licence for {path}; the file is not used")
    holders = " / ".join(line.strip() for line in found.get("copyright", "").splitlines() if line.strip())
    return Licence(found["license"].splitlines()[0].strip(), holders)
