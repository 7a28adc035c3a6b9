"""The memory backend's retention: what expires when, as a function of the time given.

A fake clock drives ``MemoryBackend.expire``; one test checks that the
background task frees idle topics in real time.
"""

from __future__ import annotations

import pytest

from sse_asgi import Broadcast, MemoryBackend

from .broadcast_support import eventually, registered, take

pytestmark = pytest.mark.anyio


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def resume(broadcast: Broadcast, topic: str, last_event_id: str, count: int) -> list[str]:
    """What a client resuming after ``last_event_id`` gets first: ids, or "reset:<reason>"."""
    async with broadcast.subscribe(topic, last_event_id=last_event_id) as subscription:
        events = await take(subscription, count)
    return [f"reset:{e.data['reason']}" if e.event == "reset" else str(e.id) for e in events]


async def test_what_expires_when() -> None:
    clock = FakeClock()
    backend = MemoryBackend(max_age=10, clock=clock)
    async with Broadcast(backend) as broadcast:
        before = await broadcast.publish("other", "before")
        first = await broadcast.publish("t", "at 1000")
        clock.now = 1005
        second = await broadcast.publish("t", "at 1005")
        clock.now = 1010  # exactly max_age: still kept
        backend.expire()
        assert await resume(broadcast, "t", before, 2) == [first, second]
        clock.now = 1010.5  # the first is older than max_age, without any publish
        backend.expire()
        assert len(backend._topics["t"].entries) - backend._topics["t"].start == 1
        assert await resume(broadcast, "t", first, 1) == [second]
        assert await resume(broadcast, "t", before, 1) == ["reset:expired"]
        clock.now = 1015.5  # both gone, and the idle topic with them
        backend.expire()
        assert "t" not in backend._topics
        assert "other" not in backend._topics
        # Its client had everything: it loses nothing when the topic comes back...
        third = await broadcast.publish("t", "a new generation")
        assert await resume(broadcast, "t", second, 1) == [third]
        # ...but one that missed the second event is told.
        assert await resume(broadcast, "t", first, 1) == ["reset:expired"]


async def test_expire_is_due_only_when_something_is() -> None:
    clock = FakeClock()
    backend = MemoryBackend(max_age=10, clock=clock)
    async with Broadcast(backend) as broadcast:
        for n in range(100):
            await broadcast.publish(f"topic:{n}", n)
        assert len(backend._due) == 100  # one entry per topic, not per event
        for _ in range(10):
            await broadcast.publish("topic:0", "more")
        assert len(backend._due) == 100
        clock.now += 5
        backend.expire()
        assert len(backend._topics) == 100
        clock.now += 5.5
        backend.expire()
        assert list(backend._topics) == []
        assert backend._due == []


async def test_read_and_publish_expire_first() -> None:
    """Even without the background task (no `async with`), nothing older than max_age
    is ever replayed."""
    clock = FakeClock()
    broadcast = Broadcast(MemoryBackend(max_age=10, clock=clock))
    before = await broadcast.publish("other", 0)
    await broadcast.publish("t", 1)
    clock.now += 11
    assert await resume(broadcast, "t", before, 1) == ["reset:expired"]
    await broadcast.aclose()


async def test_the_background_task_frees_idle_topics() -> None:
    # max_age well above what 1,000 publishes take on a loaded CI machine.
    backend = MemoryBackend(max_age=2)
    async with Broadcast(backend) as broadcast:
        for n in range(1000):
            await broadcast.publish(f"idle:{n}", "x" * 1000)
        assert len(backend._topics) == 1000
        await eventually(lambda: not backend._topics, within=10)
        assert backend._due == []


async def test_history_zero_keeps_nothing_yet_resumes_at_the_head() -> None:
    async with Broadcast(MemoryBackend(history=0)) as broadcast:
        first = await broadcast.publish("t", 1)
        second = await broadcast.publish("t", 2)
        assert await resume(broadcast, "t", first, 1) == ["reset:expired"]
        async with broadcast.subscribe("t", last_event_id=second) as subscription:
            third = await broadcast.publish("t", 3)
            assert [e.id for e in await take(subscription, 1)] == [third]
        assert registered(broadcast) == 0


async def test_the_window_compacts() -> None:
    backend = MemoryBackend(history=10)
    async with Broadcast(backend) as broadcast:
        ids = [await broadcast.publish("t", n) for n in range(1000)]
        state = backend._topics["t"]
        assert len(state.entries) < 200  # dropped slots are compacted away
        assert [e.id for e in state.after(0)] == ids[-10:]
        assert await resume(broadcast, "t", ids[-5], 4) == ids[-4:]
