"""Resuming after ``Last-Event-ID`` in a bare ASGI app: a finite feed of numbered events.

Shows the whole reconnection cycle of a browser's ``EventSource``: every
event carries an ``id``; when the connection drops, the browser waits
``retry`` ms and reconnects with the last id it received in the
``Last-Event-ID`` header (read here with ``sse_asgi.last_event_id``), and the
feed continues after it -- nothing lost, nothing twice. Once everything was
sent, a reconnect gets ``204 No Content``, which tells ``EventSource`` to stop
reconnecting.

Run it with ``python examples/resume.py``, then ``curl -N
http://127.0.0.1:8000/``; stop curl and resume where it left off with
``curl -N -H "Last-Event-ID: 4" http://127.0.0.1:8000/``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio

from sse_asgi import EventSourceResponse, ServerSentEvent, last_event_id
from sse_asgi.types import Receive, Scope, Send

#: How many events the feed has, and the seconds between two (tests lower it).
COUNT = 20
DELAY = 0.5
#: How long a browser waits before reconnecting, in ms.
RETRY_MS = 2000


async def numbered(start: int) -> AsyncIterator[ServerSentEvent]:
    """Events ``start`` to ``COUNT - 1``; the id is the number, so resuming is arithmetic."""
    for n in range(start, COUNT):
        # `retry` sticks in the browser: sending it once per connection is enough.
        retry = RETRY_MS if n == start else None
        yield ServerSentEvent(
            data={"n": n, "square": n * n}, event="number", id=str(n), retry=retry
        )
        await anyio.sleep(DELAY)


def resume_position(scope: Scope) -> int:
    """The first number this request should get."""
    previous = last_event_id(scope)
    # A browser only sends back ids we gave it; anything else (a hand-made
    # header, "³", " 4") starts over instead of failing.
    if previous is not None and previous.isascii() and previous.isdigit():
        return int(previous) + 1
    return 0


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """A bare ASGI app: every HTTP request, on any path, gets the feed."""
    if scope["type"] != "http":
        return  # lifespan: nothing to set up
    start = resume_position(scope)
    if start >= COUNT:
        # Nothing left: without this, a browser would reconnect forever.
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    await EventSourceResponse(numbered(start))(scope, receive, send)


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=8000)
