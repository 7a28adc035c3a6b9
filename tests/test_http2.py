"""HTTP/2 end to end: hypercorn over h2c (cleartext, prior knowledge), driven by a raw ``h2`` client.

Several SSE streams share one connection; a client's RST_STREAM ends its
stream's generator at once while the others go on; and httpx over HTTP/2
does not reset a stream it leaves early (the README's caveat). The app is
``tests/h2_app.py``; its ``/closed`` stream reports, from inside the
server, each generator whose ``finally`` ran. Chromium over TLS h2 is in
``tests/browser/test_http2.py``.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import h2.config
import h2.connection
import h2.errors
import h2.events
import httpx
import pytest

from sse_asgi import EventDecoder, ReceivedEvent

from .servers import RunningServer, run_server

# A test fails rather than hangs: every wait is bounded by this (seconds).
WAIT = 10.0


class H2Client:
    """One HTTP/2 connection (h2c, prior knowledge), its streams decoded as SSE."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self.conn.initiate_connection()
        self.decoders: dict[int, EventDecoder] = {}
        self.events: dict[int, list[ReceivedEvent]] = {}
        self.status: dict[int, int] = {}
        self.ended: set[int] = set()
        self.flush()

    def flush(self) -> None:
        self.sock.sendall(self.conn.data_to_send())

    def get(self, path: str) -> int:
        stream_id = self.conn.get_next_available_stream_id()
        headers = [
            (":method", "GET"),
            (":path", path),
            (":scheme", "http"),
            (":authority", f"127.0.0.1:{self.port}"),
        ]
        self.conn.send_headers(stream_id, headers, end_stream=True)
        self.decoders[stream_id] = EventDecoder()
        self.events[stream_id] = []
        self.flush()
        return stream_id

    def reset(self, stream_id: int) -> None:
        self.conn.reset_stream(stream_id, h2.errors.ErrorCodes.CANCEL)
        self.flush()

    def receive_until(self, condition: Any, what: str) -> None:
        """Read frames until ``condition()`` holds; fail after ``WAIT`` seconds."""
        deadline = time.monotonic() + WAIT
        while not condition():
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting for {what}")
            data = self.sock.recv(65536)
            if not data:
                pytest.fail(f"connection closed while waiting for {what}")
            for event in self.conn.receive_data(data):
                self._handle(event)
            self.flush()

    def _handle(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.ResponseReceived):
            headers = dict(event.headers or [])
            self.status[event.stream_id] = int(headers[b":status"])
        elif isinstance(event, h2.events.DataReceived):
            assert event.stream_id is not None
            assert event.data is not None
            self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            if event.stream_id in self.decoders:
                self.events[event.stream_id] += self.decoders[event.stream_id].feed(event.data)
        elif isinstance(event, h2.events.StreamEnded | h2.events.StreamReset):
            assert event.stream_id is not None
            self.ended.add(event.stream_id)

    def close(self) -> None:
        self.conn.close_connection()
        self.flush()
        self.sock.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with run_server("hypercorn", tmp_path_factory.mktemp("h2c"), app="tests.h2_app:app") as running:
        yield running


@pytest.fixture
def client(server: RunningServer) -> Iterator[H2Client]:
    connection = H2Client(server.port)
    try:
        yield connection
    finally:
        connection.close()


def ticks(events: list[ReceivedEvent]) -> int:
    return sum("tick" in event.json() for event in events)


def closed_names(client: H2Client, watcher: int) -> list[str]:
    return [event.data for event in client.events[watcher] if event.event == "closed"]


def stats(server: RunningServer, key: str) -> dict[str, Any]:
    return dict(httpx.get(f"{server.url}/stats?key={key}", timeout=WAIT).json())


def test_streams_multiplexed_and_one_reset(client: H2Client, server: RunningServer) -> None:
    watcher = client.get("/closed")
    # An idle stream (its next tick is 60 s away) to reset, and four busy ones.
    idle = client.get("/ticks?key=mux&name=mux-idle&delay=60")
    names = [f"mux-{i}" for i in range(4)]
    busy = [client.get(f"/ticks?key=mux&name={name}&delay=0.02") for name in names]
    client.receive_until(
        lambda: bool(client.events[idle]) and all(ticks(client.events[s]) >= 3 for s in busy),
        "every stream to start, and the busy ones to tick",
    )
    assert {client.status[s] for s in [idle, *busy]} == {200}
    # Each stream's first event: the server saw HTTP/2, and one client port for all.
    firsts = [client.events[s][0].json() for s in [idle, *busy]]
    assert {first["http_version"] for first in firsts} == {"2"}
    assert len({first["port"] for first in firsts}) == 1
    assert stats(server, "mux")["max_open"] == 1 + len(busy)

    client.reset(idle)
    started = time.monotonic()
    client.receive_until(lambda: "mux-idle" in closed_names(client, watcher), "the reset's finally")
    assert time.monotonic() - started < 1.0  # at once, not at its next tick or ping
    counts = {s: ticks(client.events[s]) for s in busy}
    client.receive_until(
        lambda: all(ticks(client.events[s]) >= counts[s] + 3 for s in busy),
        "the other streams to go on",
    )
    assert closed_names(client, watcher) == ["mux-idle"]
    assert client.ended.isdisjoint(busy)


def test_httpx_over_http2_does_not_reset_a_stream_it_leaves(
    client: H2Client, server: RunningServer
) -> None:
    """The README's caveat, shown: httpcore never sends RST_STREAM when a response is closed."""
    watcher = client.get("/closed")
    with httpx.Client(http1=False, http2=True, base_url=server.url, timeout=WAIT) as h2_client:
        with h2_client.stream("GET", "/ticks?key=httpx&name=left-early&delay=0.02") as response:
            assert response.http_version == "HTTP/2"
            next(response.iter_raw())
        # The response is closed, the client left -- and the generator runs on.
        left_at = stats(server, "httpx")["ticks"]
        deadline = time.monotonic() + WAIT
        while (current := stats(server, "httpx"))["ticks"] < left_at + 10:
            assert time.monotonic() < deadline, current
            time.sleep(0.02)
        assert current["open"] == 1
        assert "left-early" not in closed_names(client, watcher)
    # Closing the client closes the connection: that ends the stream at once.
    client.receive_until(lambda: "left-early" in closed_names(client, watcher), "its finally")


def test_httpx_over_http11_ends_a_stream_it_leaves(client: H2Client, server: RunningServer) -> None:
    """What the README recommends for long-lived streams: leaving closes the connection."""
    watcher = client.get("/closed")
    with httpx.Client(base_url=server.url, timeout=WAIT) as h1_client:
        with h1_client.stream("GET", "/ticks?key=http11&name=left-h11&delay=0.02") as response:
            assert response.http_version == "HTTP/1.1"
            next(response.iter_raw())
        client.receive_until(lambda: "left-h11" in closed_names(client, watcher), "its finally")
        assert stats(server, "http11")["open"] == 0
