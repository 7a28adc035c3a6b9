"""The loop's shared heap of stream timers (``sse_asgi._loop_timers``), on a fake loop and clock."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import AsyncIterator, Callable
from typing import Any, cast

import pytest

from sse_asgi import _loop_timers
from sse_asgi._loop_timers import LoopTimers, loop_timers


class FakeHandle:
    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeLoop:
    """What LoopTimers uses of a loop: call_later, is_closed, call_exception_handler."""

    def __init__(self, clock: list[float]) -> None:
        self.clock = clock
        self.handles: list[FakeHandle] = []
        self.errors: list[dict[str, Any]] = []
        self.closed = False

    def call_later(self, delay: float, callback: Callable[[], None]) -> FakeHandle:
        handle = FakeHandle(self.clock[0] + delay, callback)
        self.handles.append(handle)
        return handle

    def is_closed(self) -> bool:
        return self.closed

    def call_exception_handler(self, context: dict[str, Any]) -> None:
        self.errors.append(context)

    @property
    def armed(self) -> list[FakeHandle]:
        return [handle for handle in self.handles if not handle.cancelled]

    def advance(self, seconds: float) -> None:
        """Move the clock and run the handles that are due, as the loop would."""
        self.clock[0] += seconds
        for handle in list(self.handles):
            if not handle.cancelled and handle.when <= self.clock[0]:
                self.handles.remove(handle)
                handle.callback()


class Target:
    def __init__(self, name: str, log: list[str], action: Callable[[], None] | None = None) -> None:
        self.name, self.log, self.action = name, log, action

    def on_due(self) -> None:
        self.log.append(self.name)
        if self.action is not None:
            self.action()


@pytest.fixture
def loop(monkeypatch: pytest.MonkeyPatch) -> FakeLoop:
    clock = [100.0]
    monkeypatch.setattr(_loop_timers, "_monotonic", lambda: clock[0])
    return FakeLoop(clock)


def timers_on(loop: FakeLoop) -> LoopTimers:
    return LoopTimers(cast(asyncio.AbstractEventLoop, loop))


def test_entries_run_in_time_order_with_one_loop_timer_armed(loop: FakeLoop) -> None:
    timers, log = timers_on(loop), list[str]()
    for name, when in [("c", 103.0), ("a", 101.0), ("b", 102.0), ("a2", 101.0)]:
        timers.call_at(when, Target(name, log))
        assert len(loop.armed) == 1  # re-armed for the earliest, the old one cancelled
    assert loop.armed[0].when == 101.0
    loop.advance(1.0)
    assert log == ["a", "a2"]  # equal times: in the order they were set
    assert loop.armed[0].when == 102.0
    loop.advance(5.0)
    assert log == ["a", "a2", "b", "c"]
    assert loop.armed == []
    assert len(timers) == 0


def test_a_cancelled_entry_never_runs_and_the_last_cancel_disarms(loop: FakeLoop) -> None:
    timers, log = timers_on(loop), list[str]()
    first = timers.call_at(101.0, Target("first", log))
    second = timers.call_at(102.0, Target("second", log))
    timers.cancel(first)
    timers.cancel(first)  # twice: nothing more
    assert len(loop.armed) == 1
    timers.cancel(second)
    # Nothing live: no loop timer (it would keep the loop alive from the registry).
    assert loop.armed == []
    assert len(timers) == 0
    loop.advance(10.0)
    assert log == []


def test_re_arming_keeps_the_heap_within_twice_the_live_entries(loop: FakeLoop) -> None:
    timers, log = timers_on(loop), list[str]()
    entries = [timers.call_at(110.0, Target(str(i), log)) for i in range(100)]
    for _ in range(50):  # every stream re-arms, again and again (coalescing does per batch)
        for i, entry in enumerate(entries):
            timers.cancel(entry)
            entries[i] = timers.call_at(110.0, Target(str(i), log))
        assert len(timers) <= 2 * 100 + 1
    loop.advance(10.0)
    assert sorted(log, key=int) == [str(i) for i in range(100)]  # each once


def test_an_entry_made_during_a_pass_waits_for_the_next(loop: FakeLoop) -> None:
    timers, log = timers_on(loop), list[str]()

    def again() -> None:
        timers.call_at(loop.clock[0], Target("again", log))  # due at once

    timers.call_at(101.0, Target("first", log, again))
    loop.advance(1.0)
    assert log == ["first"]  # not run within the same pass: no endless pass
    assert len(loop.armed) == 1
    loop.advance(0.0)
    assert log == ["first", "again"]


def test_an_entry_cancelled_by_an_earlier_one_of_the_same_pass_does_not_run(
    loop: FakeLoop,
) -> None:
    timers, log = timers_on(loop), list[str]()
    later: list[Any] = []
    timers.call_at(101.0, Target("first", log, lambda: timers.cancel(later[0])))
    later.append(timers.call_at(101.5, Target("second", log)))
    remaining = timers.call_at(105.0, Target("third", log))
    loop.advance(2.0)
    assert log == ["first"]
    timers.cancel(remaining)  # the count of dead entries stayed exact: this was the last
    assert loop.armed == []
    assert len(timers) == 0


def test_a_failing_callback_is_reported_and_the_others_still_run(loop: FakeLoop) -> None:
    timers, log = timers_on(loop), list[str]()

    def fail() -> None:
        raise RuntimeError("boom")

    timers.call_at(101.0, Target("failing", log, fail))
    timers.call_at(101.0, Target("next", log))
    loop.advance(1.0)
    assert log == ["failing", "next"]
    assert [type(error["exception"]) for error in loop.errors] == [RuntimeError]


def test_a_closed_loop_is_not_armed(loop: FakeLoop) -> None:
    timers, log = timers_on(loop), list[str]()
    loop.closed = True
    timers.call_at(101.0, Target("never", log))
    assert loop.armed == []


def test_one_heap_per_loop_and_the_registry_keeps_no_loop_alive() -> None:
    loop = asyncio.new_event_loop()
    try:
        assert loop_timers(loop) is loop_timers(loop)
        other = asyncio.new_event_loop()
        assert loop_timers(other) is not loop_timers(loop)
        other.close()
    finally:
        loop.close()
    collected = weakref.ref(loop)
    del loop, other
    gc.collect()
    assert collected() is None


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_an_idle_stream_is_two_tasks_and_one_timer_entry(anyio_backend: str) -> None:
    """What the README says an idle connection costs: two sleeping tasks, one timer entry,
    and the loop itself one timer for all of them."""
    import anyio

    from sse_asgi import EventSourceResponse

    from .asgi_fakes import FakeClient, http_scope

    async def idle() -> AsyncIterator[str]:
        yield "hello"
        await asyncio.Event().wait()  # not anyio.sleep_forever(): that is a loop timer each

    loop = asyncio.get_running_loop()
    streams = 50
    before_tasks = len(asyncio.all_tasks())
    before_handles = _armed(loop)
    clients = [FakeClient() for _ in range(streams)]
    async with anyio.create_task_group() as tg:
        for client in clients:
            response = EventSourceResponse(idle())
            tg.start_soon(response, http_scope(), client.receive, client.send)
        with anyio.fail_after(5):
            for client in clients:
                await client.wait_for(lambda client=client: len(client.events) == 1)  # type: ignore[misc]
        await anyio.sleep(0.05)
        assert len(asyncio.all_tasks()) - before_tasks == 2 * streams
        timers = loop_timers(loop)
        assert len(timers) == streams  # one live entry each (their keep-alive)
        # The loop's own timers: one for the heap, not one per stream.
        assert _armed(loop) - before_handles <= 1
        for client in clients:
            client.disconnected.set()
    assert len(loop_timers(loop)) == 0  # each stream took its entry back


def _armed(loop: asyncio.AbstractEventLoop) -> int:
    """Timers armed on an asyncio loop (its private heap: the cancelled ones linger there)."""
    return sum(not handle.cancelled() for handle in getattr(loop, "_scheduled", []))
