"""EventSourceResponse on fake ASGI callables and the in-process client, on asyncio and trio."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import anyio.abc
import pytest
from pydantic import BaseModel

from sse_asgi import (
    EventSourceResponse,
    ReceivedEvent,
    ServerSentEvent,
    close_all_streams,
    last_event_id,
)
from sse_asgi.testing import connect

from .asgi_fakes import FakeClient, app_for, counting, http_scope

pytestmark = pytest.mark.anyio


async def run(response: EventSourceResponse, client: FakeClient, method: str = "GET") -> None:
    with anyio.fail_after(10):
        await response(http_scope(method), client.receive, client.send)


# -- head ---------------------------------------------------------------------


async def test_default_headers() -> None:
    async with connect(app_for(lambda: counting(1))) as stream:
        assert stream.status == 200
        assert stream.raw_headers == [
            (b"content-type", b"text/event-stream; charset=utf-8"),
            (b"cache-control", b"no-cache"),
            (b"x-accel-buffering", b"no"),
        ]
        assert "connection" not in stream.headers


async def test_user_headers_override_without_duplicates() -> None:
    headers = {
        "Cache-Control": "no-store",
        "X-Request-Id": "42",
        "Content-Type": "text/event-stream",
    }
    app = app_for(lambda: counting(1), headers=headers, status_code=201)
    async with connect(app) as stream:
        assert stream.status == 201
        names = [name for name, _ in stream.raw_headers]
        assert sorted(names) == sorted(
            [b"content-type", b"cache-control", b"x-accel-buffering", b"x-request-id"]
        )
        assert stream.headers["cache-control"] == "no-store"
        assert stream.headers["content-type"] == "text/event-stream"
        assert stream.headers["x-request-id"] == "42"


async def test_repeated_user_headers_are_kept() -> None:
    app = app_for(lambda: counting(1), headers=[("set-cookie", "a=1"), ("set-cookie", "b=2")])
    async with connect(app) as stream:
        assert stream.headers["set-cookie"] == "a=1, b=2"


def test_header_injection_is_rejected() -> None:
    with pytest.raises(ValueError, match="CR or LF"):
        EventSourceResponse([], headers={"x-a": "1\r\nx-b: 2"})


async def test_head_sends_headers_and_never_starts_the_iterator() -> None:
    started = False

    async def gen() -> AsyncIterator[int]:
        nonlocal started
        started = True
        yield 1

    client = FakeClient()
    await run(EventSourceResponse(gen()), client, method="HEAD")
    assert [m["type"] for m in client.messages] == ["http.response.start", "http.response.body"]
    assert client.body == b""
    assert client.completed
    assert not started


async def test_non_http_scope_is_refused() -> None:
    client = FakeClient()
    with pytest.raises(RuntimeError, match="HTTP only"):
        await EventSourceResponse([])({"type": "websocket"}, client.receive, client.send)


# -- items ----------------------------------------------------------------------


class Item(BaseModel):
    name: str
    price: float


async def test_plain_values_become_json_data_and_events_pass_through() -> None:
    items: list[Any] = [
        {"a": 1},
        "text",
        3,
        Item(name="x", price=1),
        ServerSentEvent(raw_data="raw", event="e", id="7"),
    ]
    client = FakeClient()
    await run(EventSourceResponse(items), client)
    assert client.events == [
        ReceivedEvent(data='{"a":1}'),
        ReceivedEvent(data='"text"'),
        ReceivedEvent(data="3"),
        ReceivedEvent(data='{"name":"x","price":1.0}'),
        ReceivedEvent(data="raw", event="e", id="7"),
    ]
    # one send per event, then the end of the body
    assert len(client.bodies) == 6
    assert client.bodies[1:3] == [b'data: "text"\n\n', b"data: 3\n\n"]
    assert client.bodies[-1] == b""
    assert client.completed


async def test_item_type_validates_and_serializes() -> None:
    client = FakeClient()
    content = [{"name": "a", "price": "2.5"}, ServerSentEvent(data={"free": 1})]
    await run(EventSourceResponse(content, item_type=Item), client)
    assert [e.data for e in client.events] == ['{"name":"a","price":2.5}', '{"free":1}']


async def test_item_type_violation_is_a_mid_stream_error(caplog: pytest.LogCaptureFixture) -> None:
    client = FakeClient()
    content = [Item(name="ok", price=1), {"name": "bad"}]
    await run(EventSourceResponse(content, item_type=Item), client)
    assert [e.json()["name"] for e in client.events] == ["ok"]
    assert client.completed
    assert "price" in caplog.text


async def test_custom_serializer_cannot_break_framing() -> None:
    import json

    client = FakeClient()
    serializer = lambda item: json.dumps(item, indent=2).encode()  # noqa: E731
    await run(EventSourceResponse([{"a": 1, "event": "x"}], serializer=serializer), client)
    [event] = client.events
    assert json.loads(event.data) == {"a": 1, "event": "x"}
    assert event.event == "message"


def test_item_type_and_serializer_are_exclusive() -> None:
    with pytest.raises(ValueError, match="not both"):
        EventSourceResponse([], item_type=Item, serializer=bytes)


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("ping_interval", 0),
        ("ping_interval", -1),
        ("send_timeout", 0),
        ("first_event_grace", -0.1),
        ("coalesce", -1),
        ("ping_interval", "15"),
        ("ping_interval", float("nan")),
        ("first_event_grace", None),
    ],
)
def test_invalid_timing_options(option: str, value: Any) -> None:
    with pytest.raises((ValueError, TypeError), match=option):
        EventSourceResponse([], **{option: value})


# -- sync iterators ---------------------------------------------------------------


async def test_sync_generator_runs_in_a_worker_thread_without_blocking_the_loop() -> None:
    loop_thread = threading.get_ident()
    threads: set[int] = set()
    progressed = 0

    def gen() -> Iterator[int]:
        for i in range(5):
            threads.add(threading.get_ident())
            time.sleep(0.02)  # blocking: would freeze the loop if run on it
            yield i

    async def ticker() -> None:
        nonlocal progressed
        while True:
            progressed += 1
            await anyio.sleep(0.005)

    client = FakeClient()
    async with anyio.create_task_group() as tg:
        tg.start_soon(ticker)
        await run(EventSourceResponse(gen()), client)
        tg.cancel_scope.cancel()
    assert [e.data for e in client.events] == ["0", "1", "2", "3", "4"]
    assert loop_thread not in threads
    assert len(threads) == 1
    assert progressed >= 5  # the loop kept running while the generator slept


async def test_sync_generator_items_cross_in_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    from sse_asgi import _iterate

    wakeups = 0
    original = _iterate.ThreadedIterator._notify

    def counting_notify(self: Any, callback: Any) -> None:
        nonlocal wakeups
        wakeups += 1
        original(self, callback)

    monkeypatch.setattr(_iterate.ThreadedIterator, "_notify", counting_notify)
    client = FakeClient()
    await run(EventSourceResponse(x for x in range(2000)), client)
    assert len(client.events) == 2000
    # Far fewer event-loop hops than items (one per item without batching).
    # How many items each hop takes depends on how the two threads are
    # scheduled: on a loaded 2-core machine it fell to ~10, hence the margin.
    assert wakeups < 500


async def test_lists_are_iterated_on_the_loop() -> None:
    from sse_asgi._iterate import ThreadedIterator, as_async_iterator

    assert not isinstance(as_async_iterator([1, 2]), ThreadedIterator)
    assert isinstance(as_async_iterator(iter([1, 2])), ThreadedIterator)
    with pytest.raises(TypeError, match="iterable"):
        as_async_iterator(5)  # type: ignore[arg-type]


# -- keep-alive ------------------------------------------------------------------------


async def idle_after(n: int) -> AsyncIterator[dict[str, int]]:
    for i in range(n):
        yield {"i": i}
    await anyio.sleep_forever()


async def test_ping_after_idle_interval() -> None:
    app = app_for(lambda: idle_after(1), ping_interval=0.05, ping_comment="keepalive")
    async with connect(app) as stream:
        started = time.monotonic()
        await stream.wait_received(b": keepalive\n\n")
        assert time.monotonic() - started >= 0.04
        assert stream.received.startswith(b'data: {"i":0}\n\n')
        await stream.wait_received(b": keepalive\n\n: keepalive\n\n")  # and again


async def test_no_ping_while_events_flow() -> None:
    app = app_for(lambda: counting(30, delay=0.01), ping_interval=0.1)
    async with connect(app) as stream:
        await stream.wait_complete()
        assert b": ping" not in stream.received
        assert len([e async for e in stream]) == 30


async def test_ping_disabled_has_no_timer_wakeups(monkeypatch: pytest.MonkeyPatch) -> None:
    from sse_asgi._send_loop import SendLoop

    wakeups = 0
    original = SendLoop._on_timer

    async def counted(self: SendLoop) -> None:
        nonlocal wakeups
        wakeups += 1
        await original(self)

    monkeypatch.setattr(SendLoop, "_on_timer", counted)
    app = app_for(lambda: idle_after(1), ping_interval=None, send_timeout=None, first_event_grace=0)
    async with connect(app) as stream:
        await anext(stream)
        await anyio.sleep(0.3)
        assert b": ping" not in stream.received
    assert wakeups == 0


async def test_every_send_carries_whole_events_only() -> None:
    async def gen() -> AsyncIterator[ServerSentEvent]:
        for i in range(20):
            yield ServerSentEvent(raw_data=f"line {i}\nsecond", event="multi", id=str(i))
            await anyio.sleep(0.007)

    client = FakeClient()
    await run(EventSourceResponse(gen(), ping_interval=0.005), client)
    for body in client.bodies:
        assert body == b"" or body.endswith(b"\n\n")
    assert len(client.events) == 20


async def test_slow_items_are_never_interrupted_by_the_timer() -> None:
    interrupted = False

    async def gen() -> AsyncIterator[int]:
        nonlocal interrupted
        for i in range(3):
            try:
                await anyio.sleep(0.1)  # many pings happen meanwhile
            except BaseException:
                interrupted = True
                raise
            yield i

    client = FakeClient()
    await run(EventSourceResponse(gen(), ping_interval=0.01), client)
    assert [e.data for e in client.events] == ["0", "1", "2"]
    assert client.body.count(b": ping\n\n") >= 5
    assert not interrupted


# -- disconnect ---------------------------------------------------------------------


async def test_disconnect_closes_async_generator_and_calls_on_disconnect(
    caplog: pytest.LogCaptureFixture,
) -> None:
    closed = anyio.Event()
    callbacks: list[str] = []

    async def on_disconnect() -> None:
        callbacks.append("async")

    caplog.set_level(logging.INFO, logger="sse_asgi")
    app = app_for(lambda: endless(closed, 0.01), on_disconnect=on_disconnect)
    with anyio.fail_after(5):
        async with connect(app) as stream:
            await stream.events(3)
        await closed.wait()
    assert callbacks == ["async"]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    [line] = dropped(caplog)
    assert re.fullmatch(r"SSE client \S+:\d+ disconnected; stream ended", line), line


async def test_disconnect_closes_sync_generator_in_its_thread() -> None:
    finally_thread: list[int] = []
    gen_thread: list[int] = []

    def gen() -> Iterator[int]:
        gen_thread.append(threading.get_ident())
        try:
            i = 0
            while True:
                yield i
                i += 1
                time.sleep(0.01)
        finally:
            finally_thread.append(threading.get_ident())

    calls: list[str] = []
    app = app_for(gen, on_disconnect=lambda: calls.append("sync"))
    with anyio.fail_after(5):
        async with connect(app) as stream:
            await stream.events(3)
    # connect() returned: the app finished, so the generator was closed already
    assert finally_thread == gen_thread
    assert calls == ["sync"]


async def test_disconnect_while_idle_is_detected_at_once() -> None:
    closed = anyio.Event()

    async def gen() -> AsyncIterator[int]:
        try:
            yield 1
            await anyio.sleep_forever()
        finally:
            closed.set()

    client = FakeClient()
    async with anyio.create_task_group() as tg:
        tg.start_soon(run, EventSourceResponse(gen(), ping_interval=None), client)
        await client.wait_for(lambda: len(client.events) == 1)
        client.disconnected.set()
        with anyio.fail_after(1):
            await closed.wait()


@pytest.mark.parametrize("error", [OSError("gone"), ConnectionResetError()])
async def test_oserror_on_send_means_disconnect(
    error: OSError, caplog: pytest.LogCaptureFixture
) -> None:
    closed = False
    calls: list[int] = []

    async def gen() -> AsyncIterator[int]:
        nonlocal closed
        try:
            for i in range(100):
                yield i
                await anyio.sleep(0.001)
        finally:
            closed = True

    client = FakeClient()

    async def fail_later() -> None:
        await client.wait_for(lambda: len(client.events) >= 3)
        client.fail_with = error

    async with anyio.create_task_group() as tg:
        tg.start_soon(fail_later)
        await run(EventSourceResponse(gen(), on_disconnect=lambda: calls.append(1)), client)
    assert closed
    assert calls == [1]
    assert not client.completed
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


# -- send timeout -------------------------------------------------------------------------


def dropped(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The INFO lines sse_asgi logged about clients."""
    return [
        r.getMessage() for r in caplog.records if r.name == "sse_asgi" and r.levelno == logging.INFO
    ]


