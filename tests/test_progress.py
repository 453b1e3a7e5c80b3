"""Progress by time: rate and ETA lines at most every N seconds, heartbeats while one long step runs."""

import threading

import pytest

from fastip.progress import RateProgress, format_duration, heartbeat


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_rate_progress_reports_by_time_with_rate_and_eta():
    clock, lines = FakeClock(), []
    ticker = RateProgress(100, lines.append, what="step", every=10.0, clock=clock)
    for step in range(1, 20):
        clock.now += 1.0  # one step per second
        ticker.update(step, f"loss {step}")
    # reports at 10 s and at 19 s would be 9 s apart: only the first passed the interval
    assert lines == ["step 10/100  loss 10  1.00 step/s  ETA 1 min 30 s"]
    clock.now += 81.0
    assert ticker.update(100) and lines[-1].startswith("step 100/100") and lines[-1].endswith("done")


def test_rate_counts_only_this_run_after_a_resume():
    clock, lines = FakeClock(), []
    ticker = RateProgress(1000, lines.append, start=500, every=5.0, clock=clock)
    clock.now += 10.0
    ticker.update(520)
    assert lines == ["step 520/1000  2.00 step/s  ETA 4 min 00 s"]


@pytest.mark.parametrize("seconds, text", [(4.4, "4 s"), (65, "1 min 05 s"), (7380, "2 h 03 min")])
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


def test_heartbeat_reports_while_the_block_runs_and_stops_after():
    lines, seen = [], threading.Event()

    def report(line):
        lines.append(line)
        seen.set()

    with heartbeat(report, "converting", every=0.02):
        assert seen.wait(5.0)
    count = len(lines)
    assert lines[0].startswith("still converting (")
    threading.Event().wait(0.1)
    assert len(lines) == count, "no heartbeat after the block"


def test_training_prints_step_loss_rate_and_eta(tmp_path):
    """progress_every=0: a line after every step (the CLI default is 10 s), besides the held-out evaluations."""
    pytest.importorskip("torch")
    import numpy as np

    from fastip.images import write_image
    from fastip.train import train_sr
    from tests.train.test_train import _config

    data = tmp_path / "images"
    rng = np.random.default_rng(0)
    for i in range(2):
        write_image(data / f"{i}.png", rng.integers(0, 256, (48, 64, 3), dtype=np.uint8))
    lines = []
    config = _config(steps=4, batch=2, crop=12, eval_every=4, checkpoint_every=4, progress_every=0.0)
    train_sr("espcn_x2", data, tmp_path / "sr.safetensors", config=config, val=data, max_side=64, progress=lines.append)
    ticks = [line for line in lines if "step/s" in line]
    assert [t.split()[1] for t in ticks] == ["1/4", "2/4", "3/4"]
    assert all("loss " in t and "ETA" in t for t in ticks)
    assert any("held-out PSNR" in line and "step 4/4" in line for line in lines)


def test_tiled_run_reports_tiles(can_bundle, astronaut):
    pytest.importorskip("onnxruntime")
    from fastip.tiling import TiledPipeline

    lines = []
    with TiledPipeline.open(can_bundle.root, "ort", tile=64, halo=8) as pipe:
        pipe.progress = lines.append
        pipe(astronaut[:128, :192])
    assert lines and lines[-1].startswith("tile 6/6") and "tile/s" in lines[-1] and lines[-1].endswith("done")
