"""The README's command blocks: every command parses with the real argparse parsers, and the cheap ones run, in
order, in a temporary directory with sample photographs, and do what their comment says."""

from __future__ import annotations

import ast
import re
import shlex
from pathlib import Path

import numpy as np
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
FASTIP_PROGRAMS = ("fastip", "fastip-export", "fastip-bench", "fastip-train")
OTHER_PROGRAMS = (".", "python", "python3", "pip", "bash", "tritonserver", "ray")  # set-up, test and server commands: not run here


def blocks() -> list[tuple[str, str]]:
    """(language, text) of every fenced block in the README."""
    return re.findall(r"^```(\w*)\n(.*?)^```", README.read_text(encoding="utf-8"), flags=re.S | re.M)


def commands() -> list[list[str]]:
    """Every command of every shell block (a block whose lines start with a program), comments dropped, && split."""
    out = []
    for language, text in blocks():
        if language:
            continue
        lines = [line for line in text.splitlines() if line.strip()]
        programs = [line.split()[0] for line in lines]
        known = [p in FASTIP_PROGRAMS + OTHER_PROGRAMS for p in programs]
        if not any(known):
            continue  # a layout or diagram block
        assert all(known), f"README block mixes commands with unknown programs: {programs}"
        for line in lines:
            out.extend(_split_and(line))
    return out


def _split_and(line: str) -> list[list[str]]:
    tokens = shlex.split(line, comments=True)
    parts, current = [], []
    for token in tokens:
        if token == "&&":
            parts.append(current)
            current = []
        else:
            current.append(token)
    return [p for p in [*parts, current] if p]


def _parser(program: str):
    pytest.importorskip("torch")
    from fastip.cli import bench_cmd, export_cmd, main, train_cmd

    return {"fastip": main, "fastip-export": export_cmd, "fastip-bench": bench_cmd, "fastip-train": train_cmd}[program].build_parser()


def test_readme_has_the_commands_it_documents():
    programs = {c[0] for c in commands()}
    assert set(FASTIP_PROGRAMS) <= programs
    assert sum(c[0] in FASTIP_PROGRAMS for c in commands()) >= 30


@pytest.mark.parametrize("argv", [c for c in commands() if c[0] in FASTIP_PROGRAMS], ids=lambda c: " ".join(c)[:70])
def test_every_readme_command_parses(argv):
    parser = _parser(argv[0])
    try:
        args = parser.parse_args(argv[1:])
    except SystemExit as exc:
        pytest.fail(f"README command does not parse: {' '.join(argv)} (exit {exc.code})")
    assert hasattr(args, "func") or argv[0] == "fastip-bench", " ".join(argv)


def test_python_block_list_models_comment_is_true():
    pytest.importorskip("torch")
    from fastip import models

    python = next(text for language, text in blocks() if language == "python")
    line = next(line for line in python.splitlines() if line.startswith("models.list_models("))
    call, _, comment = line.partition("#")
    pattern = ast.literal_eval(call.strip()[len("models.list_models("):-1])
    assert models.list_models(pattern) == ast.literal_eval(comment.strip())


# --- the cheap commands, run in README order ---------------------------------------------------------------

def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    from fastip.benchmarks.quality import psnr

    return psnr(a, b)


def _expect_smoothed(workdir: Path, out: str, _) -> None:
    """`# the photo, TV-L1 smoothed`: changed, and nearer the TV-L1 operator's result than the photo is."""
    from fastip import operators
    from fastip.images import read_image

    photo, result = read_image(workdir / "photo.jpg"), read_image(workdir / "smoothed.png")
    reference = operators.apply("tv_l1", photo)
    assert _psnr(result, photo) < 45.0, "the photo came back (nearly) unchanged"
    assert _psnr(result, reference) > _psnr(photo, reference) + 3.0


def _expect(text: str):
    def check(workdir: Path, out: str, err: str) -> None:
        assert text in out + err, f"expected {text!r} in:\n{out}\n{err}"
    return check


def _expect_trained(bundle: str, weights: str):
    def check(workdir: Path, out: str, err: str) -> None:
        from fastip.bundle import Bundle

        m = Bundle.load(workdir / bundle).manifest
        assert not m.untrained and m.source.get("weights") == weights and "UNTRAINED" not in out + err
    return check


