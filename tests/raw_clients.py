"""Hundreds of HTTP/1.1 clients in one thread, for end-to-end tests against real servers.

A :class:`Reader` reads its response as fast as it comes and parses it with h11,
which accepts a chunked body only when its final chunk arrived whole; a stalled
client sends its request and never reads again.
"""

from __future__ import annotations

import selectors
import socket
import time
from collections.abc import Callable

import h11

from sse_asgi import EventDecoder, ReceivedEvent


class Reader:
    """One client reading a streamed response to its end, checked byte for byte."""

    def __init__(self, sock: socket.socket, path: str) -> None:
        self.sock = sock
        self.path = path
        self.conn = h11.Connection(h11.CLIENT)
        self.status: int | None = None
        self.body = bytearray()
        self.complete = False  # h11 saw the end of the message: a complete final chunk
        self.eof = False
        self.error: str | None = None
        request = h11.Request(method="GET", target=path, headers=[("Host", "127.0.0.1")])
        sock.sendall(self.conn.send(request) + self.conn.send(h11.EndOfMessage()))

    def feed(self, data: bytes) -> None:
        """Bytes read from the socket (``b""`` at end of file)."""
        self.eof = self.eof or not data
        self.conn.receive_data(data)
        while self.error is None:
            try:
                event = self.conn.next_event()
            except h11.RemoteProtocolError as exc:  # e.g. closed in the middle of the body
                self.error = f"{type(exc).__name__}: {exc}"
                return
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            if isinstance(event, h11.Response):
                self.status = event.status_code
            elif isinstance(event, h11.Data):
                self.body += event.data
            elif isinstance(event, h11.EndOfMessage):
                self.complete = True
            elif isinstance(event, h11.ConnectionClosed):
                return

    @property
    def events(self) -> list[ReceivedEvent]:
        return EventDecoder().feed(bytes(self.body))

    def problem(self) -> str | None:
        """Why this response did not end cleanly, or None."""
        if self.error is not None:
            return self.error
        if self.status != 200:
            return f"status {self.status}"
        if not self.complete:
            return f"no end of body ({len(self.body)} bytes, eof={self.eof})"
        if not self.body.endswith(b"\n\n"):
            return f"the body ends inside an event: {bytes(self.body[-60:])!r}"
        return None


class Clients:
    """Readers and stalled clients of one server, serviced from the calling thread."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.selector = selectors.DefaultSelector()
        self.readers: list[Reader] = []
        self.stalled: list[socket.socket] = []

    def _connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=10)

    def open_readers(self, path: str, count: int, batch: int = 50) -> None:
        """Open ``count`` readers, a batch at a time, each until its first event arrived.

        Batches keep the server's accept backlog (hypercorn's is 100) from
        overflowing, which would cost a second per retried SYN.
        """
        for start in range(0, count, batch):
            new = []
            for _ in range(min(batch, count - start)):
                sock = self._connect()
                reader = Reader(sock, path)
                sock.setblocking(False)
                self.selector.register(sock, selectors.EVENT_READ, reader)
                new.append(reader)
            self.readers += new
            self.service_until(lambda: all(r.events for r in new), 20, "first events")  # noqa: B023

    def open_stalled(self, path: str, count: int) -> None:
        """Open ``count`` clients that send a request and never read: their buffers fill up."""
        for _ in range(count):
            sock = socket.socket()
            # A small window: the server's sends block after a few KiB, not megabytes.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.settimeout(10)
            sock.connect(("127.0.0.1", self.port))
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            self.stalled.append(sock)

    def service(self, timeout: float) -> None:
        """Read whatever arrived within ``timeout`` seconds."""
        for key, _ in self.selector.select(timeout):
            reader: Reader = key.data
            try:
                data = reader.sock.recv(65536)
            except ConnectionError as exc:
                reader.error = f"{type(exc).__name__}: {exc}"
                data = b""
            reader.feed(data)
            if not data:
                self.selector.unregister(reader.sock)

    def service_until(self, done: Callable[[], bool], timeout: float, what: str) -> float:
        """Keep reading until ``done()``; return how long that took; fail after ``timeout`` s."""
        started = time.monotonic()
        while not done():
            if time.monotonic() - started > timeout:
                raise AssertionError(f"no {what} within {timeout} s")
            self.service(0.05)
        return time.monotonic() - started

    def service_for(self, seconds: float) -> None:
        """Keep reading for ``seconds``."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self.service(min(left, 0.05))

    @property
    def open_readers_count(self) -> int:
        return len(self.selector.get_map())

    def close(self) -> None:
        for reader in self.readers:
            reader.sock.close()
        for sock in self.stalled:
            sock.close()
        self.selector.close()
