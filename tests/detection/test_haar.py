"""The cascade reference: finds the astronaut's face, nothing in coffee; files are found or refused clearly."""

import os

import numpy as np
import pytest

from fastip.detection.haar import ENV_VAR, CascadeDetector, cascade_path
from fastip.detection.nms import iou_matrix
from fastip.errors import BundleError, InputError
from fastip.images import sample_image
from tests.detection.conftest import ASTRONAUT_FACE
from tests.support import has

pytestmark = pytest.mark.skipif(not (has("cv2") or has("skimage")), reason="needs OpenCV or scikit-image")


def haar_xml():
    """OpenCV's Haar XML when $FASTIP_HAAR_CASCADE or cv2.data provides one; else skip."""
    path = cascade_path()
    if "haar" not in path.name:
        pytest.skip(f"no Haar cascade here; set ${ENV_VAR} to haarcascade_frontalface_default.xml")
    return path


@pytest.mark.parametrize("which", ["default", "haar"])
def test_astronaut_face_and_none_in_coffee(which):
    detector = CascadeDetector(haar_xml() if which == "haar" else None)
    faces = detector(sample_image("astronaut"))
    assert len(faces) == 1 and faces[0].score == 1.0
    # cascades frame the face higher (forehead, not chin) than BlazeFace: measured IoU ~0.72 for both files
    assert iou_matrix(np.array([faces[0].box]), np.array([ASTRONAUT_FACE]))[0, 0] >= 0.6
    assert detector(sample_image("coffee")) == []


def test_cascade_files_are_checked(tmp_path, monkeypatch):
    with pytest.raises(InputError, match="does not exist"):
        cascade_path(tmp_path / "nope.xml")
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "missing.xml"))
    with pytest.raises(InputError, match=ENV_VAR):
        cascade_path()
    junk = tmp_path / "junk.xml"
    junk.write_text("<opencv_storage></opencv_storage>")
    with pytest.raises(BundleError, match="cannot load"):
        CascadeDetector(junk)
    with pytest.raises(InputError):
        CascadeDetector(scale_factor=1.0)


def test_env_var_wins(tmp_path, monkeypatch):
    default = cascade_path()
    monkeypatch.setenv(ENV_VAR, os.fspath(default))
    assert cascade_path() == default
    assert cascade_path(default) == default
