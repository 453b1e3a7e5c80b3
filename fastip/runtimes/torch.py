"""PyTorch backend: the reference every exported artifact is validated against."""

from __future__ import annotations

import threading
from typing import Mapping

import numpy as np

from fastip.errors import require
from fastip.runtimes.base import Session
from fastip.spec import TensorSpec


class _ThreadScope:
    """torch's intra-op thread count is process-wide: runs that want different counts take turns.

    Runs wanting the same count (None: the process's own setting) overlap; a run wanting another
    count waits until those finish, sets its count, and the last run out restores the original."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._active = 0
        self._current: int | None = None
        self._original: int | None = None

    def enter(self, torch, threads: int | None) -> None:
        with self._cond:
            while self._active and self._current != threads:
                self._cond.wait()
            if not self._active:
                self._original = torch.get_num_threads()
                if threads is not None and threads != self._original:
                    torch.set_num_threads(threads)
                self._current = threads
            self._active += 1

    def exit(self, torch) -> None:
        with self._cond:
            self._active -= 1
            if not self._active:
                if self._original is not None and torch.get_num_threads() != self._original:
                    torch.set_num_threads(self._original)
                self._cond.notify_all()


_SCOPE = _ThreadScope()


class TorchSession(Session):
    """An nn.Module in eval mode (deploy form) run under inference_mode on the CPU.

    `threads` applies to this session's runs only: fastip's torch sessions with other thread counts
    wait for each other (see _ThreadScope). torch code outside fastip that runs at the same time
    still sees the count, as torch offers no per-call setting."""

    backend = "torch"

    def __init__(self, module, inputs: list[TensorSpec], outputs: list[TensorSpec], *, threads: int | None = None):
        torch = require("torch", "torch", "the torch backend")
        super().__init__(inputs, outputs)
        self._torch = torch
        self._module = module.eval()
        self._threads = int(threads) if threads else None

    def _run(self, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        torch = self._torch
        args = [torch.from_numpy(np.ascontiguousarray(feed[spec.name])) for spec in self.inputs]
        _SCOPE.enter(torch, self._threads)
        try:
            with torch.inference_mode():
                outs = self._module(*args)
        finally:
            _SCOPE.exit(torch)
        outs = outs if isinstance(outs, (tuple, list)) else (outs,)
        return {spec.name: out.numpy() for spec, out in zip(self.outputs, outs)}

    def _release(self) -> None:
        self._module = None
