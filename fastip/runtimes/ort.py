"""ONNX Runtime backend (CPU; CUDA and TensorRT execution providers where installed)."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np

from fastip.errors import BundleError, require
from fastip.runtimes.base import Session
from fastip.spec import TensorSpec

OPT_LEVELS = ("disable", "basic", "extended", "all")


class OrtSession(Session):
    """An onnxruntime.InferenceSession behind the Session contract; `model` is a path or the model's bytes."""

    backend = "ort"

    def __init__(self, model: Path | bytes, inputs: list[TensorSpec], outputs: list[TensorSpec], *,
                 threads: int | None = None, providers: list[str] | None = None, opt_level: str = "all",
                 optimized_path: Path | None = None, label: str | None = None):
        ort = require("onnxruntime", "ort", "the ort backend")
        super().__init__(inputs, outputs)
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        # Spin-wait between operators inside a run, but not after it: threads spinning on after Run() returns
        # take the cores from the caller's own work (image conversion, decoding), which then takes twice as long.
        options.add_session_config_entry("session.force_spinning_stop", "1")
        options.graph_optimization_level = {
            "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
            "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
            "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
            "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        }[opt_level]
        if optimized_path is not None:
            options.optimized_model_filepath = str(optimized_path)
        available = ort.get_available_providers()
        chosen = [p for p in (providers or ["CPUExecutionProvider"]) if p in available] or ["CPUExecutionProvider"]
        try:
            source = model if isinstance(model, bytes) else str(model)
            self._session = ort.InferenceSession(source, options, providers=chosen)
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/... types
            raise BundleError(f"ONNX Runtime cannot load {label or ('a model in memory' if isinstance(model, bytes) else model)}: {exc}") from exc
        self.providers = self._session.get_providers()
        self._names = [o.name for o in self._session.get_outputs()]

    def _run(self, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return dict(zip(self._names, self._session.run(self._names, dict(feed))))

    def _release(self) -> None:
        self._session = None
