"""PyTorch backend: the reference every exported artifact is validated against."""

from __future__ import annotations

import threading
from typing import Mapping

import numpy as np

from fastip.errors import require
from fastip.runtimes.base import Session
from fastip.spec import TensorSpec


class TorchSession(Session):
    """An nn.Module in eval mode (deploy form) run under inference_mode on the CPU."""

    backend = "torch"

    def __init__(self, module, inputs: list[TensorSpec], outputs: list[TensorSpec], *, threads: int | None = None):
        torch = require("torch", "torch", "the torch backend")
        super().__init__(inputs, outputs)
        self._torch = torch
        self._module = module.eval()
        self._threads = threads
        self._lock = threading.Lock() if threads else None

    def _run(self, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        torch = self._torch
        args = [torch.from_numpy(np.ascontiguousarray(feed[spec.name])) for spec in self.inputs]
        if self._lock is None:
            outs = self._forward(args)
        else:
            with self._lock:  # torch's thread count is process-wide: set it only around our own call
                previous = torch.get_num_threads()
                torch.set_num_threads(self._threads)
                try:
                    outs = self._forward(args)
                finally:
                    torch.set_num_threads(previous)
        return {spec.name: out.numpy() for spec, out in zip(self.outputs, outs)}

    def _forward(self, args):
        with self._torch.inference_mode():
            outs = self._module(*args)
        return outs if isinstance(outs, (tuple, list)) else (outs,)

    def close(self) -> None:
        self._module = None
        super().close()
