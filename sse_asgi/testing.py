"""An in-process SSE client for testing any ASGI app: no network, no httpx.

Example:

```py
import anyio

from sse_asgi import EventSourceResponse
from sse_asgi.testing import connect


async def ticks():
    for i in range(3):
        yield {"i": i}


app = lambda scope, receive, send: EventSourceResponse(ticks())(scope, receive, send)


async def test_ticks():
    async with connect(app, "/ticks") as stream:
        assert stream.status == 200
        first = await anext(stream)
        assert first.json() == {"i": 0}
    # leaving the block sent http.disconnect and waited for the app to finish


anyio.run(test_ticks)  # or let pytest run it, with anyio's plugin
```

``AnyASGIApp`` is the type ``connect`` accepts: any ASGI application.
"""

from __future__ import annotations

import collections
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import anyio
import orjson

from ._decoder import EventDecoder, ReceivedEvent
from .types import ReceiveMessage, Scope, SendMessage

__all__ = ["AnyASGIApp", "SSETestStream", "connect"]

_NO_BODY: Any = object()

#: Any ASGI application: frameworks type their messages loosely (Starlette as
#: plain mappings), so the callables' message types are not checked here.
AnyASGIApp = Callable[[Scope, Any, Any], Awaitable[None]]


class SSETestStream:
    r"""The client side of one in-process request.

    - ``status``, ``headers`` (lower-case names; repeated headers joined with
      ``", "``), ``raw_headers``: the response head.
    - ``received``: every body byte so far, comments and pings included (a
      copy made on each access; kept growing in place, so a long stream costs
      time linear in its length).
    - ``complete``: the app finished the body (``more_body=False``).
    - ``decoder``: the :class:`~sse_asgi.EventDecoder` in use, for
      ``last_event_id`` and ``retry``.
    - Iterate (``async for``, ``anext``) for the decoded events; iteration
      stops when the body is complete.

    Example:

    ```py
    import anyio

    from sse_asgi import EventSourceResponse
    from sse_asgi.testing import connect


    async def main():
        async with connect(EventSourceResponse([{"n": 1}, {"n": 2}]), "/feed") as stream:
            events = [event async for event in stream]
            print(stream.status, len(events), stream.complete, stream.received)
            #> 200 2 True b'data: {"n":1}\n\ndata: {"n":2}\n\n'


    anyio.run(main)
    ```
    """

    def __init__(self) -> None:
        self.status: int = 0
        self.headers: dict[str, str] = {}
        self.raw_headers: list[tuple[bytes, bytes]] = []
        self._body = bytearray()
        self.complete = False
        self.decoder = EventDecoder()
        self._started = anyio.Event()
        self._changed = anyio.Event()
        self._pending: collections.deque[ReceivedEvent] = collections.deque()
        self._ended = False  # no more events can come: body complete or app finished
        self._disconnected = anyio.Event()
        self._send_raises_after_disconnect = False

    @property
    def received(self) -> bytes:
        """Every body byte so far."""
        return bytes(self._body)

    def __aiter__(self) -> SSETestStream:
        return self

    async def __anext__(self) -> ReceivedEvent:
        """The next event; ``StopAsyncIteration`` once the body is complete."""
        while not self._pending:
            if self._ended:
                raise StopAsyncIteration
            await self._changed.wait()
        return self._pending.popleft()

    async def events(self, count: int) -> list[ReceivedEvent]:
        """The next ``count`` events (fewer only if the body completes first)."""
        result = []
        async for event in self:
            result.append(event)
            if len(result) == count:
                break
        return result

    async def wait_received(self, fragment: bytes) -> None:
        """Wait until the raw body contains ``fragment`` (a ping comment, say)."""
        # Each wake-up searches only what arrived since (from a fragment's
        # length before it, for a fragment split across sends).
        searched = 0
        while self._body.find(fragment, max(0, searched - len(fragment) + 1)) < 0:
            searched = len(self._body)
            if self.complete:
                raise AssertionError(f"body completed without {fragment!r}: {self.received!r}")
            await self._changed.wait()

    async def wait_complete(self) -> None:
        """Wait until the app ends the body."""
        while not self.complete:
            await self._changed.wait()

    def disconnect(self) -> None:
        """Make the client go away (what leaving the ``connect`` block does)."""
        self._disconnected.set()

    # -- the app's side ---------------------------------------------------------

    def _changed_now(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    async def _send(self, message: SendMessage) -> None:
        if self._send_raises_after_disconnect and self._disconnected.is_set():
            raise OSError("the client disconnected")  # ASGI 2.4
        if self.complete:
            raise RuntimeError(f"ASGI app sent {message['type']!r} after the response completed")
        if message["type"] == "http.response.start":
            if self._started.is_set():
                raise RuntimeError("ASGI app sent http.response.start twice")
            self.status = message["status"]
            self.raw_headers = [(bytes(k), bytes(v)) for k, v in message.get("headers", [])]
            for name, value in self.raw_headers:
                key = name.decode("latin-1").lower()
                text = value.decode("latin-1")
                self.headers[key] = f"{self.headers[key]}, {text}" if key in self.headers else text
            self._started.set()
        elif message["type"] == "http.response.body":
            if not self._started.is_set():
                raise RuntimeError("ASGI app sent a body before http.response.start")
            body = bytes(message.get("body", b""))
            self._body += body
            self._pending.extend(self.decoder.feed(body))
            if not message.get("more_body", False):
                self.complete = self._ended = True
            self._changed_now()
        else:
            raise RuntimeError(f"unexpected ASGI message {message['type']!r}")


@asynccontextmanager
async def connect(
    app: AnyASGIApp,
    path: str = "/",
    *,
    method: str = "GET",
    headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    json: Any = _NO_BODY,
    body: bytes = b"",
    last_event_id: str | None = None,
    spec_version: str = "2.3",
    finish_timeout: float = 5.0,
) -> AsyncIterator[SSETestStream]:
    """Open an SSE request to ``app`` in-process and yield the client side of it.

    ``json`` sends a JSON body (with ``content-type: application/json``),
    ``body`` raw bytes; ``last_event_id`` sets the ``Last-Event-ID`` header.
    ``spec_version`` is the ASGI HTTP version announced in the scope: "2.3"
    (what uvicorn and granian announce) by default; from "2.4" on, ``send``
    raises ``OSError`` once the client has left, as the spec allows.
    Entering waits for the response head; an exception the app raises before
    it propagates here. Leaving sends ``http.disconnect`` and waits up to
    ``finish_timeout`` seconds for the app to finish -- a stream that does not stop
    after its client left fails the test.

    Example:

    ```py
    import json

    import anyio

    from sse_asgi import EventSourceResponse
    from sse_asgi.testing import connect


    async def chat(scope, receive, send):  # streams the posted text back, word by word
        text = json.loads((await receive())["body"])["text"]
        await EventSourceResponse(text.split())(scope, receive, send)


    async def main():
        async with connect(chat, "/chat", method="POST", json={"text": "hi there"}) as stream:
            tokens = [event.json() async for event in stream]
        print(tokens)
        #> ['hi', 'there']


    anyio.run(main)
    ```
    """
    if json is not _NO_BODY:
        body = orjson.dumps(json)
    parts = urlsplit(path)
    header_list: list[tuple[bytes, bytes]] = [(b"host", b"testserver")]
    if body or method.upper() not in {"GET", "HEAD"}:
        header_list.append((b"content-length", str(len(body)).encode()))
    if json is not _NO_BODY:
        header_list.append((b"content-type", b"application/json"))
    if last_event_id is not None:
        header_list.append((b"last-event-id", last_event_id.encode()))
    items = headers.items() if isinstance(headers, Mapping) else (headers or ())
    header_list += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in items]
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": spec_version},
        "http_version": "1.1",
        "method": method.upper(),
        "scheme": "http",
        "path": parts.path or "/",
        "raw_path": (parts.path or "/").encode(),
        "query_string": parts.query.encode(),
        "root_path": "",
        "headers": header_list,
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "extensions": {},
        "state": {},
    }
    stream = SSETestStream()
    version = tuple(int(part) for part in spec_version.split("."))
    stream._send_raises_after_disconnect = version >= (2, 4)
    body_sent = False

    async def receive() -> ReceiveMessage:
        nonlocal body_sent
        if not body_sent:
            body_sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await stream._disconnected.wait()
        return {"type": "http.disconnect"}

    finished = anyio.Event()
    app_error: list[Exception] = []

    async def run_app() -> None:
        try:
            await app(scope, receive, stream._send)
        except Exception as exc:  # re-raised as itself below, not as an ExceptionGroup
            app_error.append(exc)
        finally:
            finished.set()
            stream._ended = True
            stream._started.set()  # unblock the head wait if the app never answered
            stream._changed_now()

    waited = anyio.CancelScope()
    async with anyio.create_task_group() as tg:
        tg.start_soon(run_app)
        await stream._started.wait()
        if stream.status != 0:
            try:
                yield stream
            finally:
                stream.disconnect()
                with anyio.move_on_after(finish_timeout) as waited:
                    await finished.wait()
                if waited.cancelled_caught:
                    tg.cancel_scope.cancel()
    if stream.status == 0:
        if app_error:
            raise app_error[0]
        raise RuntimeError("ASGI app returned without sending a response")
    if waited.cancelled_caught:
        raise TimeoutError(f"the app did not finish {finish_timeout} s after the client left")
    if app_error:
        raise app_error[0]
