"""Broadcast: one suite, run against the memory backend and a real Redis.

Every case of issue #11 runs on both backends: hostile ids, start-up that
fails leaving nothing registered, generations (no id reused, no silent gap),
replay streamed a page at a time, retention (history, max_age on idle
topics, max_bytes). Redis-only failures (restarts, data loss, a lagging
reader) are in test_broadcast_redis.py; the memory backend's expiry with
fake time in test_broadcast_memory.py; random sequences in
test_broadcast_properties.py.
"""

from __future__ import annotations

import asyncio
import weakref
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
    last_event_id,
)
from sse_asgi._suspension import counts_suspensions, first_step, resume
from sse_asgi.broadcast._fan_out import WAKE_BATCH
from sse_asgi.testing import connect

from . import broadcast_support
from .broadcast_support import (
    Factory,
    eventually,
    key_of,
    registered,
    take,
    take_until,
)

pytestmark = pytest.mark.anyio

make_broadcast = broadcast_support.make_broadcast
redis = broadcast_support.redis


# -- ids, fields, ordering ------------------------------------------------------------------


async def test_publish_assigns_increasing_ids_per_topic(make_broadcast: Factory) -> None:
    async with make_broadcast() as broadcast, broadcast.subscribe("news") as subscription:
        ids = [await broadcast.publish("news", {"n": n}) for n in range(5)]
        await broadcast.publish("other", "not for us")
        events = await take(subscription, 5)
    assert [e.id for e in events] == ids
    keys = [key_of(broadcast, i) for i in ids]
    assert keys == sorted(keys)
    assert len(set(keys)) == 5
    assert [e.data for e in events] == [{"n": n} for n in range(5)]
    assert events[0].encode() == f'data: {{"n":0}}\nid: {ids[0]}\n\n'.encode()


async def test_events_keep_their_fields(make_broadcast: Factory) -> None:
    async with make_broadcast() as broadcast, broadcast.subscribe("t") as subscription:
        await broadcast.publish(
            "t", ServerSentEvent(raw_data="a\nb", event="log", retry=1500, comment="c")
        )
        await broadcast.publish(
            "t", ServerSentEvent(data={"é": [1, 2.5, None, "x\ny"]}, event="json", comment="d")
        )
        event, json_event = await take(subscription, 2)
    assert (event.raw_data, event.event, event.retry, event.comment) == ("a\nb", "log", 1500, "c")
    assert (
        event.encode()
        == f": c\nevent: log\ndata: a\ndata: b\nid: {event.id}\nretry: 1500\n\n".encode()
    )
    assert json_event.data == {"é": [1, 2.5, None, "x\ny"]}
    assert json_event.raw_data is None
    expected = ServerSentEvent(
        data={"é": [1, 2.5, None, "x\ny"]}, event="json", comment="d", id=json_event.id
    )
    assert json_event.encode() == expected.encode()


async def test_publish_rejects_events_with_ids(make_broadcast: Factory) -> None:
    async with make_broadcast() as broadcast:
        with pytest.raises(ValueError, match="assigns event ids"):
            await broadcast.publish("t", ServerSentEvent(data=1, id="mine"))


async def test_a_fresh_subscriber_gets_what_comes_after_it(make_broadcast: Factory) -> None:
    async with make_broadcast() as broadcast:
        await broadcast.publish("t", "before")
        async with broadcast.subscribe("t") as subscription:
            await broadcast.publish("t", "after")
            [event] = await take(subscription, 1)
    assert event.data == "after"


async def test_several_topics_merge_in_publish_order_with_one_id(
    make_broadcast: Factory,
) -> None:
    async with make_broadcast() as broadcast:
        async with broadcast.subscribe(["a", "b"]) as subscription:
            a1 = await broadcast.publish("a", "a1")
            b1 = await broadcast.publish("b", "b1")
            events = await take(subscription, 2)
        assert [(e.data, e.id) for e in events] == [("a1", a1), ("b1", b1)]
        # On the wire: exactly one id line, the event's own id, whatever the topics.
        assert events[1].encode() == f'data: "b1"\nid: {b1}\n\n'.encode()
        published = []
        for n in range(150):  # more than a page of history, interleaved
            topic = "abc"[n % 3]
            published.append((topic, n, await broadcast.publish(topic, n)))
        async with broadcast.subscribe(["a", "b"], last_event_id=b1) as subscription:
            missed = await take(subscription, 100)
        expected = [(n, event_id) for topic, n, event_id in published if topic != "c"]
        assert [(e.data, e.id) for e in missed] == expected


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


