"""The fan-out to parked streams (``sse_asgi.broadcast._fan_out``).

A batch of :data:`WRITE_BATCH` streams is written per publish and per turn
of the event loop; events published while earlier ones are still being
written go out with them, in one write per stream, and no stream has more
than :data:`MAX_UNWRITTEN` waiting; whatever stops a parked stream's writes
(a wake, its end, a gap) leaves its events in its queue, in order.
"""

from __future__ import annotations

import asyncio
import gc

import anyio
import pytest

from sse_asgi import Broadcast, Subscription
from sse_asgi.broadcast import _fan_out
from sse_asgi.broadcast._fan_out import MAX_UNWRITTEN, WRITE_BATCH
from sse_asgi.broadcast._subscription import Unwritten

from .broadcast_support import eventually
from .direct_writes_support import Wire, publish, serve

pytestmark = pytest.mark.anyio

COUNT = 2 * WRITE_BATCH + 10  # three batches: a full one, another, and a few


@pytest.fixture
def anyio_backend() -> str:
    """Parking is asyncio's."""
    return "asyncio"


async def serve_many(
    broadcast: Broadcast, count: int, **options: object
) -> tuple[list[Wire], list[asyncio.Task[None]], list[Subscription]]:
    wires = [Wire() for _ in range(count)]
    served = [await serve(broadcast, wire, **options) for wire in wires]
    return wires, [task for task, _ in served], [subscription for _, subscription in served]


async def finish(wires: list[Wire], tasks: list[asyncio.Task[None]]) -> None:
    for wire in wires:
        wire.gone.set()
    with anyio.fail_after(10):
        await asyncio.gather(*tasks)


def written(wires: list[Wire]) -> int:
    return sum(1 for wire in wires if wire.bodies)


async def test_one_batch_is_written_per_turn_of_the_loop() -> None:
    async with Broadcast() as broadcast:
        wires, tasks, _ = await serve_many(broadcast, COUNT)
        seen_between: list[int] = []
        await publish(broadcast, "one")
        # The first batch before publish returns ...
        assert [bool(wire.bodies) for wire in wires] == [True] * WRITE_BATCH + [False] * (
            COUNT - WRITE_BATCH
        )
        # ... the next on the loop's next turn, after which other callbacks run
        # before the last: a fan-out does not hold the loop for its whole length.
        asyncio.get_running_loop().call_soon(lambda: seen_between.append(written(wires)))
        await eventually(lambda: written(wires) == COUNT)
        assert seen_between == [2 * WRITE_BATCH]
        assert all(wire.data == ["one"] and wire.direct == [True] for wire in wires)
        await finish(wires, tasks)


async def test_events_that_come_faster_than_they_are_written_go_out_together() -> None:
    async with Broadcast() as broadcast:
        wires, tasks, subscriptions = await serve_many(broadcast, COUNT)
        # Before the loop turns: each publish writes one batch, to the streams
        # that waited longest, and queues its event behind what the others have.
        await publish(broadcast, "one")  # the first 256 written; the rest wait
        await publish(broadcast, "two")  # the next 256 get both in one write
        await publish(broadcast, "three")  # the last 10 get all three in one write
        await eventually(lambda: all(len(wire.data) == 3 for wire in wires))
        for index, wire in enumerate(wires):
            assert wire.data == ["one", "two", "three"]  # every event, in order, once
            assert all(wire.direct)
            # No stream got one write per event: none waited a pass per event.
            assert len(wire.bodies) == (1 if index >= 2 * WRITE_BATCH else 2)
        # Each subscription's position is its last event's, as if it had taken each.
        assert {s._last.id for s in subscriptions if s._last is not None} == {
            subscriptions[0]._last.id  # type: ignore[union-attr]
        }
        await finish(wires, tasks)


async def test_a_stream_woken_before_its_write_takes_its_events_in_order() -> None:
    async with Broadcast() as broadcast:
        wires, tasks, subscriptions = await serve_many(broadcast, COUNT)
        await publish(broadcast, "one")
        await publish(broadcast, "two")
        last = subscriptions[-1]
        assert last._unwritten is not None  # not written yet
        # A gap in deliveries wakes it to catch up (as a ping or its end would):
        # what the fan-out had not written goes to its queue, ahead of the rest.
        last.fall_behind()
        assert last._unwritten is Unwritten.NOTHING  # in the queue of writes, nothing to write
        assert last._sink is None
        await publish(broadcast, "three")
        await eventually(lambda: all(len(wire.data) == 3 for wire in wires))
        assert wires[-1].data == ["one", "two", "three"]
        assert wires[-1].direct[:1] == [False]  # its own task wrote them
        await finish(wires, tasks)


async def test_a_stream_ended_before_its_write_still_sends_what_it_was_given() -> None:
    async with Broadcast() as broadcast:
        wires, tasks, subscriptions = await serve_many(broadcast, COUNT)
        await publish(broadcast, "one")
        subscriptions[-1].end()  # as when the broadcast closes: queued events are still yielded
        with anyio.fail_after(5):
            await tasks[-1]
        assert wires[-1].data == ["one"]
        await eventually(lambda: written(wires) == COUNT)
        await finish(wires[:-1], tasks[:-1])


