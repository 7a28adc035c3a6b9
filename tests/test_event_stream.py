"""``event_stream()``: encoded events for frameworks that own the response, in-process.

The same checks run in Litestar, Quart and Django on a real uvicorn in
``test_frameworks.py``; here each behaviour is driven directly, on asyncio
and trio.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import anyio.lowlevel
import pydantic
import pytest

from sse_asgi import (
    EVENT_STREAM_HEADERS,
    Broadcast,
    EventSourceResponse,
    ServerSentEvent,
    _shutdown,
    close_all_streams,
    event_stream,
)
from sse_asgi.testing import connect
from sse_asgi.types import Receive, Scope, Send

pytestmark = pytest.mark.anyio

PING = b": ping\n\n"


class Item(pydantic.BaseModel):
    name: str
    price: float


ITEMS: list[Any] = [
    ServerSentEvent(data={"a": 1}, event="update", id="1"),
    {"b": [1, 2]},
    "text with\nnewline",
    ServerSentEvent(raw_data="line 1\r\nline 2", retry=100),
    ServerSentEvent(comment="just a comment"),
    None,
]


async def items(values: list[Any]) -> AsyncIterator[Any]:
    for value in values:
        yield value


async def next_chunk(stream: AsyncIterator[bytes]) -> bytes:
    with anyio.fail_after(5):
        return await anext(stream)


async def response_body(content: Any, **options: Any) -> bytes:
    """What EventSourceResponse sends for the same content, for comparison."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await EventSourceResponse(content, **options)(scope, receive, send)

    async with connect(app) as stream:
        with anyio.fail_after(5):
            await stream.wait_complete()
    return stream.received


@pytest.mark.parametrize(
    ("values", "options"),
    [
        pytest.param(ITEMS, {}, id="plain"),
        pytest.param([Item(name="x", price=1), {"name": "y", "price": "2"}], {"item_type": Item}),
        pytest.param([[1], [2, 3]], {"serializer": lambda v: repr(v).encode()}, id="serializer"),
    ],
)
async def test_items_are_encoded_as_by_eventsourceresponse(
    values: list[Any], options: dict[str, Any]
) -> None:
    chunks = [chunk async for chunk in event_stream(items(values), **options)]
    assert len(chunks) == len(values)  # one chunk per event
    assert b"".join(chunks) == await response_body(items(values), **options)


def test_headers_are_eventsourceresponses() -> None:
    assert dict(EVENT_STREAM_HEADERS) == {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-cache",
        "x-accel-buffering": "no",
    }
    with pytest.raises(TypeError):
        EVENT_STREAM_HEADERS["x"] = "y"  # type: ignore[index]


@pytest.mark.parametrize(
    "options",
    [{"ping_interval": 0}, {"ping_interval": -1}, {"item_type": int, "serializer": str.encode}],
)
def test_invalid_options_raise_at_once(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        event_stream([], **options)


def test_content_that_is_not_iterable_raises_at_once() -> None:
    with pytest.raises(TypeError):
        event_stream(42)  # type: ignore[arg-type]


class Watched:
    """An async generator's life: what it yielded, and whether its ``finally`` ran."""

    def __init__(self) -> None:
        self.release = anyio.Event()
        self.closed = anyio.Event()
        self.task: object = None

    async def idle_after_one(self) -> AsyncIterator[ServerSentEvent]:
        try:
            yield ServerSentEvent(data="first")
            await self.release.wait()  # idle until released
            yield ServerSentEvent(data="second")
            await anyio.sleep_forever()
        finally:
            self.closed.set()


async def test_pings_while_the_content_is_idle_without_interrupting_it() -> None:
    watched = Watched()
    stream = event_stream(watched.idle_after_one(), ping_interval=0.05, ping_comment="keep")
    assert await next_chunk(stream) == b'data: "first"\n\n'
    started = time.monotonic()
    assert await next_chunk(stream) == b": keep\n\n"
    assert await next_chunk(stream) == b": keep\n\n"
    assert time.monotonic() - started >= 0.09
    watched.release.set()  # the generator was waiting all along, never cancelled
    assert await next_chunk(stream) == b'data: "second"\n\n'
    await stream.aclose()
    assert watched.closed.is_set()


async def test_no_ping_when_disabled() -> None:
    watched = Watched()
    stream = event_stream(watched.idle_after_one(), ping_interval=None)
    await next_chunk(stream)
    with anyio.move_on_after(0.1) as scope:
        await anext(stream)
    assert scope.cancelled_caught
    await stream.aclose()
    assert watched.closed.is_set()


async def test_aclose_closes_the_content_at_once() -> None:
    watched = Watched()
    stream = event_stream(watched.idle_after_one())
    await next_chunk(stream)
    assert _shutdown.shutdown.streams
    await stream.aclose()  # the producer waits for the next request: between items
    assert watched.closed.is_set()
    assert not _shutdown.shutdown.streams


async def test_cancelling_a_pull_closes_the_content_before_it_returns() -> None:
    # How Litestar, Quart and Django react to a disconnect: the body's task is cancelled.
    watched = Watched()
    stream = event_stream(watched.idle_after_one())
    await next_chunk(stream)
    async with anyio.create_task_group() as tg:

        async def pull() -> None:
            await anext(stream)

        tg.start_soon(pull)
        await anyio.wait_all_tasks_blocked()
        tg.cancel_scope.cancel()
    assert watched.closed.is_set()
    assert not _shutdown.shutdown.streams


# trio closes a collected async generator too, but warns that it was not closed.
@pytest.mark.filterwarnings("ignore:Async generator .* was garbage collected:ResourceWarning")
async def test_a_dropped_stream_closes_its_content() -> None:
    # A framework cancelled while it sends a chunk may drop the iterator unclosed:
    # the event loop closes an async generator it collects, and with it the content.
    watched = Watched()
    stream = event_stream(watched.idle_after_one())
    await next_chunk(stream)
    del stream
    gc.collect()
    with anyio.fail_after(5):
        await watched.closed.wait()
    assert not _shutdown.shutdown.streams  # left before the content was closed


async def test_close_all_streams_sends_the_final_event_and_finishes() -> None:
    watched = Watched()
    stream = event_stream(watched.idle_after_one(), ping_interval=None)
    await next_chunk(stream)
    async with anyio.create_task_group() as tg:
        chunks: list[bytes] = []

        async def rest() -> None:
            chunks.extend([chunk async for chunk in stream])

        tg.start_soon(rest)
        await anyio.wait_all_tasks_blocked()  # waiting for the idle content
        assert close_all_streams(ServerSentEvent(event="bye", retry=500)) == 1
    assert chunks == [b"event: bye\nretry: 500\n\n"]
    assert watched.closed.is_set()
    assert not _shutdown.shutdown.streams


async def test_closed_while_the_framework_sends_ends_at_the_next_pull() -> None:
    watched = Watched()
    stream = event_stream(watched.idle_after_one())
    await next_chunk(stream)
    assert close_all_streams() == 1  # no pull in progress
    assert [chunk async for chunk in stream] == []
    assert watched.closed.is_set()


async def test_a_stream_starting_during_shutdown_ends_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_shutdown.shutdown, "open", lambda stream: True)
    watched = Watched()
    with anyio.fail_after(1):
        assert [chunk async for chunk in event_stream(watched.idle_after_one())] == []
    assert not _shutdown.shutdown.streams


