"""Direct writes under attack: what middlewares, failing sends, overflow and teardown do to them.

A publish runs the first step of every parked stream's ``send`` itself
(``sse_asgi._direct_writes``); a write that would wait is finished by the
stream's task. These tests put the things that sit between the response
and the server in that path -- middlewares wrapping ``send`` with locks,
cancel scopes and context variables, sends that raise anything -- and
race the handover against overflow, falling behind, the broadcast's end,
shutdown and bulk disconnects. Each checks what reached the wire, what the
publisher saw, and what was left behind.
"""

from __future__ import annotations

import asyncio
import contextvars
import gc
import json
import random
import sys
import zlib
from collections.abc import Callable
from typing import Any, cast

import anyio
import pytest

from sse_asgi import (
    Broadcast,
    EventDecoder,
    EventSourceResponse,
    ServerSentEvent,
    Subscription,
    close_all_streams,
)
from sse_asgi._send_loop import SendLoop
from sse_asgi.types import ASGIApp, Receive, Scope, Send, SendMessage

from . import broadcast_support
from .asgi_fakes import http_scope
from .broadcast_support import Factory, eventually, registered
from .direct_writes_support import Wire, publish, serve

pytestmark = pytest.mark.anyio

make_broadcast = broadcast_support.make_broadcast
redis = broadcast_support.redis

Middleware = Callable[[ASGIApp], ASGIApp]


@pytest.fixture
def anyio_backend() -> str:
    """Parking is asyncio's."""
    return "asyncio"


async def serve_through(
    middleware: Middleware, subscription: Subscription, wire: Wire, **options: Any
) -> asyncio.Task[None]:
    """Serve ``EventSourceResponse(subscription)`` behind ``middleware``; return once parked."""
    app = middleware(EventSourceResponse(subscription, first_event_grace=0, **options))

    async def stream() -> None:
        await app(http_scope(), wire.receive, wire.send)

    task = asyncio.get_running_loop().create_task(stream())
    with anyio.fail_after(5):
        await wire.started.wait()
    await eventually(lambda: subscription._sink is not None)
    return task


# -- middlewares that wrap send (pure ASGI, as users write them) --------------------------------


def lock_around_send(app: ASGIApp) -> ASGIApp:
    """Serialises its sends with an ``anyio.Lock`` (say, it also sends from another task)."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        lock = anyio.Lock()

        async def locked_send(message: SendMessage) -> None:
            async with lock:
                await send(message)

        await app(scope, receive, locked_send)

    return middleware


def deadline_around_send(seconds: float) -> Middleware:
    """Gives each send a deadline (a write timeout) with an anyio cancel scope."""

    def wrap(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            async def timed_send(message: SendMessage) -> None:
                with anyio.fail_after(seconds):
                    await send(message)

            await app(scope, receive, timed_send)

        return middleware

    return wrap


# The current span, as a tracing middleware (OpenTelemetry's ASGI one) keeps it.
span: contextvars.ContextVar[str | None] = contextvars.ContextVar("span", default=None)


def span_around_send(app: ASGIApp) -> ASGIApp:
    """Sets a context variable around each send and resets it after, as tracing does."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        async def traced_send(message: SendMessage) -> None:
            token = span.set(message["type"])
            try:
                await send(message)
            finally:
                span.reset(token)

        await app(scope, receive, traced_send)

    return middleware


# The request's tenant, as a middleware in front of the response sets it.
tenant: contextvars.ContextVar[str] = contextvars.ContextVar("tenant")


