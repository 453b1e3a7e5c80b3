"""OpenCV cascade face detection, the classical reference BlazeFace is measured against.

The cascade XML is found, in order: the path given, $FASTIP_HAAR_CASCADE, OpenCV's own
`cv2.data.haarcascades` (the opencv-python wheels ship haarcascade_frontalface_default.xml there),
then scikit-image's LBP cascade `skimage/data/lbpcascade_frontalface_opencv.xml`, which needs no
download (OpenCV 4 loads it; with OpenCV 5 it runs on scikit-image's cascade code).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np

from fastip.detection.types import Detection
from fastip.errors import BundleError, InputError, MissingDependencyError, require

ENV_VAR = "FASTIP_HAAR_CASCADE"
HAAR_FILE = "haarcascade_frontalface_default.xml"
LBP_FILE = "lbpcascade_frontalface_opencv.xml"


def cascade_path(path: str | os.PathLike | None = None) -> Path:
    """The cascade XML to use: `path`, $FASTIP_HAAR_CASCADE, OpenCV's Haar file or scikit-image's LBP file."""
    for explicit, origin in ((path, "the path given"), (os.environ.get(ENV_VAR) or None, f"${ENV_VAR}")):
        if explicit is not None:
            explicit = Path(explicit)
            if not explicit.is_file():
                raise InputError(f"cascade file {explicit} (from {origin}) does not exist")
            return explicit
    for candidate in _installed_cascades():
        if candidate.is_file():
            return candidate
    raise MissingDependencyError(
        f"no face cascade found; set ${ENV_VAR} to {HAAR_FILE} (inside any opencv-python wheel, under cv2/data/) "
        "or pip install scikit-image for its LBP cascade")


def _installed_cascades() -> list[Path]:
    found = []
    cv2_spec = importlib.util.find_spec("cv2")
    if cv2_spec and cv2_spec.submodule_search_locations:
        found.append(Path(next(iter(cv2_spec.submodule_search_locations))) / "data" / HAAR_FILE)
    skimage_spec = importlib.util.find_spec("skimage")
    if skimage_spec and skimage_spec.submodule_search_locations:
        found.append(Path(next(iter(skimage_spec.submodule_search_locations))) / "data" / LBP_FILE)
    return found


class CascadeDetector:
    """A cascade face detector returning Detection values (score 1.0: cascades give no confidence).

    Runs on cv2.CascadeClassifier when OpenCV can load the file; OpenCV 5 dropped LBP cascades, so an
    LBP file it rejects runs on scikit-image's own cascade implementation instead.
    """

    def __init__(self, path: str | os.PathLike | None = None, *, scale_factor: float = 1.1, min_neighbors: int = 5,
                 min_size_fraction: float = 0.1):
        if scale_factor <= 1.0 or min_neighbors < 1 or not 0.0 < min_size_fraction <= 1.0:
            raise InputError("cascade options need scale_factor > 1, min_neighbors >= 1 and 0 < min_size_fraction <= 1")
        self.scale_factor, self.min_neighbors, self.min_size_fraction = scale_factor, min_neighbors, min_size_fraction
        self.path = cascade_path(path)
        self.engine, self.classifier = self._load()

    def _load(self) -> tuple[str, object]:
        if importlib.util.find_spec("cv2") is not None:
            import cv2

            try:
                classifier = cv2.CascadeClassifier(str(self.path))
            except (cv2.error, SystemError):  # a malformed XML raises from inside OpenCV's parser
                classifier = None
            if classifier is not None and not classifier.empty():
                return "opencv", classifier
        if self.kind == "lbp" and importlib.util.find_spec("skimage") is not None:
            from skimage.feature import Cascade

            try:
                return "skimage", Cascade(str(self.path))
            except Exception as exc:  # its XML reader raises assorted errors on foreign files
                raise BundleError(f"scikit-image cannot load {self.path} as an LBP cascade: {exc}") from exc
        if importlib.util.find_spec("cv2") is None:
            require("cv2", "face", "the OpenCV Haar cascade face reference")
        raise BundleError(f"cannot load {self.path} as a cascade; give OpenCV's {HAAR_FILE} (or an LBP cascade)")

    @property
    def kind(self) -> str:
        """'lbp' or 'haar', from the cascade file's feature type."""
        with open(self.path, "rb") as f:
            head = f.read(4096)
        return "lbp" if b"<featureType>LBP" in head or "lbp" in self.path.name.lower() else "haar"

    def __call__(self, image: np.ndarray) -> list[Detection]:
        from fastip.images import as_uint8_rgb

        image = as_uint8_rgb(image)
        side = max(1, int(min(image.shape[:2]) * self.min_size_fraction))
        if self.engine == "opencv":
            import cv2

            gray = cv2.equalizeHist(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY))
            found = self.classifier.detectMultiScale(gray, scaleFactor=self.scale_factor,
                                                     minNeighbors=self.min_neighbors, minSize=(side, side))
            rects = [tuple(int(v) for v in r) for r in np.asarray(found).reshape(-1, 4)]
        else:
            from skimage.color import rgb2gray

            found = self.classifier.detect_multi_scale(
                img=rgb2gray(image), scale_factor=self.scale_factor, step_ratio=1, min_size=(side, side),
                max_size=image.shape[:2], min_neighbor_number=self.min_neighbors)
            rects = [(d["c"], d["r"], d["width"], d["height"]) for d in found]
        rects.sort(key=lambda r: -r[2] * r[3])
        return [Detection(box=(x, y, x + w, y + h), score=1.0) for x, y, w, h in rects]