async def endless(closed: anyio.Event, delay: float = 0.0) -> AsyncIterator[int]:
    try:
        i = 0
        while True:
            yield i
            i += 1
            if delay:
                await anyio.sleep(delay)
    finally:
        closed.set()


class StalledStream:
    """A stream whose client stops reading after ``events`` events; runs in ``tg``."""

    def __init__(self, tg: anyio.abc.TaskGroup, content: Any, events: int, **options: Any) -> None:
        self.client = FakeClient()
        self.stalled = anyio.Event()  # the client stopped reading
        self.gone = anyio.Event()  # on_disconnect ran
        self.finished = anyio.Event()  # the ASGI call returned
        response = EventSourceResponse(content, on_disconnect=self.gone.set, **options)
        tg.start_soon(self._stall_after, events)
        tg.start_soon(self._serve, response)

    async def _stall_after(self, events: int) -> None:
        await self.client.wait_for(lambda: len(self.client.events) >= events)
        self.client.stall = True
        self.stalled.set()

    async def _serve(self, response: EventSourceResponse) -> None:
        await run(response, self.client)
        self.finished.set()


async def test_send_timeout_closes_the_iterator_logs_one_line_and_waits_for_the_client(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="sse_asgi")
    closed = anyio.Event()
    async with anyio.create_task_group() as tg:
        stream = StalledStream(tg, endless(closed), 5, send_timeout=0.2, ping_interval=None)
        with anyio.fail_after(5):
            await stream.gone.wait()
        assert closed.is_set()
        assert dropped(caplog) == ["SSE client 127.0.0.1:1 stopped reading for 0.2 s; stream ended"]
        # The end of the body waits for the server to take it, like every
        # send: the call has not returned, so no server calls it incomplete.
        await anyio.wait_all_tasks_blocked()
        assert not stream.finished.is_set()
        stream.client.disconnected.set()  # the client leaves: the send returns
        with anyio.fail_after(5):
            await stream.finished.wait()
    assert not stream.client.completed
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_a_stalled_client_that_reads_again_gets_a_clean_end() -> None:
    async with anyio.create_task_group() as tg:
        stream = StalledStream(tg, endless(anyio.Event()), 5, send_timeout=0.2, ping_interval=None)
        with anyio.fail_after(5):
            await stream.gone.wait()
        stream.client.resume()
        with anyio.fail_after(5):
            await stream.finished.wait()
    assert stream.client.completed
    assert stream.client.body.endswith(b"\n\n")
    assert [e.data for e in stream.client.events] == [
        str(i) for i in range(len(stream.client.events))
    ]