# -- replay ------------------------------------------------------------------------------------


@pytest.mark.parametrize("buffer", [256, 4])
async def test_replay_then_live_without_gap_or_duplicate(
    make_broadcast: Factory, buffer: int
) -> None:
    """Subscribers resume from every possible position while events keep coming, and
    reconnect with their last id whenever they fall `buffer` behind (as browsers do):
    with a buffer of 4 they read the history a page at a time, their live queue
    overflows meanwhile, and they are disconnected again and again."""
    async with make_broadcast(buffer=buffer) as broadcast:
        published: list[str] = []

        async def publisher() -> None:
            for n in range(120):
                published.append(await broadcast.publish("feed", n))
                if n % 4 == 0:
                    await anyio.sleep(0.001)

        results: dict[int, list[str]] = {}

        async def subscriber(resume_after: int) -> None:
            await eventually(lambda: len(published) > resume_after)
            received = [published[resume_after]]
            finished = False
            with anyio.fail_after(20):
                while not finished:  # reconnect from the last id, as a browser does
                    subscription = broadcast.subscribe("feed", last_event_id=received[-1])
                    async with subscription:
                        async for event in subscription:
                            assert event.event != "reset"
                            received.append(event.id)  # type: ignore[arg-type]
                            # The last one (perhaps before its publish() returned)
                            if event.data == 119:
                                finished = True
                                break
                            if len(received) % 8 == 0:
                                await anyio.sleep(0.001)  # a slowish reader
            results[resume_after] = received[1:]

        async with anyio.create_task_group() as tg:
            tg.start_soon(publisher)
            for resume_after in (0, 5, 17, 30, 44, 90):
                tg.start_soon(subscriber, resume_after)
        assert registered(broadcast) == 0
    for resume_after, received in results.items():
        assert received == published[resume_after + 1 :], resume_after


async def test_expired_last_event_id_gets_a_reset_event_then_live(make_broadcast: Factory) -> None:
    async with make_broadcast(history=3) as broadcast:
        first = await broadcast.publish("t", 0)
        for n in range(1, 10):  # past the history
            last = await broadcast.publish("t", n)
        async with broadcast.subscribe("t", last_event_id=first) as subscription:
            [reset] = await take(subscription, 1)
            await broadcast.publish("t", "live")
            [live] = await take(subscription, 1)
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


async def test_the_position_before_any_event_resumes_like_any_other(
    make_broadcast: Factory,
) -> None:
    """A reset sent before anything was published carries the head before the first
    event (`<epoch>-0`, on Redis `<epoch>-0-0`): a client resuming from it gets every
    event of its topics, no reset."""
    async with make_broadcast() as broadcast:
        async with broadcast.subscribe("t", last_event_id="from another app") as subscription:
            [reset] = await take(subscription, 1)
        assert (reset.event, reset.data["reason"]) == ("reset", "unknown")
        assert reset.id is not None
        assert reset.id.endswith("-0")
        ids = [await broadcast.publish(topic, topic) for topic in ("t", "other", "t")]
        async with broadcast.subscribe(["t", "empty"], last_event_id=reset.id) as subscription:
            assert [e.id for e in await take(subscription, 2)] == [ids[0], ids[2]]
            live = await broadcast.publish("empty", "live")
            assert [e.id for e in await take(subscription, 1)] == [live]


async def test_a_resumer_that_does_not_read_holds_one_page(make_broadcast: Factory) -> None:
    """1,000 retained events of 20 KiB behind a client's id: it holds a page, not the history."""
    async with make_broadcast(history=2000, buffer=256) as broadcast:
        first = await broadcast.publish("t", "first")
        for n in range(1000):
            await broadcast.publish("t", f"{n:06d}" + "x" * 20_000)
        async with broadcast.subscribe("t", last_event_id=first) as stalled:
            [event] = await take(stalled, 1)
            assert event.data.startswith("000000")
            assert held(stalled) < 64  # one page (64 events), minus the one taken
            for _ in range(300):  # live events meanwhile: bounded by `buffer`
                last = await broadcast.publish("t", "live")
            await delivered(broadcast, last)
            assert held(stalled) <= 256
            rest = await take(stalled, 999 + 300, within=30)
    datas = [e.data for e in [event, *rest]]
    assert datas[:1000] == [f"{n:06d}" + "x" * 20_000 for n in range(1000)]
    assert datas[1000:] == ["live"] * 300


