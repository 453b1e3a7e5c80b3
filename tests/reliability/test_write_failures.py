"""Output paths and the bundle swap under failure: one line, nothing half-written, no crash between writers."""

import errno
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from fastip import bundle as bundle_module
from fastip.bundle import MANIFEST, Bundle, BundleWriter
from fastip.errors import BundleError
from fastip.manifest import Manifest
from fastip.spec import ImageIO, TensorSpec


def _manifest(name: str = "m") -> Manifest:
    spec = TensorSpec("input", ("N", 3, "H", "W"))
    return Manifest(model=name, family="can", io=ImageIO(), inputs=[spec], outputs=[spec],
                    artifacts={"onnx": "model.onnx"})


def _write(target: Path, name: str = "m", **kwargs) -> Bundle:
    with BundleWriter(target, **kwargs) as writer:
        (writer.dir / "model.onnx").write_bytes(name.encode() * 1000)
        return writer.commit(_manifest(name))


def _leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if ".tmp-" in p.name or ".old-" in p.name)


def test_output_that_is_a_file_or_under_a_file(tmp_path):
    (tmp_path / "file").write_text("keep")
    with pytest.raises(BundleError, match="is a file; a bundle is a directory"):
        _write(tmp_path / "file")
    with pytest.raises(BundleError, match="is a file, not a directory"):
        _write(tmp_path / "file" / "bundle")
    assert (tmp_path / "file").read_text() == "keep" and _leftovers(tmp_path) == []


def test_unwritable_directory_is_one_line():
    with pytest.raises(BundleError, match="cannot write /sys/fastip-bundle: .*nothing was changed"):
        _write(Path("/sys/fastip-bundle"))


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EDQUOT])
def test_disk_full_or_read_only_mid_write_keeps_the_old_bundle(tmp_path, monkeypatch, code):
    _write(tmp_path / "b", "old")

    def full(self, *args, **kwargs):
        raise OSError(code, os.strerror(code), str(self))

    monkeypatch.setattr(Path, "write_text", full)  # the manifest write fails
    with pytest.raises(BundleError, match=f"cannot write .*{os.strerror(code)}.*nothing was changed"):
        _write(tmp_path / "b", "new")
    monkeypatch.undo()
    assert Bundle.load(tmp_path / "b").manifest.model == "old" and _leftovers(tmp_path) == []


def test_no_force_message_names_a_flag_that_exists(tmp_path):
    from fastip.cli.export_cmd import build_parser

    _write(tmp_path / "b")
    with pytest.raises(BundleError) as info:
        _write(tmp_path / "b", overwrite=False)
    flags = {s for a in build_parser()._actions for s in a.option_strings}
    named = {word.strip("(),;") for word in str(info.value).split() if word.startswith("--")}
    assert named and named <= flags, f"{info.value} names {named}, the parser has {sorted(flags)}"


def test_no_force_after_a_killed_swap_keeps_the_restored_bundle(tmp_path):
    _write(tmp_path / "b", "old")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    os.rename(tmp_path / "b", tmp_path / f".b.old-{dead.stdout.strip()}-x")  # the writer died mid-swap
    with pytest.raises(BundleError, match="exists"):
        _write(tmp_path / "b", "new", overwrite=False)
    assert Bundle.load(tmp_path / "b").manifest.model == "old" and _leftovers(tmp_path) == []


def test_writers_released_together_at_the_swap(tmp_path, monkeypatch):
    _write(tmp_path / "b", "first")
    count = 6
    barrier = threading.Barrier(count)
    swap = BundleWriter._swap_into_place

    def together(self):
        barrier.wait(timeout=30)
        swap(self)

    monkeypatch.setattr(BundleWriter, "_swap_into_place", together)
    errors = []

    def work(i):
        try:
            _write(tmp_path / "b", f"w{i}")
        except BaseException as exc:  # noqa: BLE001 - any failure is the finding
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert Bundle.load(tmp_path / "b").manifest.model in {f"w{i}" for i in range(count)}
    assert _leftovers(tmp_path) == []


def test_ctrl_c_during_the_swap_completes_the_commit(tmp_path):
    """A real SIGINT just after the rename: the commit completes, nothing is left over, the handler is restored.

    Runs in a fresh interpreter: a process-directed SIGINT in this one would meet whatever native handlers the
    backends loaded by earlier tests installed."""
    script = """
import os, signal, sys
from pathlib import Path
from fastip import bundle as bundle_module
from fastip.bundle import Bundle
from tests.reliability.test_write_failures import _leftovers, _write

signal.signal(signal.SIGINT, signal.default_int_handler)  # a runner started under nohup hands SIGINT down ignored
root = Path(sys.argv[1])
_write(root / "b", "old")
sync = bundle_module._fsync_dir

def interrupted(path):  # the new bundle has just been renamed into place
    os.kill(os.getpid(), signal.SIGINT)
    sync(path)

bundle_module._fsync_dir = interrupted
written = _write(root / "b", "new")  # no KeyboardInterrupt: the bundle is in place
assert written.manifest.model == "new" and Bundle.load(root / "b").manifest.model == "new"
assert _leftovers(root) == []
assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
print("committed")
"""
    repo = Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(repo), os.environ.get("PYTHONPATH")])))
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=120,
                          env=env, cwd=repo)
    assert done.returncode == 0 and done.stdout.strip() == "committed", done.stderr


def test_manifest_not_written_when_nothing_fits(tmp_path):
    with pytest.raises(BundleError):
        with BundleWriter(tmp_path / "b") as writer:
            writer.commit(_manifest())  # model.onnx never written
    assert not (tmp_path / "b").exists() and not list(tmp_path.glob(f"*{MANIFEST}"))