async def test_shutdown_ends_the_wait_for_a_stalled_client_within_a_second() -> None:
    async with anyio.create_task_group() as tg:
        stream = StalledStream(tg, endless(anyio.Event()), 5, send_timeout=0.2, ping_interval=None)
        with anyio.fail_after(5):
            await stream.gone.wait()
        started = time.monotonic()
        assert close_all_streams() == 1
        with anyio.fail_after(5):
            await stream.finished.wait()
        took = time.monotonic() - started
    assert 0.9 <= took < 3  # _FINAL_SEND_TIMEOUT: a server may take a moment to notice it stops
    assert not stream.client.completed


async def test_a_finished_stream_waits_for_a_stalled_client_to_take_its_end(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="sse_asgi")

    exhausted = anyio.Event()

    async def three() -> AsyncIterator[int]:
        for i in range(3):
            yield i
            await anyio.sleep(0.01)
        exhausted.set()

    async with anyio.create_task_group() as tg:
        stream = StalledStream(tg, three(), 3, send_timeout=0.2, ping_interval=None)
        await exhausted.wait()
        await anyio.wait_all_tasks_blocked()
        assert not stream.finished.is_set()
        stream.client.resume()
        with anyio.fail_after(5):
            await stream.finished.wait()
    assert stream.client.completed
    assert [e.data for e in stream.client.events] == ["0", "1", "2"]
    assert not stream.gone.is_set()  # nothing was dropped
    assert dropped(caplog) == []


