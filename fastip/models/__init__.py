"""The model zoo: CAN (image operators), SR (super-resolution) and face detectors."""

from fastip.models.registry import ModelSpec, Weights, add_weights, get, list_models, register_model

__all__ = ["ModelSpec", "Weights", "add_weights", "get", "list_models", "register_model"]