def tag_each_body(name: str) -> Middleware:
    """Sets ``tenant`` for the request; its send rewrites every body, appending a comment
    that names the tenant it reads back then -- and awaits first, so a publisher's
    write is always handed over."""

    def wrap(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            tenant.set(name)

            async def tagging_send(message: SendMessage) -> None:
                if message["type"] == "http.response.body" and message["body"]:
                    message["body"] = bytes(message["body"]) + f": {tenant.get()}\n\n".encode()
                await asyncio.sleep(0)
                await send(message)

            await app(scope, receive, tagging_send)

        return middleware

    return wrap


@pytest.mark.parametrize(
    "middleware",
    [
        pytest.param(lock_around_send, id="anyio-lock"),
        pytest.param(deadline_around_send(60), id="anyio-cancel-scope"),
        pytest.param(span_around_send, id="contextvar-token"),
    ],
)
async def test_a_middleware_wrapping_send_survives_a_handed_over_write(
    middleware: Middleware,
) -> None:
    """A send wrapper entered in one task (the publisher's, for the first step) must be
    left in the same one: a lock's owner, a cancel scope's host task, a context
    variable's token all belong to the task -- and context -- that began the write."""
    async with Broadcast() as broadcast:
        wire = Wire()
        wire.block = lambda body: b"two" in body  # the second write waits: handed over
        subscription = broadcast.subscribe("t")
        task = await serve_through(middleware, subscription, wire)
        for data in ("one", "two"):
            await publish(broadcast, data)
        with anyio.fail_after(5):
            await wire.blocked.wait()
        wire.release.set()
        await eventually(lambda: len(wire.data) == 2 or task.done())
        assert not task.done(), task.exception()
        await eventually(lambda: waits_unparked(subscription))  # parks no more
        await publish(broadcast, "three")
        await eventually(lambda: len(wire.data) == 3 or task.done())
        assert wire.data == ["one", "two", "three"]
        wire.gone.set()
        with anyio.fail_after(5):
            await task


async def test_a_handed_over_write_dropped_by_a_cancel_closes_in_its_own_context(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The server cancels the stream before its task has taken the write it was handed:
    the write is closed, and its middleware's finally (a token reset) runs in the
    context the write began in."""
    async with Broadcast() as broadcast:
        wire = Wire()
        wire.block = lambda body: b"stuck" in body
        subscription = broadcast.subscribe("t")
        task = await serve_through(span_around_send, subscription, wire)
        await publish(broadcast, "stuck")  # handed over; the stream's task has not run since
        assert wire.blocked.is_set()
        task.cancel()
        with anyio.fail_after(5), pytest.raises(asyncio.CancelledError):
            await task
        assert wire.send_closed
        assert "interrupted send" not in caplog.text


async def test_a_middleware_cancel_scope_does_not_leak_into_the_publisher() -> None:
    """The publisher's own cancel scopes still nest after it wrote to a stream whose
    middleware opened a cancel scope around a send that then waited."""
    async with Broadcast() as broadcast:
        wire = Wire()
        wire.block = lambda body: b"one" in body
        subscription = broadcast.subscribe("t")
        task = await serve_through(deadline_around_send(60), subscription, wire)

        async def publisher() -> None:
            with anyio.CancelScope():  # the publishing request's own scope
                await broadcast.publish("t", "one")

        with anyio.fail_after(5):
            await asyncio.get_running_loop().create_task(publisher())  # must not raise
        wire.release.set()
        wire.gone.set()
        with anyio.fail_after(5):
            await task


def asyncio_timeout_around_send(app: ASGIApp) -> ASGIApp:
    """A write timeout of 0.2 s per send, with ``asyncio.timeout`` (what ``wait_for`` uses
    from Python 3.12)."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        async def timed_send(message: SendMessage) -> None:
            async with asyncio.timeout(0.2):  # type: ignore[attr-defined,unused-ignore]
                await send(message)

        await app(scope, receive, timed_send)

    return middleware


@pytest.mark.parametrize(
    "middleware",
    [
        pytest.param(deadline_around_send(0.2), id="anyio.fail_after"),
        pytest.param(
            asyncio_timeout_around_send,
            id="asyncio.timeout",
            marks=pytest.mark.skipif(
                sys.version_info < (3, 11), reason="asyncio.timeout is Python 3.11+"
            ),
        ),
    ],
)
async def test_a_write_timeout_in_a_middleware_ends_the_stream_not_the_publisher(
    make_broadcast: Factory, middleware: Middleware
) -> None:
    """The timeout belongs to the stream's write: when it expires, the stream's send
    raises TimeoutError -- an OSError, so the stream ends as if the client had left,
    as it would have from its own task -- and the task that happened to start the
    write (a publishing request, the Redis reader) is not cancelled: the broadcast
    goes on."""
    async with make_broadcast() as broadcast:
        wire = Wire()
        wire.block = lambda body: b"stuck" in body
        task = await serve_through(middleware, broadcast.subscribe("t"), wire)

        async def publisher() -> None:  # a request that publishes, then works on
            await broadcast.publish("t", "stuck")
            await asyncio.sleep(1)  # well past the middleware's 0.2 s

        publishing = asyncio.get_running_loop().create_task(publisher())
        with anyio.fail_after(5):
            await task
        assert wire.send_closed  # the write was cancelled by its timeout
        with anyio.fail_after(5):
            await publishing  # not cancelled
        other = Wire()
        other_task, _ = await serve(broadcast, other)
        await publish(broadcast, "after")
        await eventually(lambda: other.data == ["after"])
        other.gone.set()
        await other_task


class Abort(BaseException):
    """No ``Exception``: what some servers' and libraries' sends raise (gevent's
    ``GreenletExit``, a foreign event loop's cancellation)."""


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(lambda: asyncio.CancelledError(), id="CancelledError"),
        pytest.param(lambda: Abort("the send was aborted"), id="BaseException"),
    ],
)
async def test_a_send_raising_anything_fails_its_stream_not_the_publisher(
    error: Callable[[], BaseException],
) -> None:
    async with Broadcast() as broadcast:
        failing, other = Wire(), Wire()
        failing_task, _ = await serve(broadcast, failing)
        other_task, _ = await serve(broadcast, other)
        failing.fail_with = error()
        await publish(broadcast, "one")  # returns: one client's send is not the publisher's problem
        assert other.data == ["one"]  # and the fan-out went on past it
        with anyio.fail_after(5), pytest.raises(type(failing.fail_with)):
            await failing_task  # raised from the stream, as its own send's error would be
        assert broadcast.subscriber_count("t") == 1
        other.gone.set()
        await other_task


