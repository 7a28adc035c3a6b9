"""The C awaitable of a started subscription (sse_asgi/_next_event.c) against its Python twin.

Both are what ``Subscription.__anext__`` returns on asyncio once the
subscription has started; every scenario here runs with each, and must give
the same events and the same exceptions: live, catching up through a page
read (behind), filtered, ended. The rest checks what only C can get wrong:
reference counts, the cycle collector, Python code run in the middle of a
step, and the iterator path CPython takes while a trace function is set. The
broadcast suite runs on the C one, and again on the Python one in
``test_speedups.py``'s run without extensions.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import weakref
from collections import deque
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from sse_asgi import Broadcast, MemoryBackend, ServerSentEvent
from sse_asgi.broadcast import _subscription

from .broadcast_support import registered
from .conftest import require_component

pytestmark = pytest.mark.anyio

C_NEXT_EVENT: Any = _subscription._NEXT_EVENT


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # the awaitable exists on asyncio only; trio awaits a coroutine


@pytest.fixture(autouse=True)
def _built() -> None:
    if C_NEXT_EVENT is _subscription._NextEvent:
        require_component(
            "sse_asgi._next_event (the C extension)",
            "built without a C compiler, or SSE_ASGI_NO_EXTENSIONS is set; the Python class runs",
        )


@pytest.fixture(params=["C", "Python"])
def implementation(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Any:
    chosen = C_NEXT_EVENT if request.param == "C" else _subscription._NextEvent
    monkeypatch.setattr(_subscription, "_NEXT_EVENT", chosen)
    return chosen


async def receive(subscription: Any, count: int) -> list[Any]:
    return [(await asyncio.wait_for(subscription.__anext__(), 5)).data for _ in range(count)]


async def test_the_subscription_awaits_the_chosen_implementation(implementation: Any) -> None:
    async with Broadcast() as broadcast, broadcast.subscribe("t") as subscription:
        assert type(subscription.__anext__()) is implementation


async def test_events_queued_and_awaited_arrive_in_order(implementation: Any) -> None:
    async with Broadcast() as broadcast, broadcast.subscribe("t") as subscription:
        await broadcast.publish("t", 1)
        await broadcast.publish("t", 2)  # both queued before anyone waits
        assert await receive(subscription, 2) == [1, 2]
        waiter = asyncio.ensure_future(subscription.__anext__())
        await asyncio.sleep(0.01)  # now it waits on a future
        await broadcast.publish("t", 3)
        assert (await asyncio.wait_for(waiter, 5)).data == 3


async def test_the_values_are_the_published_events(implementation: Any) -> None:
    async with Broadcast() as broadcast, broadcast.subscribe("t") as subscription:
        data = ("a", "tuple")  # a StopIteration value that must not be unpacked
        event_id = await broadcast.publish("t", ServerSentEvent(data=data, event="e"))
        event = await asyncio.wait_for(subscription.__anext__(), 5)
    assert (event.data, event.event, event.id) == (data, "e", event_id)


async def test_a_reset_comes_first(implementation: Any) -> None:
    async with Broadcast() as broadcast:
        await broadcast.publish("t", 0)
        async with broadcast.subscribe("t", last_event_id="not ours") as subscription:
            await broadcast.publish("t", 1)
            reset = await asyncio.wait_for(subscription.__anext__(), 5)
            assert (reset.event, reset.data["reason"]) == ("reset", "unknown")
            assert await receive(subscription, 1) == [1]


async def test_behind_it_waits_for_page_reads(implementation: Any) -> None:
    """Resuming 200 events back: pages of history read in a task it waits on, then live."""
    async with Broadcast() as broadcast:
        first = await broadcast.publish("t", -1)
        for n in range(200):
            await broadcast.publish("t", n)
        async with broadcast.subscribe("t", last_event_id=first) as subscription:
            assert type(subscription.__anext__()) is implementation
            assert await receive(subscription, 200) == list(range(200))
            waiter = asyncio.ensure_future(subscription.__anext__())
            await asyncio.sleep(0.01)  # live now: it waits on a future
            await broadcast.publish("t", "live")
            assert (await asyncio.wait_for(waiter, 5)).data == "live"


async def test_a_wait_for_a_page_cancelled_loses_nothing(implementation: Any) -> None:
    async with Broadcast() as broadcast:
        first = await broadcast.publish("t", -1)
        await broadcast.publish("t", 0)
        async with broadcast.subscribe("t", last_event_id=first) as subscription:
            waiter = asyncio.ensure_future(subscription.__anext__())
            waiter.cancel()  # before its read task ran
            with pytest.raises(asyncio.CancelledError):
                await waiter
            assert await receive(subscription, 1) == [0]


async def test_filtered_out_events_keep_it_waiting(implementation: Any) -> None:
    async with (
        Broadcast() as broadcast,
        broadcast.subscribe("t", filter=lambda e: e.data % 2 == 0) as subscription,
    ):
        waiter = asyncio.ensure_future(subscription.__anext__())
        await asyncio.sleep(0.01)
        await broadcast.publish("t", 1)  # wakes it; filtered out, it waits again
        await asyncio.sleep(0.01)
        assert not waiter.done()
        await broadcast.publish("t", 2)
        assert (await asyncio.wait_for(waiter, 5)).data == 2


@pytest.mark.parametrize(
    ("raised", "expected", "match"),
    [
        (LookupError("from the filter"), LookupError, "from the filter"),
        # Inside an await a StopIteration would pass for its value: an error instead.
        (StopIteration("not an event"), RuntimeError, "filter raised StopIteration"),
    ],
)
async def test_an_exception_from_the_filter_reaches_the_subscriber_and_ends_it(
    implementation: Any, raised: Exception, expected: type[Exception], match: str
) -> None:
    def boom(event: ServerSentEvent) -> bool:
        raise raised

    async with Broadcast() as broadcast:
        subscription = broadcast.subscribe("t", filter=boom)
        await subscription.__aenter__()
        await broadcast.publish("t", 1)
        with pytest.raises(expected, match=match):
            await subscription.__anext__()
        assert registered(broadcast) == 0
        with pytest.raises(StopAsyncIteration):
            await subscription.__anext__()


async def test_the_end_is_stop_async_iteration(implementation: Any) -> None:
    broadcast = Broadcast()
    async with broadcast:
        subscription = broadcast.subscribe("t")
        await subscription.__aenter__()
        waiter = asyncio.ensure_future(subscription.__anext__())
        await asyncio.sleep(0.01)
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(waiter, 5)
    assert [event async for event in subscription] == []


async def test_a_filter_that_empties_the_queue_cannot_crash_it(implementation: Any) -> None:
    """Python code run in the middle of a step changes what the step reads."""
    subscription: Any = None

    def meddle(event: ServerSentEvent) -> bool:
        subscription._queue.clear()
        subscription._filter = None
        return False

    async with Broadcast() as broadcast:
        subscription = broadcast.subscribe("t", filter=meddle)
        async with subscription:
            for n in range(3):
                await broadcast.publish("t", n)
            waiter = asyncio.ensure_future(subscription.__anext__())
            await asyncio.sleep(0.01)  # it took 0, which emptied the queue: it waits
            assert not waiter.done()
            await broadcast.publish("t", "kept")
            assert (await asyncio.wait_for(waiter, 5)).data == "kept"


@pytest.fixture
def tracing() -> Iterator[None]:
    """A trace function set, as under a debugger or coverage's tracer: CPython
    then steps an awaited iterator with __next__ instead of am_send."""
    previous = sys.gettrace()

    def tracer(frame: Any, event: str, arg: Any) -> None:
        return None

    sys.settrace(tracer)
    try:
        yield
    finally:
        sys.settrace(previous)


async def test_the_iterator_path_under_a_trace_function(tracing: None) -> None:
    async with Broadcast() as broadcast:
        first = await broadcast.publish("t", "first")
        data = ("a", "tuple")
        await broadcast.publish("t", data)
        async with broadcast.subscribe("t", last_event_id=first) as subscription:
            assert type(subscription.__anext__()) is C_NEXT_EVENT
            assert (await asyncio.wait_for(subscription.__anext__(), 5)).data == data  # a page
            waiter = asyncio.ensure_future(subscription.__anext__())
            await asyncio.sleep(0.01)
            await broadcast.publish("t", "later")
            assert (await asyncio.wait_for(waiter, 5)).data == "later"  # waited for


async def test_no_reference_leaks() -> None:
    # History of one: the backend keeps no more references as rounds go on.
    async with (
        Broadcast(MemoryBackend(history=1), buffer=4) as broadcast,
        broadcast.subscribe("t") as subscription,
    ):
        event = ServerSentEvent(data="same")

        async def rounds(n: int) -> None:
            for _ in range(n):
                waiter = asyncio.ensure_future(subscription.__anext__())
                await asyncio.sleep(0)
                await broadcast.publish("t", event)
                await waiter
                await broadcast.publish("t", event)
                await subscription.__anext__()  # queued: taken without waiting

        await rounds(50)  # warm caches
        gc.collect()
        before = sys.getrefcount(subscription), sys.getrefcount(event)
        blocks = sys.getallocatedblocks()
        await rounds(500)  # 1,000 events received: a leak of each would be 1,000 blocks
        gc.collect()
        assert (sys.getrefcount(subscription), sys.getrefcount(event)) == before
        assert sys.getallocatedblocks() - blocks < 200


class Holder:
    """Stands in for a subscription that holds its awaitable, as a started one does."""

    def __init__(self) -> None:
        self._awaitable: Any = None


async def test_a_cycle_through_the_subscription_is_collected() -> None:
    holder = Holder()
    holder._awaitable = C_NEXT_EVENT(holder, asyncio.get_running_loop())
    alive = weakref.ref(holder)
    del holder
    gc.collect()
    assert alive() is None


async def test_its_arguments_are_checked_and_fixed_at_creation() -> None:
    with pytest.raises(TypeError):
        C_NEXT_EVENT(Holder())
    with pytest.raises(TypeError):
        C_NEXT_EVENT.__new__(C_NEXT_EVENT)  # never an instance without them
    with pytest.raises(AttributeError, match="create_future"):
        C_NEXT_EVENT(Holder(), object())
    async with Broadcast() as broadcast, broadcast.subscribe("t") as subscription:
        awaitable: Any = subscription.__anext__()
        type(awaitable).__init__(awaitable, Holder(), asyncio.get_running_loop())  # no change
        await broadcast.publish("t", "still")
        assert (await asyncio.wait_for(awaitable, 5)).data == "still"


class Entry:
    def __init__(self) -> None:
        self.event = "the event"


class FakeSubscription:
    """Just the attributes the C step reads, to feed it what no broadcast makes."""

    def __init__(self) -> None:
        self._ready: deque[Any] = deque()
        self._queue: deque[Any] = deque([Entry()])
        self._filter, self._state, self._future, self._last = None, "live", None, None


async def test_what_no_broadcast_makes_is_an_error_not_a_crash() -> None:
    loop = asyncio.get_running_loop()
    subscription: Any = FakeSubscription()
    with pytest.raises(StopIteration) as stopped:
        next(C_NEXT_EVENT(subscription, loop).__await__())
    assert stopped.value.value == "the event"
    assert isinstance(subscription._last, Entry)
    subscription._queue = deque([object()])  # an entry without an event
    with pytest.raises(AttributeError, match="event"):
        next(C_NEXT_EVENT(subscription, loop).__await__())
    subscription._queue = [Entry()]  # not a deque
    with pytest.raises(AttributeError, match="popleft"):
        next(C_NEXT_EVENT(subscription, loop).__await__())
    subscription._queue, subscription._state = deque(), "nonsense"
    with pytest.raises(AttributeError, match="_raise_end"):
        next(C_NEXT_EVENT(subscription, loop).__await__())
    del subscription._state
    with pytest.raises(AttributeError, match="_state"):
        next(C_NEXT_EVENT(subscription, loop).__await__())


async def subscriptions_of(broadcast: Broadcast, count: int) -> AsyncIterator[Any]:
    for _ in range(count):
        subscription = broadcast.subscribe("t")
        await subscription.__aenter__()
        yield subscription


async def test_subscribers_woken_together_each_get_the_event(implementation: Any) -> None:
    async with Broadcast() as broadcast:
        subscriptions = [s async for s in subscriptions_of(broadcast, 50)]
        waiters = [asyncio.ensure_future(s.__anext__()) for s in subscriptions]
        await asyncio.sleep(0.01)
        await broadcast.publish("t", "all")
        assert [(await w).data for w in waiters] == ["all"] * 50
