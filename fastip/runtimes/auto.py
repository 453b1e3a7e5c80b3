"""`backend="auto"`: the fastest backend x precision x OpenVINO hint for a bundle on this CPU, measured once, cached.

Every candidate the bundle and this machine can run is opened and timed on the same input, in interleaved
rounds (so load drifts hit all alike), and the smallest median wins. The choice is cached by the bundle's
file hashes, the CPU's model and flags, the runtime versions, the thread count and the input size, in
`$FASTIP_CACHE_DIR/auto` (default `~/.cache/fastip/auto`), so later runs open the winner directly.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from fastip.bundle import Bundle
from fastip.errors import FastipError, InputError

AUTO = "auto"
CACHE_ENV = "FASTIP_CACHE_DIR"
CACHE_FORMAT = 1
DEPLOY_BACKENDS = ("ort", "openvino", "trt")  # torch is the reference backend, not a deployment candidate
HINTS = {"openvino": ("latency", "throughput")}
DEFAULT_SIZE = (512, 512)  # width, height for models that take any size


@dataclass(frozen=True)
class Candidate:
    """One way to run a bundle."""

    backend: str
    precision: str
    hint: str | None = None  # OpenVINO's performance hint; None for backends without one

    @property
    def label(self) -> str:
        return " ".join(p for p in (self.backend, self.precision, self.hint) if p)

    def to_dict(self) -> dict[str, Any]:
        return {"backend": self.backend, "precision": self.precision, "hint": self.hint}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Candidate":
        return cls(str(data["backend"]), str(data["precision"]), data.get("hint"))


@dataclass(frozen=True)
class Timing:
    """A candidate's median latency over the interleaved rounds, or why it could not run."""

    candidate: Candidate
    median_ms: float | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"candidate": self.candidate.to_dict(), "median_ms": self.median_ms, "error": self.error}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Timing":
        return cls(Candidate.from_dict(data["candidate"]), data.get("median_ms"), data.get("error"))


@dataclass(frozen=True)
class Choice:
    """The winner, every candidate's timing, what they were measured on, and whether this came from the cache."""

    chosen: Candidate
    timings: tuple[Timing, ...]
    size: tuple[int, int]
    threads: int | None
    rounds: int
    key: str
    cached: bool = False

    @property
    def reason(self) -> str:
        """'openvino fp32 latency: 31.2 ms median at 512x512, threads=2 (1.28x faster than ort fp32 40.1 ms; ...)'."""
        ran = sorted((t for t in self.timings if t.median_ms is not None), key=lambda t: t.median_ms)
        best = ran[0]
        text = f"{self.chosen.label}: {best.median_ms:.1f} ms median at {self.size[0]}x{self.size[1]}, " \
               f"threads={self.threads or 'auto'}, {self.rounds} interleaved rounds"
        others = [f"{t.candidate.label} {t.median_ms:.1f} ms" for t in ran[1:]]
        if others:
            text += f"; {ran[1].median_ms / best.median_ms:.2f}x faster than the next ({', '.join(others)})"
        failed = [f"{t.candidate.label}: {t.error}" for t in self.timings if t.median_ms is None]
        if failed:
            text += f"; not runnable: {'; '.join(failed)}"
        return text + (" [cached]" if self.cached else "")

    def to_dict(self) -> dict[str, Any]:
        return {"format": CACHE_FORMAT, "chosen": self.chosen.to_dict(), "timings": [t.to_dict() for t in self.timings],
                "size": list(self.size), "threads": self.threads, "rounds": self.rounds, "key": self.key,
                "cached": self.cached}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Choice":
        if data.get("format") != CACHE_FORMAT:
            raise ValueError(f"auto-backend cache format {data.get('format')} is not {CACHE_FORMAT}")
        return cls(Candidate.from_dict(data["chosen"]), tuple(Timing.from_dict(t) for t in data["timings"]),
                   (int(data["size"][0]), int(data["size"][1])), data.get("threads"), int(data["rounds"]),
                   str(data["key"]), bool(data.get("cached", False)))


def cache_dir() -> Path:
    """Where choices are cached: $FASTIP_CACHE_DIR/auto, else $XDG_CACHE_HOME/fastip/auto, else ~/.cache/fastip/auto."""
    root = os.environ.get(CACHE_ENV)
    if not root:
        root = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "fastip")
    return Path(root) / "auto"


def candidates(precisions: tuple[str, ...]) -> list[Candidate]:
    """Every installed deployment backend x `precisions` x hint (whether the bundle has the artifact is found on opening)."""
    from fastip.runtimes import available_backends

    installed = [b for b in DEPLOY_BACKENDS if b in available_backends()]
    return [Candidate(b, p, h) for p in precisions for b in installed for h in HINTS.get(b, (None,))]


