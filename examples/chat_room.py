"""Chat rooms with Starlette and ``Broadcast``: a topic per room, a topic per person for whispers.

Shows topics as routing: ``POST /rooms/<room>/messages`` publishes
``{"user": ..., "text": ...}`` to topic ``room:<room>``, or, with ``"to":
"<name>"``, a whisper to ``room:<room>:to:<name>`` that only that person
receives. ``GET /rooms/<room>/events?user=<name>`` subscribes to both of that
person's topics at once -- one stream, in publishing order, whose
``Last-Event-ID`` resumes both -- and ``&mute=<name>`` (repeatable) shows a
per-subscriber ``filter``. In memory by default; set ``REDIS_URL`` to run on
Redis (``sse_asgi.redis.RedisBroadcast``), shared by every worker.

Run it with ``python examples/chat_room.py`` (or
``REDIS_URL=redis://127.0.0.1:6379/0 python examples/chat_room.py``), then
``curl -N "http://127.0.0.1:8000/rooms/lobby/events?user=bob"`` and, in
another shell, ``curl -X POST http://127.0.0.1:8000/rooms/lobby/messages
-H "content-type: application/json" -d '{"user": "alice", "text": "hi"}'``
(add ``"to": "bob"`` to whisper).
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from pydantic import BaseModel, Field, ValidationError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sse_asgi import Broadcast, MemoryBackend
from sse_asgi.starlette import EventSourceResponse, ServerSentEvent

#: How many messages per topic a reconnecting client can catch up on.
HISTORY = 500
# Names end up in topic names: restricting them means no room name can spell
# someone else's whisper topic (a room called "lobby:to:bob", say).
NAME = r"[A-Za-z0-9_-]{1,32}"


class Message(BaseModel):
    user: str = Field(pattern=f"^{NAME}$")
    text: str = Field(min_length=1, max_length=2000)
    to: str | None = Field(default=None, pattern=f"^{NAME}$")


def make_broadcast(redis_url: str | None) -> Broadcast:
    """In memory (this process only), or on Redis when a URL is given."""
    if redis_url:
        # Imported only when used: the in-memory version needs no redis package.
        from sse_asgi.redis import RedisBroadcast

        return RedisBroadcast(redis_url, history=HISTORY)
    return Broadcast(MemoryBackend(history=HISTORY))


def checked_name(value: str | None) -> str | None:
    if value is not None and not re.fullmatch(NAME, value):
        raise HTTPException(404)
    return value


def create_app(redis_url: str | None = None) -> Starlette:
    """The app, on the in-memory broadcast or, given ``redis_url``, on Redis."""
    broadcast = make_broadcast(redis_url)

    async def post_message(request: Request) -> Response:
        room = checked_name(request.path_params["room"])
        try:
            message = Message.model_validate_json(await request.body())
        except ValidationError as exc:
            return Response(exc.json(include_url=False), 422, media_type="application/json")
        data = {"room": room, **message.model_dump(exclude_none=True)}
        if message.to is None:
            event_id = await broadcast.publish(f"room:{room}", ServerSentEvent(data=data))
        else:
            whisper = ServerSentEvent(data=data, event="whisper")
            event_id = await broadcast.publish(f"room:{room}:to:{message.to}", whisper)
        return JSONResponse({"id": event_id})

    async def room_events(request: Request) -> EventSourceResponse:
        room = checked_name(request.path_params["room"])
        # A real app takes the user from its session, not from the URL.
        user = checked_name(request.query_params.get("user"))
        topics = [f"room:{room}"] if user is None else [f"room:{room}", f"room:{room}:to:{user}"]
        muted = set(request.query_params.getlist("mute"))

        def unmuted(event: ServerSentEvent) -> bool:
            # Runs for each event of this subscriber's, replayed or live.
            return event.data["user"] not in muted

        events = broadcast.subscribe(
            topics,
            last_event_id=request.headers.get("last-event-id"),
            filter=unmuted if muted else None,
        )
        # The response closes the subscription when the client leaves.
        return EventSourceResponse(events)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with broadcast:  # starts the backend; at shutdown, ends every stream
            yield

    routes = [
        Route("/rooms/{room}/messages", post_message, methods=["POST"]),
        Route("/rooms/{room}/events", room_events),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.broadcast = broadcast
    return app


app = create_app(os.environ.get("REDIS_URL"))


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=8000)