def held(subscription: Subscription) -> int:
    """Entries a subscription holds: its queue, and what it keeps while behind."""
    return len(subscription._queue) + len(subscription._pending or ())


async def delivered(broadcast: Broadcast, event_id: str) -> None:
    """Wait until this process has delivered ``event_id`` (Redis's reader has read it)."""
    position = broadcast.backend.parse(event_id)
    assert position is not None
    with anyio.fail_after(5):
        await broadcast.backend.delivered(position)


async def test_a_page_holds_at_most_256_kib(make_broadcast: Factory) -> None:
    async with make_broadcast(history=100) as broadcast:
        first = await broadcast.publish("t", "first")
        for n in range(40):
            await broadcast.publish("t", f"{n}" + "x" * 100_000)
        async with broadcast.subscribe("t", last_event_id=first) as stalled:
            [event] = await take(stalled, 1)
            held = sum(len(e.event.encode()) for e in stalled._queue)
            assert held + len(event.encode()) <= 1 << 18
            assert len(await take(stalled, 39)) == 39


async def test_history_trimmed_under_a_resumer_gets_a_reset(make_broadcast: Factory) -> None:
    """A client reads a page, stops, and meanwhile the rest of what it missed is
    trimmed: it gets the rest of its page, then the reset -- never a silent jump."""
    async with make_broadcast(history=200) as broadcast:
        first = await broadcast.publish("t", -1)
        ids = [await broadcast.publish("t", n) for n in range(200)]
        async with broadcast.subscribe("t", last_event_id=first) as subscription:
            [event] = await take(subscription, 1)
            page = len(subscription._queue)
            for n in range(300):  # trims everything it has not read
                last = await broadcast.publish("t", 200 + n)
            await delivered(broadcast, last)
            events = await take(subscription, page + 1)
            after = await broadcast.publish("t", "after")
            [live] = await take(subscription, 1)
    assert [e.id for e in [event, *events[:-1]]] == ids[: page + 1]
    reset = events[-1]
    assert (reset.event, reset.data["reason"]) == ("reset", "expired")
    assert reset.data["last_event_id"] == ids[page]
    assert (reset.id, live.id) == (last, after)


async def test_drop_oldest_replays_only_the_newest_buffer(make_broadcast: Factory) -> None:
    """The overflow policy applies to replay: a client far behind gets the newest events."""
    async with make_broadcast(buffer=10, overflow="drop_oldest") as broadcast:
        first = await broadcast.publish("t", -1)
        ids = [await broadcast.publish("t", n) for n in range(100)]
        async with broadcast.subscribe("t", last_event_id=first) as subscription:
            replayed = await take(subscription, 10)
            live_id = await broadcast.publish("t", "live")
            [live] = await take(subscription, 1)
    assert [e.id for e in replayed] == ids[-10:]
    assert live.id == live_id


async def test_drop_oldest_keeps_the_newest(make_broadcast: Factory) -> None:
    broadcast = make_broadcast(buffer=5, overflow="drop_oldest")
    async with broadcast, broadcast.subscribe("t") as subscription:
        ids = [await broadcast.publish("t", n) for n in range(20)]
        await eventually(
            lambda: bool(subscription._queue) and subscription._queue[-1].id == ids[-1]
        )
        events = await take(subscription, 5)
    assert [e.data for e in events] == list(range(15, 20))


# -- hostile ids ------------------------------------------------------------------------------


