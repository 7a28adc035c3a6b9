"""The app the fan-out benchmark serves through uvicorn: one Broadcast, many subscribers.

GET /events subscribes to topic "bench"; POST /publish publishes one event whose
data carries the server's clock at publish time, so the client measures the
publish-to-receive latency. REDIS_URL switches to the Redis backend.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from typing import Any

from sse_asgi import Broadcast, EventSourceResponse, ServerSentEvent
from sse_asgi.types import Receive, Scope, Send

if os.environ.get("REDIS_URL"):
    from sse_asgi.redis import RedisBroadcast

    broadcast: Broadcast = RedisBroadcast(os.environ["REDIS_URL"], prefix="sse-asgi-bench:")
else:
    broadcast = Broadcast(buffer=1024)


async def feed() -> AsyncIterator[ServerSentEvent]:
    async with broadcast.subscribe("bench") as events:
        yield ServerSentEvent(comment="subscribed")  # the client starts timing after this
        async for event in events:
            yield event


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
    elif scope["path"] == "/events":
        await EventSourceResponse(feed())(scope, receive, send)
    elif scope["path"] == "/publish":
        await broadcast.publish("bench", {"t": time.time()})
        headers = [(b"content-length", b"2")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"ok"})


async def _lifespan(receive: Any, send: Any) -> None:
    await receive()
    async with broadcast:
        await send({"type": "lifespan.startup.complete"})
        await receive()
    await send({"type": "lifespan.shutdown.complete"})