async def test_keyboard_interrupt_in_a_send_still_reaches_the_publisher() -> None:
    async with Broadcast() as broadcast:
        wire = Wire()
        task, _ = await serve(broadcast, wire)
        wire.fail_with = KeyboardInterrupt()
        me = asyncio.current_task()
        with pytest.raises(KeyboardInterrupt):
            await publish(broadcast, "one")
        assert asyncio.current_task() is me  # the write ran as the stream's task, and is over
        wire.fail_with = None
        await publish(broadcast, "two")  # the stream goes on
        await eventually(lambda: wire.data == ["two"])
        wire.gone.set()
        with anyio.fail_after(5):
            await task


# -- races: the handover against overflow, falling behind, the end -------------------------


@pytest.mark.parametrize(
    ("overflow", "expected"),
    [
        # Ended at the overflow: the client resumes from "one" and replays the rest.
        ("disconnect", ["one"]),
        # The oldest queued ("two") made way; nothing duplicated or reordered.
        ("drop_oldest", ["one", "three", "four"]),
    ],
)
async def test_overflow_while_a_write_is_handed_over(
    make_broadcast: Factory, overflow: str, expected: list[str]
) -> None:
    async with make_broadcast(buffer=2, overflow=overflow) as broadcast:
        wire = Wire()
        wire.block = lambda body: b"one" in body
        task, subscription = await serve(broadcast, wire)
        await publish(broadcast, "one")
        with anyio.fail_after(5):
            await wire.blocked.wait()
        for data in ("two", "three", "four"):  # the queue holds two
            await publish(broadcast, data)
        if overflow == "disconnect":
            await eventually(lambda: not subscription.counts())
        else:
            await eventually(
                lambda: [e.event.data for e in subscription._queue] == ["three", "four"]
            )
        wire.release.set()
        await eventually(lambda: len(wire.data) == len(expected))
        if overflow == "disconnect":
            with anyio.fail_after(5):
                await task  # the stream ended (cleanly): its client reconnects
            assert registered(broadcast) == 0
        else:
            await eventually(lambda: waits_unparked(subscription))  # parks no more
            await publish(broadcast, "five")
            expected = [*expected, "five"]
            await eventually(lambda: len(wire.data) == len(expected))
            wire.gone.set()
            await task
        assert wire.data == expected


def waits_unparked(subscription: Subscription) -> bool:
    """The stream waits on its subscription as any stream does, not parked: what it does
    after a write of its had to be handed over."""
    return subscription._future is not None and subscription._sink is None


async def stuck_on_two(broadcast: Broadcast) -> tuple[Wire, asyncio.Task[None], Subscription]:
    """A stream that got "one" and whose write of "two" was handed over and waits."""
    wire = Wire()
    wire.block = lambda body: b"two" in body
    task, subscription = await serve(broadcast, wire)
    for data in ("one", "two"):
        await publish(broadcast, data)
    with anyio.fail_after(5):
        await wire.blocked.wait()
    return wire, task, subscription


