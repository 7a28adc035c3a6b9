"""The apps the fan-out benchmark serves through uvicorn: one event to many connections.

Three apps answer the same requests:

- ``floor``: keeps the ASGI ``send`` of every open stream and, on publish,
  writes the event's bytes (encoded once) to each in turn, from the
  publishing request's task. No ids, buffers, timers or disconnect watcher
  -- the least a server can do per delivery.
- ``broadcast``: sse-asgi as users write it: an ``EventSourceResponse``
  over a ``Broadcast`` subscription (memory backend, defaults) per
  connection.
- ``bare``: an ``EventSourceResponse`` per connection over a list and a
  bare future to wait on, no ``Broadcast``: the send loop's own cost (and
  the memory of a stream without a subscription).

Requests:

- ``GET /events``: the stream.
- ``POST /publish?seq=n``: one event now, its data ``{"seq": n, "t": <the server's
  time.monotonic() as the publish starts>}`` (CLOCK_MONOTONIC is one clock
  for every process of the machine, so the client subtracts it from its own).
- ``POST /burst?count=20&interval=0.1&first=n``: ``count`` events (``seq``
  from ``first``), the i-th due at ``start + i * interval``, its ``t`` that
  scheduled time (so a server that
  falls behind shows as lateness); answered once all are published.
- ``POST /freeze``: ``gc.freeze()`` -- what an app would do once its
  long-lived connections are open (measured, not a default).
- ``GET /objects``: how many objects the garbage collector tracks (what a
  full pass walks).
- ``GET /stats``: JSON: subscribers, the garbage collector's full passes
  and the milliseconds they took so far, tasks.

Run one with ``uvicorn benchmarks.fanout_app:broadcast`` (or ``:floor``, ``:bare``).
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

import orjson

from sse_asgi import Broadcast, EventSourceResponse, ServerSentEvent
from sse_asgi.types import Receive, Scope, Send

App = Callable[[Scope, Receive, Send], Awaitable[None]]
Publish = Callable[[dict[str, Any]], Awaitable[None]]

# -- the collector's full passes, for /stats ------------------------------------------------

_gc = {"full_passes": 0, "full_ms": 0.0, "young_passes": 0, "young_ms": 0.0}
_gc_started = 0.0


def _on_gc(phase: str, info: dict[str, Any]) -> None:
    global _gc_started
    if phase == "start":
        _gc_started = time.thread_time()
        return
    elapsed = (time.thread_time() - _gc_started) * 1000  # CPU time: load elsewhere does not count
    if info["generation"] == 2:
        _gc["full_passes"] += 1
        _gc["full_ms"] += elapsed
    else:
        _gc["young_passes"] += 1
        _gc["young_ms"] += elapsed


gc.callbacks.append(_on_gc)

# -- the three apps ----------------------------------------------------------------------------

_HEAD = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")],
}


class Floor:
    """The floor: a set of ``send`` callables, the event's bytes written to each."""

    def __init__(self) -> None:
        self.senders: dict[Send, None] = {}  # an ordered set: delivery in connection order
        self.published = 0

    async def stream(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(_HEAD)  # type: ignore[arg-type]
        self.senders[send] = None
        try:
            while (await receive())["type"] != "http.disconnect":
                pass
        finally:
            del self.senders[send]

    async def publish(self, data: dict[str, Any]) -> None:
        self.published += 1
        body = b"id: %d\ndata: %s\n\n" % (self.published, orjson.dumps(data))
        message: Any = {"type": "http.response.body", "body": body, "more_body": True}
        for send in list(self.senders):
            # try, not contextlib.suppress: the floor spends nothing it need not.
            try:  # noqa: SIM105
                await send(message)
            except OSError:
                pass  # gone: its receive() is told

    def subscribers(self) -> int:
        return len(self.senders)


class WithBroadcast:
    """sse-asgi: an EventSourceResponse over a Broadcast subscription per connection."""

    def __init__(self) -> None:
        self.broadcast = Broadcast()

    async def stream(self, scope: Scope, receive: Receive, send: Send) -> None:
        await EventSourceResponse(self.broadcast.subscribe("bench"))(scope, receive, send)

    async def publish(self, data: dict[str, Any]) -> None:
        await self.broadcast.publish("bench", data)

    def subscribers(self) -> int:
        return self.broadcast.subscriber_count("bench")


class _Queued:
    """An async iterator of the events published to it, each ``__anext__`` a bare future."""

    __slots__ = ("future", "queue")

    def __init__(self) -> None:
        self.queue: list[ServerSentEvent] = []
        self.future: asyncio.Future[ServerSentEvent] | None = None

    def __aiter__(self) -> _Queued:
        return self

    def __anext__(self) -> asyncio.Future[ServerSentEvent]:
        future = asyncio.get_running_loop().create_future()
        if self.queue:
            future.set_result(self.queue.pop(0))
        else:
            self.future = future
        return future

    def put(self, event: ServerSentEvent) -> None:
        future = self.future
        if future is None:
            self.queue.append(event)
        else:
            self.future = None
            if not future.done():
                future.set_result(event)


class Bare:
    """sse-asgi without Broadcast: each stream has a list and a bare future to wait on."""

    def __init__(self) -> None:
        self.streams: dict[_Queued, None] = {}
        self.published = 0

    async def stream(self, scope: Scope, receive: Receive, send: Send) -> None:
        events = _Queued()
        self.streams[events] = None
        try:
            await EventSourceResponse(events)(scope, receive, send)
        finally:
            del self.streams[events]

    async def publish(self, data: dict[str, Any]) -> None:
        self.published += 1
        event = ServerSentEvent(data=data, id=str(self.published))
        event.encode()  # once, as the broadcast does
        for events in self.streams:
            events.put(event)

    def subscribers(self) -> int:
        return len(self.streams)


# -- the requests every app answers ---------------------------------------------------------


def _app(server: Floor | WithBroadcast | Bare) -> App:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(server, receive, send)
            return
        path = scope["path"]
        if path == "/events":
            await server.stream(scope, receive, send)
            return
        query = {k: v[0] for k, v in parse_qs(scope["query_string"].decode()).items()}
        answer: Any = "ok"
        if path == "/publish":
            await server.publish({"seq": int(query.get("seq", "0")), "t": time.monotonic()})
        elif path == "/burst":
            await _burst(server.publish, query)
        elif path == "/freeze":
            gc.freeze()
            answer = gc.get_freeze_count()
        elif path == "/objects":
            answer = len(gc.get_objects())  # what a full collection walks (slow: not in /stats)
        elif path == "/stats":
            answer = {**_gc, "subscribers": server.subscribers(), "tasks": len(asyncio.all_tasks())}
        else:
            answer = "not found"
        body = orjson.dumps(answer)
        headers = [(b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


async def _burst(publish: Publish, query: dict[str, str]) -> None:
    count, interval = int(query.get("count", "20")), float(query.get("interval", "0.1"))
    first = int(query.get("first", "1"))
    start = time.monotonic() + interval
    for i in range(count):
        due = start + i * interval
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        await publish({"seq": first + i, "t": due})


async def _lifespan(server: Floor | WithBroadcast | Bare, receive: Receive, send: Any) -> None:
    await receive()
    if isinstance(server, WithBroadcast):
        async with server.broadcast:
            await send({"type": "lifespan.startup.complete"})
            await receive()
    else:
        await send({"type": "lifespan.startup.complete"})
        await receive()
    await send({"type": "lifespan.shutdown.complete"})


floor = _app(Floor())
broadcast = _app(WithBroadcast())
bare = _app(Bare())
