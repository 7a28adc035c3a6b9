"""Broadcast across worker processes: two uvicorn workers sharing a real Redis."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sse_asgi import EventDecoder, ReceivedEvent

from .redis_server import RedisServer, redis_server
from .servers import RunningServer, run_server


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    folder = tmp_path / "redis"
    folder.mkdir()
    with redis_server(folder) as server:
        yield server


@contextlib.contextmanager
def worker(tmp_path: Path, redis: RedisServer, prefix: str, name: str) -> Iterator[RunningServer]:
    folder = tmp_path / name
    folder.mkdir(exist_ok=True)
    env = {"REDIS_URL": redis.url, "SSE_ASGI_PREFIX": prefix}
    with run_server("uvicorn-httptools", folder, app="tests.broadcast_app:app", env=env) as server:
        yield server


class Listener:
    """Reads a worker's /events stream in a thread, collecting decoded events.

    A raw socket, so that close() can interrupt the blocked read from here.
    """

    def __init__(self, server: RunningServer, last_event_id: str | None = None) -> None:
        self.events: list[ReceivedEvent] = []
        self.arrived = threading.Condition()
        self._sock = socket.create_connection(("127.0.0.1", server.port))
        header = f"Last-Event-ID: {last_event_id}\r\n" if last_event_id else ""
        self._sock.sendall(f"GET /events HTTP/1.1\r\nHost: test\r\n{header}\r\n".encode())
        self._subscribed = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        assert self._subscribed.wait(10), "the server did not subscribe"

    def _read(self) -> None:
        decoder, body = EventDecoder(), ChunkedBody()
        received = b""
        with contextlib.suppress(OSError):
            while b"\r\n\r\n" not in received:
                received += self._sock.recv(65536)
            head, rest = received.split(b"\r\n\r\n", 1)
            assert head.startswith(b"HTTP/1.1 200"), head
            chunk, seen = rest, b""
            while True:
                if not chunk:
                    chunk = self._sock.recv(65536)
                    if not chunk:
                        return  # the server ended the stream
                payload = body.feed(chunk)
                if not self._subscribed.is_set():
                    seen += payload  # the comment may straddle two reads
                    if b": subscribed\n" in seen:
                        self._subscribed.set()
                events = decoder.feed(payload)
                with self.arrived:
                    self.events += events
                    self.arrived.notify_all()
                chunk = b""

    def wait_for(self, count: int, timeout: float = 10) -> list[ReceivedEvent]:
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.events) >= count, timeout), self.events
            return list(self.events)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        self._thread.join(5)


class ChunkedBody:
    """Incremental decoder of an HTTP/1.1 chunked body: framing in, payload out."""

    def __init__(self) -> None:
        self._buffer = b""
        self._remaining = 0  # payload bytes left in the current chunk

    def feed(self, data: bytes) -> bytes:
        self._buffer += data
        payload = b""
        while self._buffer:
            if self._remaining:
                piece = self._buffer[: self._remaining]
                payload += piece
                self._buffer = self._buffer[len(piece) :]
                self._remaining -= len(piece)
                continue
            if self._buffer.startswith(b"\r\n"):
                self._buffer = self._buffer[2:]  # the end of the previous chunk
                continue
            if b"\r\n" not in self._buffer:
                break
            size, self._buffer = self._buffer.split(b"\r\n", 1)
            self._remaining = int(size.split(b";")[0], 16)
            if self._remaining == 0:
                self._buffer = b""
                break
        return payload


def publish(server: RunningServer, text: str) -> str:
    response = httpx.post(f"{server.url}/publish", params={"text": text}, timeout=10)
    response.raise_for_status()
    return response.text


def test_workers_share_events_and_a_client_resumes_on_another_worker(
    tmp_path: Path, redis: RedisServer
) -> None:
    prefix = f"e2e-{uuid.uuid4().hex[:8]}:"
    with worker(tmp_path, redis, prefix, "a") as a, worker(tmp_path, redis, prefix, "b") as b:
        # A client on worker A gets what is published through worker B.
        listener = Listener(a)
        try:
            first = publish(b, "hello from b")
            [event] = listener.wait_for(1)
            assert (event.id, event.json()["text"]) == (first, "hello from b")
            second = publish(a, "hello from a")
            assert [e.id for e in listener.wait_for(2)] == [first, second]
        finally:
            listener.close()
        # It leaves, misses three events, and reconnects to worker B.
        missed = [publish(a, "missed 1"), publish(b, "missed 2"), publish(a, "missed 3")]
        resumed = Listener(b, last_event_id=second)
        try:
            events = resumed.wait_for(3)
            assert [e.id for e in events] == missed  # exactly the missed ones, in order
            assert [e.json()["text"] for e in events] == ["missed 1", "missed 2", "missed 3"]
            live = publish(a, "live again")
            assert [e.id for e in resumed.wait_for(4)][3] == live
            assert len(resumed.events) == 4  # no duplicate
        finally:
            resumed.close()
        last_seen = live
    # The app restarts; a client resumes from its Last-Event-ID after the restart.
    with worker(tmp_path, redis, prefix, "a2") as a2:
        during = publish(a2, "while the client was away")
        listener = Listener(a2, last_event_id=last_seen)
        try:
            [event] = listener.wait_for(1)
            assert (event.id, event.json()["text"]) == (during, "while the client was away")
        finally:
            listener.close()


def reset_for(server: RunningServer, header: bytes) -> bytes:
    """The first event of /events with this raw Last-Event-ID header value."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            b"GET /events HTTP/1.1\r\nHost: test\r\nLast-Event-ID: " + header + b"\r\n\r\n"
        )
        received = b""
        while b"event: reset" not in received or not received.endswith(b"\n\r\n"):
            chunk = sock.recv(65536)
            assert chunk, received
            received += chunk
    return received


def test_hostile_headers_get_resets_and_leave_nothing(tmp_path: Path, redis: RedisServer) -> None:
    """Bytes a client can put in Last-Event-ID, through a real server: each gets the
    reset event, and once they are gone the worker holds no subscription."""
    prefix = f"e2e-{uuid.uuid4().hex[:8]}:"
    with worker(tmp_path, redis, prefix, "a") as a:
        real = publish(a, "real").encode()
        epoch = real.split(b"-")[0]
        headers = [
            b"\xb2",
            epoch + b"-\xc2\xb2-0",
            epoch + b"-1-" + b"9" * 5000,
            epoch + b"-1-99999999999999999999",
            real + b"," + real,
            b"x" * 6000,
        ]
        for _ in range(20):
            for header in headers:
                received = reset_for(a, header)
                assert b'"reason":"unknown"' in received
                assert len(received) < 2000  # the header is not echoed back
        with httpx.Client(timeout=10) as client:
            for _ in range(100):
                if client.get(f"{a.url}/stats").text == "0":
                    break
                time.sleep(0.05)  # the server notices the closed connections
            assert client.get(f"{a.url}/stats").text == "0"