def hostile_ids(real: str) -> list[str]:
    """Ids a client can send that are not ids of this broadcast, built around a real one."""
    epoch, _, rest = real.partition("-")
    return [
        "nonsense",
        "12",
        "1-2-3",
        f"{epoch}-²",  # str.isdigit() accepts it; int() does not
        f"{epoch}-1-²",
        f"{epoch}-{'9' * 5000}",  # past int()'s 4,300 digits
        f"{epoch}-1-{'9' * 5000}",
        f"{epoch}-1-99999999999999999999",  # beyond 64 bits
        f"{epoch}-99999999999999999999-1",
        f"{epoch}-18446744073709551616-0",  # 2**64
        f"{epoch}-١٢",  # Arabic-Indic digits
        f"{epoch}-+1",
        f"{epoch}-1_0",
        f"{epoch}- 1",
        f"{epoch}-01",
        f"{epoch}-1-01",
        f"{epoch}--1",
        f"{epoch}-",
        real.upper(),
        f" {real}",
        f"{real} ",
        f"{real}\x00",
        f"{real},{real}",  # the old composite ids
        f"{real}{'0' * 40}",
        f"{'0' * 16}-{rest}",  # another epoch
        f"{epoch[:-1]}g-{rest}",
        f"{epoch}-{rest}-1",
        f"{epoch}-999999999999",  # after anything published (memory)
        f"{epoch}-{2**63}-0",  # after anything published (redis)
        "\ufffd",  # the header byte 0xB2, as last_event_id() decodes it
        "\ud800",  # a lone surrogate, only possible from Python
        "x" * 1_000_000,  # a 1 MB header
    ]


async def test_hostile_ids_get_a_bounded_reset_and_leave_nothing(make_broadcast: Factory) -> None:
    async with make_broadcast() as broadcast:
        real = await broadcast.publish("t", "real")
        for bogus in hostile_ids(real):
            async with broadcast.subscribe(["t", "u"], last_event_id=bogus) as subscription:
                [reset] = await take(subscription, 1)
                assert registered(broadcast) == 1
                live_id = await broadcast.publish("u", "live")
                [live] = await take(subscription, 1)
            assert (reset.event, reset.data["reason"]) == ("reset", "unknown"), bogus[:80]
            summary = reset.data["last_event_id"]
            assert len(summary) <= 100
            assert summary == bogus or summary.startswith(bogus[:40].replace("\ud800", "\\ud800"))
            assert (
                key_of(broadcast, reset.id)
                < key_of(broadcast, live_id)
                == key_of(broadcast, live.id)
            )
            assert registered(broadcast) == 0


async def test_thousands_of_hostile_reconnects_leave_nothing(make_broadcast: Factory) -> None:
    async with make_broadcast() as broadcast:
        real = await broadcast.publish("t", "real")
        ids = hostile_ids(real)
        for n in range(2000):
            async with broadcast.subscribe("t", last_event_id=ids[n % len(ids)]) as subscription:
                await take(subscription, 1)
        assert registered(broadcast) == 0


async def test_a_hostile_header_over_http_gets_a_reset(make_broadcast: Factory) -> None:
    async with make_broadcast() as broadcast:

        async def app(scope: Any, receive: Any, send: Any) -> None:
            events = broadcast.subscribe("news", last_event_id=last_event_id(scope))
            await EventSourceResponse(events, first_event_grace=0)(scope, receive, send)

        for raw in ("\xb2", "\xff\xfe", "x" * 100_000):  # as the bytes arrive (latin-1)
            async with connect(app, headers={"last-event-id": raw}) as client:
                [reset] = await client.events(1)
            assert (reset.event, reset.json()["reason"]) == ("reset", "unknown")
            assert len(reset.json()["last_event_id"]) <= 100
        await eventually(lambda: registered(broadcast) == 0)


async def test_reset_event_type_is_configurable(make_broadcast: Factory) -> None:
    broadcast = make_broadcast(reset_event="resync")
    async with broadcast, broadcast.subscribe("t", last_event_id="nonsense") as subscription:
        [reset] = await take(subscription, 1)
    assert reset.event == "resync"


# -- start-up that fails leaves nothing -----------------------------------------------------


async def test_subscribing_to_a_closed_broadcast_leaves_nothing(make_broadcast: Factory) -> None:
    broadcast = make_broadcast()
    async with broadcast:
        pass
    with pytest.raises(BroadcastClosedError):
        async with broadcast.subscribe("t", last_event_id="whatever"):
            pass
    with pytest.raises(BroadcastClosedError):
        await broadcast.subscribe("t").__anext__()
    assert registered(broadcast) == 0


