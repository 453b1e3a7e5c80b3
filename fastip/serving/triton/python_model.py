"""The Triton Python-backend model that serves a bundle's image pipeline (runs inside Triton's Python stub).

Triton imports `model.py` from the model's version directory; the one written there imports this class. The bundle
sits beside it (`<model>/1/bundle/`) and is loaded with every sha256 checked. Each `execute` receives the requests
the dynamic batcher gathered; images of one size (any size for detectors, which letterbox) run as one batch.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

IMAGE_INPUT = "IMAGE"
IMAGE_OUTPUT = "RESULT"
DETECTION_OUTPUTS = ("BOXES", "SCORES", "KEYPOINTS")


class TritonPythonModel:
    """fastip's Pipeline (pre-processing, Session, post-processing) behind Triton's Python backend API."""

    def initialize(self, args: dict[str, str]) -> None:
        from fastip.pipeline import ImagePipeline, open_pipeline

        config = json.loads(args["model_config"])
        params = {k: v["string_value"] for k, v in config.get("parameters", {}).items()}
        bundle = Path(args["model_repository"]) / args["model_version"] / "bundle"
        options: dict[str, Any] = {"precision": params.get("fastip_precision", "fp32")}
        if params.get("fastip_threads"):
            options["threads"] = int(params["fastip_threads"])
        backend = params.get("fastip_backend", "ort")
        if backend == "openvino":
            options["hint"] = params.get("fastip_ov_hint", "latency")
        self.pipeline = open_pipeline(bundle, backend, **options)
        choice = getattr(self.pipeline.session, "choice", None)
        if choice is not None:  # backend auto: measured (or read from its cache) on this server at load; say what won
            print(f"fastip: {args.get('model_name', 'model')}: backend auto chose {choice.reason}", file=sys.stderr, flush=True)
        self.detector = not isinstance(self.pipeline, ImagePipeline)
        self.max_batch = max(1, int(config.get("max_batch_size", 1)))

    def execute(self, requests: list) -> list:
        import triton_python_backend_utils as pb_utils

        images, owners, responses = [], [], [None] * len(requests)
        for index, request in enumerate(requests):
            batch = pb_utils.get_input_tensor_by_name(request, IMAGE_INPUT).as_numpy()
            if batch.ndim != 4 or batch.shape[-1] != 3 or batch.dtype != np.uint8:
                responses[index] = _error(pb_utils, f"{IMAGE_INPUT} must be uint8 [batch, height, width, 3], "
                                                    f"got {batch.dtype} {list(batch.shape)}")
                continue
            images.extend(batch)
            owners.extend([index] * len(batch))
        try:
            results = self._run(images)
        except Exception as exc:  # one bad image fails its requests, not the server
            return [r or _error(pb_utils, str(exc)) for r in responses]
        per_request: dict[int, list] = {}
        for owner, result in zip(owners, results):
            per_request.setdefault(owner, []).append(result)
        for index, outputs in per_request.items():
            responses[index] = pb_utils.InferenceResponse(output_tensors=self._tensors(pb_utils, outputs))
        return responses

    def _run(self, images: list[np.ndarray]) -> list:
        """Results in input order; equal shapes share a Session run of at most max_batch images."""
        results: list = [None] * len(images)
        groups: dict[tuple, list[int]] = {}
        for i, image in enumerate(images):
            groups.setdefault(() if self.detector else image.shape, []).append(i)
        for members in groups.values():
            for start in range(0, len(members), self.max_batch):
                chunk = members[start:start + self.max_batch]
                for i, result in zip(chunk, self.pipeline.batch([images[i] for i in chunk])):
                    results[i] = result
        return results

    def _tensors(self, pb_utils, results: list) -> list:
        if not self.detector:  # the images of one request share one size
            return [pb_utils.Tensor(IMAGE_OUTPUT, np.stack(results))]
        most = max(len(r) for r in results)
        points = max((len(d.keypoints) for r in results for d in r), default=0)
        boxes = np.zeros((len(results), most, 4), np.float32)
        scores = np.full((len(results), most), -1.0, np.float32)  # -1 marks padding when a request has several images
        keypoints = np.zeros((len(results), most, points, 2), np.float32)
        for i, detections in enumerate(results):
            for j, d in enumerate(detections):
                boxes[i, j], scores[i, j] = d.box, d.score
                keypoints[i, j, :len(d.keypoints)] = d.keypoints
        return [pb_utils.Tensor(name, value) for name, value in zip(DETECTION_OUTPUTS, (boxes, scores, keypoints))]

    def finalize(self) -> None:
        self.pipeline.close()


def _error(pb_utils, message: str):
    return pb_utils.InferenceResponse(output_tensors=[], error=pb_utils.TritonError(message))
