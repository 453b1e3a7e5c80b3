"""Triton (and KServe v2) model repositories from bundles, and a local Triton server to test them against."""

from fastip.serving.triton.config import ModelConfig, ServingOptions, check_model_name, sanitise_model_name
from fastip.serving.triton.repository import KINDS, write_repository

__all__ = ["KINDS", "ModelConfig", "ServingOptions", "check_model_name", "sanitise_model_name", "write_repository"]
