"""The send loop, driven through EventSourceResponse on fake ASGI callables and the in-process
client, on asyncio and trio: keep-alive, disconnects, stalled clients, errors, the first-event
grace, coalescing, shutdown and fairness."""

from __future__ import annotations

import itertools
import logging
import re
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import anyio
import anyio.abc
import anyio.lowlevel
import pytest

from sse_asgi import (
    EventSourceResponse,
    ReceivedEvent,
    ServerSentEvent,
    close_all_streams,
)
from sse_asgi._anyio_driver import AnyioDriver
from sse_asgi._asyncio_driver import AsyncioDriver
from sse_asgi._options import StreamOptions
from sse_asgi._timing_policy import FAIRNESS_INTERVAL
from sse_asgi.testing import connect

from .asgi_fakes import FakeClient, app_for, counting, http_scope, idle_after, run_response

pytestmark = pytest.mark.anyio


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
    original = SendLoop.on_timer

    async def counted(self: SendLoop) -> None:
        nonlocal wakeups
        wakeups += 1
        await original(self)

    monkeypatch.setattr(SendLoop, "on_timer", counted)
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
    await run_response(EventSourceResponse(gen(), ping_interval=0.005), client)
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
    await run_response(EventSourceResponse(gen(), ping_interval=0.01), client)
    assert [e.data for e in client.events] == ["0", "1", "2"]
    assert client.body.count(b": ping\n\n") >= 5
    assert not interrupted


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
        tg.start_soon(run_response, EventSourceResponse(gen(), ping_interval=None), client)
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
        await run_response(
            EventSourceResponse(gen(), on_disconnect=lambda: calls.append(1)), client
        )
    assert closed
    assert calls == [1]
    assert not client.completed
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


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
        await run_response(response, self.client)
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
                await run_response(
                    EventSourceResponse(endless(closed, 0.01), ping_interval=None), client
                )
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
    assert EventSourceResponse([]).settings.send_timeout == 30.0


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
    await run_response(EventSourceResponse(gen(), on_error=on_error), client)
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
    await run_response(EventSourceResponse(gen()), client)
    assert [e.data for e in client.events] == ["1"]
    assert client.completed


async def test_bad_on_error_is_logged_not_sent(caplog: pytest.LogCaptureFixture) -> None:
    async def gen() -> AsyncIterator[int]:
        yield 1
        raise RuntimeError("x")

    client = FakeClient()
    await run_response(EventSourceResponse(gen(), on_error=lambda exc: "nope"), client)  # type: ignore[arg-type,return-value]
    assert [e.data for e in client.events] == ["1"]
    assert "on_error must return" in caplog.text


async def test_error_before_first_event_propagates_and_sends_nothing() -> None:
    async def gen() -> AsyncIterator[int]:
        await anyio.sleep(0.01)
        raise LookupError("no such job")
        yield 1

    client = FakeClient()
    with pytest.raises(LookupError, match="no such job"):
        await run_response(EventSourceResponse(gen()), client)
    assert client.messages == []


async def test_error_after_the_grace_period_is_a_mid_stream_error() -> None:
    async def gen() -> AsyncIterator[int]:
        await anyio.sleep(0.2)
        raise LookupError("late")
        yield 1

    client = FakeClient()
    await run_response(EventSourceResponse(gen(), first_event_grace=0.05), client)
    assert client.messages[0]["type"] == "http.response.start"
    assert client.completed


async def test_headers_wait_for_the_first_event_at_most_the_grace_period() -> None:
    client = FakeClient()
    started = time.monotonic()
    async with anyio.create_task_group() as tg:
        tg.start_soon(
            run_response, EventSourceResponse(idle_after(0), first_event_grace=0.1), client
        )
        await client.wait_for(lambda: bool(client.messages))
        waited = time.monotonic() - started
        client.disconnected.set()
    assert client.messages[0]["type"] == "http.response.start"
    assert 0.08 <= waited < 1


async def test_a_fast_first_event_is_not_delayed() -> None:
    client = FakeClient()
    started = time.monotonic()
    async with anyio.create_task_group() as tg:
        tg.start_soon(run_response, EventSourceResponse(idle_after(1), first_event_grace=5), client)
        await client.wait_for(lambda: len(client.events) == 1)
        assert time.monotonic() - started < 1
        client.disconnected.set()


