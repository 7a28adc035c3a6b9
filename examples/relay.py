"""A relay: forward an upstream event stream (an LLM provider, another service) to browsers.

Each browser connection opens its own upstream stream with
``sse_asgi.client.AsyncEventSource`` -- passing the browser's
``Last-Event-ID`` on, so a reconnecting browser resumes upstream too -- and
forwards every event unchanged (type, id, retry, multi-line data) with
``event_from_received``. The upstream is opened before the browser gets an
answer, so the browser also gets the upstream's verdict: a 204 ("stop
reconnecting") is passed on as 204, a failed upstream becomes a 502. When
the browser leaves, the upstream request is closed at once; when the
upstream connection drops, the relay reconnects to it, and the browser
notices nothing.

Run it with ``python examples/relay.py`` and open http://127.0.0.1:8000/
(``curl -N`` works too): by default it relays a demo stream served by the
same app at ``/upstream``. ``UPSTREAM_URL=... python examples/relay.py``
relays any other stream.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator

import anyio
import httpx

from sse_asgi import EventSourceResponse, ReceivedEvent, ServerSentEvent, event_from_received
from sse_asgi import last_event_id as last_event_id_of
from sse_asgi.client import AsyncEventSource, EventSourceError
from sse_asgi.types import Receive, Scope, Send

logger = logging.getLogger(__name__)

UPSTREAM_URL = os.environ.get("UPSTREAM_URL", "http://127.0.0.1:8000/upstream")
#: An upstream silent for this long (no event, no keep-alive) is reconnected.
READ_TIMEOUT = 60.0
#: Seconds between the demo upstream's events (tests lower it).
DEMO_INTERVAL = 1.0


async def demo_upstream(start: int) -> AsyncIterator[ServerSentEvent]:
    """The default upstream: typed, numbered, two-line events, resumable by id."""
    i = start
    while True:
        yield ServerSentEvent(raw_data=f"entry {i}\n  indented line", event="entry", id=str(i))
        i += 1
        await anyio.sleep(DEMO_INTERVAL)


async def forward(
    source: AsyncEventSource, first: ReceivedEvent, resume: str
) -> AsyncIterator[ServerSentEvent]:
    """The upstream's events, as the same events on the wire."""
    received: ReceivedEvent | None = first
    last = resume  # the id the browser has: an unchanged one is not sent again
    while received is not None:
        yield event_from_received(received, last_event_id=last)
        last = received.id
        received = await anext(source, None)


async def answer(send: Send, status: int) -> None:
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": b""})


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """``/upstream``: the demo upstream; any other path: the relay."""
    if scope["type"] != "http":
        return  # lifespan: nothing to set up
    resume = last_event_id_of(scope) or ""
    if scope["path"] == "/upstream":
        start = int(resume) + 1 if resume.isascii() and resume.isdigit() else 0
        await EventSourceResponse(demo_upstream(start))(scope, receive, send)
        return
    source = AsyncEventSource(UPSTREAM_URL, last_event_id=resume, read_timeout=READ_TIMEOUT)
    try:
        try:
            first = await anext(source)
        except StopAsyncIteration:  # the upstream answered 204: so do we
            await answer(send, 204)
            return
        except (EventSourceError, httpx.HTTPError) as exc:
            logger.warning("upstream failed: %s", exc)
            await answer(send, 502)
            return
        await EventSourceResponse(forward(source, first, resume))(scope, receive, send)
    finally:
        # The browser left (or the stream ended): close the upstream request now.
        await source.aclose()


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=8000)
