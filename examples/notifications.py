"""A notifications feed with FastAPI and ``Broadcast``: publish once, every open tab gets it.

Shows ``POST /notify`` publishing to one topic and ``GET /notifications``
streaming it to every subscriber. A browser that reconnects sends its
``Last-Event-ID`` and first gets what it missed (from the broadcast's
history), then continues live -- no gap, no duplicate; one whose id is too
old, or from before a restart, gets a ``reset`` event instead (reload your
list). The broadcast lives in the app's lifespan. It is in memory by
default; set ``REDIS_URL`` and it runs on Redis Streams
(``sse_asgi.redis.RedisBroadcast``), shared by every worker and surviving
restarts -- nothing else changes.

Run it with ``python examples/notifications.py`` (or
``REDIS_URL=redis://127.0.0.1:6379/0 python examples/notifications.py``), then
``curl -N http://127.0.0.1:8000/notifications`` and, in another shell,
``curl -X POST http://127.0.0.1:8000/notify -H "content-type: application/json"
-d '{"message": "Deploy finished"}'``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterable, AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from typing import Annotated, Literal

from fastapi import FastAPI, Header
from pydantic import BaseModel, Field

from sse_asgi import Broadcast, MemoryBackend
from sse_asgi.fastapi import EventSourceResponse, EventSourceRoute, ServerSentEvent

TOPIC = "notifications"
#: How many notifications a reconnecting client can catch up on.
HISTORY = 1000


class Notification(BaseModel):
    message: str = Field(min_length=1, max_length=1000)
    level: Literal["info", "warning", "error"] = "info"


class Sent(Notification):
    sent_at: datetime


def make_broadcast(redis_url: str | None) -> Broadcast:
    """In memory (this process only), or on Redis when a URL is given."""
    if redis_url:
        # Imported only when used: the in-memory feed needs no redis package.
        from sse_asgi.redis import RedisBroadcast

        return RedisBroadcast(redis_url, history=HISTORY)
    return Broadcast(MemoryBackend(history=HISTORY))


def create_app(redis_url: str | None = None) -> FastAPI:
    """The app, on the in-memory broadcast or, given ``redis_url``, on Redis."""
    broadcast = make_broadcast(redis_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Starts the backend (for Redis, this process's one reader) and, at
        # shutdown, ends every open stream cleanly.
        async with broadcast:
            yield

    app = FastAPI(title="sse-asgi: notifications", lifespan=lifespan)
    app.router.route_class = EventSourceRoute
    app.state.broadcast = broadcast  # for the rest of the app (and tests) to publish

    @app.post("/notify")
    async def notify(notification: Notification) -> dict[str, str]:
        sent = Sent(**notification.model_dump(), sent_at=datetime.now(timezone.utc))
        # Never waits for subscribers: a slow client cannot hold up the publisher.
        event_id = await broadcast.publish(TOPIC, ServerSentEvent(data=sent, event="notification"))
        return {"id": event_id}

    @app.get("/notifications", response_class=EventSourceResponse)
    async def notifications(
        last_event_id: Annotated[str | None, Header()] = None,
    ) -> AsyncIterable[ServerSentEvent]:
        # Replay after Last-Event-ID, then live. The stream closes this
        # generator when the client leaves, which ends the subscription.
        async with broadcast.subscribe(TOPIC, last_event_id=last_event_id) as events:
            async for event in events:
                yield event

    return app


app = create_app(os.environ.get("REDIS_URL"))


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=8000)
