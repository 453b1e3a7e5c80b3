"""`fastip.ray`: Ray Data batch processing (fastip.serving.ray); needs `pip install 'fastip[ray]'` to run."""

from fastip.serving.ray import BundlePredictor, FileProcessor, connect, run_folder_on_ray

__all__ = ["BundlePredictor", "FileProcessor", "connect", "run_folder_on_ray"]