async def test_an_error_propagates_after_the_events_before_it() -> None:
    closed = []

    async def failing() -> AsyncIterator[int]:
        try:
            yield 1
            raise RuntimeError("boom")
        finally:
            closed.append(True)

    stream = event_stream(failing())
    assert await next_chunk(stream) == b"data: 1\n\n"
    with pytest.raises(RuntimeError, match="boom"):
        await anext(stream)
    assert closed == [True]
    assert not _shutdown.shutdown.streams


async def test_an_encoding_error_closes_the_content() -> None:
    watched = Watched()

    def bad(value: Any) -> bytes:
        raise ValueError("cannot serialize")

    async def plain() -> AsyncIterator[int]:
        try:
            yield 1
        finally:
            watched.closed.set()

    with pytest.raises(ValueError, match="cannot serialize"):
        await anext(event_stream(plain(), serializer=bad))
    assert watched.closed.is_set()


async def test_content_keeps_one_task_across_yields() -> None:
    # A cancel scope held across a yield must be left in the task that entered it.
    async def scoped() -> AsyncIterator[int]:
        with anyio.move_on_after(60):
            yield 1
            await anyio.lowlevel.checkpoint()
            yield 2

    assert [chunk async for chunk in event_stream(scoped())] == [b"data: 1\n\n", b"data: 2\n\n"]


async def test_pulls_only_on_demand() -> None:
    pulled = []

    async def counting() -> AsyncIterator[int]:
        for i in range(3):
            pulled.append(i)
            yield i

    stream = event_stream(counting())
    await next_chunk(stream)
    await anyio.wait_all_tasks_blocked()
    assert pulled == [0]  # nothing read ahead
    await stream.aclose()


async def test_sync_generator_runs_in_a_thread_and_is_closed_there() -> None:
    closed_in: list[str] = []

    def blocking() -> Iterator[int]:
        try:
            i = 0
            while True:
                yield i
                i += 1
                time.sleep(0.01)
        finally:
            closed_in.append(threading.current_thread().name)

    stream = event_stream(blocking())
    assert await next_chunk(stream) == b"data: 0\n\n"
    assert await next_chunk(stream) == b"data: 1\n\n"
    await stream.aclose()
    assert closed_in == ["sse-asgi-iterator"]


async def test_broadcast_subscription_ends_when_the_stream_is_closed() -> None:
    async with Broadcast() as broadcast, broadcast.subscribe("news") as events:
        stream = event_stream(events)
        await broadcast.publish("news", {"n": 1})
        assert (await next_chunk(stream)).startswith(b'data: {"n":1}\nid: ')
        assert broadcast.subscriber_count("news") == 1
        await stream.aclose()
        assert broadcast.subscriber_count("news") == 0
