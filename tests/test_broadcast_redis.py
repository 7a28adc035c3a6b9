"""The Redis backend against what only Redis does: restarts, lost data, a lagging reader.

Each test that restarts Redis runs its own redis-server (on a free port,
with AOF persistence unless it wipes the data to restart it empty).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import pytest

from sse_asgi import Broadcast, BroadcastUnavailableError, ServerSentEvent

from . import broadcast_support
from .broadcast_support import key_of, registered, take
from .redis_server import RedisServer, redis_server
from .servers import free_port

if TYPE_CHECKING:
    from sse_asgi.redis import RedisBackend

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # redis-py's client


redis = broadcast_support.redis


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own, to stop, wipe and restart."""
    with redis_server(tmp_path) as server:
        yield server


@asynccontextmanager
async def redis_broadcast(server: RedisServer, **options: Any) -> AsyncIterator[Broadcast]:
    """A broadcast on ``server``; options of RedisBackend's and Broadcast's."""
    from sse_asgi.redis import RedisBackend

    backend_options = {
        name: options.pop(name)
        for name in ("prefix", "history", "max_age", "max_bytes", "live_backlog", "block")
        if name in options
    }
    backend_options.setdefault("prefix", f"t-{uuid.uuid4().hex[:8]}:")
    async with Broadcast(RedisBackend(server.url, **backend_options), **options) as broadcast:
        yield broadcast


async def publish_when_up(broadcast: Broadcast, data: Any) -> str:
    """Publish, retrying while Redis is not reachable yet."""
    with anyio.fail_after(10):
        while True:
            try:
                return await broadcast.publish("t", data)
            except BroadcastUnavailableError:
                await anyio.sleep(0.05)


async def redis_command(server: RedisServer, *args: Any) -> Any:
    from redis.asyncio import Redis

    client = Redis.from_url(server.url)
    try:
        return await client.execute_command(*args)  # type: ignore[no-untyped-call]
    finally:
        await client.aclose()


async def test_redis_restart_mid_stream(own_redis: RedisServer) -> None:
    """Kill Redis under a live subscription: publish fails loudly, then everything resumes."""
    async with redis_broadcast(own_redis) as broadcast:
        async with broadcast.subscribe("t") as subscription:
            before = await broadcast.publish("t", "before")
            assert [e.id for e in await take(subscription, 1)] == [before]
            own_redis.stop()
            with anyio.fail_after(2):  # at once, not after retries with backoff
                with pytest.raises(BroadcastUnavailableError, match="cannot publish"):
                    await broadcast.publish("t", "while down")
            await anyio.to_thread.run_sync(own_redis.start)  # same port, same data (AOF)
            after = await publish_when_up(broadcast, "after")
            [event] = await take(subscription, 1, within=10)
            assert (event.id, event.data) == (after, "after")
        # Resuming from before the outage replays what Redis kept.
        async with broadcast.subscribe("t", last_event_id=before) as subscription:
            assert [e.data for e in await take(subscription, 1)] == ["after"]


async def test_a_stale_pooled_connection_is_retried_once(own_redis: RedisServer) -> None:
    """Redis restarted while the pool kept a connection: the next publish just works."""
    async with redis_broadcast(own_redis) as broadcast:
        await broadcast.publish("t", "before")
        await anyio.to_thread.run_sync(own_redis.stop)
        await anyio.to_thread.run_sync(own_redis.start)
        await broadcast.publish("t", "after")  # no BroadcastUnavailableError
        first = await broadcast.publish("t", "again")
        async with broadcast.subscribe("t", last_event_id=first) as subscription:
            second = await broadcast.publish("t", "live")
            assert [e.id for e in await take(subscription, 1)] == [second]


async def test_redis_restarted_empty(own_redis: RedisServer) -> None:
    """Redis comes back without its data: old ids get a reset, live subscribers too, and
    no id is issued twice."""
    async with redis_broadcast(own_redis) as broadcast:
        async with broadcast.subscribe("t") as live:
            before = [await broadcast.publish("t", n) for n in range(5)]
            assert [e.id for e in await take(live, 5)] == before
            await anyio.to_thread.run_sync(own_redis.stop)
            own_redis.wipe()
            await anyio.to_thread.run_sync(own_redis.start)  # same port, nothing in it
            # The live subscriber is told: what it missed (if anything) is gone.
            [reset] = await take(live, 1, within=10)
            assert (reset.event, reset.data) == (
                "reset",
                {"reason": "unknown", "last_event_id": before[-1]},
            )
            after = [await publish_when_up(broadcast, n) for n in range(5, 10)]
            assert [e.id for e in await take(live, 5)] == after
        assert not set(before) & set(after)
        for old in (before[0], before[-1]):
            async with broadcast.subscribe("t", last_event_id=old) as subscription:
                [reset] = await take(subscription, 1)
            assert (reset.event, reset.data["reason"]) == ("reset", "unknown")
        async with broadcast.subscribe("t", last_event_id=after[0]) as subscription:
            assert [e.id for e in await take(subscription, 4)] == after[1:]