async def test_coalescing_puts_many_ready_events_in_one_send() -> None:
    client = FakeClient()
    await run_response(EventSourceResponse(counting(1000), coalesce=0.05), client)
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
        tg.start_soon(run_response, EventSourceResponse(gen(), coalesce=0.05), client)
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
    await run_response(
        EventSourceResponse(gen(), coalesce=1, on_error=lambda e: ServerSentEvent(event="error")),
        client,
    )
    assert [(e.event, e.data) for e in client.events] == [("message", "1"), ("message", "2")]
    assert client.body.endswith(b"event: error\n\n")
    assert client.completed


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
            tg.start_soon(run_response, EventSourceResponse(stream(n)), client)
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
        tg.start_soon(
            run_response, EventSourceResponse(idle_after(0), first_event_grace=10), client
        )
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
        tg.start_soon(run_response, EventSourceResponse(stubborn()), client)
        await client.wait_for(lambda: len(client.events) >= 2)
        client.disconnected.set()
    sent = len(client.events)
    await anyio.sleep(0.05)
    assert len(client.events) == sent


# -- fairness ------------------------------------------------------------------------------


@pytest.fixture
def yields(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The pump's fairness yields, each as the (fake) time it happened at.

    The send loop's clock is a fake one that moves 1 ms each time it is read,
    so that a pump that never suspends reaches the fairness interval after a
    known number of events, whatever the machine's speed.
    """
    from sse_asgi import _send_loop

    clock = [0.0]

    def fake_monotonic() -> float:
        clock[0] += 0.001
        return clock[0]

    at: list[float] = []

    def counting(driver: type[AsyncioDriver | AnyioDriver]) -> Callable[[Any], Awaitable[None]]:
        checkpoint = driver.checkpoint

        def counted_checkpoint(self: Any) -> Awaitable[None]:
            at.append(clock[0])
            return checkpoint(self)

        return counted_checkpoint

    monkeypatch.setattr(_send_loop, "_monotonic", fake_monotonic)
    for driver in (AsyncioDriver, AnyioDriver):
        monkeypatch.setattr(driver, "checkpoint", counting(driver))
    return at


async def test_streams_whose_iterators_suspend_owe_the_loop_no_extra_yield(
    yields: list[float],
) -> None:
    """Fan-out: each event wakes every stream's iterator. A stream suspended in its
    iterator let the others run already: no yield of its own after the send (one task
    step per delivery, not two), however long ago it last yielded."""
    ticks = [anyio.Event() for _ in range(50)]

    async def fed() -> AsyncIterator[int]:
        for n, tick in enumerate(ticks):
            await tick.wait()  # suspends: a broadcast subscription waiting for its next event
            yield n

    clients = [FakeClient() for _ in range(3)]
    options: StreamOptions = {"ping_interval": None, "send_timeout": None}
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            for client in clients:
                tg.start_soon(run_response, EventSourceResponse(fed(), **options), client)
            for n, tick in enumerate(ticks):
                tick.set()
                for client in clients:
                    await client.wait_for(lambda c=client, n=n: len(c.events) == n + 1)  # type: ignore[misc]
    assert all(len(client.events) == len(ticks) for client in clients)
    # Each delivery reads the fake clock a few times: 150 deliveries span far more
    # than FAIRNESS_INTERVAL, yet the suspension before each one restarted the count.
    assert yields == []


@pytest.mark.parametrize("counted", [False, True], ids=["watched by hand", "counted"])
async def test_a_busy_stream_yields_every_fairness_interval(
    yields: list[float], counted: bool
) -> None:
    """An iterator and a send that never suspend: the pump itself yields, every
    FAIRNESS_INTERVAL of the send loop's clock give or take one item (the watched await
    after the interval), and no more often than that. The same for an iterator that
    counts its suspensions: a count that does not grow means no suspension."""
    client = FakeClient()
    iterator = Counted() if counted else busy()
    stream = EventSourceResponse(iterator, ping_interval=None, send_timeout=None)
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(run_response, stream, client)
            await client.wait_for(lambda: len(yields) >= 20)
            client.disconnected.set()
    gaps = [later - earlier for earlier, later in itertools.pairwise(yields)]
    # The clock moves 1 ms per read, a few reads per event: a gap is the interval,
    # give or take the reads of one event.
    assert all(FAIRNESS_INTERVAL - 1e-9 <= gap <= FAIRNESS_INTERVAL + 0.0035 for gap in gaps), gaps
    assert len(client.events) >= len(yields)


class Counted:
    """An iterator that counts its suspensions (as a broadcast subscription does): it
    waits on ``ticks`` (suspending, counted) or, without ticks, never suspends."""

    def __init__(self, ticks: list[anyio.Event] | None = None) -> None:
        self.suspensions = 0
        self._ticks = ticks
        self._n = 0

    def __aiter__(self) -> Counted:
        return self

    async def __anext__(self) -> int:
        if self._ticks is not None:
            if self._n == len(self._ticks):
                raise StopAsyncIteration
            tick = self._ticks[self._n]
            if not tick.is_set():
                self.suspensions += 1
            await tick.wait()
        self._n += 1
        return self._n


async def test_counted_suspensions_spare_the_watch_and_the_yield(
    yields: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fan-out through an iterator that counts its suspensions: the pump reads the count
    around a plain await -- never drives the await by hand (no generator per delivery)
    -- and owes no yield, however long ago it last yielded."""
    from sse_asgi import _send_loop

    def no_hand_driving(awaitable: object) -> Any:
        raise AssertionError("a counted iterator's await was driven by hand")

    monkeypatch.setattr(_send_loop, "first_step", no_hand_driving)
    ticks = [anyio.Event() for _ in range(50)]
    client = FakeClient()
    options: StreamOptions = {"ping_interval": None, "send_timeout": None}
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(run_response, EventSourceResponse(Counted(ticks), **options), client)
            for n, tick in enumerate(ticks):
                tick.set()
                await client.wait_for(lambda n=n: len(client.events) == n + 1)  # type: ignore[misc]
    assert len(client.events) == len(ticks)
    assert client.completed
    assert yields == []


