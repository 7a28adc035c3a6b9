"""Django 5 (ASGI): an sse-asgi stream and a ``Broadcast`` subscription, both ways.

A whole Django project in one file (settings, URLs, views), served as ASGI:

- ``GET /ticks/stream`` and ``GET /notifications/stream``: async views
  returning ``StreamingHttpResponse`` over ``event_stream()``. They keep
  everything Django does around a view (middleware, sessions, auth).
  ``event_stream()`` sends keep-alive pings and finishes on Ctrl-C, so the
  server can stop.
- ``GET /ticks`` and ``GET /notifications``: answered by sse-asgi's
  ``EventSourceResponse`` in a small ASGI dispatcher in front of
  ``get_asgi_application()``, with everything the core response does
  (disconnect detection, ``send_timeout``) -- but outside Django's request
  handling. The dispatcher also runs the ASGI lifespan, which Django does
  not: the broadcast starts and stops there.
- ``POST /notify`` publishes ``{"message": ...}`` to every subscriber.

Serve it with an ASGI server (Django's ``runserver`` is WSGI): ``python
examples/django_app.py`` runs uvicorn. Then ``curl -N
http://127.0.0.1:8000/notifications/stream`` and, in another shell, ``curl -X
POST http://127.0.0.1:8000/notify -H "content-type: application/json" -d
'{"message": "hi"}'``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
from django.conf import settings
from django.core.asgi import get_asgi_application
from django.http import HttpRequest, JsonResponse, StreamingHttpResponse
from django.urls import path

from sse_asgi import (
    EVENT_STREAM_HEADERS,
    Broadcast,
    EventSourceResponse,
    ServerSentEvent,
    event_stream,
    last_event_id,
)
from sse_asgi.types import Receive, Scope, Send

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


async def tick_stream(request: HttpRequest) -> StreamingHttpResponse:
    return StreamingHttpResponse(event_stream(ticks()), headers=EVENT_STREAM_HEADERS)


async def notification_stream(request: HttpRequest) -> StreamingHttpResponse:
    # A reconnecting browser gets what it missed, then live events.
    resume = request.headers.get("Last-Event-ID")
    events = broadcast.subscribe("notifications", last_event_id=resume)
    return StreamingHttpResponse(event_stream(events), headers=EVENT_STREAM_HEADERS)


async def notify(request: HttpRequest) -> JsonResponse:
    message = str(json.loads(request.body)["message"])
    return JsonResponse({"id": await broadcast.publish("notifications", {"message": message})})


urlpatterns = [
    path("ticks/stream", tick_stream),
    path("notifications/stream", notification_stream),
    path("notify", notify),
]

settings.configure(
    ROOT_URLCONF=__name__,
    ALLOWED_HOSTS=["127.0.0.1", "localhost"],
    MIDDLEWARE=[],  # add yours: async-capable middleware keeps the views async
)
django_app = get_asgi_application()


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """Django, with ``/ticks`` and ``/notifications`` answered by ``EventSourceResponse``."""
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
    elif scope["path"] == "/ticks":
        await EventSourceResponse(ticks())(scope, receive, send)
    elif scope["path"] == "/notifications":
        events = broadcast.subscribe("notifications", last_event_id=last_event_id(scope))
        await EventSourceResponse(events)(scope, receive, send)
    else:
        await django_app(scope, receive, send)


async def lifespan(receive: Receive, send: Any) -> None:
    """Start the broadcast with the server; end every subscription when it stops."""
    await receive()  # lifespan.startup
    async with broadcast:
        await send({"type": "lifespan.startup.complete"})
        await receive()  # lifespan.shutdown
    await send({"type": "lifespan.shutdown.complete"})


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=8000)
