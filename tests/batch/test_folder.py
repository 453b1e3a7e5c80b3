"""`fastip run` on folders: the same bytes as one run per image, resume, one error line per bad file."""

from __future__ import annotations

import io
import json
import shutil

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("onnxruntime")

from fastip.batch import RunSettings, plan_jobs, run_folder  # noqa: E402
from fastip.batch.journal import JOURNAL_NAME  # noqa: E402
from fastip.batch.overlap import Outcome  # noqa: E402
from fastip.batch.progress import BatchReport, Progress  # noqa: E402
from fastip.cli import main  # noqa: E402
from fastip.errors import InputError  # noqa: E402
from tests.support import has  # noqa: E402


@pytest.fixture(scope="module")
def singles(can_bundle, photo_folder, tmp_path_factory):
    """Each photo run on its own with `fastip run BUNDLE IMAGE -o OUT`: name -> output bytes."""
    out = tmp_path_factory.mktemp("singles")
    result = {}
    for src in sorted(photo_folder.iterdir()):
        assert main.main(["run", str(can_bundle.root), str(src), "-o", str(out / src.name)]) == 0
        result[src.name] = (out / src.name).read_bytes()
    return result


def outputs(folder) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if not p.name.startswith(".")}


def test_folder_run_equals_single_runs(can_bundle, photo_folder, singles, tmp_path, capsys):
    assert len(singles) >= 20
    out = tmp_path / "out"
    assert main.main(["run", str(can_bundle.root), str(photo_folder), "-o", str(out)]) == 0
    assert outputs(out) == singles
    err = capsys.readouterr().err
    assert f"{len(singles)} images on ort, 1 at once: {len(singles)} written in" in err
    assert "images/s" in err and "\r" not in err  # not a terminal: the summary only


def test_glob_and_several_files(can_bundle, photo_folder, singles, tmp_path):
    """Two concurrent runs of one ONNX Runtime session give the same bytes too."""
    out = tmp_path / "out"
    assert main.main(["run", str(can_bundle.root), str(photo_folder / "*.jpg"), "-o", str(out), "--workers", "2"]) == 0
    assert outputs(out) == {k: v for k, v in singles.items() if k.endswith(".jpg")}
    two = sorted(photo_folder.glob("*.png"))[:2]
    assert main.main(["run", str(can_bundle.root), *map(str, two), "-o", str(tmp_path / "two")]) == 0
    assert outputs(tmp_path / "two") == {p.name: singles[p.name] for p in two}


def test_format_option_renames_outputs(can_bundle, photo_folder, tmp_path):
    out = tmp_path / "out"
    report = run_folder(can_bundle.root, [photo_folder / "photo00.jpg", photo_folder / "photo01.png"], out,
                        fmt="webp", stream=None)
    assert report.written == 2 and sorted(outputs(out)) == ["photo00.webp", "photo01.webp"]


@pytest.mark.skipif(not has("openvino"), reason="needs openvino")
def test_openvino_throughput_run_equals_single_runs(can_bundle, photo_folder, tmp_path):
    """OpenVINO folder runs use the throughput hint with its optimal number of requests in flight."""
    files = sorted(photo_folder.iterdir())[:6]
    single = tmp_path / "single"
    for src in files:
        assert main.main(["run", str(can_bundle.root), str(src), "-o", str(single / src.name),
                          "--backend", "openvino"]) == 0
    report = run_folder(can_bundle.root, files, tmp_path / "out", RunSettings(backend="openvino", hint="throughput"),
                        stream=None)
    assert report.written == 6
    # Another hint runs other streams and thread splits, whose float sums OpenVINO does not promise to keep
    # bit-identical: equal bytes, or decoded images within 45 dB of each other (a wrong model or image is < 30).
    got, want = outputs(tmp_path / "out"), outputs(single)
    assert got.keys() == want.keys()
    for name in want:
        if got[name] != want[name]:
            a, b = (np.asarray(Image.open(io.BytesIO(x)).convert("RGB"), np.float64) for x in (got[name], want[name]))
            assert a.shape == b.shape and 10 * np.log10(255 ** 2 / max(np.mean((a - b) ** 2), 1e-12)) >= 45, name


