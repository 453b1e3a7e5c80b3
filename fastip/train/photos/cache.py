"""The photo cache: fetched once from Debian packages, each file hashed and its licence recorded in index.json."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

from fastip.bundle import sha256_file
from fastip.errors import BundleError, FastipError, InputError
from fastip.train.photos.catalogue import PACKAGES, PhotoPackage
from fastip.train.photos.debian import apt_download, deb_field, extract, licence_of

INDEX = "index.json"
ENV = "FASTIP_DATA"
Downloader = Callable[[str, Path], Path]  # (package name, folder) -> the .deb downloaded into it


@dataclass(frozen=True)
class Photo:
    """One cached photograph and where it came from."""

    name: str  # e.g. mate-Aqua
    file: str  # path relative to the cache folder
    package: str
    version: str
    source: str  # path inside the package
    sha256: str
    size: int
    width: int
    height: int
    licence: str
    copyright: str


def cache_dir(cache: str | os.PathLike | None = None) -> Path:
    """The photo cache: `cache`, else $FASTIP_DATA, else $XDG_CACHE_HOME/fastip/photos (~/.cache/fastip/photos)."""
    if cache:
        return Path(cache).expanduser()
    if os.environ.get(ENV):
        return Path(os.environ[ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "fastip" / "photos"


def _image_size(path: Path) -> tuple[int, int]:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            return img.size
    except (UnidentifiedImageError, OSError) as exc:
        raise InputError(f"{path} in the package is not an image ({exc}); the catalogue needs updating") from exc


def _collect(spec: PhotoPackage, download: Downloader, work: Path, stage: Path) -> list[Photo]:
    deb = download(spec.package, work)
    version = deb_field(deb, "Version")
    root = extract(deb, work / spec.package)
    copyright_file = root / "usr/share/doc" / spec.package / "copyright"
    if not copyright_file.is_file():
        raise InputError(f"{spec.package} {version} has no /usr/share/doc/{spec.package}/copyright; its photos' "
                         f"licences are unknown, so they are not used")
    copyright_text = copyright_file.read_text(encoding="utf-8", errors="replace")
    photos = []
    for name, rel in spec.photos:
        src = root / spec.root / rel
        if not src.is_file():
            raise InputError(f"{spec.package} {version} no longer holds {spec.root}/{rel}; update "
                             f"fastip/train/photos/catalogue.py for this release")
        licence = licence_of(copyright_text, f"{spec.upstream}/{rel}".lstrip("/"))
        file = f"{spec.package}/{spec.short}-{name}{src.suffix.lower()}"
        (stage / file).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, stage / file)
        width, height = _image_size(stage / file)
        photos.append(Photo(f"{spec.short}-{name}", file, spec.package, version, f"/{spec.root}/{rel}",
                            sha256_file(stage / file), (stage / file).stat().st_size, width, height,
                            licence.licence, licence.copyright))
    return photos


def fetch(cache: str | os.PathLike | None = None, *, packages: Sequence[PhotoPackage] = PACKAGES,
          download: Downloader = apt_download, progress: Callable[[str], None] = lambda line: None) -> list[Photo]:
    """Download, unpack and copy the catalogued photographs into the cache; all or nothing (temp folder, rename)."""
    target = cache_dir(cache)
    target.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp", dir=target.parent))
    try:
        photos: list[Photo] = []
        with tempfile.TemporaryDirectory(prefix="fastip-debs") as work:
            for spec in packages:
                got = _collect(spec, download, Path(work), stage)
                progress(f"{spec.package} {got[0].version if got else ''}: {len(got)} photographs")
                photos += got
        names = [p.name for p in photos]
        if len(set(names)) != len(names):
            raise FastipError(f"two catalogued photographs share a name in {names}; names must be unique")
        (stage / INDEX).write_text(json.dumps({"photos": [asdict(p) for p in photos]}, indent=1) + "\n",
                                   encoding="utf-8")
        old = target.with_name(f".{target.name}.old{os.getpid()}")
        if target.exists():
            os.replace(target, old)
        os.replace(stage, target)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return photos


def load_index(cache: str | os.PathLike | None = None) -> list[Photo]:
    """The photographs recorded in the cache's index.json; InputError naming `fastip data fetch` when there is none."""
    folder = cache_dir(cache)
    index = folder / INDEX
    if not index.is_file():
        raise InputError(f"no photographs cached in {folder}; run `fastip data fetch` (or set ${ENV} to a fetched cache)")
    try:
        return [Photo(**entry) for entry in json.loads(index.read_text(encoding="utf-8"))["photos"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise BundleError(f"{index} is damaged ({exc}); run `fastip data fetch` again") from exc


def verify(cache: str | os.PathLike | None = None) -> list[str]:
    """Problems found rechecking every cached file's size and sha256 (empty when all match)."""
    folder = cache_dir(cache)
    problems = []
    for photo in load_index(folder):
        path = folder / photo.file
        if not path.is_file():
            problems.append(f"{photo.name}: {path} is missing")
        elif path.stat().st_size != photo.size or sha256_file(path) != photo.sha256:
            problems.append(f"{photo.name}: {path} does not match its sha256 in {INDEX}")
    return problems