def cache_key(bundle: Bundle, precisions: tuple[str, ...], threads: int | None, size: tuple[int, int]) -> str:
    """Hash of everything that decides which candidate is fastest."""
    from fastip.benchmarks.environment import cpu_info
    from fastip.versions import tool_versions

    cpu = cpu_info()
    versions = tool_versions()
    record = {"format": CACHE_FORMAT, "files": dict(sorted(bundle.manifest.files.items())), "precisions": list(precisions),
              "threads": threads, "size": list(size), "cpu": cpu["model"], "flags": sorted(cpu["flags"]),
              "versions": {k: versions.get(k) for k in ("onnxruntime", "openvino", "tensorrt")}}
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()


def probe_feed(bundle: Bundle, size: tuple[int, int]) -> dict[str, np.ndarray]:
    """A deterministic input of the model's declared shape and dtype (fixed-size models keep their own size)."""
    spec = bundle.manifest.inputs[0]
    io = bundle.manifest.io
    h, w = io.input_size if io.input_size else (size[1], size[0])
    if not io.input_size and io.size_multiple > 1:
        h, w = h + (-h % io.size_multiple), w + (-w % io.size_multiple)
    dims = list(spec.shape)
    shape = [d if isinstance(d, int) else fill for d, fill in zip(dims, (1, 3, h, w))]
    return {spec.name: np.random.default_rng(0).random(shape).astype(spec.dtype)}


def measure(bundle: Bundle, todo: list[Candidate], feed: dict[str, np.ndarray], *, threads: int | None,
            min_rounds: int = 5, min_time: float = 1.0, max_rounds: int = 30,
            progress: Callable[[str], None] = lambda _: None) -> tuple[list[Timing], int]:
    """Open every candidate, warm it up, then time one run of each per round, round after round."""
    from fastip.runtimes import open as open_session

    sessions, failed = {}, []
    for c in todo:
        progress(f"auto: opening {c.label}")
        try:
            session = open_session(bundle, c.backend, precision=c.precision, threads=threads, **({"hint": c.hint} if c.hint else {}))
            for _ in range(2):  # first inference compiles/allocates; the second settles caches
                session.run(feed)
            sessions[c] = session
        except FastipError as exc:
            failed.append(Timing(c, error=str(exc).splitlines()[0]))
        except Exception as exc:  # a backend that cannot run this graph is a candidate that lost, not a failure
            failed.append(Timing(c, error=f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"))
    samples: dict[Candidate, list[float]] = {c: [] for c in sessions}
    started, rounds = time.perf_counter(), 0
    try:
        while sessions and rounds < max_rounds and (rounds < min_rounds or time.perf_counter() - started < min_time):
            for c, session in sessions.items():
                t0 = time.perf_counter()
                session.run(feed)
                samples[c].append((time.perf_counter() - t0) * 1000.0)
            rounds += 1
    finally:
        for session in sessions.values():
            session.close()
    return [Timing(c, float(np.median(s))) for c, s in samples.items()] + failed, rounds


def choose(bundle: Bundle | str | os.PathLike, *, precisions: tuple[str, ...] = ("fp32",), threads: int | None = None,
           size: tuple[int, int] | None = None, refresh: bool = False,
           progress: Callable[[str], None] = lambda _: None, **measure_options: Any) -> Choice:
    """The fastest candidate for `bundle` here: from the cache, or measured now (at `size`, default 512x512) and cached."""
    if not isinstance(bundle, Bundle):
        bundle = Bundle.load(bundle)
    size = tuple(size or DEFAULT_SIZE)
    key = cache_key(bundle, precisions, threads, size)
    path = cache_dir() / f"{key}.json"
    if not refresh and path.is_file():
        try:
            choice = Choice.from_dict(json.loads(path.read_text(encoding="utf-8")))
            if choice.key == key:
                return Choice(**{**choice.__dict__, "cached": True})
        except (OSError, ValueError, KeyError, TypeError):
            pass  # an unreadable or stale entry is measured again and overwritten
    todo = candidates(precisions)
    if not todo:
        raise InputError("backend 'auto' found no deployment backend installed; `pip install 'fastip[ort]'` or 'fastip[openvino]'")
    timings, rounds = measure(bundle, todo, probe_feed(bundle, size), threads=threads, progress=progress, **measure_options)
    ran = [t for t in timings if t.median_ms is not None]
    if not ran:
        raise InputError("backend 'auto': no candidate could run this bundle: "
                         + "; ".join(f"{t.candidate.label}: {t.error}" for t in timings))
    chosen = min(ran, key=lambda t: t.median_ms).candidate
    choice = Choice(chosen, tuple(timings), size, threads, rounds, key)
    _store(path, choice)
    return choice


def _store(path: Path, choice: Choice) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(choice.to_dict(), handle, indent=1)
            os.replace(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)
    except OSError:  # a read-only cache costs a re-measurement next time, nothing else
        pass