@pytest.mark.parametrize("publish_after", [True, False])
async def test_flushall(redis: RedisServer, publish_after: bool) -> None:
    """Redis loses its data without a restart: the reader notices, with or without a new
    event (within `block` seconds)."""
    async with redis_broadcast(redis, block=0.2) as broadcast:
        async with broadcast.subscribe("t") as live:
            before = await broadcast.publish("t", "before")
            await take(live, 1)
            await redis_command(redis, "FLUSHALL")
            if publish_after:
                await broadcast.publish("t", "after the flush")
            [reset] = await take(live, 1)
            assert (reset.event, reset.data["reason"]) == ("reset", "unknown")
            after = await broadcast.publish("t", "live again")
            [event] = await take(live, 1)
            assert event.id == after
        async with broadcast.subscribe("t", last_event_id=before) as subscription:
            [reset] = await take(subscription, 1)
        assert (reset.event, reset.data["reason"]) == ("reset", "unknown")


def hold_reader(backend: Any) -> anyio.Event:
    """Hold a RedisBackend's reader before its next read of the live stream, until the
    returned event is set: its head stays where it is."""
    gate = anyio.Event()
    follow = backend._follow

    async def gated(reader: Any) -> None:
        await gate.wait()
        await follow(reader)

    backend._follow = gated
    return gate


def trace_reads(backend: Any) -> anyio.Event:
    """An event set once a read of the backend's history has returned."""
    done = anyio.Event()
    read = backend.read

    async def traced(*args: Any, **kwargs: Any) -> Any:
        replay = await read(*args, **kwargs)
        done.set()
        return replay

    backend.read = traced
    return done


@asynccontextmanager
async def lagging_worker(
    server: RedisServer, prefix: str, **options: Any
) -> AsyncIterator[tuple[Broadcast, RedisBackend, anyio.Event]]:
    """A worker whose reader has its place -- before any event -- and then is held:
    yields (broadcast, backend, gate); setting the gate lets the reader go on."""
    from sse_asgi.redis import RedisBackend

    backend = RedisBackend(server.url, prefix=prefix, **options)
    gate = hold_reader(backend)
    async with Broadcast(backend) as broadcast:
        await backend.ready()
        yield broadcast, backend, gate


@pytest.mark.parametrize("history", [1000, 1])
async def test_resuming_on_a_worker_whose_reader_lags(redis: RedisServer, history: int) -> None:
    """A client resumes on worker B after an id from worker A that B's reader has not
    read yet: it gets what followed its id (or, if that was trimmed, the reset with
    the newest id), then live events -- never again an event it had."""
    prefix = f"t-{uuid.uuid4().hex[:8]}:"
    async with (
        redis_broadcast(redis, prefix=prefix, history=history) as a,
        lagging_worker(redis, prefix, history=history) as (b, lagging, gate),
    ):
        seen = await a.publish("t", "seen")
        missed = [await a.publish("t", n) for n in range(2)]
        read_done = trace_reads(lagging)
        events: list[ServerSentEvent] = []
        subscription = b.subscribe("t", last_event_id=seen)
        async with subscription, anyio.create_task_group() as tg:

            async def consume() -> None:
                events.extend(await take(subscription, 3 if history > 1 else 2, within=10))

            tg.start_soon(consume)
            await read_done.wait()  # it read the history while B's head was before `seen`
            head = lagging.head()
            assert head is not None
            assert head.key < key_of(b, seen)
            gate.set()
            later = await a.publish("t", "later")
    if history > 1:
        assert [e.id for e in events] == [*missed, later]
    else:  # `missed[0]` was trimmed
        reset, live = events
        assert (reset.event, reset.data["reason"]) == ("reset", "expired")
        assert (reset.id, live.id) == (missed[-1], later)


