"""One measurement in a fresh process: `python -m fastip.benchmarks.worker` reads a JSON spec on stdin, writes JSON.

Spec keys: kind ("model", "operator", "peak", "auto" or "widths"), threads, budget {warmup, min_runs, min_time}, timed (.npy uint8 HWC
path of the image to time), images (.npy paths each run once for quality), outputs (.npy paths, one per image).
A model spec adds bundle, backend, precision, hint, device (openvino), batch, requests, overhead_runs and pipeline_runs; an operator spec
adds operator, family, scale.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
import traceback
from typing import Any, Callable

import numpy as np


def pin_threads(threads: int | None) -> None:
    """Restrict this process to `threads` of the CPUs it may use (no-op where affinity is unsupported)."""
    if not threads or not hasattr(os, "sched_setaffinity"):
        return
    cpus = sorted(os.sched_getaffinity(0))
    if threads < len(cpus):
        os.sched_setaffinity(0, cpus[:threads])


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MiB.

    Linux's VmHWM belongs to this process image alone; ru_maxrss would also count the parent's memory at
    fork time, which in a benchmark worker is the orchestrating process, not the model.
    """
    try:
        for line in open("/proc/self/status", encoding="ascii"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024.0 * 1024.0) if sys.platform == "darwin" else rss / 1024.0


def _budget(spec: dict[str, Any]):
    from fastip.benchmarks.latency import Budget

    return Budget(**spec.get("budget", {}))


def _model_feed(image: np.ndarray, io, pipeline) -> dict[str, np.ndarray]:
    """The tensor the pipeline would feed the session for this image (timing excludes pre/post-processing)."""
    from fastip.pipeline import to_tensor

    if io.output == "detections":
        return {pipeline.input.name: pipeline.preprocess(image)[0]}
    m = io.size_multiple
    h, w = image.shape[:2]
    if -h % m or -w % m:
        image = np.pad(image, ((0, -h % m), (0, -w % m), (0, 0)), mode="edge")
    return {pipeline.input_name: to_tensor(image, io)}


def raw_backend_call(session, feed: dict[str, np.ndarray]) -> Callable[[], Any] | None:
    """The backend's own inference call on the same loaded model, bypassing fastip's Session layer."""
    if session.backend == "ort":
        inner, names = session._session, session._names  # the wrapped onnxruntime.InferenceSession
        return lambda: inner.run(names, feed)
    if session.backend == "openvino":
        request = session._compiled.create_infer_request()  # the wrapped ov.CompiledModel
        return lambda: request.infer(feed, share_inputs=True)
    return None


def run_model(spec: dict[str, Any]) -> dict[str, Any]:
    """Open the bundle, time its first inference, then its steady-state latency; run every image once."""
    from fastip import runtimes
    from fastip.benchmarks.concurrency import measure_load
    from fastip.benchmarks.latency import measure_pair
    from fastip.bundle import Bundle
    from fastip.pipeline import ImagePipeline

    images = [np.load(p) for p in spec["images"]]
    timed = np.load(spec["timed"])
    bundle = Bundle.load(spec["bundle"])
    io = bundle.manifest.io
    t0 = time.perf_counter()
    session = runtimes.open(bundle, spec["backend"], precision=spec["precision"], threads=spec.get("threads"),
                            hint=spec.get("hint", "latency"), device=spec.get("device"),
                            trust_code=bool(spec.get("trust_code")))
    if io.output == "detections":
        from fastip.detection.pipeline import FacePipeline

        pipeline = FacePipeline(session, io)
    else:
        pipeline = ImagePipeline(session, io)
    feed = _model_feed(timed, io, pipeline)
    session.run(feed)
    first_ms = (time.perf_counter() - t0) * 1000.0
    load = measure_load(session, feed, batch=int(spec.get("batch", 1)), requests=int(spec.get("requests", 1)),
                        budget=_budget(spec))
    reply: dict[str, Any] = {"latency": load.latency.to_dict(), "throughput": load.images_per_s,
                             "backend_info": load.backend_info, "first_inference_ms": first_ms}
    raw = raw_backend_call(session, feed) if spec.get("overhead_runs") else None
    if raw is not None:
        ours, theirs = measure_pair(lambda: session.run(feed), raw, spec["overhead_runs"])
        reply["overhead"] = {"fastip_ms": ours.p50, "raw_ms": theirs.p50, "ratio": ours.p50 / theirs.p50}
    if spec.get("pipeline_runs") and io.output == "image":
        # the whole uint8 image pipeline (conversion, padding, crop) against Session.run on its tensor, interleaved
        whole, bare = measure_pair(lambda: pipeline(timed), lambda: session.run(feed), spec["pipeline_runs"])
        reply["pipeline"] = {"pipeline_ms": whole.p50, "session_ms": bare.p50, "pipeline_ratio": whole.p50 / bare.p50}
    detections = []
    for image, out_path in zip(images, spec.get("outputs", [])):
        result = pipeline(image)
        if io.output == "detections":
            detections.append([d.to_dict() for d in result])
        else:
            np.save(out_path, result)
    if detections:
        reply["detections"] = detections
    session.close()
    reply["peak_rss_mb"] = peak_rss_mb()
    return reply


