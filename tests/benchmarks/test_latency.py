"""The latency harness: run counts, warm-up, statistics against numpy on the recorded samples."""

from __future__ import annotations

import time

import numpy as np
import pytest

from fastip.benchmarks.latency import Budget, measure, measure_pair, summarize, variation_warning
from fastip.errors import InputError


def sleeper(durations_s):
    """A callable sleeping a different short time on each call, counting its calls."""
    state = {"calls": 0}

    def call():
        time.sleep(durations_s[state["calls"] % len(durations_s)])
        state["calls"] += 1

    return call, state


def test_statistics_match_numpy_on_recorded_samples():
    call, state = sleeper([0.001, 0.003, 0.002, 0.0005, 0.004])
    stats = measure(call, Budget(warmup=3, min_runs=12, min_time=0.0))
    assert state["calls"] == 3 + stats.count and stats.count == 12
    x = np.asarray(stats.samples_ms)
    assert (stats.p50, stats.p90, stats.p99) == tuple(np.percentile(x, [50, 90, 99]))
    assert stats.mean == pytest.approx(x.mean(), rel=1e-12) and stats.std == pytest.approx(x.std(), rel=1e-12)
    assert (stats.min, stats.max) == (x.min(), x.max())
    assert stats.min > 0 and stats.min <= stats.p50 <= stats.p90 <= stats.p99 <= stats.max


def test_runs_until_both_count_and_time_are_reached():
    ticks = iter(range(1000))
    fake_clock = lambda: next(ticks) * 0.01  # noqa: E731 - each clock read advances 10 ms
    stats = measure(lambda: None, Budget(warmup=0, min_runs=2, min_time=0.2), clock=fake_clock)
    assert stats.count > 2  # the time bound, not the count, stopped it
    assert all(s == pytest.approx(10.0) for s in stats.samples_ms)
    stats = measure(lambda: None, Budget(warmup=0, min_runs=7, min_time=0.0), clock=fake_clock)
    assert stats.count == 7


def test_summary_of_known_samples():
    stats = summarize([4.0, 1.0, 3.0, 2.0])
    assert stats.p50 == 2.5 and stats.min == 1.0 and stats.max == 4.0 and stats.mean == 2.5
    assert stats.p90 == pytest.approx(3.7) and stats.std == pytest.approx(np.std([1, 2, 3, 4]))
    assert stats.spread == pytest.approx((3.7 - 2.5) / 2.5)


def test_variation_warning_bound():
    assert variation_warning(summarize([10.0, 10.1, 9.9, 10.0])) is None
    warning = variation_warning(summarize([10.0, 20.0, 5.0, 12.0]))
    assert warning and "exceeds 10%" in warning


def test_measure_pair_interleaves():
    order = []
    a, b = measure_pair(lambda: order.append("a"), lambda: order.append("b"), 3)
    assert order == ["a", "b"] * 3 and a.count == b.count == 3


@pytest.mark.parametrize("budget", [Budget(warmup=-1), Budget(min_runs=0), Budget(min_time=-1.0)])
def test_bad_budget(budget):
    with pytest.raises(InputError):
        measure(lambda: None, budget)
