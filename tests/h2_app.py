"""A bare ASGI app for the HTTP/2 tests, served by hypercorn: streams that say how they travel.

- ``/``: a page whose ``openSources(key, count)`` opens ``count``
  ``EventSource``\\ s to ``/ticks`` and records what each receives.
- ``/ticks?key=K&name=N&delay=S``: a stream whose first event gives the
  request's HTTP version and the client's port (one port, one TCP
  connection), then a tick every ``S`` seconds until ``/release?key=K``;
  after that, requests for ``K`` get ``204`` (an ``EventSource`` stops
  reconnecting). Its ``finally`` records ``N`` as closed.
- ``/closed``: a stream of the names of ``/ticks`` generators as they close
  -- how a test sees, from the server, that a stream's ``finally`` ran.
- ``/stats?key=K``: JSON: streams of ``K`` open now and at most at once,
  the client ports and HTTP versions seen, the names closed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import anyio
import orjson

from sse_asgi import EventSourceResponse, ServerSentEvent
from sse_asgi.types import Receive, Scope, Send
from tests.e2e_app import lifespan

PAGE = b"""<!doctype html>
<meta charset="utf-8">
<title>sse-asgi over HTTP/2</title>
<script>
window.sources = [];
function openSources(key, count) {
  for (let i = 0; i < count; i++) {
    const record = {events: [], opens: 0};
    record.es = new EventSource(`/ticks?key=${key}&name=${key}-${i}&delay=0.05`);
    record.es.onopen = () => { record.opens++; };
    record.es.onmessage = (e) => { record.events.push(JSON.parse(e.data)); };
    window.sources.push(record);
  }
}
</script>
"""


@dataclass
class Stats:
    open: int = 0
    max_open: int = 0
    ticks: int = 0  # sent by every stream of the key
    ports: set[int] = field(default_factory=set)
    versions: set[str] = field(default_factory=set)
    released: anyio.Event = field(default_factory=anyio.Event)


STATS: dict[str, Stats] = {}
CLOSED: list[str] = []
_closed_waiters: set[anyio.Event] = set()


def stats_of(key: str) -> Stats:
    if key not in STATS:
        STATS[key] = Stats()
    return STATS[key]


def record_closed(name: str) -> None:
    CLOSED.append(name)
    for waiter in _closed_waiters:
        waiter.set()


async def ticks(scope: Scope, stats: Stats, name: str, delay: float) -> AsyncIterator[Any]:
    stats.open += 1
    stats.max_open = max(stats.max_open, stats.open)
    port = (scope.get("client") or ("", 0))[1]
    stats.ports.add(port)
    stats.versions.add(scope["http_version"])
    try:
        # A short retry: once released, the browser's reconnection (answered 204) comes soon.
        yield ServerSentEvent(data={"http_version": scope["http_version"], "port": port}, retry=50)
        i = 0
        while not stats.released.is_set():
            with anyio.move_on_after(delay):
                await stats.released.wait()
            yield {"tick": i}
            stats.ticks += 1
            i += 1
    finally:
        stats.open -= 1
        record_closed(name)


async def closed() -> AsyncIterator[ServerSentEvent]:
    seen = 0
    while True:
        while seen < len(CLOSED):
            yield ServerSentEvent(raw_data=CLOSED[seen], event="closed")
            seen += 1
        waiter = anyio.Event()
        _closed_waiters.add(waiter)
        try:
            await waiter.wait()
        finally:
            _closed_waiters.discard(waiter)


async def answer(send: Send, status: int, body: bytes, content_type: bytes) -> None:
    headers = [(b"content-type", content_type)] if body else []
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return
    query = {k: v[0] for k, v in parse_qs(scope.get("query_string", b"").decode()).items()}
    path = scope["path"]
    if path == "/":
        await answer(send, 200, PAGE, b"text/html; charset=utf-8")
    elif path == "/ticks":
        stats = stats_of(query["key"])
        if stats.released.is_set():
            await answer(send, 204, b"", b"")
            return
        content = ticks(scope, stats, query["name"], float(query.get("delay", "0.05")))
        await EventSourceResponse(content, headers={"cache-control": "no-store"})(
            scope, receive, send
        )
    elif path == "/closed":
        await EventSourceResponse(closed())(scope, receive, send)
    elif path == "/release":
        stats_of(query["key"]).released.set()
        await answer(send, 200, b"released", b"text/plain")
    elif path == "/stats":
        stats = stats_of(query["key"])
        body = orjson.dumps(
            {
                "open": stats.open,
                "max_open": stats.max_open,
                "ticks": stats.ticks,
                "ports": sorted(stats.ports),
                "versions": sorted(stats.versions),
                "closed": CLOSED,
            }
        )
        await answer(send, 200, body, b"application/json")
    else:
        await answer(send, 404, b"not found", b"text/plain")
