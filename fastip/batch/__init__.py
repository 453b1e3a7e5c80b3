"""Whole folders through a bundle: decode, inference and encode overlapped, resumable, one error line per bad file."""

from fastip.batch.folder import FolderRun, RunSettings, open_image_pipeline, run_folder
from fastip.batch.jobs import Job, is_batch, plan_jobs
from fastip.batch.overlap import Outcome, process_jobs
from fastip.batch.progress import BatchReport

__all__ = ["BatchReport", "FolderRun", "Job", "Outcome", "RunSettings", "is_batch", "open_image_pipeline",
           "plan_jobs", "process_jobs", "run_folder"]
