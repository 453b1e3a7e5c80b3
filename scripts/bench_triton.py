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


def median_ms(call, runs: int) -> float:
    call()  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


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
        with open_pipeline(args.bundle, "ort", threads=args.threads) as pipeline:
            local = median_ms(lambda: pipeline(image), args.runs)
            expected = pipeline(image)
        with TritonServer(repo, args.env, ready=[model]) as server:
            http = median_ms(infer_call(httpclient, server.http_url, model, image), args.runs)
            grpc = median_ms(infer_call(grpcclient, server.grpc_url, model, image), args.runs)
            assert np.array_equal(infer_call(httpclient, server.http_url, model, image)()[0], expected)
            one = throughput(server.http_url, model, image, 1, args.runs)
            before = httpclient.InferenceServerClient(server.http_url).get_inference_statistics(model)["model_stats"][0]
            many = throughput(server.http_url, model, image, args.clients, max(2, args.runs // 2))
            after = httpclient.InferenceServerClient(server.http_url).get_inference_statistics(model)["model_stats"][0]
    inferences = int(after["inference_count"]) - int(before["inference_count"])
    executions = int(after["execution_count"]) - int(before["execution_count"])
    print(f"| {model} {args.size}x{args.size}, ort, {args.threads} threads, {args.instances} instance(s) | median ms |")
    print("|---|---|")
    print(f"| in-process pipeline | {local:.1f} |")
    print(f"| Triton Python model, HTTP | {http:.1f} (+{http - local:.1f}) |")
    print(f"| Triton Python model, gRPC | {grpc:.1f} (+{grpc - local:.1f}) |")
    print(f"throughput: 1 client {one:.2f} images/s, {args.clients} clients {many:.2f} images/s "
          f"({inferences} inferences in {executions} executions: {inferences / max(executions, 1):.1f} per batch)")


if __name__ == "__main__":
    main()