def test_resume_skips_verified_outputs_and_redoes_the_rest(can_bundle, photo_folder, singles, tmp_path):
    src = tmp_path / "photos"
    shutil.copytree(photo_folder, src)
    out = tmp_path / "out"
    first = run_folder(can_bundle.root, [src], out, stream=None)
    assert first.written == len(singles) and first.skipped == 0
    (out / "photo00.jpg").unlink()                            # missing: redone
    (out / "photo03.jpg").write_bytes(b"truncated")           # corrupt: redone
    shutil.copy(src / "photo02.png", src / "photo01.png")     # input changed: redone
    with open(out / JOURNAL_NAME, "a") as f:
        f.write('{"name": "photo05.png", "settings"')         # a line torn by a crash: ignored
    again = run_folder(can_bundle.root, [src], out, stream=None)
    assert (again.written, again.skipped, again.failed) == (3, len(singles) - 3, 0)
    expected = dict(singles, **{"photo01.png": singles["photo02.png"]})
    assert outputs(out) == expected
    lines = (out / JOURNAL_NAME).read_text().splitlines()
    assert len(lines) == len(singles) and all(json.loads(line)["name"] in singles for line in lines)
    # other settings make other outputs: nothing is skipped
    other = run_folder(can_bundle.root, [src], out, RunSettings(tile=256), stream=None)
    assert other.skipped == 0 and other.written == len(singles)
    assert run_folder(can_bundle.root, [src], out, stream=None, resume=False).skipped == 0


def test_bad_files_get_one_line_each_and_the_rest_is_written(can_bundle, photo_folder, singles, tmp_path, capsys):
    src = tmp_path / "photos"
    good = sorted(photo_folder.iterdir())[:3]
    src.mkdir()
    for p in good:
        shutil.copy(p, src / p.name)
    (src / "notes.jpg").write_text("not an image")
    (src / "cut.png").write_bytes((photo_folder / "photo01.png").read_bytes()[:200])
    (src / "empty.jpg").write_bytes(b"")
    (src / "gone.png").symlink_to(tmp_path / "nowhere.png")
    (src / "README.txt").write_text("ignored: not an image suffix")
    (src / "sub").mkdir()
    out = tmp_path / "out"
    assert main.main(["run", str(can_bundle.root), str(src), "-o", str(out)]) == 2
    err = _stderr(capsys)
    errors = [line for line in err if line.startswith("fastip: error: ")]
    bad = ("cut.png", "empty.jpg", "gone.png", "notes.jpg")
    assert sorted(line.split(": ")[2] for line in errors) == [str(src / n) for n in bad]
    assert len(err) == len(errors) + 1 and "3 written, 4 failed, 2 non-image entries ignored" in err[-1]
    assert outputs(out) == {p.name: singles[p.name] for p in good}