async def test_send_timeout_also_bounds_a_stalled_ping(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="sse_asgi")
    async with anyio.create_task_group() as tg:
        options: dict[str, Any] = {"send_timeout": 0.1, "ping_interval": 0.05}
        stream = StalledStream(tg, idle_after(1), 1, **options)
        with anyio.fail_after(3):
            await stream.gone.wait()
        assert dropped(caplog) == ["SSE client 127.0.0.1:1 stopped reading for 0.1 s; stream ended"]
        stream.client.disconnected.set()


async def test_a_server_cancelling_the_app_still_gets_the_end_of_the_body() -> None:
    closed = anyio.Event()
    client = FakeClient()
    cancelled = False
    async with anyio.create_task_group() as tg:

        async def serve() -> None:
            nonlocal cancelled
            try:
                await run(EventSourceResponse(endless(closed, 0.01), ping_interval=None), client)
            except anyio.get_cancelled_exc_class():
                cancelled = True
                raise

        tg.start_soon(serve)
        await client.wait_for(lambda: len(client.events) >= 3)
        tg.cancel_scope.cancel()  # a server's graceful timeout running out
    assert cancelled
    assert closed.is_set()
    assert client.completed


async def test_a_server_cancelling_the_app_waits_at_most_a_second_for_a_stalled_client() -> None:
    async with anyio.create_task_group() as tg:
        stream = StalledStream(tg, endless(anyio.Event()), 5, send_timeout=None, ping_interval=None)
        await stream.stalled.wait()
        await anyio.wait_all_tasks_blocked()
        started = time.monotonic()
        tg.cancel_scope.cancel()
    assert 0.9 <= time.monotonic() - started < 3
    assert not stream.client.completed