async def test_falling_behind_while_a_write_is_handed_over(make_broadcast: Factory) -> None:
    """A resync (the Redis reader's gap) during a handover: the stream catches up after
    the handed-over event, once each, in order."""
    async with make_broadcast() as broadcast:
        wire, task, subscription = await stuck_on_two(broadcast)
        await publish(broadcast, "three")
        subscription.fall_behind()
        await publish(broadcast, "four")
        wire.release.set()
        await eventually(lambda: len(wire.data) >= 4)
        await eventually(lambda: waits_unparked(subscription))  # parks no more
        await publish(broadcast, "five")
        await eventually(lambda: len(wire.data) >= 5)
        assert wire.data == ["one", "two", "three", "four", "five"]
        wire.gone.set()
        await task


async def test_the_broadcast_closing_during_a_handover_ends_the_stream_after_it(
    make_broadcast: Factory,
) -> None:
    broadcast = make_broadcast()
    async with broadcast:
        wire, task, _ = await stuck_on_two(broadcast)
    wire.release.set()
    with anyio.fail_after(5):
        await task  # ended cleanly, with what it had
    assert wire.data == ["one", "two"]


async def test_several_topics_keep_publish_order_across_a_handover(
    make_broadcast: Factory,
) -> None:
    async with make_broadcast() as broadcast:
        wire = Wire()
        wire.block = lambda body: b'"a1"' in body
        subscription = broadcast.subscribe(["a", "b"])

        async def stream() -> None:
            await EventSourceResponse(subscription, first_event_grace=0)(
                http_scope(), wire.receive, wire.send
            )

        task = asyncio.get_running_loop().create_task(stream())
        with anyio.fail_after(5):
            await wire.started.wait()
        await eventually(lambda: subscription._sink is not None)
        sent = []
        for i in range(4):
            for topic in ("a", "b"):
                await broadcast.publish(topic, f"{topic}{i}")
                sent.append(f"{topic}{i}")
        wire.release.set()
        await eventually(lambda: len(wire.data) == len(sent))
        assert wire.data == sent
        wire.gone.set()
        await task


# -- the send loop's own duties ---------------------------------------------------------------


async def test_pings_follow_a_silence_after_direct_writes() -> None:
    async with Broadcast() as broadcast:
        wire = Wire()
        task, _ = await serve(broadcast, wire, ping_interval=0.1)
        [stream] = [o for o in gc.get_objects() if type(o) is SendLoop and o._send == wire.send]
        before = stream.timing.last_send
        await publish(broadcast, "one")
        assert wire.data == ["one"]
        assert stream.timing.last_send > before  # the write counts as a send
        await eventually(lambda: any(body.startswith(b":") for body in wire.bodies[1:]))
        wire.gone.set()
        await task


async def test_nothing_is_written_after_a_ping_whose_send_raised() -> None:
    async with Broadcast() as broadcast:
        wire = Wire()
        ping_failed = asyncio.Event()
        original = wire.send
        after_failure: list[bytes] = []

        async def send(message: SendMessage) -> None:
            body = bytes(message.get("body", b""))  # type: ignore[call-overload]
            if body.startswith(b":"):
                ping_failed.set()  # the publisher runs before the stream is torn down
                raise RuntimeError("the ping's send failed")
            if ping_failed.is_set():
                after_failure.append(body)
            await original(message)

        wire.send = send  # type: ignore[method-assign]
        task, _ = await serve(broadcast, wire, ping_interval=0.05)

        async def publisher() -> None:
            await ping_failed.wait()
            await broadcast.publish("t", "after the failure")

        publishing = asyncio.get_running_loop().create_task(publisher())
        with anyio.fail_after(5), pytest.raises(RuntimeError):
            await task
        await publishing
        assert after_failure == []  # a stream whose send failed takes no direct write


