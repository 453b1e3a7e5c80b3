"""Classical reference operators the CAN models approximate, applied as `apply(name, image, **params)`."""

from fastip.operators.registry import Operator, apply, get, list_operators
from fastip.operators.resample import bicubic_upscale

__all__ = ["Operator", "apply", "bicubic_upscale", "get", "list_operators"]