def test_the_default_send_timeout_is_30_seconds() -> None:
    assert EventSourceResponse([]).send_timeout == 30.0


async def test_a_client_address_cannot_forge_log_lines(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="sse_asgi")
    client = FakeClient()
    scope = {**http_scope(), "client": ("evil\nINFO forged line", 1)}
    client.disconnected.set()
    with anyio.fail_after(5):
        await EventSourceResponse(idle_after(1))(scope, client.receive, client.send)
    [line] = dropped(caplog)
    assert "\n" not in line
    assert line == "SSE client ('evil\\nINFO forged line', 1) disconnected; stream ended"


# -- errors ---------------------------------------------------------------------------------


async def test_mid_stream_error_delivers_every_prior_event_then_on_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def gen() -> AsyncIterator[int]:
        for i in range(5):
            yield i
        raise ValueError("database went away")

    def on_error(exc: Exception) -> ServerSentEvent:
        return ServerSentEvent(data={"error": str(exc)}, event="error")

    client = FakeClient()
    await run(EventSourceResponse(gen(), on_error=on_error), client)
    assert [e.data for e in client.events[:5]] == ["0", "1", "2", "3", "4"]
    assert client.events[5] == ReceivedEvent(data='{"error":"database went away"}', event="error")
    assert client.completed
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert errors[0].name == "sse_asgi"
    assert errors[0].exc_info is not None
    assert "database went away" in caplog.text


async def test_mid_stream_error_without_on_error_ends_cleanly() -> None:
    async def gen() -> AsyncIterator[int]:
        yield 1
        raise RuntimeError("x")

    client = FakeClient()
    await run(EventSourceResponse(gen()), client)
    assert [e.data for e in client.events] == ["1"]
    assert client.completed


