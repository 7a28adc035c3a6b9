"""What every send-loop driver does, as tests each driver's module runs with its own driver.

A driver module's tests subclass :class:`DriverContract` and define the
``make_driver`` fixture: a factory ``(stream, receive) -> Driver`` on the
running loop. The stream is
a :class:`FakeStream`: the timing policy with real options, and a record of
what the driver called.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import pytest

from sse_asgi._driver import Driver
from sse_asgi._options import StreamSettings
from sse_asgi._timing_policy import Due, StreamTiming
from sse_asgi.types import Receive, ReceiveMessage

MakeDriver = Callable[["FakeStream", Receive], Driver]

pytestmark = pytest.mark.anyio


class FakeStream:
    """The driven side: a real timing policy; what the driver calls, recorded."""

    def __init__(self, **options: Any) -> None:
        self.timing = StreamTiming(StreamSettings(**options), time.monotonic())
        self.ending = False
        self.messages: list[str] = []
        self.receive_errors = 0
        self.timer_calls: list[Due] = []
        self.fired = anyio.Event()  # set by each timer call
        self.called = anyio.Event()  # set by each message or receive error

    def on_message(self, message: ReceiveMessage) -> bool:
        self.messages.append(message["type"])
        self._called()
        return message["type"] == "http.disconnect"

    def on_receive_error(self) -> None:
        self.receive_errors += 1
        self._called()

    def _called(self) -> None:
        self.called.set()
        self.called = anyio.Event()

    async def on_timer(self) -> None:
        due = self.timing.due(time.monotonic())
        self.timer_calls.append(due)
        if due is Due.HEADERS:
            self.timing.headers_sent = True
        elif due is Due.FLUSH:
            self.timing.batch_due = None
        self.fired.set()
        self.fired = anyio.Event()


class Messages:
    """A ``receive`` fed by the test."""

    def __init__(self) -> None:
        self._send, self._receive = anyio.create_memory_object_stream[ReceiveMessage](10)

    async def receive(self) -> ReceiveMessage:
        return await self._receive.receive()

    def put(self, message: ReceiveMessage) -> None:
        self._send.send_nowait(message)

    def close(self) -> None:
        self._send.close()
        self._receive.close()


@pytest.fixture
def messages() -> Iterator[Messages]:
    """A ``receive`` fed by the test (``messages.receive``), closed afterwards."""
    fed = Messages()
    yield fed
    fed.close()


QUIET = {"ping_interval": None, "send_timeout": None, "first_event_grace": 0}


class DriverContract:
    """The contract's tests: a driver module's test class inherits them, beside its own
    ``make_driver`` fixture (``class TestDriverContract(DriverContract): ...``)."""

    async def test_the_watcher_reads_until_the_client_leaves(
        self, make_driver: MakeDriver, messages: Messages
    ) -> None:
        stream = FakeStream(**QUIET)
        stream.timing.headers_sent = True
        with anyio.fail_after(5):
            async with make_driver(stream, messages.receive):
                messages.put({"type": "http.request", "body": b"", "more_body": False})
                messages.put({"type": "http.disconnect"})
                while len(stream.messages) < 2:
                    await stream.called.wait()
                await anyio.sleep(0.05)  # nothing more is read after the disconnect
        assert stream.messages == ["http.request", "http.disconnect"]
        assert stream.receive_errors == 0

    async def test_a_failing_receive_is_reported_once(
        self, make_driver: MakeDriver, messages: Messages
    ) -> None:
        stream = FakeStream(**QUIET)

        async def receive() -> ReceiveMessage:
            raise RuntimeError("the server broke")

        with anyio.fail_after(5):
            async with make_driver(stream, receive):
                await stream.called.wait()
        assert stream.receive_errors == 1

    async def test_the_timer_fires_when_the_policy_says_and_not_before(
        self, make_driver: MakeDriver, messages: Messages
    ) -> None:
        # Read before the stream reads its start: the timer is due 0.5 s after that.
        started = time.monotonic()
        stream = FakeStream(ping_interval=None, send_timeout=None)
        with anyio.fail_after(5):
            async with make_driver(stream, messages.receive):
                await stream.fired.wait()
                fired_after = time.monotonic() - started
                await anyio.sleep(0.2)  # nothing else is due: no more calls
        assert stream.timer_calls == [Due.HEADERS]
        assert fired_after >= 0.5  # first_event_grace

    async def test_rescheduling_brings_an_earlier_due_time_forward(
        self, make_driver: MakeDriver, messages: Messages
    ) -> None:
        stream = FakeStream(ping_interval=None, send_timeout=None, coalesce=0.05)
        stream.timing.headers_sent = True
        driver = make_driver(stream, messages.receive)
        with anyio.fail_after(5):
            async with driver:
                await anyio.sleep(0.05)  # the timer sleeps for good: nothing is due
                stream.timing.batch_started(time.monotonic())
                driver.reschedule()
                await stream.fired.wait()
        assert stream.timer_calls == [Due.FLUSH]

    async def test_cancel_ends_the_body_and_is_swallowed(
        self, make_driver: MakeDriver, messages: Messages
    ) -> None:
        stream = FakeStream(**QUIET)
        driver = make_driver(stream, messages.receive)
        reached = False
        with anyio.fail_after(5):
            async with driver:
                stream.ending = True
                driver.cancel()
                await anyio.sleep_forever()
                reached = True
        assert not reached

    async def test_a_stream_ending_before_it_starts_is_cancelled_at_once(
        self, make_driver: MakeDriver, messages: Messages
    ) -> None:
        stream = FakeStream(**QUIET)
        driver = make_driver(stream, messages.receive)
        stream.ending = True
        driver.cancel()  # before __aenter__: nothing to cancel yet
        with anyio.fail_after(5):
            async with driver:
                await anyio.sleep_forever()

    async def test_checkpoint_lets_other_tasks_run_and_takes_a_cancel(
        self, make_driver: MakeDriver, messages: Messages
    ) -> None:
        stream = FakeStream(**QUIET)
        driver = make_driver(stream, messages.receive)
        ran: list[str] = []
        reached = False

        async def other() -> None:
            ran.append("other")

        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg, driver:
                tg.start_soon(other)
                for _ in range(10):  # a task started elsewhere runs at a checkpoint
                    await driver.checkpoint()
                    if ran:
                        break
                stream.ending = True
                driver.cancel()
                await driver.checkpoint()
                reached = True
        assert ran == ["other"]
        assert not reached

    async def test_other_exceptions_pass_through(
        self, make_driver: MakeDriver, messages: Messages
    ) -> None:
        stream = FakeStream(**QUIET)
        with anyio.fail_after(5), pytest.raises(LookupError, match="the pump's"):
            async with make_driver(stream, messages.receive):
                raise LookupError("the pump's")

    async def test_an_outer_cancellation_is_not_swallowed(
        self, make_driver: MakeDriver, messages: Messages
    ) -> None:
        stream = FakeStream(**QUIET)
        after = False
        with anyio.CancelScope() as outer:
            async with make_driver(stream, messages.receive):
                outer.cancel()  # the server cancelling the app, say
                await anyio.sleep_forever()
            after = True
        assert outer.cancelled_caught
        assert not after

    async def test_a_timer_action_in_progress_is_stopped_with_the_body(
        self, make_driver: MakeDriver, messages: Messages
    ) -> None:
        stream = FakeStream(ping_interval=None, send_timeout=None, first_event_grace=0.01)
        blocked = anyio.Event()
        finished: list[str] = []

        async def slow_timer() -> None:
            blocked.set()
            try:
                await anyio.sleep_forever()
            finally:
                finished.append("stopped")

        stream.on_timer = slow_timer  # type: ignore[method-assign]
        with anyio.fail_after(5):
            async with make_driver(stream, messages.receive):
                await blocked.wait()
        assert finished == ["stopped"]

    async def test_an_exception_from_the_timer_ends_the_body_and_is_raised_in_its_place(
        self, make_driver: MakeDriver, messages: Messages
    ) -> None:
        """As an exception from the pump's own send is: itself, not in an exception group."""
        stream = FakeStream(ping_interval=0.01, send_timeout=None, first_event_grace=0)
        calls = 0

        async def failing_timer() -> None:
            nonlocal calls
            calls += 1
            raise RuntimeError("the server's send broke")

        async def body() -> None:
            async with make_driver(stream, messages.receive):
                await anyio.sleep_forever()

        stream.on_timer = failing_timer  # type: ignore[method-assign]
        with anyio.fail_after(5), pytest.raises(RuntimeError, match="send broke") as raised:
            await body()
        assert type(raised.value) is RuntimeError
        assert calls == 1