def test_name_collisions_and_missing_inputs_fail_alone(can_bundle, photo_folder, tmp_path, capsys):
    a, b = photo_folder / "photo00.jpg", photo_folder / "photo01.png"
    dup = tmp_path / "other"
    dup.mkdir()
    shutil.copy(b, dup / "photo00.png")
    rc = main.main(["run", str(can_bundle.root), str(a), str(dup / "photo00.png"), str(b), str(tmp_path / "nope.png"),
                    str(tmp_path / "*.tif"), "-o", str(tmp_path / "out"), "--format", "png"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "is also the output of" in err and "nope.png: no such file or folder" in err and "matches no files" in err
    assert sorted(outputs(tmp_path / "out")) == ["photo00.png", "photo01.png"]


@pytest.mark.parametrize("argv, message", [
    (["{src}", "-o", "{src}"], "would overwrite the input"),
    (["{src}", "-o", "{file}"], "is a file; give a folder"),
    (["{src}", "-o", "{out}", "--format", "gif"], "unknown output format 'gif'"),
    (["{src}", "-o", "{out}", "--workers", "0"], "--workers must be at least 1"),
    (["{src}", "-o", "{out}", "--actors", "2"], "--address and --actors go with --ray"),
    (["{empty}", "-o", "{out}"], "no images in"),
    (["{src}", "-o", "{out}", "--device", "CPU"], "for the openvino backend only"),
    (["{src}", "-o", "{out}", "--backend", "auto", "--device", "CPU"], "for the openvino backend only"),
])
def test_bad_runs_are_one_line_and_write_nothing(can_bundle, photo_folder, tmp_path, capsys, argv, message):
    (tmp_path / "empty").mkdir()
    (tmp_path / "afile").write_text("x")
    paths = {"src": photo_folder, "out": tmp_path / "out", "file": tmp_path / "afile", "empty": tmp_path / "empty"}
    argv = [a.format(**paths) for a in argv]
    before = sorted(p.name for p in photo_folder.iterdir())
    assert main.main(["run", str(can_bundle.root), *argv]) == 2
    err = _stderr(capsys)
    assert len(err) == 1 and err[0].startswith("fastip: error: ") and message in err[0], err
    assert not (tmp_path / "out").exists() and sorted(p.name for p in photo_folder.iterdir()) == before


@pytest.mark.skipif(not has("openvino"), reason="needs openvino")
@pytest.mark.parametrize("device", ["GPU", "NPU"])
def test_missing_openvino_device_is_one_line(can_bundle, photo_folder, tmp_path, capsys, device):
    import openvino as ov

    if any(d.split(".")[0] == device for d in ov.Core().available_devices):
        pytest.skip(f"this machine has an OpenVINO {device}")
    image = photo_folder / "photo00.jpg"
    for argv in (["run", str(can_bundle.root), str(image), "-o", str(tmp_path / "x.png")],
                 ["run", str(can_bundle.root), str(photo_folder), "-o", str(tmp_path / "out")]):
        assert main.main([*argv, "--backend", "openvino", "--device", device]) == 2
        err = _stderr(capsys)
        assert err == [f"fastip: error: OpenVINO device {device!r} is not available here (OpenVINO sees: "
                       f"{', '.join(ov.Core().available_devices)}); use --device CPU or AUTO"]
    assert not (tmp_path / "out").exists() and not (tmp_path / "x.png").exists()


def test_plan_keeps_glob_subfolders_in_output_names(tmp_path, photo_folder):
    (tmp_path / "a" / "b").mkdir(parents=True)
    shutil.copy(photo_folder / "photo00.jpg", tmp_path / "a" / "b" / "x.jpg")
    shutil.copy(photo_folder / "photo01.png", tmp_path / "a" / "y.png")
    plan = plan_jobs([str(tmp_path / "a" / "**" / "*.*")], tmp_path / "out")
    assert sorted(j.name for j in plan.jobs) == ["b/x.jpg", "y.png"]
    with pytest.raises(InputError, match="unknown output format"):
        plan_jobs([tmp_path / "a"], tmp_path / "out", suffix="exr")


def test_progress_line_shows_rate_and_eta_on_a_terminal():
    stream = io.StringIO()
    progress = Progress(BatchReport(total=4), stream=stream, interval=0.0, live=True)
    progress.add(Outcome("a.png", "a.png", "written"))
    progress.add(Outcome("b.png", "b.png", "failed", error="cannot read b.png"))
    report = progress.finish()
    text = stream.getvalue()
    assert "1/4 images" in text and "images/s, ETA" in text and "\r" in text
    assert "fastip: error: b.png: cannot read b.png\n" in text
    assert text.endswith(report.summary() + "\n") and (report.written, report.failed) == (1, 1)


def _stderr(capsys) -> list[str]:
    """Lines on stderr, less the warning every run of an untrained bundle (the test bundles are untrained) prints."""
    return [line for line in capsys.readouterr().err.strip().splitlines() if not line.startswith("warning: ")]
