"""A bare ASGI app for the browser tests, served by uvicorn in a subprocess.

``/`` serves ``pages/index.html`` (so every stream is same-origin); the other
paths are SSE endpoints built with ``EventSourceResponse``. Each test passes a
unique ``key`` in the query string; what the server saw for that key (the
requests with their ``Last-Event-ID``, and the keep-alive pings it sent) is
returned as JSON by ``/stats?key=...``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import anyio
import orjson

from sse_asgi import EventSourceResponse, ServerSentEvent, last_event_id
from sse_asgi.types import Receive, Scope, Send, SendMessage
from tests.e2e_app import lifespan, read_body

PAGE = Path(__file__).resolve().parent / "pages" / "index.html"

#: Sent as JSON by ``/json``; the test compares what the page parsed with it.
JSON_VALUE: dict[str, Any] = {
    "text": "Grüße, Ünïcödé — 東京 🎉",
    "separators": "line\u2028para\u2029end",  # not line breaks for SSE
    "escapes": 'tab\tnewline\ncr\rquote"backslash\\',
    "numbers": [0, -1, 2.5, 1e21, 9007199254740991],
    "flags": [True, False, None],
    "nested": {"empty": {}, "list": [[]], "ключ": "значение"},
}

#: Sent as ``raw_data`` by ``/multiline``, one event each.
MULTILINE = [
    "line 1\nline 2\nline 3",
    "crlf 1\r\ncrlf 2\r\ncrlf 3",
    "cr 1\rcr 2\rcr 3",
    "mixed\nLF\r\nCRLF\rCR",
    "blank\n\nlines\r\n\r\nkept",
    "trailing break\n",
]

#: The id prefix of ``/resume``'s events: Last-Event-ID must round-trip it (UTF-8).
RESUME_PREFIX = "évènement-✓-"


@dataclass
class Stats:
    requests: list[dict[str, Any]] = field(default_factory=list)
    pings: int = 0


STATS: dict[str, Stats] = {}


def query_of(scope: Scope) -> dict[str, str]:
    raw = scope.get("query_string", b"").decode()
    return {name: values[0] for name, values in parse_qs(raw).items()}


async def hold_open() -> None:
    """Keep the stream open (no reconnect) until the page closes it."""
    await anyio.sleep_forever()


async def basic() -> AsyncIterator[ServerSentEvent]:
    yield ServerSentEvent(raw_data="first", id="1")
    yield ServerSentEvent(raw_data="second", event="update", id="2")
    yield ServerSentEvent(raw_data="third")  # no id: lastEventId stays "2"
    yield ServerSentEvent(raw_data="fourth", event="ünïcode-näme", id="id-ü-4")
    yield ServerSentEvent(raw_data="fifth", event="update", id="")  # resets it
    yield ServerSentEvent(raw_data="sixth", id="6")
    await hold_open()


async def json_data() -> AsyncIterator[ServerSentEvent]:
    yield ServerSentEvent(data=JSON_VALUE, event="json", id="j1")
    await hold_open()


async def multiline() -> AsyncIterator[ServerSentEvent]:
    for text in MULTILINE:
        yield ServerSentEvent(raw_data=text)
    await hold_open()


async def retrying(retry_ms: int, stats: Stats) -> AsyncIterator[ServerSentEvent]:
    # The reconnection time alone (no data: the browser dispatches no event for it),
    # then one event numbering the connection; then the stream ends.
    yield ServerSentEvent(retry=retry_ms)
    yield ServerSentEvent(raw_data=str(len(stats.requests)))


async def resume(
    after: str | None, total: int, per_connection: int
) -> AsyncIterator[ServerSentEvent]:
    start = 0 if after is None else int(after.removeprefix(RESUME_PREFIX)) + 1
    if start >= total:
        yield ServerSentEvent(raw_data="complete", event="complete")
        await hold_open()
    for i in range(start, min(start + per_connection, total)):
        # Fast reconnects keep the test short.
        yield ServerSentEvent(
            raw_data=str(i), id=f"{RESUME_PREFIX}{i}", retry=50 if i == start else None
        )
        await anyio.sleep(0.01)


async def once() -> AsyncIterator[ServerSentEvent]:
    yield ServerSentEvent(raw_data="a", retry=100)
    yield ServerSentEvent(raw_data="b")


async def slow(n: int, delay: float) -> AsyncIterator[ServerSentEvent]:
    for i in range(n):
        if i:
            await anyio.sleep(delay)
        yield ServerSentEvent(raw_data=f"slow {i}", id=str(i))
    await hold_open()


async def chat(text: str, delay: float) -> AsyncIterator[ServerSentEvent]:
    for word in text.split():
        yield ServerSentEvent(data={"token": word}, event="token")
        await anyio.sleep(delay)
    yield ServerSentEvent(raw_data="[DONE]", event="done")


async def respond(send: Send, status: int, body: bytes, content_type: bytes | None) -> None:
    headers = [] if content_type is None else [(b"content-type", content_type)]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def counting_pings(send: Send, stats: Stats, comment: bytes = b": ping\n\n") -> Send:
    async def wrapped(message: SendMessage) -> None:
        if message["type"] == "http.response.body":
            stats.pings += bytes(message["body"]).count(comment)
        await send(message)

    return wrapped


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return
    if scope["type"] != "http":
        return
    path = scope["path"]
    query = query_of(scope)
    stats = STATS.setdefault(query.get("key", ""), Stats())
    if path == "/":
        await respond(send, 200, PAGE.read_bytes(), b"text/html; charset=utf-8")
        return
    if path == "/stats":
        payload = {"requests": stats.requests, "pings": stats.pings}
        await respond(send, 200, orjson.dumps(payload), b"application/json")
        return
    stats.requests.append(
        {"path": path, "method": scope["method"], "last_event_id": last_event_id(scope)}
    )
    content: AsyncIterator[ServerSentEvent]
    options: dict[str, Any] = {}
    if path == "/basic":
        content = basic()
    elif path == "/json":
        content = json_data()
    elif path == "/multiline":
        content = multiline()
    elif path == "/retry":
        content = retrying(int(query["ms"]), stats)
    elif path == "/resume":
        content = resume(last_event_id(scope), int(query["total"]), int(query["per"]))
    elif path == "/once-then-204":
        if len(stats.requests) > 1:
            await respond(send, 204, b"", None)
            return
        content = once()
    elif path == "/slow":
        content = slow(int(query["n"]), float(query["delay"]))
        options["ping_interval"] = float(query["ping"])
        send = counting_pings(send, stats)
    elif path == "/chat" and scope["method"] == "POST":
        text = orjson.loads(await read_body(receive))["text"]
        content = chat(text, float(query["delay"]))
        options["ping_interval"] = float(query["ping"])
        send = counting_pings(send, stats)
    else:
        await respond(send, 404, b"not found", b"text/plain")
        return
    await EventSourceResponse(content, **options)(scope, receive, send)
