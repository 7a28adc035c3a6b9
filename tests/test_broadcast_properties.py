"""Random sequences of publish / delete_topic / trim / expire / subscribe-with-any-id.

A model keeps every event ever published (topic, id, time) and what each
topic still retains (the last ``history`` events of its current generation,
none older than ``max_age``). Whatever the sequence:

- no id is ever issued twice;
- a client resuming after any id gets either exactly every event of its
  topics published after that id -- no gap, no duplicate -- or, first, the
  reset event: ``"unknown"`` for an id that is not ours, ``"expired"`` exactly
  when one of those events is gone (never a reset for nothing);
- a live subscriber gets every event of its topics, across deletions.

On the memory backend with a fake clock (and many examples); on Redis with
fewer and without ``max_age`` (Redis keeps its own time).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import anyio
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import settings, stateful
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    precondition,
    rule,
)

from sse_asgi import Broadcast, MemoryBackend, ServerSentEvent, Subscription

from . import broadcast_support
from .broadcast_support import registered
from .redis_server import RedisServer

TOPICS = ["a", "b", "c"]  # in distinct tombstone buckets: no spare reset to excuse
HISTORY = 3
MAX_AGE = 10.0

redis = broadcast_support.redis

# Typed here: the hypothesis releases that still support Python 3.10 leave it untyped.
run_state_machine_as_test: Callable[..., None] = stateful.run_state_machine_as_test


@dataclass
class Published:
    topic: str
    id: str
    time: float


@dataclass
class Live:
    subscription: Subscription
    topics: tuple[str, ...]
    start: int  # index in the log of the first event it must get
    received: list[str] = field(default_factory=list)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class BroadcastMachine(RuleBasedStateMachine):
    """Drives one broadcast through a blocking portal; ``make`` builds it."""

    make: Callable[[FakeClock], Broadcast]
    portal_backend = "asyncio"
    max_age: float | None = MAX_AGE

    ids = Bundle("ids")

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.broadcast = self.make(self.clock)
        self._portal_cm = start_blocking_portal(self.portal_backend)
        self.portal: BlockingPortal = self._portal_cm.__enter__()
        self._broadcast_cm = self.portal.wrap_async_context_manager(self.broadcast)
        self._broadcast_cm.__enter__()
        self.log: list[Published] = []
        self.generations: dict[str, list[Published]] = {topic: [] for topic in TOPICS}
        self.live: list[Live] = []

    def teardown(self) -> None:
        try:
            for live in self.live:
                self.drain_live(live)
                self.portal.call(live.subscription.aclose)
            assert self.portal.call(registered, self.broadcast) == 0
        finally:
            self._broadcast_cm.__exit__(None, None, None)
            self._portal_cm.__exit__(None, None, None)

    # -- the model ---------------------------------------------------------------------------

    def retained(self, topic: str) -> set[str]:
        kept = self.generations[topic][-HISTORY:]
        if self.max_age is not None:
            kept = [p for p in kept if p.time >= self.clock.now - self.max_age]
        return {p.id for p in kept}

    def index_of(self, event_id: str) -> int | None:
        for i, published in enumerate(self.log):
            if published.id == event_id:
                return i
        return None

    def record(self, topic: str, event_id: str) -> None:
        assert all(p.id != event_id for p in self.log), "an id was issued twice"
        generation = self.generations[topic]
        if (
            self.max_age is not None
            and generation
            and generation[-1].time < self.clock.now - self.max_age
        ):
            generation.clear()  # idle for max_age: that generation is over
        published = Published(topic, event_id, self.clock.now)
        self.log.append(published)
        generation.append(published)

    # -- rules ------------------------------------------------------------------------------

    @initialize(target=ids)
    def first(self) -> str:
        return self.publish_now("a")

    def publish_now(self, topic: str) -> str:
        event_id: str = self.portal.call(self.broadcast.publish, topic, len(self.log))
        self.record(topic, event_id)
        # Until Redis's reader has read it, the head is behind it: a fresh
        # subscriber would start before it, and a head taken now would not
        # be the model's. Waiting keeps every run of a sequence the same run
        # (a lagging reader is tested on its own, in test_broadcast_redis).
        backend = self.broadcast.backend
        position = backend.parse(event_id)
        assert position is not None
        self.portal.call(backend.delivered, position)
        return event_id

    @rule(target=ids, topic=st.sampled_from(TOPICS))
    def publish(self, topic: str) -> str:
        return self.publish_now(topic)

    @rule(topic=st.sampled_from(TOPICS))
    def delete_topic(self, topic: str) -> None:
        self.portal.call(self.broadcast.delete_topic, topic)
        self.generations[topic].clear()

    @precondition(lambda self: self.max_age is not None)
    @rule(seconds=st.sampled_from([0.5, 3.0, 9.9, 10.0, 10.1, 25.0]))
    def advance_time(self, seconds: float) -> None:
        self.clock.now += seconds
        backend = self.broadcast.backend
        if isinstance(backend, MemoryBackend):
            backend.expire()  # as the background task would; reads and publishes do too

    @rule(
        topics=st.lists(st.sampled_from(TOPICS), min_size=1, max_size=3, unique=True),
        last_event_id=ids,
    )
    def resume(self, topics: list[str], last_event_id: str) -> None:
        self.check_resume(tuple(topics), last_event_id)

    @rule(
        topics=st.lists(st.sampled_from(TOPICS), min_size=1, max_size=3, unique=True),
        bogus=st.one_of(
            st.text(max_size=40),
            st.sampled_from(["", "0", "1-1", "²", "0123456789abcdef-1", "0123456789abcdef-1-0"]),
        ),
    )
    def resume_from_anything(self, topics: list[str], bogus: str) -> None:
        self.check_resume(tuple(topics), bogus)

    @rule(target=ids, topics=st.lists(st.sampled_from(TOPICS), min_size=1, unique=True))
    def resume_from_the_head(self, topics: list[str]) -> str:
        head = self.broadcast.backend.head()
        assert head is not None
        assert head.id == self.log[-1].id  # what publish_now waited for
        self.check_resume(tuple(topics), head.id)
        return head.id

    @precondition(lambda self: len(self.live) < 3)
    @rule(topics=st.lists(st.sampled_from(TOPICS), min_size=1, unique=True))
    def subscribe_live(self, topics: list[str]) -> None:
        subscription = self.portal.call(self.broadcast.subscribe, topics)
        self.portal.call(subscription.__aenter__)
        self.live.append(Live(subscription, tuple(topics), len(self.log)))

    # -- checks -------------------------------------------------------------------------------

    def check_resume(self, topics: tuple[str, ...], last_event_id: str) -> None:
        after = self.index_of(last_event_id)
        subscription = self.portal.call(
            lambda: self.broadcast.subscribe(topics, last_event_id=last_event_id)
        )
        self.portal.call(subscription.__aenter__)
        marker = self.publish_now(topics[0])  # read after this: it ends what we expect
        events = self.portal.call(read_until, subscription, marker, self.broadcast)
        self.portal.call(subscription.aclose)
        if last_event_id == "":
            assert [e.id for e in events] == [marker]  # no id: a fresh subscriber
            return
        if after is None:  # not an id this broadcast issued (the heads it takes are event ids)
            assert events[0].event == "reset", (last_event_id, events)
            assert events[0].data["reason"] == "unknown"
            return
        expected = [p.id for p in self.log[after + 1 :] if p.topic in topics]
        retained = set().union(*(self.retained(topic) for topic in topics))
        lost = [event_id for event_id in expected if event_id not in retained]
        if lost:
            assert len(events) == 1, (lost, events)
            assert events[0].event == "reset", (lost, events)
            assert events[0].data["reason"] == "expired"
        else:
            assert [e.id for e in events] == expected, (last_event_id, topics)

    def drain_live(self, live: Live) -> None:
        marker = self.publish_now(live.topics[0])
        events = self.portal.call(read_until, live.subscription, marker, self.broadcast)
        expected = [p.id for p in self.log[live.start :] if p.topic in live.topics]
        assert [e.id for e in events] == expected


async def read_until(
    subscription: Subscription, marker: str, broadcast: Broadcast
) -> list[ServerSentEvent]:
    """Events until the marker -- or a reset at or past it (which covers it)."""
    events: list[ServerSentEvent] = []
    marker_key = broadcast.backend.parse(marker)
    assert marker_key is not None
    with anyio.fail_after(10):
        async for event in subscription:
            events.append(event)
            if event.id == marker:
                break
            if event.event == "reset":
                position = broadcast.backend.parse(str(event.id))
                assert position is not None
                if position.key >= marker_key.key:
                    break
    return events


class MemoryMachine(BroadcastMachine):
    def make(self, clock: FakeClock) -> Broadcast:
        backend = MemoryBackend(history=HISTORY, max_age=MAX_AGE, clock=clock)
        return Broadcast(backend, buffer=10_000)


class TrioMemoryMachine(MemoryMachine):
    portal_backend = "trio"


def test_memory_backend_never_loses_silently() -> None:
    run_state_machine_as_test(
        MemoryMachine,
        settings=settings(max_examples=150, stateful_step_count=40, deadline=None),
    )


def test_memory_backend_never_loses_silently_on_trio() -> None:
    run_state_machine_as_test(
        TrioMemoryMachine,
        settings=settings(max_examples=25, stateful_step_count=30, deadline=None),
    )


@pytest.fixture
def redis_machine(redis: RedisServer) -> type[BroadcastMachine]:
    from sse_asgi.redis import RedisBackend

    class RedisMachine(BroadcastMachine):
        max_age = None  # Redis keeps its own time: expiry is tested in real time

        def make(self, clock: FakeClock) -> Broadcast:
            prefix = f"prop-{uuid.uuid4().hex[:8]}:"
            backend = RedisBackend(redis.url, prefix=prefix, history=HISTORY)
            return Broadcast(backend, buffer=10_000)

    return RedisMachine


def test_redis_backend_never_loses_silently(redis_machine: type[BroadcastMachine]) -> None:
    run_state_machine_as_test(
        redis_machine,
        settings=settings(max_examples=20, stateful_step_count=30, deadline=None),
    )