async def test_bad_on_error_is_logged_not_sent(caplog: pytest.LogCaptureFixture) -> None:
    async def gen() -> AsyncIterator[int]:
        yield 1
        raise RuntimeError("x")

    client = FakeClient()
    await run(EventSourceResponse(gen(), on_error=lambda exc: "nope"), client)  # type: ignore[arg-type,return-value]
    assert [e.data for e in client.events] == ["1"]
    assert "on_error must return" in caplog.text


async def test_error_before_first_event_propagates_and_sends_nothing() -> None:
    async def gen() -> AsyncIterator[int]:
        await anyio.sleep(0.01)
        raise LookupError("no such job")
        yield 1

    client = FakeClient()
    with pytest.raises(LookupError, match="no such job"):
        await run(EventSourceResponse(gen()), client)
    assert client.messages == []


async def test_error_after_the_grace_period_is_a_mid_stream_error() -> None:
    async def gen() -> AsyncIterator[int]:
        await anyio.sleep(0.2)
        raise LookupError("late")
        yield 1

    client = FakeClient()
    await run(EventSourceResponse(gen(), first_event_grace=0.05), client)
    assert client.messages[0]["type"] == "http.response.start"
    assert client.completed


async def test_headers_wait_for_the_first_event_at_most_the_grace_period() -> None:
    client = FakeClient()
    started = time.monotonic()
    async with anyio.create_task_group() as tg:
        tg.start_soon(run, EventSourceResponse(idle_after(0), first_event_grace=0.1), client)
        await client.wait_for(lambda: bool(client.messages))
        waited = time.monotonic() - started
        client.disconnected.set()
    assert client.messages[0]["type"] == "http.response.start"
    assert 0.08 <= waited < 1


async def test_a_fast_first_event_is_not_delayed() -> None:
    client = FakeClient()
    started = time.monotonic()
    async with anyio.create_task_group() as tg:
        tg.start_soon(run, EventSourceResponse(idle_after(1), first_event_grace=5), client)
        await client.wait_for(lambda: len(client.events) == 1)
        assert time.monotonic() - started < 1
        client.disconnected.set()


# -- last_event_id ------------------------------------------------------------------------


def test_last_event_id_reads_the_header() -> None:
    assert last_event_id(http_scope()) is None
    assert last_event_id(http_scope(headers=[(b"Last-Event-ID", b"41")])) == "41"
    assert last_event_id(http_scope(headers=[(b"last-event-id", "é".encode())])) == "é"


async def test_last_event_id_through_the_test_client() -> None:
    seen: list[str | None] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(last_event_id(scope))
        await EventSourceResponse([1])(scope, receive, send)

    async with connect(app, last_event_id="9") as stream:
        await stream.wait_complete()
    assert seen == ["9"]


# -- write coalescing -------------------------------------------------------------------------


async def test_coalescing_puts_many_ready_events_in_one_send() -> None:
    client = FakeClient()
    await run(EventSourceResponse(counting(1000), coalesce=0.05), client)
    assert [e.json()["i"] for e in client.events] == list(range(1000))
    body_sends = [b for b in client.bodies if b]
    assert len(body_sends) < 20  # about 64 KiB per send instead of one per event
    for body in client.bodies:
        assert body == b"" or body.endswith(b"\n\n")  # never a partial event


async def test_coalescing_flushes_when_the_iterator_stalls() -> None:
    release = anyio.Event()

    async def gen() -> AsyncIterator[int]:
        yield 1
        yield 2
        await release.wait()  # stalls with two events in the batch
        yield 3

    client = FakeClient()
    async with anyio.create_task_group() as tg:
        tg.start_soon(run, EventSourceResponse(gen(), coalesce=0.05), client)
        started = time.monotonic()
        with anyio.fail_after(2):
            await client.wait_for(lambda: len(client.events) == 2)
        assert time.monotonic() - started < 1  # flushed by the timer, within its bound
        assert len([b for b in client.bodies if b]) == 1  # both in one send
        release.set()
    assert [e.data for e in client.events] == ["1", "2", "3"]
    assert client.completed


