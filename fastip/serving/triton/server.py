"""A local `tritonserver` on 127.0.0.1 from the `nvidia-pytriton` wheel, for tests and benchmarks of a repository.

The wheel carries a real Triton server (Python backend only). Its Python backend stub must sit beside
`libtriton_python.so`, and the stub imports its packages from the first `python3` on PATH: the server runs from a
Python environment of its own (`fastip.serving.triton.server_env`) with numpy < 2 and fastip's runtime.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from fastip.errors import FastipError, MissingDependencyError

INSTALL_HINT = ("pip install 'fastip[triton]' and create the server environment: "
                "python -m fastip.serving.triton.server_env .venv-triton")


class ServerError(FastipError):
    """The local Triton server could not start or did not become ready."""


@dataclass(frozen=True)
class ServerInstall:
    """Where the wheel's pieces lie inside one Python environment."""

    env: Path  # the environment's prefix (its bin/python3 is the stub's interpreter)
    package: Path  # site-packages/pytriton
    python_version: str  # "3.11": which stub to use

    @property
    def binary(self) -> Path:
        return self.package / "tritonserver" / "bin" / "tritonserver"

    @property
    def libraries(self) -> Path:
        return self.package.parent / "nvidia_pytriton.libs"

    @classmethod
    def find(cls, env: str | os.PathLike) -> "ServerInstall":
        """Locate the wheel in a Python environment, or raise MissingDependencyError with the install hint."""
        env = Path(env)
        for package in sorted(env.glob("lib/python3.*/site-packages/pytriton")):
            install = cls(env, package, package.parent.parent.name[len("python"):])
            if install.binary.is_file():
                return install
        raise MissingDependencyError(f"no tritonserver (the nvidia-pytriton wheel) in {env}; {INSTALL_HINT}")

    def backend_directory(self, into: Path) -> Path:
        """A backend directory with the Python backend and the stub for this environment's Python."""
        source = self.package / "tritonserver" / "backends" / "python"
        stub = self.package / "tritonserver" / "python_backend_stubs" / self.python_version / "triton_python_backend_stub"
        if not stub.is_file():
            raise MissingDependencyError(f"the wheel has no Python backend stub for Python {self.python_version} ({stub})")
        python = into / "python"
        python.mkdir(parents=True)
        for name in ("libtriton_python.so", "triton_python_backend_utils.py"):
            shutil.copy2(source / name, python / name)
        shutil.copy2(stub, python / stub.name)
        return into


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TritonServer:
    """`tritonserver` serving a repository on 127.0.0.1 (free ports), started and stopped as a context manager."""

    def __init__(self, repository: str | os.PathLike, env: str | os.PathLike, *, ready: Sequence[str] = (),
                 timeout: float = 120.0, args: Sequence[str] = ()):
        self.repository = Path(repository).resolve()
        self.install = ServerInstall.find(env)
        self.ready_models = tuple(ready)
        self.timeout = timeout
        self.args = list(args)
        self.http_port = self.grpc_port = 0
        self.process: subprocess.Popen | None = None
        self._workdir: Path | None = None

    @property
    def http_url(self) -> str:
        return f"127.0.0.1:{self.http_port}"

    @property
    def grpc_url(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def log_path(self) -> Path:
        assert self._workdir is not None
        return self._workdir / "server.log"

    def command(self, backends: Path) -> list[str]:
        return [str(self.install.binary), f"--model-repository={self.repository}", f"--backend-directory={backends}",
                "--http-address=127.0.0.1", f"--http-port={self.http_port}", "--grpc-address=127.0.0.1",
                f"--grpc-port={self.grpc_port}", "--allow-metrics=false", "--exit-on-error=false",
                "--strict-readiness=false", "--disable-auto-complete-config", "--exit-timeout-secs=5", *self.args]

    def start(self) -> "TritonServer":
        """Start the server and wait (bounded) until it is live and every model in `ready` is READY."""
        if not self.repository.is_dir():
            raise ServerError(f"model repository {self.repository} is not a directory")
        self._workdir = Path(tempfile.mkdtemp(prefix="fastip-triton-"))
        backends = self.install.backend_directory(self._workdir / "backends")
        self.http_port, self.grpc_port = free_port(), free_port()
        env = dict(os.environ)
        env["PATH"] = f"{self.install.env / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        env["LD_LIBRARY_PATH"] = os.pathsep.join(filter(None, [str(self.install.libraries), env.get("LD_LIBRARY_PATH")]))
        for name in ("PYTHONPATH", "VIRTUAL_ENV"):  # the stub takes its packages from the server environment only
            env.pop(name, None)
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(self.command(backends), stdout=log, stderr=subprocess.STDOUT, env=env,
                                            stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            self.cleanup()
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.timeout
        waiting = ["server"] + list(self.ready_models)
        while waiting:
            if self.process.poll() is not None:
                raise ServerError(f"tritonserver exited with status {self.process.returncode} before it was ready; "
                                  f"log tail: {self.log_tail()}")
            path = "/v2/health/live" if waiting[0] == "server" else f"/v2/models/{waiting[0]}/ready"
            if self._request(path)[0] == 200:
                waiting.pop(0)
                continue
            if waiting[0] != "server":
                state, reason = self.model_states().get(waiting[0], ("UNKNOWN", "not in the repository"))
                if state == "UNAVAILABLE" or state == "UNKNOWN":  # loading ended, or it does not exist
                    raise ServerError(f"tritonserver: model {waiting[0]!r} is {state}: {reason.strip().splitlines()[0]}")
            if time.monotonic() > deadline:
                what = "the server" if waiting[0] == "server" else f"model {waiting[0]!r}"
                raise ServerError(f"tritonserver: {what} not ready after {self.timeout:g} s; log tail: {self.log_tail()}")
            time.sleep(0.2)

    def model_states(self) -> dict[str, tuple[str, str]]:
        """Every model in the repository index: name -> (state, reason)."""
        status, body = self._request("/v2/repository/index", b"{}")
        if status != 200:
            return {}
        return {m["name"]: (m.get("state", "UNKNOWN"), m.get("reason", "")) for m in json.loads(body)}

    def _request(self, path: str, data: bytes | None = None) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(f"http://{self.http_url}{path}", data=data, timeout=5) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, b""
        except (OSError, ValueError):
            return 0, b""

    def log(self) -> str:
        """Everything the server has logged so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except (OSError, AssertionError):
            return ""

    def log_tail(self, lines: int = 6) -> str:
        """The last log lines that are not table borders, joined into one line."""
        kept = [line.strip() for line in self.log().splitlines() if line.strip() and line[0] not in "+|"]
        return " / ".join(kept[-lines:]) or "(empty log)"

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL of its process group after 15 s) and remove its files."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        if self.process is not None:
            try:  # Python backend stubs left behind by a killed server
                os.killpg(self.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self.process = None

    def cleanup(self) -> None:
        """Remove the temporary backend directory and log."""
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def __enter__(self) -> "TritonServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self.cleanup()
