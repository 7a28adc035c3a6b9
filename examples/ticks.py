"""The smallest sse-asgi app: a bare ASGI stream of ticks, no framework.

Run it with ``python examples/ticks.py`` and open http://127.0.0.1:8000/ --
or ``curl -N http://127.0.0.1:8000/``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio

from sse_asgi import EventSourceResponse, ServerSentEvent, last_event_id
from sse_asgi.types import Receive, Scope, Send


async def ticks(start: int) -> AsyncIterator[ServerSentEvent]:
    """One event per second; a reconnecting browser resumes after its Last-Event-ID."""
    i = start
    while True:
        yield ServerSentEvent(data={"tick": i}, event="tick", id=str(i))
        i += 1
        await anyio.sleep(1)


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """A bare ASGI app: every HTTP request gets the tick stream."""
    if scope["type"] != "http":
        return  # lifespan: nothing to set up
    resume = last_event_id(scope)
    start = int(resume) + 1 if resume and resume.isascii() and resume.isdigit() else 0
    await EventSourceResponse(ticks(start))(scope, receive, send)


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=8000)