# command text (as in the README, comments dropped) -> what its comment promises
def _expect_changed(image: str, sample: str):
    """A real result: the photo changed (not returned as is), and still the photo (not noise)."""
    def check(workdir: Path, out: str, err: str) -> None:
        from fastip.images import read_image, sample_image

        value = _psnr(read_image(workdir / image), sample_image(sample))
        assert 25.0 < value < 45.0, f"{image}: PSNR {value:.1f} dB against the input"
    return check


RUN = {
    "fastip-export can24 --weights rof --target openvino -o out/can24-rof": _expect_trained("out/can24-rof", "rof"),
    "fastip run out/can24-rof sample:astronaut -o out/astronaut-rof.png --backend openvino":
        _expect_changed("out/astronaut-rof.png", "astronaut"),
    "fastip models -v": _expect("weights photos (default)"),
    "fastip-export can24 --weights tv_l1 --target onnx -o out/can24": _expect_trained("out/can24", "tv_l1"),
    "fastip-export can24 --weights tv_l1 --target openvino -o out/can24-ov": _expect("openvino"),
    "fastip-export fsrcnn_x2 --target onnx -o out/fsrcnn": _expect_trained("out/fsrcnn", "photos"),
    "fastip-export model.onnx --family sr --target openvino -o out/imported": _expect("validated on"),
    "fastip run out/can24-ov photo.jpg -o smoothed.png --backend openvino": _expect_smoothed,
    "fastip info out/can24": _expect("weights: tv_l1"),
    "fastip validate out/can24-ov --images photos/": _expect("checks passed"),
    "fastip operators list": _expect("l0_smoothing"),
}


@pytest.mark.slow
def test_cheap_readme_commands_do_what_their_comments_say(tmp_path, monkeypatch, capsys):
    pytest.importorskip("torch")
    pytest.importorskip("openvino")
    from fastip.cli import bench_cmd, export_cmd, main, train_cmd
    from fastip.images import sample_image, write_image

    entry = {"fastip": main.main, "fastip-export": export_cmd.main, "fastip-bench": bench_cmd.main,
             "fastip-train": train_cmd.main}
    photo = np.ascontiguousarray(sample_image("astronaut")[40:200, 140:340])
    write_image(tmp_path / "photo.jpg", photo)
    write_image(tmp_path / "photos" / "photo.jpg", photo)
    monkeypatch.chdir(tmp_path)
    ran = []
    for argv in commands():
        text = " ".join(argv)
        if text not in RUN or text in ran:  # each once, at its first place in the README
            continue
        if argv[1] == "model.onnx":  # "an ONNX file you already have": the SR model exported just before
            (tmp_path / "model.onnx").write_bytes((tmp_path / "out" / "fsrcnn" / "model.onnx").read_bytes())
        capsys.readouterr()
        rc = entry[argv[0]](argv[1:])
        out, err = capsys.readouterr()
        assert rc == 0, f"{text} exited {rc}:\n{err}"
        RUN[text](tmp_path, out, err)
        ran.append(text)
    assert ran == list(RUN), f"README order or content changed; ran {ran}"


@pytest.mark.slow
def test_python_block_runs(tmp_path, monkeypatch, capsys):
    """The Python API block runs as written, given an image `image` and a tensor `x`."""
    pytest.importorskip("torch")
    pytest.importorskip("openvino")
    from fastip.images import sample_image
    from fastip.pipeline import to_tensor
    from fastip.spec import ImageIO

    image = np.ascontiguousarray(sample_image("coffee")[:96, :128])
    namespace = {"image": image, "x": to_tensor(image, ImageIO())}
    monkeypatch.chdir(tmp_path)
    python = next(text for language, text in blocks() if language == "python")
    exec(compile(python, str(README), "exec"), namespace)  # noqa: S102 - the README's own example
    assert namespace["bundle"].manifest.source["weights"] == "tv_l1"
    assert namespace["y"].shape == namespace["x"].shape
    assert namespace["smoothed"].shape == image.shape and namespace["smoothed"].dtype == np.uint8
