"""The fan-out to parked streams (``sse_asgi.broadcast._fan_out``).

A batch of :data:`WRITE_BATCH` streams is written per turn of the event
loop; events published while earlier ones are still being written go out
with them, in one write per stream; and whatever stops a parked stream's
writes (a wake, its end, a gap, an overflow) leaves its events in its queue,
in order.
"""

from __future__ import annotations

import asyncio
import gc
import logging

import anyio
import pytest

from sse_asgi import Broadcast, Subscription
from sse_asgi.broadcast._fan_out import WRITE_BATCH

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
        await publish(broadcast, "one")
        await publish(broadcast, "two")  # before the loop turns: "one" is not written everywhere
        await publish(broadcast, "three")
        await eventually(lambda: all(len(wire.data) == 3 for wire in wires))
        for index, wire in enumerate(wires):
            assert wire.data == ["one", "two", "three"]  # every event, in order, once
            # The first batch had "one" at once, and the rest in one write; every
            # other stream got all three in one write: no event waited for a pass
            # over every stream per event.
            assert len(wire.bodies) == (2 if index < WRITE_BATCH else 1)
            assert all(wire.direct)
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
        assert last._unwritten is None
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
async def test_events_not_written_yet_count_against_the_buffer(
    overflow: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="sse_asgi")
    async with Broadcast(buffer=2, overflow=overflow) as broadcast:  # type: ignore[arg-type]
        wires, tasks, _ = await serve_many(broadcast, COUNT)
        for data in ("one", "two", "three"):  # three events for a stream not written yet
            await publish(broadcast, data)
        if overflow == "disconnect":
            # It fell `buffer` events behind: it ends (its browser reconnects and
            # replays from its Last-Event-ID), having sent nothing half-way.
            with anyio.fail_after(5):
                await tasks[-1]
            assert wires[-1].data == []
            assert "fell 2 events behind" in caplog.text
            await eventually(lambda: len(wires[0].data) == 3)
            await finish(wires[:-1], tasks[:-1])
        else:
            await eventually(lambda: len(wires[-1].data) == 2)
            assert wires[-1].data == ["two", "three"]  # the newest `buffer`, in one write
            assert len(wires[-1].bodies) == 1
            await finish(wires, tasks)


async def test_a_send_that_publishes_queues_the_event_after_its_own() -> None:
    async with Broadcast() as broadcast:
        wire = Wire()
        published: list[str] = []

        async def send(message: object) -> None:
            await original(message)  # type: ignore[arg-type]
            if isinstance(message, dict) and b"one" in message.get("body", b""):
                # A middleware publishing from inside the write: nothing is
                # written under it, nothing lost, nothing out of order.
                published.append(await broadcast.publish("t", "two"))

        original, wire.send = wire.send, send  # type: ignore[method-assign]
        task, _ = await serve(broadcast, wire)
        await publish(broadcast, "one")
        await eventually(lambda: wire.data == ["one", "two"])
        assert len(published) == 1
        wire.gone.set()
        with anyio.fail_after(5):
            await task


async def test_events_waiting_together_make_nothing_for_the_collector_per_stream() -> None:
    async with Broadcast() as broadcast:
        wires, tasks, subscriptions = await serve_many(broadcast, COUNT)
        gc.collect()
        gc.disable()  # no pass may hide what is made
        try:
            before = len(gc.get_objects())
            for data in ("one", "two", "three"):
                await publish(broadcast, data)
            waiting = sum(1 for s in subscriptions if s._unwritten is not None)
            made = len(gc.get_objects()) - before
        finally:
            gc.enable()
        assert waiting == COUNT  # every stream has events not written yet
        # The events and their entries, not a container per stream: a burst
        # to 10,000 streams sets off no collection (and no full one later).
        assert made < 50
        await eventually(lambda: all(len(wire.data) == 3 for wire in wires))
        await finish(wires, tasks)