async def test_a_resumer_waiting_for_a_lagging_reader_learns_of_lost_data(
    redis: RedisServer,
) -> None:
    """Redis loses its data while a resumer waits for its worker's reader: it gets the
    page it had read, then the reset."""
    prefix = f"t-{uuid.uuid4().hex[:8]}:"
    async with (
        redis_broadcast(redis, prefix=prefix) as a,
        lagging_worker(redis, prefix, block=0.2) as (b, lagging, gate),
    ):
        seen = await a.publish("t", "seen")
        missed = await a.publish("t", "missed")
        read_done = trace_reads(lagging)
        events: list[ServerSentEvent] = []
        subscription = b.subscribe("t", last_event_id=seen)
        async with subscription, anyio.create_task_group() as tg:

            async def consume() -> None:
                events.extend(await take(subscription, 2, within=10))

            tg.start_soon(consume)
            await read_done.wait()
            await redis_command(redis, "FLUSHALL")
            gate.set()
        assert events[0].id == missed
        assert (events[1].event, events[1].data["reason"]) == ("reset", "unknown")


async def test_a_resumer_waiting_for_a_lagging_reader_ends_with_the_broadcast(
    redis: RedisServer,
) -> None:
    """The broadcast closes while a resumer waits for its held reader: its stream ends."""
    prefix = f"t-{uuid.uuid4().hex[:8]}:"
    async with (
        redis_broadcast(redis, prefix=prefix) as a,
        lagging_worker(redis, prefix) as (b, lagging, _),
    ):
        seen = await a.publish("t", "seen")
        await a.publish("t", "missed")
        read_done = trace_reads(lagging)
        subscription = b.subscribe("t", last_event_id=seen)
        async with subscription, anyio.create_task_group() as tg:
            events: list[ServerSentEvent] = []

            async def consume() -> None:
                with anyio.fail_after(10):
                    events.extend([event async for event in subscription])

            tg.start_soon(consume)
            await read_done.wait()
            await b.aclose()  # its reader still held
        assert events == []
        assert registered(b) == 0


@pytest.mark.parametrize("history", [1000, 10])
async def test_a_reader_behind_the_live_streams_trim_catches_up(
    redis: RedisServer, history: int
) -> None:
    """The reader falls further behind than `live_backlog`: its subscribers catch up from
    the topic streams -- or, if those lost events too, get a reset. Never a silent gap."""
    from sse_asgi.redis import RedisBackend

    async with redis_broadcast(redis, live_backlog=5, history=history) as broadcast:
        backend = broadcast.backend
        assert isinstance(backend, RedisBackend)
        async with broadcast.subscribe("t") as live, broadcast.subscribe("other") as other:
            # Hold the reader between two reads (it is blocked in one now).
            gate = hold_reader(backend)
            await redis_command(
                redis, "CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"
            )  # the reader reconnects
            ids = [await broadcast.publish("t", n) for n in range(500)]
            await broadcast.publish("other", "other")
            length = await redis_command(redis, "XLEN", f"{backend.prefix}live")
            assert length < 500  # trimmed before the reader read it
            gate.set()
            if history == 1000:
                events = await take(live, 500, within=20)
                assert [e.id for e in events] == ids
            else:
                [reset] = await take(live, 1, within=20)
                assert (reset.event, reset.data["reason"]) == ("reset", "expired")
            [event] = await take(other, 1)
            assert event.data == "other"
            later = await broadcast.publish("t", "later")
            [event] = await take(live, 1)
            assert event.id == later