async def test_shutdown_ends_a_stream_with_a_write_handed_over_within_its_bound() -> None:
    async with Broadcast() as broadcast:
        wire = Wire()
        wire.block = lambda body: True  # the client reads nothing more
        task, _ = await serve(broadcast, wire)
        await publish(broadcast, "one")
        with anyio.fail_after(5):
            await wire.blocked.wait()
        started = anyio.current_time()
        assert close_all_streams(ServerSentEvent(event="bye")) >= 1
        with anyio.fail_after(5):
            await task
        assert anyio.current_time() - started < 3  # FINAL_SEND_TIMEOUT (1 s) and a margin
        assert wire.send_closed
        assert registered(broadcast) == 0


async def test_shutdown_ends_a_parked_stream_with_its_final_event() -> None:
    async with Broadcast() as broadcast:
        wire = Wire()
        task, _ = await serve(broadcast, wire)
        await publish(broadcast, "one")
        assert close_all_streams(ServerSentEvent(event="bye", data="later")) >= 1
        with anyio.fail_after(5):
            await task
        events = EventDecoder().feed(b"".join(wire.bodies))
        assert [(e.event, e.data) for e in events] == [("message", '"one"'), ("bye", '"later"')]
        assert registered(broadcast) == 0


# -- middlewares from Starlette, and one that rewrites messages --------------------------------


def starlette(middleware_class: Any, **options: Any) -> Middleware:
    """A Starlette middleware class as a :data:`Middleware` (its own ASGI types are looser)."""
    return lambda app: cast(ASGIApp, middleware_class(app, **options))


async def test_starlette_base_http_middleware_in_front_of_a_parked_stream() -> None:
    from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
    from starlette.requests import Request
    from starlette.responses import Response

    class Passthrough(BaseHTTPMiddleware):
        async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
            response = await call_next(request)
            response.headers["x-seen"] = "yes"
            return response

    async with Broadcast() as broadcast:
        wires = [Wire() for _ in range(3)]
        wires[0].block = lambda body: b'"5"' in body
        served = []
        for wire in wires:
            subscription = broadcast.subscribe("t")
            served.append(await serve_through(starlette(Passthrough), subscription, wire))
        sent = [str(i) for i in range(20)]
        for data in sent:
            await publish(broadcast, data)
        await eventually(lambda: all(len(w.data) == 20 for w in wires[1:]))
        wires[0].release.set()
        await eventually(lambda: len(wires[0].data) == 20)
        for wire in wires:
            assert wire.data == sent
            wire.gone.set()
        with anyio.fail_after(5):
            await asyncio.gather(*served)


async def test_starlette_gzip_compressing_a_parked_stream_keeps_every_byte_in_order() -> None:
    """Compressed (SSE is excluded by default; here it is not), written by publishers and
    by the stream after a handover, one compressor state: the bytes inflate to every event."""
    from starlette.middleware.gzip import GZipMiddleware

    async with Broadcast() as broadcast:
        wire = Wire()
        # The third body waits (a handover); a 130 KiB one is compressed in a thread.
        wire.block = lambda body: not wire.blocked.is_set() and len(wire.bodies) == 3
        subscription = broadcast.subscribe("t")
        scope = http_scope(headers=[(b"accept-encoding", b"gzip")])
        response = EventSourceResponse(subscription, first_event_grace=0)
        app = starlette(GZipMiddleware, minimum_size=1, exclude_content_types=())(response)

        async def stream() -> None:
            await app(scope, wire.receive, wire.send)

        task = asyncio.get_running_loop().create_task(stream())
        await eventually(lambda: subscription._sink is not None)
        sent = [f"event {i} " + "x" * (130_000 if i == 6 else 200) for i in range(10)]
        for data in sent:
            await publish(broadcast, data)
        wire.release.set()
        await eventually(lambda: len(wire.bodies) >= len(sent))
        plain = zlib.decompressobj(wbits=31).decompress(b"".join(wire.bodies))
        assert [json.loads(e.data) for e in EventDecoder().feed(plain)] == sent
        wire.gone.set()
        with anyio.fail_after(5):
            await task


