"""Which files a folder run reads and writes: folders, globs and files in, one output name per image."""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from fastip.errors import InputError
from fastip.images import IMAGE_SUFFIXES


@dataclass(frozen=True)
class Job:
    """One image to process: read `src`, write `dst`; `name` is `dst` relative to the output folder."""

    src: Path
    dst: Path
    name: str


@dataclass
class Plan:
    """The jobs of a run, the inputs refused before it starts (path, reason), and files passed over."""

    jobs: list[Job] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)
    ignored: list[Path] = field(default_factory=list)


def is_batch(inputs: Sequence[str], out: str | os.PathLike) -> bool:
    """Whether `fastip run` should treat its arguments as a batch (several, a folder, a glob, or -o a folder)."""
    if len(inputs) != 1:
        return True
    path = Path(inputs[0])
    if path.is_dir() or (glob.has_magic(inputs[0]) and not path.exists()):
        return True
    return str(out).endswith(("/", os.sep)) or Path(out).is_dir()


def normalise_suffix(fmt: str | None) -> str | None:
    """'png' or '.PNG' -> '.png'; None keeps each input's own format."""
    if fmt is None:
        return None
    suffix = "." + fmt.lower().lstrip(".")
    if suffix not in IMAGE_SUFFIXES:
        raise InputError(f"unknown output format {fmt!r}; choose from {', '.join(s[1:] for s in IMAGE_SUFFIXES)}")
    return suffix


def plan_jobs(inputs: Sequence[str | os.PathLike], out: str | os.PathLike, *, suffix: str | None = None) -> Plan:
    """Expand folders (their image files, not subfolders), globs (`**` recurses) and files into jobs under `out`."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"-o {out} is a file; give a folder for the outputs of several images")
    suffix = normalise_suffix(suffix)
    plan, by_dst = Plan(), {}
    for arg in map(str, inputs):
        for src, rel in _expand(arg, plan):
            rel = rel.with_suffix(suffix) if suffix else rel
            dst = out / rel
            if dst.resolve() == src.resolve():
                raise InputError(f"writing to {out} would overwrite the input {src}; choose another output folder")
            if dst in by_dst:
                plan.problems.append((str(src), f"its output {dst} is also the output of {by_dst[dst]}; "
                                                "rename one or use --format"))
                continue
            by_dst[dst] = src
            plan.jobs.append(Job(src, dst, rel.as_posix()))
    if not plan.jobs and not plan.problems:
        raise InputError(f"no images in {', '.join(map(str, inputs))} (looked for {', '.join(IMAGE_SUFFIXES)})")
    return plan


def _expand(arg: str, plan: Plan) -> list[tuple[Path, Path]]:
    """(source, output path relative to the output folder) for one command-line argument."""
    path = Path(arg)
    if path.is_dir():
        found = []
        for child in sorted(path.iterdir()):
            if child.suffix.lower() in IMAGE_SUFFIXES and not child.is_dir():  # a broken link is an error, not skipped
                found.append((child, Path(child.name)))
            elif not child.name.startswith("."):
                plan.ignored.append(child)
        return found
    if path.is_file():
        return [(path, Path(path.name))]
    if not glob.has_magic(arg):
        plan.problems.append((arg, "no such file or folder"))
        return []
    base = _glob_base(arg)
    matches = sorted(Path(m) for m in glob.glob(arg, recursive=True) if Path(m).is_file())
    images = [m for m in matches if m.suffix.lower() in IMAGE_SUFFIXES]
    plan.ignored.extend(m for m in matches if m.suffix.lower() not in IMAGE_SUFFIXES)
    if not matches:
        plan.problems.append((arg, "matches no files"))
    return [(m, m.relative_to(base)) for m in images]


def _glob_base(pattern: str) -> Path:
    """The folder a glob starts from: its leading components without wildcards."""
    parts = Path(pattern).parts
    fixed = []
    for part in parts[:-1]:
        if glob.has_magic(part):
            break
        fixed.append(part)
    return Path(*fixed) if fixed else Path(".")
