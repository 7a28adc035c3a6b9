"""A recording connection and a served stream, for the direct-write and fan-out tests."""

from __future__ import annotations

import asyncio
import contextvars
import json
import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

import anyio

from sse_asgi import Broadcast, EventDecoder, EventSourceResponse, Subscription
from sse_asgi.broadcast import _fan_out
from sse_asgi.types import ReceiveMessage, SendMessage

from .asgi_fakes import http_scope
from .broadcast_support import eventually

# The stream's context, as a middleware in front of the response would set it.
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="none")


class Wire:
    """A connection: what was sent, by which task, in which context; can block or fail sends."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.tasks: list[asyncio.Task[Any] | None] = []
        self.direct: list[bool] = []  # written from inside a publish (its fan-out)
        self.request_ids: list[str] = []
        self.block: Callable[[bytes], bool] = lambda body: False
        self.release = asyncio.Event()
        self.blocked = asyncio.Event()
        self.fail_with: BaseException | None = None
        self.send_closed = False  # a blocked send was closed (its finally ran)
        self.gone = asyncio.Event()
        self.started = asyncio.Event()

    async def receive(self) -> ReceiveMessage:
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: SendMessage) -> None:
        if message["type"] == "http.response.start":
            self.started.set()
            return
        body = bytes(message.get("body", b""))
        if self.fail_with is not None and body:
            raise self.fail_with
        if self.block(body):
            self.blocked.set()
            try:
                await self.release.wait()
            finally:
                if not self.release.is_set():
                    self.send_closed = True
        self.bodies.append(body)
        self.tasks.append(asyncio.current_task())
        self.direct.append(in_a_publish())
        self.request_ids.append(request_id.get())

    @property
    def data(self) -> list[str]:
        return [json.loads(event.data) for event in EventDecoder().feed(b"".join(self.bodies))]


def in_a_publish() -> bool:
    """Whether the caller runs inside a fan-out's write (``FanOut._write``) -- not in a step
    of the stream's own task, though it runs as that task either way."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        if frame.f_code is _fan_out.FanOut._write.__code__:
            return True
        frame = frame.f_back
    return False


async def serve(
    broadcast: Broadcast, wire: Wire, **options: Any
) -> tuple[asyncio.Task[None], Subscription]:
    """Serve one stream of topic "t" in a task of its own; return it once its headers are out."""
    subscription = broadcast.subscribe("t")

    async def stream() -> None:
        request_id.set("stream")
        response = EventSourceResponse(subscription, first_event_grace=0, **options)
        await response(http_scope(), wire.receive, wire.send)

    task = asyncio.get_running_loop().create_task(stream())
    with anyio.fail_after(5):
        await wire.started.wait()
        await parked(subscription)
    return task, subscription


async def parked(subscription: Subscription) -> None:
    await eventually(lambda: subscription._sink is not None)


async def publish(broadcast: Broadcast, data: str) -> None:
    """Publish as a request of its own would: another task, another context."""
    request_id.set("publisher")
    await broadcast.publish("t", data)
