"""Broadcast: one suite, run against the memory backend and a real Redis."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from sse_asgi import (
    Broadcast,
    BroadcastClosedError,
    EventSourceResponse,
    MemoryBackend,
    ServerSentEvent,
    Subscription,
)
from sse_asgi.testing import connect

from .redis_server import RedisServer, redis_server

pytestmark = pytest.mark.anyio

Factory = Callable[..., Any]


@pytest.fixture(scope="session")
def redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with redis_server(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(params=["memory", "redis"])
def make_broadcast(
    request: pytest.FixtureRequest, anyio_backend: str
) -> Iterator[Callable[..., Broadcast]]:
    """Build a broadcast on the parametrized backend: history, max_age, buffer, overflow."""
    if request.param == "memory":

        def memory(history: int = 1000, max_age: float | None = None, **options: Any) -> Broadcast:
            return Broadcast(MemoryBackend(history=history, max_age=max_age), **options)

        yield memory
        return
    server: RedisServer = request.getfixturevalue("redis")
    from sse_asgi.redis import RedisBroadcast

    prefix = f"test-{uuid.uuid4().hex[:8]}:"  # every test gets its own streams

    def redis_broadcast(
        history: int = 1000, max_age: float | None = None, **options: Any
    ) -> Broadcast:
        return RedisBroadcast(
            server.url, prefix=prefix, history=history, max_age=max_age, **options
        )

    yield redis_broadcast


async def take(subscription: Subscription, count: int, within: float = 5) -> list[ServerSentEvent]:
    events = []
    with anyio.fail_after(within):
        async for event in subscription:
            events.append(event)
            if len(events) == count:
                break
    return events


async def test_publish_assigns_increasing_ids_per_topic(make_broadcast: Factory) -> None:
    async with make_broadcast() as broadcast, broadcast.subscribe("news") as subscription:
        ids = [await broadcast.publish("news", {"n": n}) for n in range(5)]
        await broadcast.publish("other", "not for us")
        events = await take(subscription, 5)
    assert [e.id for e in events] == ids
    keys = [broadcast.backend.order("news", i) for i in ids]
    assert keys == sorted(keys)
    assert len(set(keys)) == 5
    assert [e.data for e in events] == [{"n": n} for n in range(5)]
    assert events[0].encode() == f'data: {{"n":0}}\nid: {ids[0]}\n\n'.encode()


async def test_events_keep_their_fields(make_broadcast: Factory) -> None:
    async with make_broadcast() as broadcast, broadcast.subscribe("t") as subscription:
        await broadcast.publish(
            "t", ServerSentEvent(raw_data="a\nb", event="log", retry=1500, comment="c")
        )
        [event] = await take(subscription, 1)
    assert (event.raw_data, event.event, event.retry, event.comment) == ("a\nb", "log", 1500, "c")
    assert (
        event.encode()
        == f": c\nevent: log\ndata: a\ndata: b\nid: {event.id}\nretry: 1500\n\n".encode()
    )


async def test_publish_rejects_events_with_ids(make_broadcast: Factory) -> None:
    async with make_broadcast() as broadcast:
        with pytest.raises(ValueError, match="assigns event ids"):
            await broadcast.publish("t", ServerSentEvent(data=1, id="mine"))


async def test_replay_then_live_without_gap_or_duplicate(make_broadcast: Factory) -> None:
    """Subscribers resume from every possible position while events keep coming."""
    async with make_broadcast() as broadcast:
        published: list[str] = []

        async def publisher() -> None:
            for n in range(60):
                published.append(await broadcast.publish("feed", n))
                await anyio.sleep(0.002)

        results: dict[int, list[str]] = {}

        async def subscriber(resume_after: int) -> None:
            await eventually(lambda: len(published) > resume_after)
            last = published[resume_after]
            async with broadcast.subscribe("feed", last_event_id=last) as subscription:
                received = []
                with anyio.fail_after(10):
                    async for event in subscription:
                        received.append(event.id)
                        if event.data == 59:  # the last one
                            break
                results[resume_after] = received

        async with anyio.create_task_group() as tg:
            tg.start_soon(publisher)
            for resume_after in (0, 5, 17, 30, 44):
                tg.start_soon(subscriber, resume_after)
    for resume_after, received in results.items():
        assert received == published[resume_after + 1 :], resume_after


async def test_a_fresh_subscriber_gets_what_comes_after_it(make_broadcast: Factory) -> None:
    async with make_broadcast() as broadcast:
        await broadcast.publish("t", "before")
        async with broadcast.subscribe("t") as subscription:
            await broadcast.publish("t", "after")
            [event] = await take(subscription, 1)
    assert event.data == "after"


async def test_expired_last_event_id_gets_a_reset_event_then_live(make_broadcast: Factory) -> None:
    async with make_broadcast(history=3) as broadcast:
        first = await broadcast.publish("t", 0)
        for n in range(1, 10):  # past the history
            last = await broadcast.publish("t", n)
        async with broadcast.subscribe("t", last_event_id=first) as subscription:
            await broadcast.publish("t", "live")
            reset, live = await take(subscription, 2)
    assert reset.event == "reset"
    assert reset.data == {"reason": "expired", "last_event_id": first}
    assert reset.id == last  # the client goes on from the newest position
    assert live.data == "live"


async def test_replay_is_exact_at_the_history_boundary(make_broadcast: Factory) -> None:
    """The client's own last event was trimmed, nothing after it: a full replay, no reset.
    One more event trimmed, and it is a reset."""
    async with make_broadcast(history=3) as broadcast:
        ids = [await broadcast.publish("t", n) for n in range(4)]  # event 0 trimmed
        async with broadcast.subscribe("t", last_event_id=ids[0]) as subscription:
            assert [e.data for e in await take(subscription, 3)] == [1, 2, 3]
        await broadcast.publish("t", 4)  # event 1 trimmed too: ids[0] now lost events
        async with broadcast.subscribe("t", last_event_id=ids[0]) as subscription:
            [reset] = await take(subscription, 1)
        assert (reset.event, reset.data["reason"]) == ("reset", "expired")


@pytest.mark.parametrize("bogus", ["nonsense", "12", "1-2-3", "99999999999999-0"])
async def test_unknown_last_event_id_gets_a_reset_event(
    make_broadcast: Factory, bogus: str
) -> None:
    async with make_broadcast() as broadcast:
        await broadcast.publish("t", 1)
        async with broadcast.subscribe("t", last_event_id=bogus) as subscription:
            [reset] = await take(subscription, 1)
    assert reset.event == "reset"
    assert reset.data["reason"] == "unknown"


async def test_reset_event_type_is_configurable(make_broadcast: Factory) -> None:
    broadcast = make_broadcast(reset_event="resync")
    async with broadcast, broadcast.subscribe("t", last_event_id="nonsense") as subscription:
        [reset] = await take(subscription, 1)
    assert reset.event == "resync"


async def test_memory_ids_from_another_run_are_unknown() -> None:
    async with Broadcast() as first:
        old_id = await first.publish("t", "x")
    async with Broadcast() as second:
        await anyio.sleep(0.002)  # a different epoch
        await second.publish("t", "y")
        async with second.subscribe("t", last_event_id=old_id) as subscription:
            [reset] = await take(subscription, 1)
    assert reset.event == "reset"


async def test_max_age_limits_the_replay(make_broadcast: Factory) -> None:
    async with make_broadcast(max_age=0.3) as broadcast:
        old = await broadcast.publish("t", "old")
        await broadcast.publish("t", "older than max_age soon")
        await anyio.sleep(0.5)
        await broadcast.publish("t", "fresh")  # trims what is too old
        async with broadcast.subscribe("t", last_event_id=old) as subscription:
            [reset] = await take(subscription, 1)
    assert reset.event == "reset"
    assert reset.data["reason"] == "expired"


async def test_several_topics_with_composite_ids(make_broadcast: Factory) -> None:
    async with make_broadcast() as broadcast:
        async with broadcast.subscribe(["a", "b"]) as subscription:
            await broadcast.publish("a", "a1")
            await broadcast.publish("b", "b1")
            a1, b1 = await take(subscription, 2)
        assert [a1.data, b1.data] == ["a1", "b1"]
        # On the wire: exactly one id line, the composite one.
        assert b1.encode().count(b"\nid: ") == 1
        assert b1.encode() == f'data: "b1"\nid: {b1.id}\n\n'.encode()
        assert a1.id is not None
        assert b1.id is not None
        assert len(b1.id.split(",")) == 2
        assert b1.id.split(",")[0] == a1.id.split(",")[0]  # topic a's position carried on
        await broadcast.publish("a", "a2")
        await broadcast.publish("b", "b2")
        async with broadcast.subscribe(["a", "b"], last_event_id=b1.id) as subscription:
            missed = await take(subscription, 2)
        assert [e.data for e in missed] == ["a2", "b2"]
        async with broadcast.subscribe(["a", "b"], last_event_id=a1.id.split(",")[0]) as sub:
            [reset] = await take(sub, 1)  # one position for two topics: unknown
        assert reset.event == "reset"


async def test_filter_per_subscriber(make_broadcast: Factory) -> None:
    async with make_broadcast() as broadcast:
        mine = broadcast.subscribe("alerts", filter=lambda e: e.data["user"] == "ada")
        async with mine, broadcast.subscribe("alerts") as everything:
            for user in ("bob", "ada", "eve", "ada"):
                await broadcast.publish("alerts", {"user": user})
            ada = await take(mine, 2)
            all_four = await take(everything, 4)
    assert [e.data["user"] for e in ada] == ["ada", "ada"]
    assert len(all_four) == 4


async def test_a_slow_subscriber_is_disconnected_and_never_delays_anyone(
    make_broadcast: Factory,
) -> None:
    async with make_broadcast(buffer=10) as broadcast:
        slow = broadcast.subscribe("t")
        async with slow, broadcast.subscribe("t") as fast:
            await slow.__aenter__()
            started = time.monotonic()
            received: list[ServerSentEvent] = []
            async with anyio.create_task_group() as tg:

                async def read_fast() -> None:
                    received.extend(await take(fast, 100))

                tg.start_soon(read_fast)
                for n in range(100):
                    await broadcast.publish("t", n)
                    await (
                        anyio.lowlevel.checkpoint()
                    )  # the fast reader keeps up; the slow one never does
            assert time.monotonic() - started < 5
            assert [e.data for e in received] == list(range(100))
            # The slow one fell more than `buffer` behind: its stream ends.
            with anyio.fail_after(5):
                leftovers = [event async for event in slow]
            assert len(leftovers) <= 10
        assert broadcast.subscriber_count() == 0


async def test_drop_oldest_keeps_the_newest(make_broadcast: Factory) -> None:
    broadcast = make_broadcast(buffer=5, overflow="drop_oldest")
    async with broadcast, broadcast.subscribe("t") as subscription:
        for n in range(20):
            await broadcast.publish("t", n)
        await anyio.sleep(0.2)  # let Redis's reader deliver everything
        events = await take(subscription, 5)
    assert [e.data for e in events] == list(range(15, 20))


async def test_no_leaks_after_many_subscribe_disconnect_cycles(make_broadcast: Factory) -> None:
    async with make_broadcast() as broadcast:
        await broadcast.publish("t", 0)
        tasks_before = _task_count()
        for n in range(1000):
            async with broadcast.subscribe(["t", f"private:{n % 7}"]) as subscription:
                if n % 100 == 0:
                    await broadcast.publish("t", n)
                    await take(subscription, 1)
        assert broadcast.subscriber_count() == 0
        assert broadcast._subscribers == {}
        assert _task_count() <= tasks_before
        watched = getattr(broadcast.backend, "_watched", {})
        assert watched == {}


async def eventually(predicate: Callable[[], bool], within: float = 5) -> None:
    """Poll a condition nothing can be awaited for (a count), with a deadline."""
    for _ in range(int(within / 0.01)):
        if predicate():
            return
        await anyio.sleep(0.01)
    raise AssertionError("condition not met in time")


def _task_count() -> int:
    try:
        return len(asyncio.all_tasks())
    except RuntimeError:  # trio
        import trio

        return int(trio.lowlevel.current_statistics().tasks_living)


async def test_close_ends_every_subscription(make_broadcast: Factory) -> None:
    broadcast = make_broadcast()
    async with broadcast:
        ended = []

        async def listen() -> None:
            async with broadcast.subscribe("t") as subscription:
                async for _ in subscription:
                    pass
            ended.append(True)

        async with anyio.create_task_group() as tg:
            for _ in range(3):
                tg.start_soon(listen)
            await eventually(lambda: broadcast.subscriber_count("t") == 3)
            await broadcast.aclose()
        assert ended == [True, True, True]
    with pytest.raises(BroadcastClosedError):
        await broadcast.publish("t", 1)


async def test_as_the_content_of_an_event_source_response(make_broadcast: Factory) -> None:
    async with make_broadcast() as broadcast:

        async def app(scope: Any, receive: Any, send: Any) -> None:
            events = broadcast.subscribe("news", last_event_id=None)
            await EventSourceResponse(events, first_event_grace=0)(scope, receive, send)

        async with connect(app) as client:
            await eventually(lambda: broadcast.subscriber_count("news") == 1)
            await broadcast.publish("news", {"headline": "hello"})
            [event] = await client.events(1)
            assert event.json() == {"headline": "hello"}
        # The client left: the response closed the subscription.
        assert broadcast.subscriber_count() == 0


async def test_invalid_options() -> None:
    with pytest.raises(ValueError, match="buffer"):
        Broadcast(buffer=0)
    with pytest.raises(ValueError, match="overflow"):
        Broadcast(overflow="block")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="history"):
        MemoryBackend(history=-1)
    with pytest.raises(ValueError, match="distinct"):
        Broadcast().subscribe(["a", "a"])


# -- Redis only ----------------------------------------------------------------------------


@asynccontextmanager
async def redis_broadcast(server: RedisServer, **options: Any) -> AsyncIterator[Broadcast]:
    from sse_asgi.redis import RedisBroadcast

    async with RedisBroadcast(server.url, prefix=f"t-{uuid.uuid4().hex[:8]}:", **options) as b:
        yield b


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_redis_needs_async_with(redis: RedisServer) -> None:
    from sse_asgi.redis import RedisBroadcast

    with pytest.raises(RuntimeError, match="async with broadcast"):
        await RedisBroadcast(redis.url).publish("t", 1)


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_redis_restart_mid_stream(tmp_path: Path) -> None:
    """Kill Redis under a live subscription: publish fails loudly, then everything resumes."""
    from sse_asgi import BroadcastUnavailableError

    with redis_server(tmp_path) as server:
        async with redis_broadcast(server) as broadcast:
            async with broadcast.subscribe("t") as subscription:
                before = await broadcast.publish("t", "before")
                assert [e.id for e in await take(subscription, 1)] == [before]
                server.stop()
                with pytest.raises(BroadcastUnavailableError, match="cannot publish"):
                    await broadcast.publish("t", "while down")
                await anyio.sleep(0.3)  # the reader is retrying meanwhile
                await anyio.to_thread.run_sync(server.start)  # same port, same data (AOF)
                with anyio.fail_after(10):
                    while True:
                        try:
                            after = await broadcast.publish("t", "after")
                            break
                        except BroadcastUnavailableError:
                            await anyio.sleep(0.05)
                [event] = await take(subscription, 1, within=10)
                assert (event.id, event.data) == (after, "after")
            # Resuming from before the outage replays what Redis kept.
            async with broadcast.subscribe("t", last_event_id=before) as subscription:
                assert [e.data for e in await take(subscription, 1)] == ["after"]


async def test_delete_topic_forgets_its_history(make_broadcast: Factory) -> None:
    async with make_broadcast() as broadcast:
        first = await broadcast.publish("job:1", "step 1")
        await broadcast.publish("job:1", "step 2")
        await broadcast.delete_topic("job:1")
        async with broadcast.subscribe("job:1", last_event_id=first) as subscription:
            [reset] = await take(subscription, 1)
    assert reset.event == "reset"


async def test_subscriber_count_means_ready(make_broadcast: Factory) -> None:
    """Once counted, a subscriber gets every later event -- even one published at once."""
    async with make_broadcast() as broadcast:
        for n in range(20):
            got: list[ServerSentEvent] = []

            async def listen(topic: str, got: list[ServerSentEvent] = got) -> None:
                # Iterated without `async with`, as EventSourceResponse does.
                subscription = broadcast.subscribe(topic)
                try:
                    got.append(await subscription.__anext__())
                finally:
                    await subscription.aclose()

            async with anyio.create_task_group() as tg:
                tg.start_soon(listen, f"ready:{n}")
                await eventually(lambda n=n: broadcast.subscriber_count(f"ready:{n}") == 1)  # type: ignore[misc]
                await broadcast.publish(f"ready:{n}", n)
            assert [e.data for e in got] == [n]


async def test_a_timed_out_wait_loses_nothing(make_broadcast: Factory) -> None:
    """Waits cut short by a timeout (or any cancellation) leave later events in place."""
    async with make_broadcast() as broadcast, broadcast.subscribe("t") as subscription:
        for n in range(3):
            with anyio.move_on_after(0.01) as scope:
                await subscription.__anext__()
            assert scope.cancelled_caught
            await broadcast.publish("t", n)
            [event] = await take(subscription, 1)
            assert event.data == n


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_next_is_awaitable_the_asyncio_ways(make_broadcast: Factory) -> None:
    async with make_broadcast() as broadcast, broadcast.subscribe("t") as subscription:
        pending = asyncio.ensure_future(subscription.__anext__())
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(pending), 0.01)
        await broadcast.publish("t", 1)
        assert (await pending).data == 1
        await broadcast.publish("t", 2)
        assert (await asyncio.wait_for(anext(subscription), 5)).data == 2


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_waiter_woken_then_cancelled_leaves_the_event_queued() -> None:
    async with Broadcast() as broadcast, broadcast.subscribe("t") as subscription:
        waiter = asyncio.ensure_future(subscription.__anext__())
        await asyncio.sleep(0.01)  # it waits
        await broadcast.publish("t", "raced")  # wakes it...
        assert not waiter.done()  # ...but it has not run yet
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        [event] = await take(subscription, 1)
    assert event.data == "raced"
