"""Hand-made ASGI receive/send pairs for driving responses without a server."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable
from typing import Any

import anyio

from sse_asgi import EventDecoder, EventSourceResponse, ReceivedEvent
from sse_asgi.types import ASGIApp, Receive, ReceiveMessage, Scope, Send, SendMessage


def http_scope(method: str = "GET", headers: list[tuple[bytes, bytes]] | None = None) -> Scope:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "root_path": "",
        "headers": headers or [],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
    }


def app_for(
    content_factory: Callable[[], AsyncIterable[Any] | Iterable[Any]], **options: Any
) -> ASGIApp:
    """A bare ASGI app serving a fresh ``content_factory()`` per request."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await EventSourceResponse(content_factory(), **options)(scope, receive, send)

    return app


class FakeClient:
    """Records what the app sends; disconnects on demand; can stall or fail sends."""

    def __init__(self) -> None:
        self.messages: list[SendMessage] = []
        self.disconnected = anyio.Event()
        # Block every send from now on: a client that stopped reading. As on a
        # real server, a blocked send returns once the client reads again
        # (resume()) or leaves -- and then the message is dropped.
        self.stall = False
        self.resumed = anyio.Event()
        self.fail_with: BaseException | None = None  # raise this from send
        self.sent = anyio.Event()

    async def receive(self) -> ReceiveMessage:
        await self.disconnected.wait()
        return {"type": "http.disconnect"}

    def resume(self) -> None:
        """The stalled client reads again."""
        self.stall = False
        self.resumed.set()

    async def send(self, message: SendMessage) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        if self.stall:
            async with anyio.create_task_group() as tg:
                for event in (self.disconnected, self.resumed):
                    tg.start_soon(_cancel_when_set, event, tg.cancel_scope)
            if self.disconnected.is_set():
                return  # the client left: the bytes go nowhere
        self.messages.append(message)
        self.sent.set()
        self.sent = anyio.Event()

    @property
    def bodies(self) -> list[bytes]:
        return [bytes(m["body"]) for m in self.messages if m["type"] == "http.response.body"]

    @property
    def body(self) -> bytes:
        return b"".join(self.bodies)

    @property
    def events(self) -> list[ReceivedEvent]:
        return EventDecoder().feed(self.body)

    @property
    def completed(self) -> bool:
        last = self.messages[-1] if self.messages else None
        return (
            last is not None
            and last["type"] == "http.response.body"
            and not last.get("more_body", False)
        )

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        while not predicate():
            await self.sent.wait()


async def _cancel_when_set(event: anyio.Event, scope: anyio.CancelScope) -> None:
    await event.wait()
    scope.cancel()


async def counting(n: int, delay: float = 0.0) -> AsyncIterator[dict[str, int]]:
    for i in range(n):
        yield {"i": i}
        if delay:
            await anyio.sleep(delay)


async def run_response(response: ASGIApp, client: FakeClient, method: str = "GET") -> None:
    """Serve ``response`` to ``client`` on a fake connection, failing after 10 s."""
    with anyio.fail_after(10):
        await response(http_scope(method), client.receive, client.send)


async def idle_after(n: int) -> AsyncIterator[dict[str, int]]:
    """``n`` events, then silence until cancelled."""
    for i in range(n):
        yield {"i": i}
    await anyio.sleep_forever()
