"""The optional libraries operators import when they run, with errors that name the package to install."""

from __future__ import annotations

from types import ModuleType

from fastip.errors import MissingDependencyError, reraise_interrupt, require

OPENCV_PIP = "pip install opencv-contrib-python-headless"


def cv2(purpose: str, *, contrib: bool = False) -> ModuleType:
    """Import OpenCV (with cv2.ximgproc when `contrib`) or raise MissingDependencyError."""
    try:
        import cv2 as module
    except ImportError as exc:
        reraise_interrupt(exc)
        raise MissingDependencyError(f"{purpose} needs OpenCV, which is not installed: {OPENCV_PIP} "
                                     "(or pip install 'fastip[operators]')") from exc
    if contrib and not hasattr(module, "ximgproc"):
        raise MissingDependencyError(f"{purpose} needs OpenCV's contrib module cv2.ximgproc: "
                                     f"pip uninstall opencv-python opencv-python-headless && {OPENCV_PIP}")
    return module


def module(name: str, purpose: str) -> ModuleType:
    """Import scipy/skimage submodules or raise MissingDependencyError naming the `operators` extra."""
    return require(name, "operators", purpose)
