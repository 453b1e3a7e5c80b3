"""Benchmark a bundle's Triton Python-backend model against fastip's in-process pipeline (not a test).

    python scripts/bench_triton.py out/can24-rof --env .venv-triton --threads 2 --size 512 --runs 20 --clients 8

Reports the median latency of one image in-process and through Triton (HTTP and gRPC, one client), and the
throughput of 1 client against N concurrent clients (the dynamic batcher and the Python model's batched runs).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

import numpy as np


def paired_ms(calls: dict, runs: int) -> dict[str, list[float]]:
    """Milliseconds per call, the calls interleaved run by run so that they see the same machine load."""
    for call in calls.values():
        call()  # warm-up
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(runs):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            times[name].append(1000 * (time.perf_counter() - start))
    return times


def infer_call(module, url: str, model: str, image: np.ndarray):
    client = module.InferenceServerClient(url)
    request = module.InferInput("IMAGE", [1, *image.shape], "UINT8")
    request.set_data_from_numpy(image[None])
    return lambda: client.infer(model, [request]).as_numpy("RESULT")


def throughput(url: str, model: str, image: np.ndarray, clients: int, per_client: int) -> float:
    import tritonclient.http as httpclient

    calls = [infer_call(httpclient, url, model, image) for _ in range(clients)]
    barrier = threading.Barrier(clients + 1)

    def work(call):
        barrier.wait()
        for _ in range(per_client):
            call()

    threads = [threading.Thread(target=work, args=(c,)) for c in calls]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    return clients * per_client / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bundle")
    parser.add_argument("--env", default=".venv-triton", help="server environment (fastip.serving.triton.server_env)")
    parser.add_argument("--threads", type=int, default=2, help="intra-op threads, in-process and per server instance")
    parser.add_argument("--instances", type=int, default=1)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()

    import tritonclient.grpc as grpcclient
    import tritonclient.http as httpclient

    from fastip.images import sample_image
    from fastip.pipeline import open_pipeline
    from fastip.serving.triton import ServingOptions, write_repository
    from fastip.serving.triton.server import TritonServer

    image = np.ascontiguousarray(sample_image("astronaut")[: args.size, : args.size])
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "repo"
        configs = write_repository([args.bundle], repo, kinds=["python"],
                                   options=ServingOptions(threads=args.threads, instances=args.instances))
        model = configs[0].name
        with open_pipeline(args.bundle, "ort", threads=args.threads) as pipeline, \
                TritonServer(repo, args.env, ready=[model]) as server:
            expected = pipeline(image)
            assert np.array_equal(infer_call(httpclient, server.http_url, model, image)()[0], expected)
            times = paired_ms({"local": lambda: pipeline(image),
                               "http": infer_call(httpclient, server.http_url, model, image),
                               "grpc": infer_call(grpcclient, server.grpc_url, model, image)}, args.runs)
            one = throughput(server.http_url, model, image, 1, args.runs)
            before = httpclient.InferenceServerClient(server.http_url).get_inference_statistics(model)["model_stats"][0]
            many = throughput(server.http_url, model, image, args.clients, max(2, args.runs // 2))
            after = httpclient.InferenceServerClient(server.http_url).get_inference_statistics(model)["model_stats"][0]
    inferences = int(after["inference_count"]) - int(before["inference_count"])
    executions = int(after["execution_count"]) - int(before["execution_count"])
    local = statistics.median(times["local"])
    print(f"| {model} {args.size}x{args.size}, ort, {args.threads} threads, {args.instances} instance(s) "
          f"| median ms | median overhead vs in-process (paired runs) |")
    print("|---|---|---|")
    print(f"| in-process pipeline | {local:.1f} | |")
    for name in ("http", "grpc"):
        overhead = statistics.median(t - l for t, l in zip(times[name], times["local"]))
        print(f"| Triton Python model, {name.upper()} | {statistics.median(times[name]):.1f} | {overhead:+.1f} |")
    print(f"throughput: 1 client {one:.2f} images/s, {args.clients} clients {many:.2f} images/s "
          f"({inferences} inferences in {executions} executions: {inferences / max(executions, 1):.1f} per batch)")


if __name__ == "__main__":
    main()
