"""Training CAN operator approximations and super-resolution networks on small image sets."""

from fastip.train.data import HELD_OUT, TRAIN_SAMPLES
from fastip.train.loop import TrainConfig, TrainResult

__all__ = ["HELD_OUT", "TRAIN_SAMPLES", "TrainConfig", "TrainResult", "train_can", "train_sr"]


def train_can(*args, **kwargs) -> TrainResult:
    """Train a CAN to approximate a reference operator (see fastip.train.can.train_can)."""
    from fastip.train.can import train_can as _train

    return _train(*args, **kwargs)


def train_sr(*args, **kwargs) -> TrainResult:
    """Train a super-resolution network against bicubic-downscaled inputs (see fastip.train.sr.train_sr)."""
    from fastip.train.sr import train_sr as _train

    return _train(*args, **kwargs)
