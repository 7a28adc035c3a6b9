"""What a started subscription's ``__anext__`` returns on asyncio: one awaitable for its life.

Every path of ``_NextEvent``: live (queued, or waited for on a future),
catching up through a page read (behind), filtered, reset, ended, and
cancelled waits that lose nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from sse_asgi import Broadcast, ServerSentEvent
from sse_asgi.broadcast import _subscription

from .broadcast_support import registered

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # the awaitable exists on asyncio only; trio awaits a coroutine


async def receive(subscription: Any, count: int) -> list[Any]:
    return [(await asyncio.wait_for(subscription.__anext__(), 5)).data for _ in range(count)]


async def test_the_subscription_awaits_the_chosen_implementation() -> None:
    async with Broadcast() as broadcast, broadcast.subscribe("t") as subscription:
        assert type(subscription.__anext__()) is _subscription._NextEvent


async def test_events_queued_and_awaited_arrive_in_order() -> None:
    async with Broadcast() as broadcast, broadcast.subscribe("t") as subscription:
        await broadcast.publish("t", 1)
        await broadcast.publish("t", 2)  # both queued before anyone waits
        assert await receive(subscription, 2) == [1, 2]
        waiter = asyncio.ensure_future(subscription.__anext__())
        await asyncio.sleep(0.01)  # now it waits on a future
        await broadcast.publish("t", 3)
        assert (await asyncio.wait_for(waiter, 5)).data == 3


async def test_the_values_are_the_published_events() -> None:
    async with Broadcast() as broadcast, broadcast.subscribe("t") as subscription:
        data = ("a", "tuple")  # a StopIteration value that must not be unpacked
        event_id = await broadcast.publish("t", ServerSentEvent(data=data, event="e"))
        event = await asyncio.wait_for(subscription.__anext__(), 5)
    assert (event.data, event.event, event.id) == (data, "e", event_id)


async def test_a_reset_comes_first() -> None:
    async with Broadcast() as broadcast:
        await broadcast.publish("t", 0)
        async with broadcast.subscribe("t", last_event_id="not ours") as subscription:
            await broadcast.publish("t", 1)
            reset = await asyncio.wait_for(subscription.__anext__(), 5)
            assert (reset.event, reset.data["reason"]) == ("reset", "unknown")
            assert await receive(subscription, 1) == [1]


async def test_behind_it_waits_for_page_reads() -> None:
    """Resuming 200 events back: pages of history read in a task it waits on, then live."""
    async with Broadcast() as broadcast:
        first = await broadcast.publish("t", -1)
        for n in range(200):
            await broadcast.publish("t", n)
        async with broadcast.subscribe("t", last_event_id=first) as subscription:
            assert type(subscription.__anext__()) is _subscription._NextEvent
            assert await receive(subscription, 200) == list(range(200))
            waiter = asyncio.ensure_future(subscription.__anext__())
            await asyncio.sleep(0.01)  # live now: it waits on a future
            await broadcast.publish("t", "live")
            assert (await asyncio.wait_for(waiter, 5)).data == "live"


async def test_a_wait_for_a_page_cancelled_loses_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cancelled while its read task waits on the backend: the read is cancelled with
    it, and the next wait reads the page again."""
    async with Broadcast() as broadcast:
        first = await broadcast.publish("t", -1)
        await broadcast.publish("t", 0)
        read = broadcast.backend.read
        gate = asyncio.Event()

        async def slow_read(*args: Any, **kwargs: Any) -> Any:
            await gate.wait()
            return await read(*args, **kwargs)

        monkeypatch.setattr(broadcast.backend, "read", slow_read)
        async with broadcast.subscribe("t", last_event_id=first) as subscription:
            waiter = asyncio.ensure_future(subscription.__anext__())
            await asyncio.sleep(0.01)  # it waits on its read task
            reading = subscription._reading
            assert reading is not None
            assert not reading.done()
            waiter.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiter
            assert reading.cancelled()
            gate.set()
            assert await receive(subscription, 1) == [0]


async def test_filtered_out_events_keep_it_waiting() -> None:
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
    raised: Exception, expected: type[Exception], match: str
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


async def test_the_end_is_stop_async_iteration() -> None:
    broadcast = Broadcast()
    async with broadcast:
        subscription = broadcast.subscribe("t")
        await subscription.__aenter__()
        waiter = asyncio.ensure_future(subscription.__anext__())
        await asyncio.sleep(0.01)
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(waiter, 5)
    assert [event async for event in subscription] == []


async def test_a_filter_that_empties_the_queue_cannot_crash_it() -> None:
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


async def subscriptions_of(broadcast: Broadcast, count: int) -> AsyncIterator[Any]:
    for _ in range(count):
        subscription = broadcast.subscribe("t")
        await subscription.__aenter__()
        yield subscription


async def test_subscribers_woken_together_each_get_the_event() -> None:
    async with Broadcast() as broadcast:
        subscriptions = [s async for s in subscriptions_of(broadcast, 50)]
        waiters = [asyncio.ensure_future(s.__anext__()) for s in subscriptions]
        await asyncio.sleep(0.01)
        await broadcast.publish("t", "all")
        assert [(await w).data for w in waiters] == ["all"] * 50
