"""Real ASGI servers on 127.0.0.1 with a free port, as subprocesses, for end-to-end tests."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: The servers (and protocol implementations) every end-to-end test runs on.
SERVERS = ["uvicorn-httptools", "uvicorn-h11", "hypercorn", "granian"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_command(kind: str, app: str, port: int) -> list[str]:
    """The command line for ``kind`` with each server's default settings (we test those)."""
    py = sys.executable
    if kind == "uvicorn-httptools":
        return [
            py,
            "-m",
            "uvicorn",
            app,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--http",
            "httptools",
            "--loop",
            "uvloop",
            "--log-level",
            "warning",
        ]
    if kind == "uvicorn-h11":
        return [
            py,
            "-m",
            "uvicorn",
            app,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--http",
            "h11",
            "--loop",
            "asyncio",
            "--log-level",
            "warning",
        ]
    if kind == "hypercorn":
        return [py, "-m", "hypercorn", app, "--bind", f"127.0.0.1:{port}"]
    if kind == "hypercorn-trio":
        return [py, "-m", "hypercorn", app, "--bind", f"127.0.0.1:{port}", "--worker-class", "trio"]
    if kind == "granian":
        return [
            py,
            "-m",
            "granian",
            "--interface",
            "asgi",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            app,
        ]
    raise ValueError(f"unknown server {kind!r}")


@dataclass
class RunningServer:
    kind: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout: float) -> float:
        """Wait for the process to exit; return how long that took."""
        started = time.monotonic()
        self.process.wait(timeout=timeout)
        return time.monotonic() - started


@contextlib.contextmanager
def run_server(
    kind: str,
    tmp_path: Path,
    app: str = "tests.e2e_app:app",
    env: dict[str, str] | None = None,
    args: Sequence[str] = (),
) -> Iterator[RunningServer]:
    """Start ``kind`` serving ``app`` (``args``: more options); yield once it accepts connections."""
    port = free_port()
    log_path = tmp_path / f"{kind}-{port}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [*server_command(kind, app, port), *args],
            cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # our signals reach the server, not pytest
        )
    server = RunningServer(kind, port, process, log_path)
    try:
        _wait_until_listening(server)
        yield server
    finally:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _wait_until_listening(server: RunningServer, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.kind} exited at start:\n{server.log()}")
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", server.port), 0.2),
        ):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{server.kind} did not listen within {timeout} s:\n{server.log()}")