async def test_a_middleware_reading_context_tags_only_its_own_connection() -> None:
    async with Broadcast() as broadcast:
        wires = {name: Wire() for name in ("alice", "bob", "carol")}
        wires["bob"].block = lambda body: b"two" in body
        tasks = [
            await serve_through(tag_each_body(name), broadcast.subscribe("t"), wire)
            for name, wire in wires.items()
        ]
        for data in ("one", "two", "three"):
            await publish(broadcast, data)
        await eventually(lambda: wires["bob"].blocked.is_set())
        wires["bob"].release.set()
        for name, wire in wires.items():
            await eventually(lambda wire=wire: len(wire.data) == 3)  # type: ignore[misc]
            assert wire.data == ["one", "two", "three"]
            lines = b"".join(wire.bodies).split(b"\n")
            assert [line for line in lines if line.startswith(b": ")] == [f": {name}".encode()] * 3
            wire.gone.set()
        with anyio.fail_after(5):
            await asyncio.gather(*tasks)


# -- leaks: bulk connects and drops while publishing ----------------------------------------


async def test_bulk_connects_and_drops_while_publishing_leave_nothing_behind() -> None:
    """2,000 streams over one topic, a publisher publishing throughout, the clients leaving in
    random order -- a fifth of them with a write handed over and stuck, one in seven
    cancelled by the server instead. Afterwards no subscription is registered, every
    stuck write was closed, and no send loop or task is left."""
    rng = random.Random(17)
    before = asyncio.all_tasks()
    async with Broadcast(buffer=8) as broadcast:
        wires = [Wire() for _ in range(2000)]
        for wire in wires[:400]:
            wire.block = lambda body: True
        tasks = [(await serve(broadcast, wire))[0] for wire in wires]
        stop = asyncio.Event()

        async def publisher() -> int:
            published = 0
            while not stop.is_set():
                await broadcast.publish("t", str(published))
                published += 1
                await asyncio.sleep(0)
            return published

        publishing = asyncio.get_running_loop().create_task(publisher())
        await eventually(lambda: all(w.blocked.is_set() for w in wires[:400]))
        order = list(range(len(tasks)))
        rng.shuffle(order)
        for n, i in enumerate(order):
            if n % 7 == 0:
                tasks[i].cancel()  # the server cancels it (its own shutdown timeout)
            else:
                wires[i].gone.set()
            if n % 200 == 0:
                await asyncio.sleep(0)
        await asyncio.wait(tasks)
        stop.set()
        assert await publishing > 0
        assert all(task.cancelled() or task.exception() is None for task in tasks)
        assert registered(broadcast) == 0
        assert all(wire.send_closed for wire in wires[:400])
        for wire in wires[400:]:  # every reader got a gapless run of events
            assert wire.data == [str(n) for n in range(len(wire.data))]
        del tasks
    for wire in wires:
        wire.tasks.clear()  # a cancelled task's traceback holds its send loop: not ours to keep
    gc.collect()
    assert _send_loops_of(wires) == []
    assert asyncio.all_tasks() <= before


async def test_a_parked_stream_that_ends_leaves_no_reference_cycle() -> None:
    """Parked streams that end -- idle, or with a write handed over -- are freed by
    reference counting: at 10,000 connections, cycles are what makes the collector's
    full passes long."""
    gc.collect()
    gc.disable()
    try:
        async with Broadcast() as broadcast:
            wires = [Wire() for _ in range(20)]
            for wire in wires[:10]:
                wire.block = lambda body: True
            tasks = [(await serve(broadcast, wire))[0] for wire in wires]
            await publish(broadcast, "one")
            for wire in wires:
                wire.gone.set()
            await asyncio.gather(*tasks)
            del tasks
        assert _send_loops_of(wires) == []
    finally:
        gc.enable()


def _send_loops_of(wires: list[Wire]) -> list[SendLoop]:
    """The send loops still alive that write to one of ``wires``."""
    ours = {id(wire) for wire in wires}
    return [
        o
        for o in gc.get_objects()
        if type(o) is SendLoop and id(getattr(o._send, "__self__", None)) in ours
    ]


async def test_a_publisher_is_never_held_up_by_a_stalled_client() -> None:
    """Every publish returns while one client's write waits forever."""
    async with Broadcast() as broadcast:
        stalled, reader = Wire(), Wire()
        stalled.block = lambda body: True
        stalled_task, _ = await serve(broadcast, stalled, send_timeout=None)
        reader_task, _ = await serve(broadcast, reader)
        with anyio.fail_after(5):
            for i in range(1000):
                await broadcast.publish("t", i)
        assert len(reader.data) == 1000
        for wire in (stalled, reader):
            wire.gone.set()
        with anyio.fail_after(5):
            await asyncio.gather(stalled_task, reader_task)
