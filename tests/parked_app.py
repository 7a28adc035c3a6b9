"""A bare ASGI app whose streams park: ``EventSourceResponse(broadcast.subscribe(...))``.

Served by real servers in a subprocess (``tests.test_direct_writes_e2e``), so a
publish writes to each connection through the server's own ``send``.

- ``GET /events?timeout=S``: topic "feed", with a send timeout of S seconds (30
  by default); its ``send`` leaves a "stalled" marker in ``$SSE_ASGI_MARKERS``
  once a write has waited 0.3 s (``tests.e2e_app.StallWatch``). With
  ``&lock=1``, each send also holds an ``anyio.Lock`` (a middleware's).
- ``POST /publish?seq=N&size=B``: publishes ``{"seq": N, "pad": "x" * B}``.
- ``GET /stats``: JSON: ``subscribers`` (registered), ``parked`` (streams parked
  on their subscription now).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

import anyio
import orjson

from sse_asgi import Broadcast, EventSourceResponse
from sse_asgi.types import Receive, Scope, Send, SendMessage

from .e2e_app import StallWatch, lifespan

broadcast = Broadcast()


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        async with broadcast:
            await lifespan(receive, send)
        return
    query = {k: v[0] for k, v in parse_qs(scope.get("query_string", b"").decode()).items()}
    path = scope["path"]
    if path == "/events":
        timeout = float(query.get("timeout", "30"))
        response = EventSourceResponse(
            broadcast.subscribe("feed"), send_timeout=timeout, first_event_grace=0
        )
        watched: Send = StallWatch(send)
        await response(scope, receive, _locked(watched) if "lock" in query else watched)
    elif path == "/publish":
        data = {"seq": int(query["seq"]), "pad": "x" * int(query.get("size", "0"))}
        await broadcast.publish("feed", data)
        await _answer(send, b"published")
    elif path == "/stats":
        subscriptions = {s for group in broadcast._subscribers.values() for s in group}
        stats: dict[str, Any] = {
            "subscribers": broadcast.subscriber_count("feed"),
            "parked": sum(1 for s in subscriptions if s._sink is not None),
        }
        await _answer(send, orjson.dumps(stats))
    else:
        await _answer(send, b"not found", status=404)


def _locked(send: Send) -> Send:
    lock = anyio.Lock()

    async def locked_send(message: SendMessage) -> None:
        async with lock:
            await send(message)

    return locked_send


async def _answer(send: Send, body: bytes, status: int = 200) -> None:
    headers = [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
