"""The Python environment a local `tritonserver` runs from: the nvidia-pytriton wheel, numpy < 2, fastip's runtime.

Triton's Python backend stub takes its packages from the first `python3` on PATH; with numpy 2 the stub of the
wheel was seen to hand models all-zero inputs, so the server gets an environment of its own with numpy < 2.
The stub ignores PYTHONPATH; fastip reaches it through a `.pth` file naming the source checkout that holds this
fastip (like an editable install, so the environment never goes stale), or as a copy of an installed fastip.
`python -m fastip.serving.triton.server_env DIR` creates or reuses one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

from fastip.errors import FastipError

PYTRITON = "nvidia-pytriton==0.7.0"
STAMP = "fastip-server-env.json"
SOURCE = str(Path(__file__).resolve().parents[3])  # the directory holding the `fastip` package


def requirements(*, openvino: bool = False) -> list[str]:
    """What the server environment installs: the wheel, numpy < 2, and the runtimes the caller uses (same versions)."""
    wanted = ["numpy<2", "pillow>=10", "onnx"]  # onnx only checks external data: any release that takes numpy < 2
    for dist in ("onnxruntime", *(("openvino",) if openvino else ())):
        try:
            wanted.append(f"{dist}=={metadata.version(dist)}")  # same version as here: results compare exactly
        except metadata.PackageNotFoundError:
            wanted.append(dist)
    return wanted


def ensure_server_env(path: str | os.PathLike, *, openvino: bool = False, python: str = sys.executable,
                      timeout: float = 900.0) -> Path:
    """Create the environment at `path` (atomically), or reuse it when it was made with the same requirements."""
    target = Path(path).absolute()
    from fastip.versions import __version__

    wanted = {"pytriton": PYTRITON, "packages": requirements(openvino=openvino), "fastip": [SOURCE, __version__],
              "python": f"{sys.version_info.major}.{sys.version_info.minor}"}
    stamp = target / STAMP
    if stamp.is_file():
        try:
            if json.loads(stamp.read_text()) == wanted:
                return target
        except (OSError, ValueError):
            pass
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        _run([python, "-m", "venv", str(tmp)], timeout)
        pip = [str(tmp / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        _run([*pip, "--no-deps", PYTRITON], timeout)  # only its server binary is used, not its Python client
        _run([*pip, *wanted["packages"]], timeout)
        for site in tmp.glob("lib/python3.*/site-packages"):
            _add_fastip(site)
        (tmp / STAMP).write_text(json.dumps(wanted), encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)
        os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _add_fastip(site: Path) -> None:
    """Make this fastip importable in the environment: a .pth to a source checkout, else a copy of the package."""
    if Path(SOURCE).name in ("site-packages", "dist-packages"):  # an installed fastip: its neighbours stay out
        shutil.copytree(Path(SOURCE) / "fastip", site / "fastip", ignore=shutil.ignore_patterns("__pycache__"))
    else:
        (site / "fastip-source.pth").write_text(SOURCE + "\n", encoding="utf-8")


def _run(command: list[str], timeout: float) -> None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise FastipError(f"`{' '.join(command)}` did not finish within {timeout:g} s") from exc
    if done.returncode != 0:
        tail = " / ".join(done.stderr.strip().splitlines()[-3:])
        raise FastipError(f"`{' '.join(command)}` failed (status {done.returncode}): {tail}")


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m fastip.serving.triton.server_env",
                                     description="Create (or reuse) the Python environment a local tritonserver runs from.")
    parser.add_argument("path", help="directory of the environment, e.g. .venv-triton")
    parser.add_argument("--openvino", action="store_true", help="also install OpenVINO (Python models on openvino)")
    args = parser.parse_args(argv)
    try:
        print(ensure_server_env(args.path, openvino=args.openvino))
    except FastipError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