async def test_a_stream_that_leaves_before_its_write_is_skipped() -> None:
    async with Broadcast() as broadcast:
        wires, tasks, _ = await serve_many(broadcast, COUNT)
        await publish(broadcast, "one")
        wires[-1].gone.set()
        with anyio.fail_after(5):
            await tasks[-1]
        await eventually(lambda: written(wires[:-1]) == COUNT - 1)
        assert wires[-1].bodies == []
        assert broadcast.subscriber_count("t") == COUNT - 1
        await finish(wires[:-1], tasks[:-1])


@pytest.mark.parametrize("overflow", ["disconnect", "drop_oldest"])
async def test_a_publisher_faster_than_the_loop_writes_what_waits_itself(
    overflow: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Publishes in a loop that never yields: the server's backlog, not the
    # client's -- it does not count against `buffer`, and no stream has more
    # than MAX_UNWRITTEN events waiting: the publish that brings it there
    # writes them.
    count = MAX_UNWRITTEN + 5
    # Batches of 4 over 100 streams: a pass takes 25 publishes, so the last
    # streams would have 25 events waiting.
    monkeypatch.setattr(_fan_out, "WRITE_BATCH", 4)
    async with Broadcast(buffer=2, overflow=overflow) as broadcast:  # type: ignore[arg-type]
        wires, tasks, subscriptions = await serve_many(broadcast, 100)
        most = 0
        for n in range(count):
            await publish(broadcast, str(n))
            most = max(most, *(waiting(s) for s in subscriptions))
        assert most == MAX_UNWRITTEN - 1  # the publish that brought one to MAX_UNWRITTEN wrote them
        await eventually(lambda: all(len(wire.data) == count for wire in wires))
        assert all(wire.data == [str(n) for n in range(count)] for wire in wires)
        assert all(not task.done() for task in tasks)  # none overflowed
        await finish(wires, tasks)


def waiting(subscription: Subscription) -> int:
    """Events a parked subscription has that the fan-out has not written yet."""
    if subscription._unwritten is None or subscription._unwritten is Unwritten.NOTHING:
        return 0
    if subscription._unwritten is Unwritten.SEVERAL:
        return len(subscription._queue)
    return 1


async def test_a_send_that_publishes_queues_the_event_after_its_own() -> None:
    async with Broadcast() as broadcast:
        wire = Wire()
        published: list[str] = []

        async def send(message: object) -> None:
            await original(message)  # type: ignore[arg-type]
            if isinstance(message, dict) and b"one" in message.get("body", b""):
                # A middleware publishing from inside the write: nothing is
                # written under it, nothing lost, nothing out of order -- and
                # more than MAX_UNWRITTEN events are fine within `buffer`.
                for n in range(MAX_UNWRITTEN + 4):
                    published.append(await broadcast.publish("t", str(n)))

        original, wire.send = wire.send, send  # type: ignore[method-assign]
        task, _ = await serve(broadcast, wire)
        other = Wire()
        other_task, _ = await serve(broadcast, other)
        await publish(broadcast, "one")
        expected = ["one", *(str(n) for n in range(MAX_UNWRITTEN + 4))]
        await eventually(lambda: wire.data == expected and other.data == expected)
        assert len(published) == MAX_UNWRITTEN + 4
        other.gone.set()
        wire.gone.set()
        with anyio.fail_after(5):
            await asyncio.gather(task, other_task)


async def test_events_waiting_together_make_nothing_for_the_collector_per_stream(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_fan_out, "WRITE_BATCH", 4)  # most streams wait for several events
    async with Broadcast() as broadcast:
        wires, tasks, subscriptions = await serve_many(broadcast, COUNT)
        gc.collect()
        gc.disable()  # no pass may hide what is made
        try:
            before = len(gc.get_objects())
            for data in ("one", "two", "three", "four", "five"):
                await publish(broadcast, data)
            several = sum(1 for s in subscriptions if s._unwritten is Unwritten.SEVERAL)
            made = len(gc.get_objects()) - before
        finally:
            gc.enable()
        assert several > COUNT - 5 * 4  # all but the few written have several waiting
        # The events and their entries, not a container per stream: a burst
        # to 10,000 streams sets off no collection (and no full one later).
        assert made < 50
        await eventually(lambda: all(len(wire.data) == 5 for wire in wires))
        await finish(wires, tasks)


async def test_the_queue_of_writes_holds_each_stream_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # Batches of 4 over 100 streams: a publisher that never lets the loop turn
    # writes streams itself (MAX_UNWRITTEN) ahead of their turn in the queue of
    # writes; they must not join it again while they are in it.
    monkeypatch.setattr(_fan_out, "WRITE_BATCH", 4)
    async with Broadcast() as broadcast:
        wires, tasks, _ = await serve_many(broadcast, 100)
        longest = 0
        for n in range(1000):
            await publish(broadcast, str(n))
            longest = max(longest, len(broadcast._fan_out._writes))
        assert longest <= 100
        await eventually(lambda: all(len(wire.data) == 1000 for wire in wires))
        assert all(wire.data == [str(n) for n in range(1000)] for wire in wires)
        await finish(wires, tasks)
