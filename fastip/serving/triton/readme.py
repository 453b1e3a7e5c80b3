"""The README.md written into a generated Triton model repository: what each model is and how to serve and call it."""

from __future__ import annotations

from fastip.serving.triton.config import ModelConfig, ServingOptions

_HEAD = """# Triton model repository (written by fastip)

| model | backend | inputs | outputs | max batch |
|---|---|---|---|---|
{rows}

## Serve it

```
tritonserver --model-repository=$PWD --disable-auto-complete-config
```

Add `--http-address=127.0.0.1 --grpc-address=127.0.0.1` to listen on this machine only. HTTP and gRPC speak the
KServe v2 protocol (ports 8000 and 8001), so KServe's `InferenceService` with `runtime: tritonserver` (or any v2
client) serves the same directory. Models whose backend this server lacks fail to load and are reported by
`GET /v2/repository/index`; the others still serve with `--exit-on-error=false`.

The `python` models run fastip's own pipeline (pre-processing, the model, post-processing from the bundle's
manifest) on the bundle copied into `<model>/1/bundle/`: the `python3` that Triton's Python backend finds first on
`PATH` needs `pip install 'fastip[ort]'` (or `fastip[openvino]` for `fastip_backend: openvino`). The backend, threads
and precision are the `fastip_*` parameters in each `config.pbtxt`.

## Call it

```python
import numpy as np
import tritonclient.http as httpclient   # pip install 'tritonclient[http]'; tritonclient.grpc is the same API
from PIL import Image

{load}
client = httpclient.InferenceServerClient("127.0.0.1:8000")
request = httpclient.InferInput("{image}", list(x.shape), "{dtype}")
request.set_data_from_numpy(x)
result = client.infer("{first}", [request])
{fetch}
```

## Batching

Triton's dynamic batcher merges concurrent requests into one execution (max queue delay {delay} µs, preferred batch
sizes {preferred}). The `python` models accept images of different sizes in one batch (`allow_ragged_batch`): they
run each group of equal-sized images as one batch of the network (detectors letterbox every image to the network's
size, so all their images batch). The ONNX Runtime and TensorRT models take `[N, 3, H, W]` tensors, and Triton
merges only requests of equal shape: send images bucketed to a few sizes (resize or pad to, say, 512×512 and
1024×1024) or cut large images into equal tiles (`fastip.tiling` runs tiles with a halo that makes the stitched
result equal the untiled one). The OpenVINO models take whole batches from the client (`max_batch_size: 0`, batch
axis -1): Triton's OpenVINO backend refuses requests smaller than `max_batch_size` unless it pads them.
"""


def repository_readme(configs: list[ModelConfig], options: ServingOptions) -> str:
    """The repository's README.md text for these model configs."""
    rows = []
    for c in configs:
        ins = ", ".join(f"{t.name} {t.data_type[5:]} {list(t.dims)}" for t in c.inputs)
        outs = ", ".join(f"{t.name} {t.data_type[5:]} {list(t.dims)}" for t in c.outputs)
        rows.append(f"| `{c.name}` | {c.backend or c.platform} | {ins} | {outs} | {c.max_batch_size} |")
    python = next((c for c in configs if c.backend == "python"), configs[0])
    image = python.inputs[0].name
    if python.backend == "python":
        load = 'x = np.asarray(Image.open("photo.jpg").convert("RGB"))[None]              # uint8 [1, H, W, 3]'
    else:  # the pre-processing is the client's: here RGB in [0, 1], NCHW (see the bundle's fastip.json)
        load = 'x = (np.asarray(Image.open("photo.jpg").convert("RGB"), np.float32) / 255).transpose(2, 0, 1)[None].copy()'
    fetch = "\n".join(f'{t.name.lower()}_array = result.as_numpy("{t.name}")' for t in python.outputs)
    return _HEAD.format(rows="\n".join(rows), image=image, first=python.name, fetch=fetch, load=load,
                        dtype=python.inputs[0].data_type[5:],
                        delay=options.queue_delay_us, preferred=", ".join(map(str, options.preferred_batch_sizes)))