async def test_a_filter_that_raises_ends_its_subscription(make_broadcast: Factory) -> None:
    def boom(event: ServerSentEvent) -> bool:
        raise LookupError("from the filter")

    async with make_broadcast() as broadcast:
        first = await broadcast.publish("t", 0)
        await broadcast.publish("t", 1)
        for resume in (first, None):  # in the replay, and live
            subscription = broadcast.subscribe("t", last_event_id=resume, filter=boom)
            if resume is None:
                await subscription.__aenter__()
                await broadcast.publish("t", 2)
            with pytest.raises(LookupError, match="from the filter"):
                with anyio.fail_after(5):
                    await subscription.__anext__()  # iterated bare: nobody calls aclose()
            assert registered(broadcast) == 0
            with pytest.raises(StopAsyncIteration):
                await subscription.__anext__()


async def test_a_cancelled_catch_up_loses_nothing_and_leaves_nothing(
    make_broadcast: Factory,
) -> None:
    async with make_broadcast() as broadcast:
        first = await broadcast.publish("t", 0)
        ids = [await broadcast.publish("t", n) for n in range(1, 200)]
        async with broadcast.subscribe("t", last_event_id=first) as subscription:
            events: list[ServerSentEvent] = []
            with anyio.fail_after(5), anyio.CancelScope() as scope:
                scope.cancel()
                # Read until the cancellation lands: at the catch-up's first checkpoint
                # (Redis pages), or -- where reading queued events has none (the memory
                # backend) -- in the wait for the first live event after them.
                while True:
                    events.append(await subscription.__anext__())
            assert scope.cancelled_caught
            assert registered(broadcast) == 1
            if len(events) < len(ids):
                events += await take_until(subscription, ids[-1])
            live = await broadcast.publish("t", "live")  # the cancelled wait lost nothing
            events += await take(subscription, 1)
        assert [e.id for e in events] == [*ids, live]
        assert registered(broadcast) == 0
        subscription = broadcast.subscribe("t", last_event_id=first)
        with anyio.move_on_after(0):
            async with subscription:
                await take(subscription, 5)
        assert registered(broadcast) == 0


async def test_no_leaks_after_many_subscribe_disconnect_cycles(make_broadcast: Factory) -> None:
    async with make_broadcast() as broadcast:
        first = await broadcast.publish("t", 0)
        tasks_before = _task_count()
        for n in range(1000):
            resume = first if n % 3 == 0 else None
            topics = ["t", f"private:{n % 7}"]
            async with broadcast.subscribe(topics, last_event_id=resume) as subscription:
                if n % 100 == 0:
                    await broadcast.publish("t", n)
                    await take(subscription, 1)
        assert registered(broadcast) == 0
        assert _task_count() <= tasks_before


def _task_count() -> int:
    try:
        return len(asyncio.all_tasks())
    except RuntimeError:  # trio
        import trio

        return int(trio.lowlevel.current_statistics().tasks_living)


# -- generations: no id reused, no silent gap ----------------------------------------------------


async def test_delete_topic_never_reuses_ids_and_live_subscribers_go_on(
    make_broadcast: Factory,
) -> None:
    async with make_broadcast() as broadcast, broadcast.subscribe("job") as live:
        issued: list[str] = []
        for round_ in range(20):  # in the same millisecond, on Redis
            issued.append(await broadcast.publish("job", f"{round_}a"))
            issued.append(await broadcast.publish("job", f"{round_}b"))
            await broadcast.delete_topic("job")
        received = await take(live, 40)
    assert len(set(issued)) == 40
    assert [e.id for e in received] == issued
    keys = [key_of(broadcast, i) for i in issued]
    assert keys == sorted(keys)


async def test_delete_topic_forgets_its_history(make_broadcast: Factory) -> None:
    async with make_broadcast() as broadcast:
        first = await broadcast.publish("job:1", "step 1")
        second = await broadcast.publish("job:1", "step 2")
        await broadcast.delete_topic("job:1")
        new = await broadcast.publish("job:1", "new history")
        # It missed "step 2", which is gone: reset.
        async with broadcast.subscribe("job:1", last_event_id=first) as subscription:
            [reset] = await take(subscription, 1)
        assert (reset.event, reset.data["reason"], reset.id) == ("reset", "expired", new)
        # It had everything of the deleted history: nothing lost, the new one follows.
        async with broadcast.subscribe("job:1", last_event_id=second) as subscription:
            [event] = await take(subscription, 1)
        assert (event.id, event.data) == (new, "new history")