async def test_the_reader_does_one_constant_read_whatever_is_watched(redis: RedisServer) -> None:
    """2,000 topics watched: the reader's blocking read is the same command, and
    subscribing sends nothing to Redis."""
    async with redis_broadcast(redis, block=60) as broadcast:
        await broadcast.publish("busy", 0)

        async def reader_command() -> tuple[str, str]:
            """The reader's blocked command and the memory its arguments take."""
            with anyio.fail_after(5):
                while True:
                    listing = (await redis_command(redis, "CLIENT", "LIST")).decode()
                    for line in listing.splitlines():
                        fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
                        if fields.get("name") == "sse-asgi-reader" and fields["cmd"] == "xread":
                            return fields["cmd"], fields["argv-mem"]
                    await anyio.sleep(0.01)

        from redis.asyncio import Redis

        stats = Redis.from_url(redis.url)  # one connection: its setup is not counted
        async with broadcast.subscribe("busy"), stats:
            one = await reader_command()
            stats_before = await stats.info("commandstats")
            subscriptions = [broadcast.subscribe(f"user:{n}") for n in range(2000)]
            for subscription in subscriptions:
                await subscription.__aenter__()
            stats_after = await stats.info("commandstats")
            assert await reader_command() == one
            for subscription in subscriptions:
                await subscription.aclose()

    def calls(stats: Any) -> dict[str, int]:
        text = stats.decode() if isinstance(stats, bytes) else str(stats)
        if not isinstance(stats, (bytes, str)):
            return {name: int(value["calls"]) for name, value in stats.items()}
        return {
            line.split(":")[0]: int(line.split("calls=")[1].split(",")[0])
            for line in text.splitlines()
            if line.startswith("cmdstat_")
        }

    before, after = calls(stats_before), calls(stats_after)
    changed = {name for name in after if after[name] != before.get(name)}
    assert changed <= {"cmdstat_info", "info"}  # only our own INFO


async def test_entries_are_stored_as_named_fields(redis: RedisServer) -> None:
    async with redis_broadcast(redis) as broadcast:
        backend: Any = broadcast.backend
        await broadcast.publish("t", ServerSentEvent(data={"a": 1}, event="e", retry=5))
        await broadcast.publish("t", ServerSentEvent(raw_data="line", comment="c"))
        stream = await redis_command(redis, "XRANGE", f"{backend.prefix}stream:t", "-", "+")
        live = await redis_command(redis, "XRANGE", f"{backend.prefix}live", "-", "+")

    def names(entry: Any) -> dict[str, str]:
        return {name.decode(): value.decode() for name, value in entry[1].items()}

    assert names(stream[0]) == {
        "previous_id": "0-0",
        "data": '{"a":1}',
        "event": "e",
        "retry": "5",
    }
    assert names(stream[1]) == {
        "previous_id": stream[0][0].decode(),
        "raw_data": "line",
        "comment": "c",
    }
    assert set(names(live[1])) == {"topic", "epoch", "previous_id", "raw_data", "comment"}


async def test_two_workers_share_events_and_ids(redis: RedisServer) -> None:
    prefix = f"t-{uuid.uuid4().hex[:8]}:"
    async with (
        redis_broadcast(redis, prefix=prefix) as a,
        redis_broadcast(redis, prefix=prefix) as b,
        b.subscribe(["t", "u"]) as on_b,
    ):
        first = await a.publish("t", "from a")
        second = await b.publish("u", "from b")
        assert [e.id for e in await take(on_b, 2)] == [first, second]
        async with a.subscribe(["t", "u"], last_event_id=first) as on_a:
            assert [e.id for e in await take(on_a, 1)] == [second]


async def test_subscribing_while_redis_is_down_fails_and_leaves_nothing() -> None:
    from sse_asgi.redis import RedisBroadcast

    async with RedisBroadcast(f"redis://127.0.0.1:{free_port()}/0") as broadcast:
        for resume in (None, "0123456789abcdef-1-0"):
            with anyio.fail_after(5), pytest.raises(BroadcastUnavailableError):
                async with broadcast.subscribe("t", last_event_id=resume):
                    pass
            assert registered(broadcast) == 0
        with pytest.raises(BroadcastUnavailableError):
            await broadcast.publish("t", 1)


async def test_a_subscriber_after_redis_came_back_does_not_wait_out_the_back_off(
    own_redis: RedisServer,
) -> None:
    """Redis was down when the worker started: its reader waits 30 s between attempts.
    A subscriber while it is down fails at once (a fresh attempt says so, not an old
    one); Redis back, the next subscriber starts at once (the reader retries for it)."""
    from sse_asgi.redis import RedisBackend

    await anyio.to_thread.run_sync(own_redis.stop)
    backend = RedisBackend(own_redis.url, reconnect_delays=(30.0, 30.0))
    async with Broadcast(backend) as broadcast:
        with anyio.fail_after(5), pytest.raises(BroadcastUnavailableError):
            async with broadcast.subscribe("t"):
                pass
        await anyio.to_thread.run_sync(own_redis.start)
        with anyio.fail_after(5):
            async with broadcast.subscribe("t") as subscription:
                live = await broadcast.publish("t", "live")
                assert [e.id for e in await take(subscription, 1)] == [live]


