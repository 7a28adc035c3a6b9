"""Quart: an sse-asgi stream and a ``Broadcast`` subscription, both ways.

- ``GET /ticks/stream`` and ``GET /notifications/stream``: Quart views
  returning a ``Response`` over ``event_stream()``. They keep everything
  Quart does around a view (``before_request``, sessions, auth).
  ``event_stream()`` sends keep-alive pings and finishes on Ctrl-C, so the
  server can stop; ``response.timeout = None`` lifts Quart's
  ``RESPONSE_TIMEOUT`` (60 s), which would cut every stream off.
- ``GET /ticks`` and ``GET /notifications``: answered by sse-asgi's
  ``EventSourceResponse`` in a small ASGI dispatcher in front of Quart, with
  everything the core response does (disconnect detection, ``send_timeout``,
  no response timeout) -- but outside Quart's request handling.
- ``POST /notify`` publishes ``{"message": ...}`` to every subscriber.

Run it with ``python examples/quart_app.py``, then ``curl -N
http://127.0.0.1:8000/notifications/stream`` and, in another shell, ``curl -X
POST http://127.0.0.1:8000/notify -H "content-type: application/json" -d
'{"message": "hi"}'``.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator
from typing import Any

import anyio
from quart import Quart, Response, request

from sse_asgi import (
    EVENT_STREAM_HEADERS,
    Broadcast,
    EventSourceResponse,
    ServerSentEvent,
    event_stream,
    last_event_id,
)

#: Seconds between two ticks.
TICK_INTERVAL = 1.0

broadcast = Broadcast()
quart_app = Quart(__name__)


async def ticks() -> AsyncIterator[ServerSentEvent]:
    """One event per ``TICK_INTERVAL``, until the client leaves."""
    i = 0
    while True:
        yield ServerSentEvent(data={"tick": i}, event="tick", id=str(i))
        i += 1
        await anyio.sleep(TICK_INTERVAL)


def sse(content: AsyncIterable[Any]) -> Response:
    """A Quart response streaming ``content`` as server-sent events."""
    response = Response(event_stream(content), headers=dict(EVENT_STREAM_HEADERS))
    response.timeout = None  # an event stream has no end to wait for
    return response


@quart_app.get("/ticks/stream")
async def tick_stream() -> Response:
    return sse(ticks())


@quart_app.get("/notifications/stream")
async def notification_stream() -> Response:
    # A reconnecting browser gets what it missed, then live events.
    resume = request.headers.get("Last-Event-ID")
    return sse(broadcast.subscribe("notifications", last_event_id=resume))


@quart_app.post("/notify")
async def notify() -> dict[str, str]:
    data = await request.get_json()
    return {"id": await broadcast.publish("notifications", {"message": str(data["message"])})}


@quart_app.while_serving
async def lifespan() -> AsyncGenerator[None, None]:
    async with broadcast:  # at shutdown, every subscription ends
        yield


async def app(scope: Any, receive: Any, send: Any) -> None:
    """Quart, with ``/ticks`` and ``/notifications`` answered by ``EventSourceResponse``."""
    path = scope.get("path") if scope["type"] == "http" else None
    if path == "/ticks":
        await EventSourceResponse(ticks())(scope, receive, send)
    elif path == "/notifications":
        events = broadcast.subscribe("notifications", last_event_id=last_event_id(scope))
        await EventSourceResponse(events)(scope, receive, send)
    else:
        await quart_app(scope, receive, send)


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=8000)
