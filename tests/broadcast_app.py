"""A bare ASGI app on RedisBroadcast, run as several uvicorn workers by the end-to-end tests.

GET /events streams topic "feed" (resuming after Last-Event-ID); POST
/publish?text=... publishes to it and answers the new event's id; GET /stats
answers how many subscriptions this worker has registered.
Configuration: REDIS_URL and SSE_ASGI_PREFIX.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs

from sse_asgi import EventSourceResponse, ServerSentEvent, last_event_id
from sse_asgi.redis import RedisBroadcast
from sse_asgi.types import Receive, Scope, Send

broadcast = RedisBroadcast(
    os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
    prefix=os.environ.get("SSE_ASGI_PREFIX", "sse-asgi-e2e:"),
)


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
    elif scope["path"] == "/events":
        await EventSourceResponse(feed(last_event_id(scope)))(scope, receive, send)
    elif scope["path"] == "/publish":
        text = parse_qs(scope["query_string"].decode())["text"][0]
        body = (await broadcast.publish("feed", {"text": text, "worker": os.getpid()})).encode()
        await answer(send, body)
    elif scope["path"] == "/stats":
        registered = {s for group in broadcast._subscribers.values() for s in group}
        await answer(send, str(len(registered)).encode())


async def answer(send: Send, body: bytes) -> None:
    headers = [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def feed(resume_after: str | None) -> AsyncIterator[ServerSentEvent]:
    # Entering the subscription registers it (and replays): from the comment on,
    # the client knows nothing published later can be missed.
    async with broadcast.subscribe("feed", last_event_id=resume_after) as events:
        yield ServerSentEvent(comment="subscribed")
        async for event in events:
            yield event


async def lifespan(receive: Any, send: Any) -> None:
    message = await receive()
    assert message["type"] == "lifespan.startup"
    async with broadcast:
        await send({"type": "lifespan.startup.complete"})
        message = await receive()
        assert message["type"] == "lifespan.shutdown"
    await send({"type": "lifespan.shutdown.complete"})