async def busy() -> AsyncIterator[int]:
    """An iterator that never suspends (and FakeClient's send does not either)."""
    n = 0
    while True:
        yield n
        n += 1


@pytest.mark.parametrize("streams", [1, 2])
async def test_busy_streams_do_not_starve_other_tasks(streams: int) -> None:
    """However many streams never suspend, the loop still runs everything else -- every
    FAIRNESS_INTERVAL, which the streams take turns to count from."""
    clients = [FakeClient() for _ in range(streams)]
    others_ran = 0
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            for client in clients:
                tg.start_soon(run_response, EventSourceResponse(busy()), client)
            for client in clients:
                await client.wait_for(lambda c=client: len(c.messages) > 100)  # type: ignore[misc]
            for _ in range(20):
                await anyio.sleep(0.001)  # a timer: needs the loop back from the streams
                others_ran += 1
            for client in clients:
                client.disconnected.set()
    assert others_ran == 20
    assert all(len(client.messages) > 100 for client in clients)


@pytest.mark.parametrize("count", range(4, 12))
async def test_a_stream_ends_cleanly_whichever_await_is_watched(
    yields: list[float], count: int, caplog: pytest.LogCaptureFixture
) -> None:
    """Over these lengths the iterator's end (StopAsyncIteration) meets a watched await
    too: the stream still completes, with every event and no error."""

    async def finite() -> AsyncIterator[int]:
        for n in range(count):
            yield n

    client = FakeClient()
    with anyio.fail_after(10):
        await run_response(EventSourceResponse(finite(), ping_interval=None), client)
    assert [event.data for event in client.events] == [str(n) for n in range(count)]
    assert client.completed
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]


@pytest.mark.parametrize("coalesce", [None, 0.05], ids=["per-event", "coalescing"])
async def test_a_client_gone_before_the_first_item_is_a_disconnect(
    coalesce: float | None, caplog: pytest.LogCaptureFixture
) -> None:
    """ASGI 2.4: ``send`` of the response head raises OSError -- the pump's send of the head is
    guarded like its sends of the body (coalescing: a batch full at once is the pump's to send)."""
    caplog.set_level(logging.INFO, logger="sse_asgi")
    client = FakeClient()
    client.fail_with = OSError("gone")
    calls: list[int] = []
    big = "x" * (40 * 1024)
    response = EventSourceResponse(
        iter([big, big]), coalesce=coalesce, on_disconnect=lambda: calls.append(1)
    )
    await run_response(response, client)
    assert calls == [1]
    assert dropped(caplog) == ["SSE client 127.0.0.1:1 disconnected; stream ended"]