def operator_call(spec: dict[str, Any], image: np.ndarray) -> tuple[str, Callable[[], Any]]:
    """The family's classical reference on `image`: (name, zero-argument call)."""
    family = spec.get("family", "can")
    if family == "sr":
        scale = int(spec["scale"])
        try:
            from fastip.operators.resample import bicubic_upscale
        except ImportError:  # the operators package is optional; PIL's bicubic is the same filter family
            from PIL import Image

            size = (image.shape[1] * scale, image.shape[0] * scale)
            return "bicubic (PIL)", lambda: np.asarray(Image.fromarray(image).resize(size, Image.BICUBIC))
        return "bicubic_upscale", lambda: bicubic_upscale(image, scale)
    if family == "face":
        from fastip.detection.haar import CascadeDetector

        detector = CascadeDetector()
        return "haar_cascade", lambda: detector(image)
    from fastip import operators

    name, params = spec["operator"], spec.get("params", {})
    return name, lambda: operators.apply(name, image, **params)


def run_operator(spec: dict[str, Any]) -> dict[str, Any]:
    """Time the reference operator on the first image, then run it once per image for quality."""
    from fastip.benchmarks.latency import measure

    images = [np.load(p) for p in spec["images"]]
    name, call = operator_call(spec, np.load(spec["timed"]))
    last: list[Any] = []

    def timed() -> None:
        last[:] = [call()]

    latency = measure(timed, _budget(spec))
    reply: dict[str, Any] = {"name": name, "latency": latency.to_dict()}
    detections = []
    for i, (image, out_path) in enumerate(zip(images, spec.get("outputs", []))):
        # When the timed image is also a quality image, reuse the last timed result: slow operators run once less.
        reuse = i == 0 and spec["images"][0] == spec["timed"]
        result = last[0] if reuse else operator_call(spec, image)[1]()
        if isinstance(result, np.ndarray):
            np.save(out_path, result)
        else:
            detections.append([d.to_dict() for d in result])
    if detections:
        reply["detections"] = detections
    reply["peak_rss_mb"] = peak_rss_mb()
    return reply


def main() -> int:
    """Read the spec, measure, print one JSON line on the original stdout; library chatter goes to stderr."""
    reply_stream = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    try:
        spec = json.loads(sys.stdin.read())
        pin_threads(spec.get("threads"))
        if spec.get("threads"):
            try:
                import cv2

                cv2.setNumThreads(int(spec["threads"]))
            except ImportError:
                pass
        kind = spec.get("kind", "model")
        if kind == "peak":
            from fastip.benchmarks.peak import measure_peak

            reply = measure_peak(spec.get("threads"), fma=spec.get("fma", True)).to_dict()
        elif kind == "auto":
            from fastip.runtimes.auto import choose

            choice = choose(spec["bundle"], precisions=(spec["precision"],), threads=spec.get("threads"),
                            size=tuple(spec["size"]))
            reply = {"choice": choice.to_dict(), "reason": choice.reason}
        elif kind == "widths":
            from fastip.benchmarks.widths import time_items

            reply = time_items(spec)
        else:
            reply = run_model(spec) if kind == "model" else run_operator(spec)
    except Exception as exc:  # the parent records the message in the report row
        traceback.print_exc()
        reply = {"error": f"{type(exc).__name__}: {exc}"}
    reply_stream.write(json.dumps(reply) + "\n")
    reply_stream.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