async def test_coalescing_delivers_the_batch_before_a_mid_stream_error() -> None:
    async def gen() -> AsyncIterator[int]:
        yield 1
        yield 2
        raise ValueError("boom")

    client = FakeClient()
    await run(
        EventSourceResponse(gen(), coalesce=1, on_error=lambda e: ServerSentEvent(event="error")),
        client,
    )
    assert [(e.event, e.data) for e in client.events] == [("message", "1"), ("message", "2")]
    assert client.body.endswith(b"event: error\n\n")
    assert client.completed


# -- ending every stream ---------------------------------------------------------------------


async def test_close_all_streams_ends_every_stream_with_a_final_event() -> None:
    from sse_asgi import close_all_streams

    closed: list[int] = []

    def stream(n: int) -> Any:
        async def gen() -> AsyncIterator[int]:
            try:
                yield n
                await anyio.sleep_forever()
            finally:
                closed.append(n)

        return gen()

    clients = [FakeClient() for _ in range(3)]
    async with anyio.create_task_group() as tg:
        for n, client in enumerate(clients):
            tg.start_soon(run, EventSourceResponse(stream(n)), client)
        for client in clients:
            await client.wait_for(lambda c=client: len(c.events) == 1)  # type: ignore[misc]
        assert close_all_streams(ServerSentEvent(event="shutdown", retry=1000)) == 3
    assert sorted(closed) == [0, 1, 2]
    for n, client in enumerate(clients):
        assert [(e.event, e.data) for e in client.events] == [("message", str(n))]
        assert client.body.endswith(b"event: shutdown\nretry: 1000\n\n")
        assert client.completed
    assert close_all_streams() == 0


async def test_close_before_the_first_event_still_answers() -> None:
    from sse_asgi import close_all_streams

    client = FakeClient()
    async with anyio.create_task_group() as tg:
        tg.start_soon(run, EventSourceResponse(idle_after(0), first_event_grace=10), client)
        await anyio.sleep(0.05)
        assert client.messages == []
        close_all_streams()
    assert client.messages[0]["type"] == "http.response.start"
    assert client.completed


async def test_a_generator_that_swallows_cancellation_is_still_stopped() -> None:
    produced = 0

    async def stubborn() -> AsyncIterator[int]:
        nonlocal produced
        while True:
            try:
                await anyio.sleep(0.01)
            except BaseException:  # the bad behaviour under test: swallow cancellation
                produced += 0
            produced += 1
            yield produced

    client = FakeClient()
    async with anyio.create_task_group() as tg:
        tg.start_soon(run, EventSourceResponse(stubborn()), client)
        await client.wait_for(lambda: len(client.events) >= 2)
        client.disconnected.set()
    sent = len(client.events)
    await anyio.sleep(0.05)
    assert len(client.events) == sent


async def test_testing_client_announces_asgi_2_3_and_can_do_2_4() -> None:
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["asgi"]["spec_version"])
        await EventSourceResponse(idle_after(1))(scope, receive, send)

    async with connect(app) as stream:
        await anext(stream)
    async with connect(app, spec_version="2.4") as stream:
        await anext(stream)
    assert seen == ["2.3", "2.4"]


async def test_testing_client_send_raises_oserror_after_disconnect_on_2_4() -> None:
    errors: list[BaseException] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"data: 1\n\n", "more_body": True})
        while (await receive())["type"] != "http.disconnect":
            pass
        try:
            await send({"type": "http.response.body", "body": b"x", "more_body": True})
        except OSError as exc:
            errors.append(exc)

    async with connect(app, spec_version="2.4") as stream:
        await anext(stream)
    assert len(errors) == 1


async def test_a_sync_generator_blocked_for_good_is_given_up_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stop, inside = threading.Event(), threading.Event()

    def stuck() -> Iterator[int]:
        yield 1
        inside.set()
        stop.wait(30)  # blocked inside: no thread can be interrupted there
        yield 2  # pragma: no cover

    try:
        async with connect(app_for(stuck), finish_timeout=5) as stream:
            assert (await anext(stream)).data == "1"
            # Leave only once the generator is stuck (an idle one closes at once).
            assert await anyio.to_thread.run_sync(inside.wait, 5)
            started = time.monotonic()
        # The client left; closing waited its bounded second, then moved on.
        assert 0.9 < time.monotonic() - started < 4
        assert "gave up waiting" in caplog.text
    finally:
        stop.set()  # let the abandoned thread finish
