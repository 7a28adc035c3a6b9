"""The fan-out benchmark's client: many SSE connections from one process, on uvloop.

Every connection is a bare ``asyncio.Protocol`` that stamps each chunk with
``time.monotonic()`` as it arrives and keeps it; the events are parsed once
a measurement is over, so the client's work per delivery is a clock read, an
append and a count -- a few microseconds, far below the server's, so that
the client (on its own core) is never what is measured.

The events carry ``"seq"`` (which publish) and ``"t"`` (the server's
``time.monotonic()`` at the publish, or the time it was scheduled for).
CLOCK_MONOTONIC is one clock for every process of the machine: receive time
minus ``t`` is the publish-to-receive latency.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass, field
from typing import cast

REQUEST = b"GET /events HTTP/1.1\r\nHost: bench\r\n\r\n"
_EVENT = re.compile(rb'"seq":(\d+),"t":([0-9.e+-]+)')
_SEQ = b'"seq":'

monotonic = time.monotonic


class Stream(asyncio.Protocol):
    """One SSE connection: what arrived, and when."""

    __slots__ = ("chunks", "client", "head", "transport")

    def __init__(self, client: Client) -> None:
        self.client = client
        self.chunks: list[tuple[float, bytes]] = []
        self.head = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses: no isinstance.
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(REQUEST)

    def data_received(self, data: bytes) -> None:
        self.chunks.append((monotonic(), data))
        count = data.count(_SEQ)
        if count:
            self.client.arrived(count)
        if not self.head:
            self.head = True
            self.client.heads += 1

    def connection_lost(self, exc: Exception | None) -> None:
        self.client.lost += 1

    def take(self) -> list[tuple[int, float, float]]:
        """(seq, t, received) of every event since the last take, in arrival order."""
        events = []
        # The chunked transfer coding may split an event between chunks.
        pending = b""
        for received, data in self.chunks:
            data = pending + data
            end = data.rfind(b"\n\n")
            if end < 0:
                pending = data
                continue
            pending = data[end + 2 :]
            for match in _EVENT.finditer(data, 0, end):
                events.append((int(match.group(1)), float(match.group(2)), received))
        self.chunks = [(0.0, pending)] if pending else []
        return events


@dataclass
class Client:
    """The streams, and a wait for a number of deliveries."""

    streams: list[Stream] = field(default_factory=list)
    heads: int = 0
    lost: int = 0
    delivered: int = 0
    expected: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def arrived(self, count: int) -> None:
        self.delivered += count
        if self.delivered >= self.expected:
            self.done.set()

    async def connect(self, port: int, n: int, concurrency: int = 200) -> None:
        """Open ``n`` streams (at most ``concurrency`` connecting at once)."""
        loop = asyncio.get_running_loop()
        gate = asyncio.Semaphore(concurrency)

        async def one() -> None:
            async with gate:
                _, stream = await loop.create_connection(lambda: Stream(self), "127.0.0.1", port)
                self.streams.append(stream)

        await asyncio.gather(*(one() for _ in range(n)))

    async def until(self, condition: str, timeout: float) -> None:
        """Wait (polling) until every stream has its response head."""
        deadline = monotonic() + timeout
        while self.heads < len(self.streams):
            if monotonic() > deadline:
                raise RuntimeError(
                    f"{condition}: {self.heads} of {len(self.streams)} after {timeout} s"
                )
            await asyncio.sleep(0.05)

    def expect(self, count: int) -> None:
        """From now on, ``done`` is set once ``count`` more events have arrived."""
        self.delivered = 0
        self.expected = count
        self.done = asyncio.Event()

    async def wait(self, timeout: float) -> bool:
        """True if every expected event arrived within ``timeout`` seconds."""
        try:
            await asyncio.wait_for(self.done.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        return True

    def take(self, seqs: list[int]) -> tuple[list[float], int, int]:
        """Latencies (ms, receive time - t) of every event of ``seqs`` at every
        stream; how many of those arrived (once each); and how many streams got
        them out of order or twice."""
        latencies: list[float] = []
        wanted = set(seqs)
        delivered = disordered = 0
        for stream in self.streams:
            events = [event for event in stream.take() if event[0] in wanted]
            got = [seq for seq, _, _ in events]
            delivered += len(set(got))
            disordered += got != sorted(set(got))
            latencies.extend((received - t) * 1000 for _, t, received in events)
        return latencies, delivered, disordered

    def close(self) -> None:
        for stream in self.streams:
            if stream.transport is not None:
                stream.transport.abort()


async def request(port: int, method: str, path: str) -> bytes:
    """One control request on its own connection; the response body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"{method} {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n".encode())
    writer.write(b"Content-Length: 0\r\n\r\n")
    response = await reader.read()
    writer.close()
    head, _, body = response.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"{method} {path}: {head!r}")
    return body
