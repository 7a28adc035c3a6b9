"""A real redis-server on a free loopback port, for the broadcast tests."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from .conftest import find_executable, require_component
from .servers import free_port


class RedisServer:
    """One redis-server process; stop() and start() keep its port and its data (AOF).

    ``wipe()`` between them deletes the data: a restart of a server without
    persistence, or a failover to a replica that had none of it.
    """

    def __init__(self, executable: str, folder: Path) -> None:
        self.executable = executable
        self.folder = folder
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = [
            self.executable, "--port", str(self.port), "--bind", "127.0.0.1",
            "--dir", str(self.folder), "--save", "", "--appendonly", "yes",
            "--appendfsync", "always", "--protected-mode", "no",
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, cwd=self.folder
        )
        deadline = time.monotonic() + 10
        while True:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), 0.2) as sock,
            ):
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)

    def wipe(self) -> None:
        """Delete the stopped server's data files."""
        assert self.process is None, "stop() first"
        for path in self.folder.iterdir():
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.process = None


@contextlib.contextmanager
def redis_server(folder: Path) -> Iterator[RedisServer]:
    executable = find_executable("redis-server")
    if executable is None:
        require_component("redis-server", "install it (Debian: apt-get install redis-server)")
        raise AssertionError("unreachable")
    server = RedisServer(executable, folder)
    server.start()
    try:
        yield server
    finally:
        server.stop()
