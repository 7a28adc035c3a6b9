"""Direct writes: a publish writes to idle streams from its own task (``sse_asgi._direct_writes``).

Each test serves ``EventSourceResponse(broadcast.subscribe(...))`` over a
recording ``send`` and checks what reached the wire, and from which task --
on the memory backend and on Redis (where the reader task publishes).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import weakref
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from sse_asgi import Broadcast, EventDecoder, EventSourceResponse, Subscription
from sse_asgi._direct_writes import DirectSource, direct_source
from sse_asgi.types import ReceiveMessage, SendMessage

from . import broadcast_support
from .asgi_fakes import http_scope
from .broadcast_support import Factory, eventually
from .direct_writes_support import Wire, in_a_publish, parked, publish, serve

pytestmark = pytest.mark.anyio

make_broadcast = broadcast_support.make_broadcast
redis = broadcast_support.redis


@pytest.fixture
def anyio_backend() -> str:
    """Parking is asyncio's (trio streams are checked separately below)."""
    return "asyncio"


async def test_a_publish_writes_to_a_parked_stream_from_its_own_task(
    make_broadcast: Factory,
) -> None:
    async with make_broadcast() as broadcast:
        wires = [Wire() for _ in range(3)]
        served = [await serve(broadcast, wire) for wire in wires]
        await publish(broadcast, "one")
        await eventually(lambda: all(wire.bodies for wire in wires))
        for wire, (task, _) in zip(wires, served, strict=True):
            assert wire.data == ["one"]
            # Written from inside the publish (in the Redis reader's task, or the
            # test's own), never by a step of the stream's: nothing woke it ...
            assert wire.direct == [True]
            # ... as the stream's task: what the write binds to the task is the stream's.
            assert wire.tasks == [task]
            # ... in the stream's context, as the stream's own send would be.
            assert wire.request_ids == ["stream"]
        for wire in wires:
            wire.gone.set()
        await asyncio.gather(*(task for task, _ in served))


async def test_the_memory_backend_writes_before_publish_returns() -> None:
    async with Broadcast() as broadcast:
        wire = Wire()
        task, _ = await serve(broadcast, wire)
        await publish(broadcast, "one")
        assert wire.data == ["one"]
        assert wire.direct == [True]
        wire.gone.set()
        await task


async def test_a_write_that_waits_is_finished_by_the_stream_in_order(
    make_broadcast: Factory,
) -> None:
    async with make_broadcast() as broadcast:
        slow, fast = Wire(), Wire()
        slow.block = lambda body: b"two" in body
        slow_task, slow_sub = await serve(broadcast, slow)
        fast_task, _ = await serve(broadcast, fast)
        for data in ("one", "two", "three", "four"):
            await publish(broadcast, data)
        with anyio.fail_after(5):
            await slow.blocked.wait()
        await eventually(lambda: len(fast.data) == 4)
        assert slow.data == ["one"]  # the others queue behind the blocked write
        slow.release.set()
        await eventually(lambda: len(slow.data) == 4)
        assert slow.data == ["one", "two", "three", "four"]  # in order, once each
        assert fast.data == ["one", "two", "three", "four"]
        assert slow.direct[:2] == [True, False]  # the stream's task finished the write
        assert slow.tasks[1] is slow_task
        # A stream whose write had to wait parks no more: it is woken per event,
        # as a stream over any other iterator is (handing each write over would
        # cost more); the others still park.
        await eventually(lambda: slow_sub._future is not None)
        assert slow_sub._sink is None
        await publish(broadcast, "five")
        await eventually(lambda: len(slow.data) == 5 and len(fast.data) == 5)
        assert slow.direct[-1] is False
        assert slow.tasks[-1] is slow_task
        assert fast.direct[-1] is True
        for wire in (slow, fast):
            wire.gone.set()
        await asyncio.gather(slow_task, fast_task)