async def test_an_empty_topic_of_a_subscription_resumes_without_loss(
    make_broadcast: Factory,
) -> None:
    """A topic that had nothing when the client left: all of what came since, or a reset
    if some of it was deleted meanwhile."""
    async with make_broadcast() as broadcast:
        seen = await broadcast.publish("room", "seen")
        first = await broadcast.publish("user:7", "while away")
        async with broadcast.subscribe(["room", "user:7"], last_event_id=seen) as subscription:
            [event] = await take(subscription, 1)
        assert (event.id, event.data) == (first, "while away")
        await broadcast.delete_topic("user:7")
        await broadcast.publish("user:7", "after the delete")
        async with broadcast.subscribe(["room", "user:7"], last_event_id=seen) as subscription:
            [reset] = await take(subscription, 1)
        assert (reset.event, reset.data["reason"]) == ("reset", "expired")


# -- retention ------------------------------------------------------------------------------------


async def test_max_age_limits_the_replay(make_broadcast: Factory) -> None:
    async with make_broadcast(max_age=0.3) as broadcast:
        old = await broadcast.publish("t", "old")
        await broadcast.publish("t", "older than max_age soon")
        await anyio.sleep(0.5)
        await broadcast.publish("t", "fresh")
        async with broadcast.subscribe("t", last_event_id=old) as subscription:
            [reset] = await take(subscription, 1)
    assert reset.event == "reset"
    assert reset.data["reason"] == "expired"


async def test_max_age_applies_to_idle_topics(make_broadcast: Factory) -> None:
    """Nothing is published again: the events still expire, and are never replayed."""
    async with make_broadcast(max_age=0.3) as broadcast:
        before = await broadcast.publish("other", "before")
        await broadcast.publish("idle", "soon too old")
        async with broadcast.subscribe("idle", last_event_id=before) as subscription:
            [kept] = await take(subscription, 1)
        assert kept.data == "soon too old"
        await anyio.sleep(0.5)
        async with broadcast.subscribe("idle", last_event_id=before) as subscription:
            [reset] = await take(subscription, 1)
        assert (reset.event, reset.data["reason"]) == ("reset", "expired")


async def test_max_bytes_bounds_each_topic(make_broadcast: Factory) -> None:
    async with make_broadcast(max_bytes=3500) as broadcast:
        ids = [await broadcast.publish("t", f"{n}" + "x" * 999) for n in range(6)]
        # About 1 KB each: the newest three are kept.
        async with broadcast.subscribe("t", last_event_id=ids[2]) as subscription:
            assert [e.data[0] for e in await take(subscription, 3)] == ["3", "4", "5"]
        async with broadcast.subscribe("t", last_event_id=ids[1]) as subscription:
            [reset] = await take(subscription, 1)
        assert reset.data["reason"] == "expired"
        # An event larger than max_bytes is delivered live, never kept.
        async with broadcast.subscribe("t") as subscription:
            big = await broadcast.publish("t", "y" * 5000)
            [event] = await take(subscription, 1)
        assert event.id == big
        async with broadcast.subscribe("t", last_event_id=ids[5]) as subscription:
            [reset] = await take(subscription, 1)
        assert reset.data["reason"] == "expired"


# -- slow subscribers, closing, the response ----------------------------------------------------


