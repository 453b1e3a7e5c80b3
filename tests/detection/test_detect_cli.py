"""`fastip detect`: JSON boxes and a drawn image from a bundle; errors are one line and a non-zero exit."""

import json

import numpy as np
import pytest

from fastip.images import read_image, sample_image, write_image

pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def astronaut_png(tmp_path_factory):
    return write_image(tmp_path_factory.mktemp("images") / "astronaut.png", sample_image("astronaut"))


def test_detect_writes_json_and_drawing(random_bundle, astronaut_png, tmp_path):
    from fastip.cli.main import main

    out, drawn = tmp_path / "boxes.json", tmp_path / "drawn.png"
    code = main(["detect", str(random_bundle.root), str(astronaut_png), "-o", str(out), "--draw", str(drawn),
                 "--score-threshold", "0", "--max-faces", "2", "--iou-threshold", "0.4"])
    assert code == 0
    record = json.loads(out.read_text())
    assert (record["width"], record["height"], record["backend"]) == (512, 512, "ort")
    assert 1 <= len(record["detections"]) <= 2
    assert read_image(drawn).shape == (512, 512, 3)


def test_detect_prints_the_mediapipe_face(mediapipe_bundle, astronaut_png, capsys):
    from fastip.cli.main import main

    assert main(["detect", str(mediapipe_bundle.root), str(astronaut_png)]) == 0
    record = json.loads(capsys.readouterr().out)
    assert len(record["detections"]) == 1
    assert np.allclose(record["detections"][0]["box"], [177.3, 80.6, 271.8, 175.1], atol=1.0)


def test_detect_errors_are_one_line(random_bundle, astronaut_png, tmp_path, capsys):
    from fastip.cli.main import main

    assert main(["detect", str(random_bundle.root), str(tmp_path / "missing.png")]) == 2
    assert "image file not found" in capsys.readouterr().err
    assert main(["detect", str(random_bundle.root), str(astronaut_png), "--score-threshold", "2"]) == 2
    assert "score threshold" in capsys.readouterr().err
