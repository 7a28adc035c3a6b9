"""Litestar: an sse-asgi stream and a ``Broadcast`` subscription, both ways.

- ``GET /ticks`` and ``GET /notifications``: the handler returns sse-asgi's
  ``EventSourceResponse``. Litestar runs any ASGI app a handler returns, so
  the stream gets everything the core response does: disconnect detection,
  keep-alive, ``send_timeout``, a clean end on Ctrl-C.
- ``GET /ticks/stream`` and ``GET /notifications/stream``: Litestar's own
  ``Stream`` response over ``event_stream()``, for when Litestar should build
  the response (its headers, cookies, ``after_request`` hooks).
  ``event_stream()`` sends keep-alive pings itself and finishes on Ctrl-C,
  so the server can stop.
- ``POST /notify`` publishes ``{"message": ...}`` to every subscriber.

Run it with ``python examples/litestar_app.py``, then ``curl -N
http://127.0.0.1:8000/notifications`` and, in another shell, ``curl -X POST
http://127.0.0.1:8000/notify -H "content-type: application/json" -d
'{"message": "hi"}'``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from litestar import Litestar, Request, get, post
from litestar.params import JSONBody
from litestar.response import Stream

from sse_asgi import (
    EVENT_STREAM_HEADERS,
    Broadcast,
    EventSourceResponse,
    ServerSentEvent,
    event_stream,
)

#: Seconds between two ticks.
TICK_INTERVAL = 1.0

broadcast = Broadcast()


async def ticks() -> AsyncIterator[ServerSentEvent]:
    """One event per ``TICK_INTERVAL``, until the client leaves."""
    i = 0
    while True:
        yield ServerSentEvent(data={"tick": i}, event="tick", id=str(i))
        i += 1
        await anyio.sleep(TICK_INTERVAL)


@get("/ticks")
async def tick_events() -> EventSourceResponse:
    return EventSourceResponse(ticks())


@get("/notifications")
async def notifications(request: Request[Any, Any, Any]) -> EventSourceResponse:
    # A reconnecting browser gets what it missed, then live events.
    last_event_id = request.headers.get("last-event-id")
    return EventSourceResponse(broadcast.subscribe("notifications", last_event_id=last_event_id))


@get("/ticks/stream")
async def tick_stream() -> Stream:
    return Stream(event_stream(ticks()), headers=EVENT_STREAM_HEADERS)


@get("/notifications/stream")
async def notification_stream(request: Request[Any, Any, Any]) -> Stream:
    last_event_id = request.headers.get("last-event-id")
    events = broadcast.subscribe("notifications", last_event_id=last_event_id)
    return Stream(event_stream(events), headers=EVENT_STREAM_HEADERS)


@post("/notify")
async def notify(data: JSONBody[dict[str, str]]) -> dict[str, str]:
    return {"id": await broadcast.publish("notifications", {"message": data["message"]})}


@asynccontextmanager
async def lifespan(app: Litestar) -> AsyncIterator[None]:
    async with broadcast:  # at shutdown, every subscription ends
        yield


app = Litestar(
    [tick_events, notifications, tick_stream, notification_stream, notify], lifespan=[lifespan]
)


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=8000)