async def test_a_slow_subscriber_is_disconnected_and_never_delays_anyone(
    make_broadcast: Factory,
) -> None:
    async with make_broadcast(buffer=10) as broadcast:
        slow = broadcast.subscribe("t")
        async with slow, broadcast.subscribe("t") as fast:
            received: list[ServerSentEvent] = []
            async with anyio.create_task_group() as tg:

                async def read_fast() -> None:
                    received.extend(await take(fast, 100))

                tg.start_soon(read_fast)
                for n in range(100):
                    await broadcast.publish("t", n)
                    await anyio.lowlevel.checkpoint()  # the fast reader keeps up
            assert [e.data for e in received] == list(range(100))
            # The slow one fell more than `buffer` behind: its stream ends.
            with anyio.fail_after(5):
                leftovers = [event async for event in slow]
            assert len(leftovers) <= 10
        assert registered(broadcast) == 0


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
        assert registered(broadcast) == 0


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


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_fan_out_wakes_a_batch_per_loop_turn_and_loses_nothing() -> None:
    """Woken all at once, thousands of subscribers' task handles set off garbage
    collections mid-fan-out: publish() queues the event everywhere but wakes at
    most WAKE_BATCH waiters, the rest batch by batch -- losing nothing, not for a
    wait cancelled while its batch is pending, nor for an event published meanwhile."""
    count = 2 * WAKE_BATCH + 10
    async with Broadcast() as broadcast:
        subscriptions = [broadcast.subscribe("t") for _ in range(count)]
        for subscription in subscriptions:
            await subscription.__aenter__()
        waiters = [asyncio.ensure_future(s.__anext__()) for s in subscriptions]
        await eventually(lambda: all(s._future is not None for s in subscriptions))
        futures = [s._future for s in subscriptions]
        await broadcast.publish("t", 1)
        assert [f is not None and f.done() for f in futures].count(True) == WAKE_BATCH
        assert all(f is not None and f.done() for f in futures[:WAKE_BATCH])
        waiters[-1].cancel()  # its wake-up is two loop turns away
        await broadcast.publish("t", 2)
        with pytest.raises(asyncio.CancelledError):
            await waiters[-1]
        assert [(await w).data for w in waiters[:-1]] == [1] * (count - 1)
        for subscription in subscriptions[:-1]:
            assert (await subscription.__anext__()).data == 2
        assert [e.data for e in await take(subscriptions[-1], 2)] == [1, 2]
        for subscription in subscriptions:
            await subscription.aclose()


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_fan_out_lets_each_woken_waiters_future_go_at_once() -> None:
    """The garbage collector sees a fan-out as level: a woken subscriber's old
    future is freed as soon as its task has run (its new one replaces it), not
    kept alive to the end of the fan-out -- at 10,000 subscribers that was
    ~27,000 more tracked objects, and dozens of young collections, per publish."""
    count = 2 * WAKE_BATCH + 10
    async with Broadcast() as broadcast:
        subscriptions = [broadcast.subscribe("t") for _ in range(count)]
        for subscription in subscriptions:
            await subscription.__aenter__()
        waiters = [asyncio.ensure_future(s.__anext__()) for s in subscriptions]
        await eventually(lambda: all(s._future is not None for s in subscriptions))
        old = [weakref.ref(s._future) for s in subscriptions]
        await broadcast.publish("t", 1)
        await asyncio.sleep(0)  # the first batch's tasks run (and the next batch is woken)
        assert all(ref() is None for ref in old[:WAKE_BATCH])
        assert all(ref() is not None for ref in old[2 * WAKE_BATCH :])  # not woken yet
        assert [(await w).data for w in waiters] == [1] * count
        for subscription in subscriptions:
            await subscription.aclose()


async def test_a_fan_out_across_wake_batches_delivers_every_event_in_order(
    make_broadcast: Factory,
) -> None:
    """More subscribers than one wake batch; events published back to back (the
    later ones while earlier batches still wait to be woken), and one
    subscriber's wait cancelled mid-fan-out: every subscriber gets every
    event, once, in order."""
    count, total = 2 * WAKE_BATCH + 10, 6
    received: list[list[Any]] = [[] for _ in range(count)]
    cancelled = anyio.CancelScope()

    async def consume(index: int, subscription: Subscription) -> None:
        if index == count - 1:  # the last one woken: its wait is cancelled first
            # Cancelled while its wake-up is pending (a Redis delivery may come
            # first: then the wait returns the event).
            with cancelled:
                received[index].append((await subscription.__anext__()).data)
        async for event in subscription:
            received[index].append(event.data)
            if len(received[index]) == total:
                return

    async with make_broadcast() as broadcast:
        subscriptions = [broadcast.subscribe("t") for _ in range(count)]
        for subscription in subscriptions:
            await subscription.__aenter__()
        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                for index, subscription in enumerate(subscriptions):
                    tg.start_soon(consume, index, subscription)
                await eventually(lambda: all(waiting(s) for s in subscriptions))
                for n in range(3):  # no checkpoint between them
                    await broadcast.publish("t", n)
                cancelled.cancel()
                await anyio.lowlevel.checkpoint()
                for n in range(3, total):
                    await broadcast.publish("t", n)
                    await anyio.lowlevel.checkpoint()
        for subscription in subscriptions:
            await subscription.aclose()
    assert all(events == list(range(total)) for events in received), [
        (index, events) for index, events in enumerate(received) if events != list(range(total))
    ][:3]


