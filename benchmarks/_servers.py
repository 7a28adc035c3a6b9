"""Starting uvicorn on a pinned core, and measuring its process, for the benchmarks."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVER_CORE = 0
CLIENT_CORE = 1


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int

    def cpu_seconds(self) -> float:
        """User + system CPU time the server process has used so far."""
        with open(f"/proc/{self.process.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks

    def rss_kib(self) -> int:
        with open(f"/proc/{self.process.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise RuntimeError("no VmRSS")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _raise_fd_limit() -> None:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))


@contextlib.contextmanager
def uvicorn(name: str, target: str) -> Iterator[Server]:
    """uvicorn (uvloop + httptools) serving ``target``, pinned to SERVER_CORE."""
    port = _free_port()
    command = [
        sys.executable, "-m", "uvicorn", target, "--host", "127.0.0.1", "--port", str(port),
        "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    if shutil.which("taskset"):
        command = ["taskset", "-c", str(SERVER_CORE), *command]
    process = subprocess.Popen(command, cwd=ROOT, preexec_fn=_raise_fd_limit)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{name}: uvicorn did not start") from None
                time.sleep(0.05)
        yield Server(name, process, port)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()


def pin_client() -> None:
    """Pin this (client) process to CLIENT_CORE and allow many sockets."""
    _raise_fd_limit()
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > CLIENT_CORE:
        os.sched_setaffinity(0, {CLIENT_CORE})


def http_get(port: int, path: str, *, close: bool = True) -> socket.socket:
    """Open a connection and send a GET; the caller reads the response."""
    sock = socket.create_connection(("127.0.0.1", port))
    connection = b"Connection: close\r\n" if close else b""
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: bench\r\n".encode() + connection + b"\r\n")
    return sock


def read_all(sock: socket.socket) -> bytes:
    chunks: list[bytes] = []
    while True:
        chunk = sock.recv(1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