class OverlapClient(FakeClient):
    """A client that notes whether a send ever started while another was in flight."""

    def __init__(self) -> None:
        super().__init__()
        self.in_flight = 0
        self.overlapped = False

    async def send(self, message: Any) -> None:
        self.in_flight += 1
        self.overlapped |= self.in_flight > 1
        try:
            await super().send(message)
        finally:
            self.in_flight -= 1


async def test_send_timeout_also_bounds_the_pumps_send_of_the_head(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="sse_asgi")
    client = OverlapClient()
    client.stall = True  # from the response head on
    gone = anyio.Event()
    response = EventSourceResponse(
        idle_after(1), send_timeout=0.1, ping_interval=0.02, on_disconnect=gone.set
    )
    async with anyio.create_task_group() as tg:
        tg.start_soon(run_response, response, client)
        with anyio.fail_after(3):
            await gone.wait()
        assert dropped(caplog) == ["SSE client 127.0.0.1:1 stopped reading for 0.1 s; stream ended"]
        assert not client.overlapped  # no ping started beside the stalled head
        client.disconnected.set()


class SlowPings(OverlapClient):
    """A client whose every ping send takes ``delay`` s; records each send's (start, end)."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay
        self.pings: list[tuple[float, float]] = []

    async def send(self, message: Any) -> None:
        started = time.monotonic()
        if message.get("body") == b": ping\n\n":
            self.in_flight += 1  # the sleep is part of the send
            try:
                await anyio.sleep(self.delay)
            finally:
                self.in_flight -= 1
        await super().send(message)
        if message.get("body") == b": ping\n\n":
            self.pings.append((started, time.monotonic()))


async def test_a_slow_ping_does_not_make_the_next_one_due_at_once() -> None:
    """The next ping is due ``ping_interval`` after the last send *ended*; and no send ever
    starts while another is in flight, though the pump has an event ready at every ping."""
    interval, delay = 0.05, 0.15
    client = SlowPings(delay)

    async def steady() -> AsyncIterator[int]:
        for i in range(8):
            yield i
            await anyio.sleep(0.13)

    await run_response(EventSourceResponse(steady(), ping_interval=interval), client)
    assert len(client.pings) >= 2
    for (_, ended), (started, _) in itertools.pairwise(client.pings):
        assert started - ended >= interval * 0.9
    assert not client.overlapped
    assert [e.data for e in client.events] == [str(i) for i in range(8)]


class BrokenOn(FakeClient):
    """A client whose server's ``send`` raises RuntimeError on one kind of message."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind  # "ping", "head", or "event" (the pump's send)

    async def send(self, message: Any) -> None:
        body = bytes(message.get("body", b""))
        kind = {
            "ping": body == b": ping\n\n",
            "head": message["type"] == "http.response.start",
            "event": body.startswith(b"data:"),
        }
        if kind[self.kind]:
            raise RuntimeError("the server's send broke")
        await super().send(message)


@pytest.mark.parametrize("kind", ["ping", "head", "event"])
async def test_an_error_from_a_timer_send_is_raised_like_one_from_the_pumps_send(
    kind: str,
) -> None:
    """``send`` raising something other than OSError on a ping (or on the head the timer sends
    after ``first_event_grace``): the response raises it, itself (no exception group) -- as
    it does when the pump's own send of an event raises ("event")."""
    client = BrokenOn(kind)
    closed = anyio.Event()
    options: dict[str, Any] = {"ping_interval": 0.02, "first_event_grace": 0.02}
    with pytest.raises(RuntimeError, match="send broke") as raised:
        await run_response(EventSourceResponse(endless_after_idle(closed), **options), client)
    assert type(raised.value) is RuntimeError
    assert closed.is_set()  # the iterator was closed
    if kind != "event":
        assert [m["type"] for m in client.messages] == (
            ["http.response.start"] if kind == "ping" else []
        )


async def endless_after_idle(closed: anyio.Event) -> AsyncIterator[int]:
    """One event after 0.1 s (the timer sends the head first), then silence."""
    try:
        await anyio.sleep(0.1)
        yield 0
        await anyio.sleep_forever()
    finally:
        closed.set()
