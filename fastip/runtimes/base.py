"""The Session contract every backend implements: inputs, outputs, run(feed), close()."""

from __future__ import annotations

import abc
import threading
from typing import Mapping

import numpy as np

from fastip.errors import InputError
from fastip.spec import TensorSpec


class SessionClosedError(InputError):
    """The session was closed (perhaps by another thread) before or while this run was asked for."""


class Session(abc.ABC):
    """A loaded model on one backend. Feeds are dicts of named ndarrays, checked against `inputs`.

    Thread-safe to close: `close()` marks the session closed, waits for runs in flight to finish,
    then releases the backend; a run asked for after that raises SessionClosedError.
    `activation` and `memory_budget` (set by `runtimes.open`) refuse inputs too large to run."""

    backend: str = ""
    precision: str = "fp32"  # what runs: set by runtimes.open from the request or the bundle
    choice = None  # for backend="auto": the fastip.runtimes.auto.Choice that picked this session

    def __init__(self, inputs: list[TensorSpec], outputs: list[TensorSpec]):
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        self._closed = False
        self._state = threading.Condition()
        self._active = 0
        self.activation = None  # fastip.runtimes.memory.ActivationModel
        self.memory_budget: int | None = None

    def run(self, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run one inference; returns every output by name."""
        with self._state:
            if self._closed:
                raise SessionClosedError(f"this {self.backend} session is closed; open a new one")
            self._active += 1
        try:
            self.check_feed(feed)
            first = feed[self.inputs[0].name]
            if self.activation is not None:
                from fastip.runtimes.memory import check_budget

                check_budget(self.activation, first.shape, self.memory_budget)
            try:
                return self._run(feed)
            except (InputError, KeyboardInterrupt):
                raise
            except Exception as exc:
                from fastip.runtimes.memory import out_of_memory

                error = out_of_memory(exc, self.backend, first.shape)
                if error is None:
                    raise
                raise error from exc
        finally:
            with self._state:
                self._active -= 1
                if not self._active:
                    self._state.notify_all()

    @abc.abstractmethod
    def _run(self, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Backend-specific inference on an already-checked feed."""

    def _release(self) -> None:
        """Backend-specific: drop the runtime's objects (called once, with no run in flight)."""

    def check_feed(self, feed: Mapping[str, np.ndarray]) -> None:
        """Raise InputError unless `feed` has exactly the declared inputs with fitting rank, dtype and dims."""
        if not isinstance(feed, Mapping):
            raise InputError(f"feed must be a dict of name -> ndarray, got {type(feed).__name__}")
        expected = {t.name for t in self.inputs}
        if set(feed) != expected:
            raise InputError(f"feed has inputs {sorted(feed)}, the model takes {sorted(expected)}")
        for spec in self.inputs:
            check_tensor(spec, feed[spec.name])

    def close(self) -> None:
        """Release the backend's resources once runs in flight finish; the session can no longer run."""
        with self._state:
            if self._closed:
                return
            self._closed = True
            while self._active:
                self._state.wait()
        self._release()

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        ins = ", ".join(f"{t.name}{list(t.shape)}" for t in self.inputs)
        return f"<{type(self).__name__} backend={self.backend} inputs=[{ins}]>"


def check_tensor(spec: TensorSpec, value: np.ndarray) -> None:
    """Check one array against its TensorSpec, with a message that says what to change."""
    if not isinstance(value, np.ndarray):
        raise InputError(f"input {spec.name!r} must be a numpy array, got {type(value).__name__}")
    if value.dtype != np.dtype(spec.dtype):
        raise InputError(f"input {spec.name!r} must be {spec.dtype}, got {value.dtype}; convert with .astype(np.{spec.dtype})")
    if value.ndim != spec.rank:
        raise InputError(f"input {spec.name!r} must have rank {spec.rank} ({spec.layout} {list(spec.shape)}), got shape {value.shape}")
    for axis, (want, got) in enumerate(zip(spec.shape, value.shape)):
        if got == 0:
            raise InputError(f"input {spec.name!r} has an empty axis {axis} (shape {value.shape})")
        if isinstance(want, int) and want != got:
            what = "channels" if spec.layout == "NCHW" and axis == 1 else f"axis {axis}"
            raise InputError(f"input {spec.name!r} needs {want} {what}, got {got} (shape {value.shape}, expected {list(spec.shape)})")
    # One summation pass in the array's own dtype (vectorised, no casting) finds NaN/Inf cheaply; only then,
    # or when large finite values overflow the sum, is the exact count computed.
    if value.dtype.kind == "f" and not np.isfinite(value.sum()):
        bad = int(value.size - np.count_nonzero(np.isfinite(value)))
        if bad:
            raise InputError(f"input {spec.name!r} contains {bad} NaN or Inf values; clean the input (np.nan_to_num) before running")