def waiting(subscription: Subscription) -> bool:
    """The subscription's consumer waits for its next event."""
    return subscription._future is not None or subscription._event is not None


# -- options and topics ---------------------------------------------------------------------------


async def test_invalid_options_and_topics() -> None:
    with pytest.raises(ValueError, match="buffer"):
        Broadcast(buffer=0)
    with pytest.raises(ValueError, match="overflow"):
        Broadcast(overflow="block")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="reset_event"):
        Broadcast(reset_event="two\nlines")
    with pytest.raises(ValueError, match="history"):
        MemoryBackend(history=-1)
    with pytest.raises(ValueError, match="max_bytes"):
        MemoryBackend(max_bytes=0)
    with pytest.raises(ValueError, match="max_age"):
        MemoryBackend(max_age=0)
    broadcast = Broadcast()
    with pytest.raises(ValueError, match="distinct"):
        broadcast.subscribe(["a", "a"])
    with pytest.raises(ValueError, match="at least one"):
        broadcast.subscribe([])
    with pytest.raises(ValueError, match="at most 1000 topics"):
        broadcast.subscribe([f"t{n}" for n in range(1001)])
    for topic in ("", "x" * 1025, "lone \ud800"):
        with pytest.raises(ValueError, match="topic"):
            broadcast.subscribe(topic)
        with pytest.raises(ValueError, match="topic"):
            await broadcast.publish(topic, 1)
        with pytest.raises(ValueError, match="topic"):
            await broadcast.delete_topic(topic)
    with pytest.raises(TypeError, match="topic"):
        broadcast.subscribe([1])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="last_event_id"):
        broadcast.subscribe("t", last_event_id=b"1")  # type: ignore[arg-type]


async def test_memory_ids_from_another_run_are_unknown() -> None:
    async with Broadcast() as first:
        old_id = await first.publish("t", "x")
    async with Broadcast() as second:
        await second.publish("t", "y")
        async with second.subscribe("t", last_event_id=old_id) as subscription:
            [reset] = await take(subscription, 1)
    assert (reset.event, reset.data["reason"]) == ("reset", "unknown")


def test_a_subscription_is_what_subscribe_returns() -> None:
    assert isinstance(Broadcast().subscribe("t"), Subscription)


# -- the suspension count the send loop reads -----------------------------------------------


async def _awaited(subscription: Subscription) -> tuple[bool, int, ServerSentEvent]:
    """One ``__anext__()`` awaited as the send loop watches an unknown iterator:
    (whether it suspended the task, how much ``suspensions`` grew, the event)."""
    before = subscription.suspensions
    step, value = first_step(subscription.__anext__())
    if step is not None:
        value = await resume(step, value)
    return step is not None, subscription.suspensions - before, value


async def test_the_suspension_count_grows_exactly_when_the_task_suspends(
    make_broadcast: Factory,
) -> None:
    """The send loop skips its fairness yield after an await that grew the count: it may
    grow only when the task really suspended (checked against first_step, the ground
    truth), and must when it waited for a live event."""
    async with make_broadcast() as broadcast:
        first = await broadcast.publish("t", -1)
        for n in range(3):
            await broadcast.publish("t", n)
        # Behind: resuming after `first`, the history is read first.
        async with broadcast.subscribe("t", last_event_id=first) as subscription:
            assert counts_suspensions(subscription) is subscription
            seen = [await _awaited(subscription) for _ in range(3)]
            assert [event.data for _, _, event in seen] == [0, 1, 2]
            for suspended, grown, _ in seen:
                assert suspended or not grown
            # Live, queued: no suspension, no growth.
            queued = await broadcast.publish("t", "queued")
            await delivered(broadcast, queued)  # Redis's reader has queued it
            assert (await _awaited(subscription))[:2] == (False, 0)
            # Live, empty: it waits, and says so.
            async with anyio.create_task_group() as tg:
                tg.start_soon(_publish_later, broadcast, "t", "waited")
                suspended, grown, event = await _awaited(subscription)
            assert (suspended, grown, event.data) == (True, 1, "waited")


async def _publish_later(broadcast: Broadcast, topic: str, data: object) -> None:
    await anyio.lowlevel.checkpoint()
    await broadcast.publish(topic, data)
