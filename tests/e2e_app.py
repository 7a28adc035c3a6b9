"""A bare ASGI app for the end-to-end tests, served by real servers in a subprocess.

Generators leave a marker file in ``$SSE_ASGI_MARKERS`` when their ``finally``
runs, so a test can prove it ran inside the server process.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
import uuid
import weakref
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import anyio
import orjson

from sse_asgi import EventSourceResponse, ServerSentEvent
from sse_asgi.types import Receive, Scope, Send

# sse_asgi's own lines (INFO: dropped clients) reach the server's log, with their level.
_handler = logging.StreamHandler(sys.stderr)
_handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
logging.getLogger("sse_asgi").addHandler(_handler)
logging.getLogger("sse_asgi").setLevel(logging.INFO)


def mark(name: str) -> None:
    folder = os.environ.get("SSE_ASGI_MARKERS")
    if folder:
        (Path(folder) / f"{name}-{uuid.uuid4().hex}").touch()


class StallWatch:
    """An ASGI ``send`` that leaves a "stalled" marker once one of its sends has blocked 0.3 s.

    A thread watches, so a test learns that a server's buffers are full without
    relying on any event loop -- or on sse_asgi, which is what it tests.
    """

    def __init__(self, send: Send) -> None:
        self.send = send
        self.since: float | None = None
        _watched.add(self)
        if not _watching.is_set():
            _watching.set()
            threading.Thread(target=_watch_sends, daemon=True).start()

    async def __call__(self, message: Any) -> None:
        self.since = time.monotonic()
        try:
            await self.send(message)
        finally:
            self.since = None


_watched: weakref.WeakSet[StallWatch] = weakref.WeakSet()
_watching = threading.Event()


def _watch_sends() -> None:
    while True:
        time.sleep(0.05)
        for watch in list(_watched):
            since = watch.since
            if since is not None and time.monotonic() - since > 0.3:
                _watched.discard(watch)
                mark("stalled")


async def count(n: int, delay: float) -> AsyncIterator[ServerSentEvent]:
    try:
        for i in range(n):
            yield ServerSentEvent(data={"i": i}, id=str(i))
            if delay:
                await anyio.sleep(delay)
    finally:
        mark("count")


async def idle() -> AsyncIterator[ServerSentEvent]:
    try:
        yield ServerSentEvent(data="hello", event="greeting")
        await anyio.sleep_forever()
    finally:
        mark("idle")


def sync_ticks() -> Iterator[dict[str, int]]:
    try:
        i = 0
        while True:
            yield {"tick": i}
            i += 1
            time.sleep(0.05)
    finally:
        mark("sync")


async def failing() -> AsyncIterator[int]:
    for i in range(3):
        yield i
    raise RuntimeError("mid-stream failure")


async def failing_early() -> AsyncIterator[int]:
    raise RuntimeError("failure before the first event")
    yield 0  # pragma: no cover


async def flood(size: int) -> AsyncIterator[ServerSentEvent]:
    payload = "x" * size
    try:
        while True:
            yield ServerSentEvent(raw_data=payload)
    finally:
        mark("flood")


async def chat(text: str) -> AsyncIterator[ServerSentEvent]:
    for word in text.split():
        yield ServerSentEvent(data={"token": word}, event="token")
    yield ServerSentEvent(raw_data="[DONE]", event="done")


async def read_body(receive: Receive) -> bytes:
    body = b""
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return body
        body += message.get("body", b"")
        if not message.get("more_body", False):
            return body


def on_error(exc: Exception) -> ServerSentEvent:
    return ServerSentEvent(data={"error": str(exc)}, event="error")


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return
    query = {k: v[0] for k, v in parse_qs(scope.get("query_string", b"").decode()).items()}
    ping = float(query.get("ping", "15"))
    path = scope["path"]
    content: Any
    options: dict[str, Any] = {"ping_interval": ping}
    if path == "/count":
        content = count(int(query.get("n", "5")), float(query.get("delay", "0")))
    elif path == "/idle":
        content = idle()
    elif path == "/sync":
        content = sync_ticks()
    elif path == "/error":
        content = failing()
        options["on_error"] = on_error
    elif path == "/early-error":
        content = failing_early()
    elif path == "/flood":
        content = flood(int(query.get("size", "1000")))
        options["send_timeout"] = float(query.get("timeout", "0.5"))
        send = StallWatch(send)
    elif path == "/chat" and scope["method"] == "POST":
        content = chat(orjson.loads(await read_body(receive))["text"])
    else:
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b"not found"})
        return
    await EventSourceResponse(content, **options)(scope, receive, send)
    if path == "/flood":
        mark("returned")  # the ASGI call is over


async def lifespan(receive: Receive, send: Any) -> None:
    """A lifespan with nothing to set up: answer startup and shutdown (leaving a marker)."""
    while True:
        message: Any = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            mark("lifespan-shutdown")
            await send({"type": "lifespan.shutdown.complete"})
            return
