"""What fastip writes and prints: no guessable temp names to plant links at, no terminal escapes from manifests."""

import json
import os
import shutil

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from fastip.atomic import write_atomic
from fastip.bundle import MANIFEST
from fastip.cli.common import printable
from fastip.cli.main import main
from fastip.images import read_image, write_image
from tests.support import rehash_manifest

IMAGE = np.arange(8 * 6 * 3, dtype=np.uint8).reshape(8, 6, 3)


def test_write_image_never_follows_a_planted_link(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    out = tmp_path / "out" / "result.png"
    out.parent.mkdir()
    for guess in (f".{out.name}.tmp{os.getpid()}", f".{out.name}.tmp", f"{out.name}.tmp"):  # names a writer might use
        os.symlink(victim, out.parent / guess)
    write_image(out, IMAGE)
    assert victim.read_text() == "keep me"
    np.testing.assert_array_equal(read_image(out), IMAGE)
    leftovers = {p.name for p in out.parent.iterdir()} - {out.name}
    assert all((out.parent / name).is_symlink() for name in leftovers)  # only the planted links remain


def test_atomic_write_gives_umask_permissions_and_keeps_the_old_file_on_failure(tmp_path):
    path = tmp_path / "f.bin"
    old = os.umask(0o027)
    try:
        write_atomic(path, b"first")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o640

    def failing(handle):
        handle.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomic(path, failing)
    assert path.read_bytes() == b"first" and [p.name for p in tmp_path.iterdir()] == ["f.bin"]


ESCAPES = "\x1b]0;owned\x07\x1b[2J\x1b[31m\x9b1m\u202e\u200b\r\n\x00"


def _assert_inert(text: str) -> None:
    bad = [c for c in text.replace("\n", "") if not c.isprintable()]
    assert not bad, f"non-printing characters reached the terminal: {bad!r}"


def test_info_escapes_terminal_controls_from_the_manifest(can_bundle, tmp_path, capsys):
    root = tmp_path / "b"
    shutil.copytree(can_bundle.root, root)
    data = json.loads((root / MANIFEST).read_text())
    data["model"] = f"can24{ESCAPES}"
    data["family"] = f"can{ESCAPES}"
    data["inputs"][0]["name"] = f"in{ESCAPES}"
    data["validation"] = [dict(v, image=f"img{ESCAPES}", backend=f"ort{ESCAPES}") for v in data["validation"]]
    data["versions"] = {"fastip": ESCAPES}
    (root / MANIFEST).write_text(json.dumps(data))
    rehash_manifest(root)
    assert main(["info", str(root)]) == 0
    out = capsys.readouterr().out
    _assert_inert(out)
    assert "can24\\x1b]0;owned\\x07" in out and "\\u202e" in out
    assert main(["info", str(root), "--json"]) == 0
    _assert_inert(capsys.readouterr().out)
    data["outputs"][0]["layout"] = f"NCHW{ESCAPES}"  # a value the schema refuses: the error line is inert too
    (root / MANIFEST).write_text(json.dumps(data))
    rehash_manifest(root)
    assert main(["info", str(root)]) == 2
    err = capsys.readouterr().err
    _assert_inert(err)
    assert err.count("\n") == 1 and "NCHW\\x1b" in err


def test_error_lines_escape_terminal_controls(tmp_path, capsys):
    assert main(["info", str(tmp_path / f"no{ESCAPES}such")]) == 2
    err = capsys.readouterr().err
    _assert_inert(err)
    first, *rest = err.rstrip("\n").split("\n")
    assert first.startswith("fastip: error: ") and all(line.startswith("  ") for line in rest)


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_printable_output_is_inert_and_keeps_printable_text(text):
    shown = printable(text)
    assert shown.isprintable()
    if text.isprintable():
        assert shown == text