async def test_a_handed_over_write_is_under_the_send_timeout(
    make_broadcast: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    async with make_broadcast() as broadcast:
        wire = Wire()
        wire.block = lambda body: b"stuck" in body
        task, subscription = await serve(broadcast, wire, send_timeout=0.2)
        caplog.set_level(logging.INFO, logger="sse_asgi")
        await publish(broadcast, "stuck")
        with anyio.fail_after(5):
            await task  # the stream ends: the client stopped reading
        assert wire.send_closed  # the write was cancelled, its finally run
        assert "stopped reading" in caplog.text
        assert broadcast.subscriber_count("t") == 0
        assert not subscription.counts()


async def test_a_stream_cancelled_with_a_write_handed_over_closes_it(
    make_broadcast: Factory,
) -> None:
    async with make_broadcast() as broadcast:
        wire = Wire()
        wire.block = lambda body: b"stuck" in body
        task, _ = await serve(broadcast, wire)
        await publish(broadcast, "stuck")
        await eventually(lambda: wire.blocked.is_set())
        task.cancel()  # before the stream's task runs again: the server cancels it
        with pytest.raises(asyncio.CancelledError):
            await task
        assert wire.send_closed
        assert broadcast.subscriber_count("t") == 0


async def test_a_client_gone_during_a_write_ends_only_its_stream(make_broadcast: Factory) -> None:
    async with make_broadcast() as broadcast:
        gone, other = Wire(), Wire()
        disconnected: list[bool] = []
        gone_task, _ = await serve(broadcast, gone, on_disconnect=lambda: disconnected.append(True))
        other_task, _ = await serve(broadcast, other)
        gone.fail_with = OSError("connection reset")  # ASGI 2.4: send raises OSError
        await publish(broadcast, "one")  # the publisher is not told
        with anyio.fail_after(5):
            await gone_task
        assert disconnected == [True]
        await eventually(lambda: other.data == ["one"])
        assert broadcast.subscriber_count("t") == 1
        other.gone.set()
        await other_task


async def test_a_write_that_raises_fails_its_stream_not_the_publisher(
    make_broadcast: Factory,
) -> None:
    async with make_broadcast() as broadcast:
        wire = Wire()
        task, _ = await serve(broadcast, wire)
        wire.fail_with = RuntimeError("the server's send broke")
        await publish(broadcast, "one")
        with anyio.fail_after(5), pytest.raises(RuntimeError, match="send broke"):
            await task  # raised from the response, as its own send's error is
        assert broadcast.subscriber_count("t") == 0
        await publish(broadcast, "two")  # the broadcast goes on


async def test_a_ping_being_sent_makes_the_event_wait_for_it(make_broadcast: Factory) -> None:
    async with make_broadcast() as broadcast:
        wire = Wire()
        wire.block = lambda body: body.startswith(b":")  # the keep-alive ping
        task, _ = await serve(broadcast, wire, ping_interval=0.05)
        with anyio.fail_after(5):
            await wire.blocked.wait()
        await publish(broadcast, "one")  # queued: the stream sends it after the ping
        await anyio.sleep(0.05)
        assert wire.data == []
        wire.release.set()
        await eventually(lambda: wire.data == ["one"])
        assert wire.bodies[0].startswith(b":")
        wire.gone.set()
        await task


async def test_the_first_event_before_the_headers_goes_through_the_stream(
    make_broadcast: Factory,
) -> None:
    async with make_broadcast() as broadcast:
        wire = Wire()
        subscription = broadcast.subscribe("t")

        async def stream() -> None:
            await EventSourceResponse(subscription)(http_scope(), wire.receive, wire.send)

        task = asyncio.get_running_loop().create_task(stream())
        await parked(subscription)
        assert not wire.started.is_set()  # within the first-event grace: no headers yet
        await publish(broadcast, "one")
        await eventually(lambda: wire.data == ["one"])
        assert wire.started.is_set()
        assert wire.direct == [False]  # the stream sent its headers and the event
        assert wire.tasks == [task]
        await parked(subscription)
        await publish(broadcast, "two")
        await eventually(lambda: wire.data == ["one", "two"])
        assert wire.direct[1]
        wire.gone.set()
        await task


async def test_the_end_of_the_broadcast_ends_a_parked_stream(make_broadcast: Factory) -> None:
    broadcast = make_broadcast()
    async with broadcast:
        wire = Wire()
        task, _ = await serve(broadcast, wire)
        await publish(broadcast, "one")
    with anyio.fail_after(5):
        await task  # ended cleanly, with what it had
    assert wire.data == ["one"]


async def test_a_parked_stream_that_falls_behind_catches_up(make_broadcast: Factory) -> None:
    async with make_broadcast() as broadcast:
        wire = Wire()
        task, subscription = await serve(broadcast, wire)
        await publish(broadcast, "one")
        await eventually(lambda: wire.data == ["one"])
        subscription.fall_behind()  # as after a backend's gap: wakes the stream to read
        await publish(broadcast, "two")
        await eventually(lambda: wire.data == ["one", "two"])
        wire.gone.set()
        await task


async def test_coalescing_and_filtered_streams_get_every_event_from_their_own_task() -> None:
    async with Broadcast() as broadcast:
        wire = Wire()
        filtered = Wire()
        task, subscription = await _serve_unparked(
            broadcast, wire, broadcast.subscribe("t"), {"coalesce": 0.01}
        )
        filtered_task, _ = await _serve_unparked(
            broadcast, filtered, broadcast.subscribe("t", filter=lambda event: True), {}
        )
        for data in ("one", "two"):
            await publish(broadcast, data)
        await eventually(lambda: len(wire.data) == 2 and len(filtered.data) == 2)
        # The stream's task (or its timer's, which flushes a batch): never the publisher's.
        assert asyncio.current_task() not in wire.tasks
        assert set(filtered.tasks) == {filtered_task}
        assert subscription._sink is None
        for w in (wire, filtered):
            w.gone.set()
        await asyncio.gather(task, filtered_task)


async def _serve_unparked(
    broadcast: Broadcast, wire: Wire, subscription: Subscription, options: dict[str, Any]
) -> tuple[asyncio.Task[None], Subscription]:
    async def stream() -> None:
        response = EventSourceResponse(subscription, first_event_grace=0, **options)
        await response(http_scope(), wire.receive, wire.send)

    task = asyncio.get_running_loop().create_task(stream())
    await eventually(lambda: wire.started.is_set() and subscription.counts())
    await anyio.sleep(0.01)
    return task, subscription


@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_on_trio_every_event_comes_through_the_stream(anyio_backend: str) -> None:
    async with Broadcast() as broadcast:
        sent: list[bytes] = []
        gone = anyio.Event()

        async def receive() -> ReceiveMessage:
            await gone.wait()
            return {"type": "http.disconnect"}

        async def send(message: SendMessage) -> None:
            if message["type"] == "http.response.body":
                sent.append(bytes(message["body"]))

        subscription = broadcast.subscribe("t")
        async with anyio.create_task_group() as tg:
            tg.start_soon(
                EventSourceResponse(subscription, first_event_grace=0), http_scope(), receive, send
            )
            await eventually(subscription.counts)
            await broadcast.publish("t", "one")
            assert subscription._sink is None  # trio: no parking
            await eventually(lambda: bool(sent))
            gone.set()
        assert [e.data for e in EventDecoder().feed(b"".join(sent))] == ['"one"']


async def test_only_iterators_that_deliver_are_direct_sources() -> None:
    async def generator() -> AsyncIterator[int]:
        yield 1

    async with Broadcast() as broadcast:
        subscription = broadcast.subscribe("t")
        assert direct_source(subscription) is subscription
        assert isinstance(subscription, DirectSource)
        assert direct_source(generator()) is None


async def test_a_finished_timer_action_is_not_kept() -> None:
    """A stream whose headers the timer sent keeps no finished task (~0.7 KiB each)."""
    loop = asyncio.get_running_loop()
    created: list[weakref.ref[asyncio.Task[Any]]] = []

    def factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
        task = asyncio.Task(coro, loop=loop, **kwargs)
        created.append(weakref.ref(task))
        return task

    async with Broadcast() as broadcast:
        wire = Wire()
        subscription = broadcast.subscribe("t")

        async def stream() -> None:
            response = EventSourceResponse(subscription, first_event_grace=0.01)
            await response(http_scope(), wire.receive, wire.send)

        task = loop.create_task(stream())
        loop.set_task_factory(factory)
        try:
            with anyio.fail_after(5):
                await wire.started.wait()  # sent by the timer's task, after the grace
                await parked(subscription)
        finally:
            loop.set_task_factory(None)
        gc.collect()
        alive = [ref() for ref in created if ref() is not None]
        assert len(created) >= 2  # the disconnect watcher, the timer's action
        assert all(not task.done() for task in alive if task is not None)
        wire.gone.set()
        await task


async def test_a_fastapi_route_returning_the_subscription_parks() -> None:
    """The README's advice: the response over the subscription itself, from FastAPI too."""
    from fastapi import FastAPI

    from sse_asgi.fastapi import EventSourceResponse as FastAPIEventSourceResponse
    from sse_asgi.testing import connect
    from sse_asgi.types import ASGIApp, Receive, Scope, Send

    subscriptions: list[Subscription] = []
    app = FastAPI()

    @app.get("/notifications")
    async def notifications() -> FastAPIEventSourceResponse:
        subscription = broadcast.subscribe("t")
        subscriptions.append(subscription)
        return FastAPIEventSourceResponse(subscription)

    body_senders: list[bool] = []  # per body sent: written by a publish?

    def recording(app: Any) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            request_task = asyncio.current_task()

            async def recorded(message: SendMessage) -> None:
                if message["type"] == "http.response.body" and message.get("body"):
                    assert asyncio.current_task() is request_task  # as the stream's task, always
                    body_senders.append(in_a_publish())
                await send(message)

            await app(scope, receive, recorded)

        return middleware

    async with Broadcast() as broadcast, connect(recording(app), "/notifications") as stream:
        await eventually(lambda: bool(subscriptions) and subscriptions[0]._sink is not None)
        await broadcast.publish("t", "one")
        await broadcast.publish("t", "two")
        assert [(await anext(stream)).data for _ in range(2)] == ['"one"', '"two"']
    # The first event also sends the headers (the stream's own step); the
    # second is written by the publish.
    assert body_senders[-1] is True


async def test_without_a_way_to_write_as_the_stream_nothing_parks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Where asyncio offers no hook to run as another task (not a CPython we know), every
    event goes through the stream's own task."""
    from sse_asgi import _send_loop

    monkeypatch.setattr(_send_loop, "swap_current_task", None)
    monkeypatch.setattr(_send_loop, "current_tasks", None)
    async with Broadcast() as broadcast:
        wire = Wire()
        subscription = broadcast.subscribe("t")
        task, _ = await _serve_unparked(broadcast, wire, subscription, {})
        for data in ("one", "two"):
            await publish(broadcast, data)
        await eventually(lambda: len(wire.data) == 2)
        assert subscription._sink is None
        assert set(wire.tasks) == {task}
        wire.gone.set()
        await task