async def test_redis_down_during_a_replay_ends_the_subscription(own_redis: RedisServer) -> None:
    async with redis_broadcast(own_redis) as broadcast:
        first = await broadcast.publish("t", 0)
        await broadcast.publish("t", 1)
        subscription = broadcast.subscribe("t", last_event_id=first)
        await subscription.__aenter__()  # no IO: it reads as its client asks
        assert registered(broadcast) == 1
        await anyio.to_thread.run_sync(own_redis.stop)
        with anyio.fail_after(5), pytest.raises(BroadcastUnavailableError, match="cannot read"):
            await subscription.__anext__()  # iterated bare: nobody calls aclose()
        assert registered(broadcast) == 0


async def test_a_replay_cancelled_mid_read_loses_nothing(redis: RedisServer) -> None:
    async with redis_broadcast(redis) as broadcast:
        first = await broadcast.publish("t", 0)
        ids = [await broadcast.publish("t", n) for n in range(1, 10)]
        async with broadcast.subscribe("t", last_event_id=first) as subscription:
            await redis_command(redis, "CLIENT", "PAUSE", "300", "ALL")  # the read waits
            with anyio.move_on_after(0.1) as scope:
                await subscription.__anext__()
            assert scope.cancelled_caught
            assert registered(broadcast) == 1
            assert [e.id for e in await take(subscription, 9)] == ids
        assert registered(broadcast) == 0


async def test_an_entry_not_ours_in_the_live_stream_is_skipped(redis: RedisServer) -> None:
    async with redis_broadcast(redis) as broadcast, broadcast.subscribe("t") as subscription:
        backend: Any = broadcast.backend
        live = f"{backend.prefix}live"
        await redis_command(redis, "XADD", live, "*", "junk", "1")
        await redis_command(
            redis, "XADD", live, "*", "epoch", b"\xff", "previous_id", "0-0", "topic", "t"
        )
        event_id = await broadcast.publish("t", "ours")
        [event] = await take(subscription, 1)
        assert event.id == event_id


def test_redis_needs_async_with(redis: RedisServer) -> None:
    from sse_asgi.redis import RedisBroadcast

    async def publish() -> None:
        await RedisBroadcast(redis.url).publish("t", 1)

    with pytest.raises(RuntimeError, match="async with broadcast"):
        anyio.run(publish)


def test_invalid_redis_options() -> None:
    from sse_asgi.redis import RedisBackend

    for options in (
        {"history": 0},
        {"max_age": 0},
        {"max_bytes": 0},
        {"live_backlog": 0},
    ):
        with pytest.raises(ValueError, match=next(iter(options))):
            RedisBackend(**options)  # type: ignore[arg-type]


async def test_a_subscriber_after_a_publish_waits_for_the_reader_to_pass_it(
    redis: RedisServer,
) -> None:
    """This worker published an event its held reader has not read: a fresh subscriber
    starts once the reader has passed it, and gets only what comes after."""
    prefix = f"t-{uuid.uuid4().hex[:8]}:"
    async with lagging_worker(redis, prefix) as (broadcast, lagging, gate):
        before = await broadcast.publish("t", "before")
        head = lagging.head()
        assert head is not None
        assert head.key < key_of(broadcast, before)
        subscription = broadcast.subscribe("t")
        async with anyio.create_task_group() as tg:
            tg.start_soon(subscription.__aenter__)
            await anyio.sleep(0.05)
            assert registered(broadcast) == 0  # it waits for the reader
            gate.set()
        after = await broadcast.publish("t", "after")
        [event] = await take(subscription, 1)
        await subscription.aclose()
    assert event.id == after


async def test_a_subscriber_does_not_wait_long_for_a_stuck_reader(
    redis: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reader cannot pass what this worker published (held here; cut off from
    Redis in life): a fresh subscriber starts anyway after CATCH_UP_WAIT seconds, at
    the head -- it may also get the events published just before it came."""
    from sse_asgi.broadcast import _redis

    monkeypatch.setattr(_redis, "CATCH_UP_WAIT", 0.2)
    prefix = f"t-{uuid.uuid4().hex[:8]}:"
    async with lagging_worker(redis, prefix) as (broadcast, _, gate):
        before = await broadcast.publish("t", "before")
        with anyio.fail_after(2):
            async with broadcast.subscribe("t") as subscription:
                gate.set()
                after = await broadcast.publish("t", "after")
                events = await take(subscription, 2)
    assert [e.id for e in events] == [before, after]
