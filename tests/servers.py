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


def server_command(kind: str, app: str, port: int, fd: int | None = None) -> list[str]:
    """The command line for ``kind`` with each server's default settings (we test those).

    With ``fd``, the server listens on that already bound socket instead of ``port``.
    """
    py = sys.executable
    if kind in ("uvicorn-httptools", "uvicorn-h11"):
        http, loop = ("httptools", "uvloop") if kind == "uvicorn-httptools" else ("h11", "asyncio")
        bind = ["--host", "127.0.0.1", "--port", str(port)] if fd is None else ["--fd", str(fd)]
        return [
            py,
            "-m",
            "uvicorn",
            app,
            *bind,
            "--http",
            http,
            "--loop",
            loop,
            "--log-level",
            "warning",
        ]
    if kind in ("hypercorn", "hypercorn-trio"):
        address = f"127.0.0.1:{port}" if fd is None else f"fd://{fd}"
        worker = ["--worker-class", "trio"] if kind == "hypercorn-trio" else []
        return [py, "-m", "hypercorn", app, "--bind", address, *worker]
    if kind == "granian":
        if fd is not None:
            raise ValueError("granian binds its own socket: its command line takes no descriptor")
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


def listening_socket(user_timeout: float) -> socket.socket:
    """A listening socket on 127.0.0.1 (free port) whose connections have ``TCP_USER_TIMEOUT``.

    Linux: the kernel drops a connection once data it sent stays unacknowledged,
    or cannot be sent to a zero receive window, for ``user_timeout`` seconds.
    Accepted connections inherit the option from the listening socket.
    """
    sock = socket.create_server(("127.0.0.1", 0))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, round(user_timeout * 1000))
    sock.set_inheritable(True)
    return sock


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
    *,
    options: Sequence[str] = (),
    user_timeout: float | None = None,
) -> Iterator[RunningServer]:
    """Start ``kind`` serving ``app``; yield once it accepts connections; always stop it.

    ``options`` are appended to the server's command line; with ``user_timeout``
    the server is handed a :func:`listening_socket` rather than binding its own.
    """
    sock = listening_socket(user_timeout) if user_timeout is not None else None
    port = free_port() if sock is None else int(sock.getsockname()[1])
    fd = None if sock is None else sock.fileno()
    log_path = tmp_path / f"{kind}-{port}.log"
    with open(log_path, "wb") as log, sock or contextlib.nullcontext():
        process = subprocess.Popen(
            [*server_command(kind, app, port, fd), *options],
            cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # our signals reach the server, not pytest
            pass_fds=() if fd is None else (fd,),
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
