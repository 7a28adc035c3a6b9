"""Broadcast: publish once, deliver to every subscriber, replay what a reconnecting client missed.

Two layers:

- :class:`Broadcast`, the front, is the same for every backend. It keeps this
  process's subscriptions, fans each event out to them, and hands a
  reconnecting client over from replay to live events without a gap or a
  duplicate: a subscription first registers for live events (they queue up),
  then replays what the backend retained after its ``Last-Event-ID``, then
  drains the queue, skipping what the replay already covered. Publishing never
  waits for a subscriber: each has a bounded queue, and a full one either
  ends that subscription (``overflow="disconnect"``: the browser reconnects
  and replays from its ``Last-Event-ID``) or drops its oldest event
  (``"drop_oldest"``).
- A :class:`BroadcastBackend` stores events and brings them to the front.
  :class:`MemoryBackend` keeps a bounded history per topic in this process;
  ``sse_asgi.redis.RedisBackend`` uses Redis Streams, shared by every worker.

Ids: each topic numbers its events in order. The memory backend writes
``<epoch>-<n>`` (the epoch -- creation time plus randomness -- differs between
broadcasts, so after a restart an old id is recognised as unknown rather than
taken for a new event);
Redis writes its stream ids. A subscription to several topics sends composite
ids, one position per topic in the order the topics were given, joined by
``,``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import secrets
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal

import anyio
from anyio.abc import TaskGroup

from ._errors import SSEError
from ._event import SPEEDUPS, ServerSentEvent, event_with_id
from ._eventloop import running_asyncio_loop

__all__ = [
    "Broadcast",
    "BroadcastBackend",
    "BroadcastClosedError",
    "BroadcastUnavailableError",
    "Entry",
    "MemoryBackend",
    "Replay",
    "Subscription",
]

logger = logging.getLogger("sse_asgi")

Overflow = Literal["disconnect", "drop_oldest"]


class BroadcastClosedError(SSEError):
    """The broadcast was closed: no more publishing or subscribing.

    Example::

        await broadcast.aclose()
        await broadcast.publish("news", "late")  # raises BroadcastClosedError
    """


class BroadcastUnavailableError(SSEError):
    """The broadcast's backend cannot be reached: the event was not published.

    Example::

        try:
            await broadcast.publish("news", item)
        except BroadcastUnavailableError:
            ...  # Redis is down: retry, or report the failure
    """


@dataclass(frozen=True, slots=True)
class Entry:
    """One stored event: its id, a sortable form of the id, and the event carrying it.

    ``event`` carries ``id``; ``unstamped`` is the same event without an id,
    which a subscription to several topics stamps with its composite id.
    Backends create entries; the broadcast fans them out.

    Example::

        entry = await backend.publish("news", ServerSentEvent(data="hi"))
        entry.id, entry.event.encode()  # ('1719...-1', b'data: "hi"\\nid: 1719...-1\\n\\n')
    """

    topic: str
    id: str
    key: tuple[int, ...]
    event: ServerSentEvent
    unstamped: ServerSentEvent
    published_at: float = 0.0


@dataclass(frozen=True, slots=True)
class Replay:
    """What a backend retained for a topic after a given id.

    ``entries`` are the events after it, oldest first; ``head`` is the id of
    the topic's newest event (or the backend's "before anything" id);
    ``lost`` says why the id could not be resumed from (``"expired"``: older
    than the retention; ``"unknown"``: not an id of this topic), or is None.

    Example::

        replay = await backend.replay("news", after="1719...-41")
        [entry.id for entry in replay.entries]  # what the client missed
    """

    entries: list[Entry]
    head: Entry | str
    lost: Literal["expired", "unknown"] | None = None

    @property
    def head_id(self) -> str:
        """The id of ``head``."""
        return self.head.id if isinstance(self.head, Entry) else self.head


class BroadcastBackend(ABC):
    """Where a :class:`Broadcast` stores events and how they reach this process.

    A backend numbers each topic's events in order, keeps a bounded history,
    and calls the ``deliver`` function it was started with for every event
    published to a topic this process watches -- from any process, for a
    shared backend. ``deliver`` must be called on the event loop and never
    blocks.

    Example::

        broadcast = Broadcast(MemoryBackend(history=100, max_age=600))
    """

    @abstractmethod
    async def start(
        self, deliver: Callable[[str, Entry], None], task_group: TaskGroup | None
    ) -> None:
        """Begin delivering events; called once, before the first publish or subscribe.

        ``task_group`` runs for as long as the broadcast (``async with
        broadcast``) and hosts any background task the backend needs; it is
        None when the broadcast is used without ``async with``.
        """

    @abstractmethod
    async def publish(self, topic: str, event: ServerSentEvent) -> Entry:
        """Store an id-less event; return it stamped with its new id."""

    @abstractmethod
    async def replay(self, topic: str, after: str | None) -> Replay:
        """The retained events of ``topic`` after the id ``after`` (none if ``after`` is None).

        A subscriber is registered before it calls this; from the moment it
        returns, every event newer than the returned ``head`` must reach
        ``deliver`` -- so ``entries`` and live events leave no gap between
        them (overlap is fine: the subscription skips what it already has).
        """

    @abstractmethod
    def order(self, topic: str, event_id: str) -> tuple[int, ...] | None:
        """A sortable key for an id of this backend's, or None if it is not one."""

    def live_head(self, topic: str) -> Entry | str | None:
        """The newest event of ``topic`` this process has delivered, if it knows it without IO."""
        return None

    async def unwatch(self, topic: str) -> None:  # noqa: B027 - optional hook
        """This process has no subscribers to ``topic`` any more."""

    @abstractmethod
    async def delete(self, topic: str) -> None:
        """Forget everything stored for ``topic``."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Stop delivering and release connections."""


class MemoryBackend(BroadcastBackend):
    """A bounded history per topic, in this process: the last ``history`` events, ``max_age`` s.

    Example::

        broadcast = Broadcast(MemoryBackend(history=500, max_age=3600))
    """

    def __init__(self, *, history: int = 1000, max_age: float | None = None) -> None:
        if history < 0:
            raise ValueError(f"history must be >= 0, got {history}")
        if max_age is not None and max_age <= 0:
            raise ValueError(f"max_age must be > 0 (or None), got {max_age}")
        self.history = history
        self.max_age = max_age
        # Time plus randomness: two broadcasts (or two runs) never share an epoch.
        self._epoch = f"{int(time.time() * 1000):x}{secrets.randbelow(1 << 16):04x}"
        self._topics: dict[str, _MemoryTopic] = {}
        self._deliver: Callable[[str, Entry], None] | None = None

    async def start(
        self, deliver: Callable[[str, Entry], None], task_group: TaskGroup | None
    ) -> None:
        self._deliver = deliver

    async def publish(self, topic: str, event: ServerSentEvent) -> Entry:
        state = self._topics.get(topic)
        if state is None:
            state = self._topics[topic] = _MemoryTopic()
        state.count += 1
        event_id = f"{self._epoch}-{state.count}"
        now = time.monotonic()
        entry = Entry(topic, event_id, (state.count,), event_with_id(event, event_id), event, now)
        state.last = state.count
        if self.history:
            state.entries.append(entry)
            while len(state.entries) > self.history:
                state.entries.popleft()
        self._expire(state, now)
        assert self._deliver is not None
        self._deliver(topic, entry)
        return entry

    def _expire(self, state: _MemoryTopic, now: float) -> None:
        if self.max_age is not None:
            entries = state.entries
            while entries and now - entries[0].published_at > self.max_age:
                entries.popleft()

    async def replay(self, topic: str, after: str | None) -> Replay:
        state = self._topics.get(topic) or _MemoryTopic()
        self._expire(state, time.monotonic())
        head: Entry | str = state.entries[-1] if state.entries else f"{self._epoch}-{state.last}"
        if after is None:
            return Replay([], head)
        key = self.order(topic, after)
        if key is None or key[0] > state.last:
            return Replay([], head, "unknown")
        (seq,) = key
        entries = state.entries
        oldest_kept = entries[0].key[0] if entries else state.last + 1
        if seq < oldest_kept - 1:
            return Replay([], head, "expired")  # some events after it are gone
        return Replay([e for e in entries if e.key[0] > seq], head)

    async def delete(self, topic: str) -> None:
        self._topics.pop(topic, None)

    def live_head(self, topic: str) -> Entry | str | None:
        state = self._topics.get(topic)
        if state is None:
            return f"{self._epoch}-0"
        return state.entries[-1] if state.entries else f"{self._epoch}-{state.last}"

    def order(self, topic: str, event_id: str) -> tuple[int, ...] | None:
        epoch, _, seq = event_id.partition("-")
        if epoch != self._epoch or not seq.isdigit():
            return None
        return (int(seq),)


class _MemoryTopic:
    __slots__ = ("count", "entries", "last")

    def __init__(self) -> None:
        self.count = 0  # events ever published
        self.last = 0  # the newest event's number
        self.entries: collections.deque[Entry] = collections.deque()


class Broadcast:
    """Publish events to topics; subscribe streams to them, with replay on reconnect.

    - ``backend``: where events live; :class:`MemoryBackend` (this process
      only) by default, ``sse_asgi.redis.RedisBackend`` for many workers.
    - ``buffer``: events queued per subscriber before ``overflow`` applies.
    - ``overflow``: ``"disconnect"`` (default) ends a subscriber that falls
      ``buffer`` events behind -- its browser reconnects and replays from its
      ``Last-Event-ID``, so it loses nothing the history still holds -- or
      ``"drop_oldest"`` drops its oldest queued event.
    - ``reset_event``: the event type sent first to a client whose
      ``Last-Event-ID`` cannot be resumed (older than the history, or
      unknown), so it can resync; its data is ``{"reason": "expired" |
      "unknown", "last_event_id": ...}`` and its id the newest position.

    Use it as an async context manager (e.g. in your app's lifespan) so the
    backend starts and, at the end, every subscription ends.

    Example::

        broadcast = Broadcast()

        @asynccontextmanager
        async def lifespan(app):
            async with broadcast:
                yield

        @app.post("/notify")
        async def notify(message: str):
            await broadcast.publish("notifications", {"message": message})

        @app.get("/notifications", response_class=EventSourceResponse)
        async def notifications(last_event_id: Annotated[str | None, Header()] = None):
            async with broadcast.subscribe("notifications", last_event_id=last_event_id) as events:
                async for event in events:
                    yield event
    """

    def __init__(
        self,
        backend: BroadcastBackend | None = None,
        *,
        buffer: int = 256,
        overflow: Overflow = "disconnect",
        reset_event: str = "reset",
    ) -> None:
        if buffer < 1:
            raise ValueError(f"buffer must be >= 1, got {buffer}")
        if overflow not in ("disconnect", "drop_oldest"):
            raise ValueError(f"overflow must be 'disconnect' or 'drop_oldest', not {overflow!r}")
        self.backend = backend if backend is not None else MemoryBackend()
        self.buffer = buffer
        self.overflow: Overflow = overflow
        self.reset_event = reset_event
        # Per topic, in subscription order (a dict as an ordered set): a publish
        # wakes subscribers in the order their tasks were made.
        self._subscribers: dict[str, dict[Subscription, None]] = {}
        self._state: Literal["new", "starting", "running", "closed"] = "new"
        self._started = anyio.Event()
        self._task_group: TaskGroup | None = None

    # -- lifecycle ------------------------------------------------------------------

    async def __aenter__(self) -> Broadcast:
        # The task group lives as long as the broadcast: backends run their
        # background work (Redis's reader) in it.
        task_group = anyio.create_task_group()
        await task_group.__aenter__()
        self._task_group = task_group
        try:
            await self._ensure_started()
        except BaseException as exc:
            task_group.cancel_scope.cancel()
            await task_group.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self.aclose()
        finally:
            task_group, self._task_group = self._task_group, None
            if task_group is not None:
                task_group.cancel_scope.cancel()
                await task_group.__aexit__(exc_type, exc, tb)

    async def _ensure_started(self) -> None:
        if self._state == "running":
            return
        if self._state == "closed":
            raise BroadcastClosedError("this broadcast is closed")
        if self._state == "starting":
            await self._started.wait()
            return
        self._state = "starting"
        try:
            await self.backend.start(self._deliver, self._task_group)
        except BaseException:
            self._state = "new"
            raise
        self._state = "running"
        self._started.set()

    async def aclose(self) -> None:
        """End every subscription (their streams finish cleanly) and close the backend."""
        if self._state == "closed":
            return
        self._state = "closed"
        for subscribers in list(self._subscribers.values()):
            for subscription in list(subscribers):
                subscription._end()
        self._subscribers.clear()
        await self.backend.aclose()

    # -- publishing ---------------------------------------------------------------------

    async def publish(self, topic: str, event: Any) -> str:
        """Publish ``event`` to ``topic``: a :class:`ServerSentEvent` without id, or any data.

        Returns the id the broadcast assigned: the event's ``id`` on the
        wire, increasing within the topic. Never waits for subscribers.

        Example::

            event_id = await broadcast.publish("jobs:42", {"progress": 0.5})
        """
        if not isinstance(event, ServerSentEvent):
            event = ServerSentEvent(data=event)
        elif event.id is not None:
            raise ValueError("the broadcast assigns event ids: publish events without an id")
        await self._ensure_started()
        return (await self.backend.publish(topic, event)).id

    def _deliver(self, topic: str, entry: Entry) -> None:
        # Runs once per subscriber per event: no copy of the subscribers
        # (queueing never changes them), nothing allocated per subscriber that
        # the queue does not keep, and no Python call per subscriber but for a
        # full queue (one per subscriber would double the cost of a fan-out).
        subscribers = self._subscribers.get(topic)
        if subscribers:
            buffer = self.buffer
            for subscription in subscribers:
                if subscription._state == "ended":
                    continue
                queue = subscription._queue
                if len(queue) >= buffer and not subscription._overflow():
                    continue
                queue.append(entry)
                future = subscription._future
                if future is not None:
                    subscription._future = None
                    # try, not done() per call nor contextlib.suppress: a
                    # cancelled waiter (it needs no waking) is the rare case.
                    try:  # noqa: SIM105
                        future.set_result(None)
                    except asyncio.InvalidStateError:
                        pass
                elif subscription._event is not None:
                    subscription._wake()

    # -- subscribing -----------------------------------------------------------------------

    def subscribe(
        self,
        topics: str | Sequence[str],
        *,
        last_event_id: str | None = None,
        filter: Callable[[ServerSentEvent], bool] | None = None,
    ) -> Subscription:
        """An async iterator (and async context manager) of this topic's events.

        It first replays what the client missed after ``last_event_id`` (the
        ``Last-Event-ID`` header of a reconnecting browser), then continues
        live. Give several topics to merge them; ``filter`` keeps only the
        events it returns True for (say, the current user's). Hand it straight
        to ``EventSourceResponse``, which closes it when the client leaves.

        Example::

            events = broadcast.subscribe("chat:lobby", last_event_id=last_event_id(scope))
            await EventSourceResponse(events)(scope, receive, send)
        """
        names = (topics,) if isinstance(topics, str) else tuple(topics)
        if not names:
            raise ValueError("subscribe to at least one topic")
        if len(set(names)) != len(names):
            raise ValueError(f"topics must be distinct: {names!r}")
        return Subscription(self, names, last_event_id or None, filter)

    def subscriber_count(self, topic: str | None = None) -> int:
        """How many subscriptions this process has, to ``topic`` or in all.

        A subscription counts once it has started (entered, or iterated once):
        from then on it receives every event published.
        """
        if topic is not None:
            return sum(1 for s in self._subscribers.get(topic, ()) if s._live())
        return len(
            {s for subscribers in self._subscribers.values() for s in subscribers if s._live()}
        )

    async def delete_topic(self, topic: str) -> None:
        """Forget a topic's history (say, of a finished job); its subscribers stay subscribed.

        Example::

            await broadcast.publish(f"job:{job_id}", {"status": "done"})
            ...
            await broadcast.delete_topic(f"job:{job_id}")
        """
        await self._ensure_started()
        await self.backend.delete(topic)

    def _register(self, subscription: Subscription) -> None:
        for topic in subscription.topics:
            self._subscribers.setdefault(topic, {})[subscription] = None

    async def _unregister(self, subscription: Subscription) -> None:
        for topic in subscription.topics:
            subscribers = self._subscribers.get(topic)
            if subscribers is None:
                continue
            subscribers.pop(subscription, None)
            if not subscribers:
                del self._subscribers[topic]
                if self._state == "running":
                    await self.backend.unwatch(topic)


class Subscription(AsyncIterator[ServerSentEvent]):
    """One subscriber's view of one or more topics: replay, then live events.

    Iterate it (it ends when the broadcast closes, or when this subscriber
    fell too far behind with ``overflow="disconnect"``); close it with
    ``aclose()`` or by leaving ``async with``. ``EventSourceResponse`` closes
    it for you when the client disconnects.

    Example::

        async with broadcast.subscribe("news") as events:
            async for event in events:
                print(event.id, event.data)
    """

    __slots__ = (
        "_awaitable",
        "_broadcast",
        "_event",
        "_filter",
        "_future",
        "_ids",
        "_index",
        "_last_event_id",
        "_loop",
        "_multi",
        "_positions",
        "_queue",
        "_ready",
        "_state",
        "topics",
    )

    def __init__(
        self,
        broadcast: Broadcast,
        topics: tuple[str, ...],
        last_event_id: str | None,
        filter: Callable[[ServerSentEvent], bool] | None,
    ) -> None:
        self._broadcast = broadcast
        self.topics = topics
        self._last_event_id = last_event_id
        self._filter = filter
        self._queue: collections.deque[Entry] = collections.deque()
        self._ready: collections.deque[ServerSentEvent] = collections.deque()
        self._positions: list[tuple[int, ...] | None] = [None] * len(topics)
        self._ids = [""] * len(topics)
        self._index = {topic: i for i, topic in enumerate(topics)}
        self._multi = len(topics) > 1
        # What the subscriber waits on when its queue is empty: a bare future on
        # asyncio (one allocation per wait, woken without a coroutine), else an
        # anyio Event. Fanning out to 10,000 subscribers wakes 10,000 of them.
        self._future: asyncio.Future[None] | None = None
        self._event: anyio.Event | None = None
        self._loop = running_asyncio_loop()
        self._awaitable: Awaitable[ServerSentEvent] | None = None  # set while live on asyncio
        self._state: Literal["new", "starting", "live", "ended"] = "new"

    async def __aenter__(self) -> Subscription:
        # Entering subscribes: events published after this line are not missed.
        if self._state == "new":
            await self._start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __aiter__(self) -> Subscription:
        return self

    def __anext__(self) -> Awaitable[ServerSentEvent]:
        if self._awaitable is not None:
            # Live on asyncio: one awaitable for the subscription's life, not
            # a coroutine per event -- at 10,000 subscribers those are most of
            # what a fan-out allocates, and the garbage collector's work.
            return self._awaitable
        return self._next()

    async def _next(self) -> ServerSentEvent:
        # The general case: starting up, and anyio's other backends.
        if self._state == "new":
            await self._start()
            if self._awaitable is not None:
                return await self._awaitable
        while True:
            event = self._pop()
            if event is not None:
                return event
            if self._state == "ended":
                raise StopAsyncIteration
            wakeup = self._event = anyio.Event()
            await wakeup.wait()

    def _pop(self) -> ServerSentEvent | None:
        """The next event to yield, if one is waiting."""
        if self._ready:
            return self._ready.popleft()
        queue = self._queue
        while queue:
            event = self._take(queue.popleft())
            if event is not None:
                return event
        return None

    async def aclose(self) -> None:
        """Stop receiving events and free this subscription's place."""
        if self._state != "ended":
            self._end()
        await self._broadcast._unregister(self)

    # -- internals --------------------------------------------------------------------

    async def _start(self) -> None:
        try:
            await self._start_up()
        finally:
            if self._state == "starting":
                self._state = "live"
                if self._loop is not None:
                    self._awaitable = _NEXT_EVENT(self, self._loop)

    async def _start_up(self) -> None:
        broadcast = self._broadcast
        await broadcast._ensure_started()
        backend = broadcast.backend
        # Live events queue up from here on. A fresh subscriber starts right
        # here: at the newest event this process has delivered, when the
        # backend knows it (no await between registering and asking).
        broadcast._register(self)
        self._state = "starting"
        start = [backend.live_head(topic) for topic in self.topics]
        positions = self._resume_positions()
        lost: Literal["expired", "unknown"] | None = "unknown" if positions is None else None
        replays = []
        for i, topic in enumerate(self.topics):
            after = positions[i] if positions is not None else None
            try:
                replay = await backend.replay(topic, after)
            except Exception:
                if self._ended():  # the broadcast closed meanwhile: just end
                    return
                raise
            replays.append(replay)
            if replay.lost is not None:
                lost = replay.lost
        if self._ended():
            return
        if lost is not None or positions is None or self._last_event_id is None:
            # Not resuming (or cannot): go on from the start position, and
            # tell a client whose id could not be resumed to resync.
            for i, replay in enumerate(replays):
                known = start[i]
                head = known if known is not None else replay.head
                head_id = head.id if isinstance(head, Entry) else head
                self._advance(i, head_id, backend.order(self.topics[i], head_id))
            if lost is not None:
                self._ready.append(
                    ServerSentEvent(
                        event=broadcast.reset_event,
                        data={"reason": lost, "last_event_id": self._last_event_id},
                        id=self._current_id(),
                    )
                )
            return
        # Resuming: replay everything after the client's position, oldest
        # first across topics; live duplicates are skipped by position.
        for i, (topic, after) in enumerate(zip(self.topics, positions, strict=True)):
            assert after is not None
            self._advance(i, after, backend.order(topic, after))
        merged = sorted(
            (
                (entry.published_at, i, entry)
                for i, replay in enumerate(replays)
                for entry in replay.entries
            ),
            key=lambda item: (item[0], item[1]),
        )
        for *_, entry in merged:
            event = self._take(entry)
            if event is not None:
                self._ready.append(event)

    def _resume_positions(self) -> list[str | None] | None:
        # Every id we send names a position in each topic (a topic with no
        # event yet has its "before anything" id), so a part that is not an
        # id of ours means the whole Last-Event-ID is unknown.
        """The client's position per topic, from its Last-Event-ID; None if it makes no sense."""
        if self._last_event_id is None:
            return [None] * len(self.topics)
        parts = self._last_event_id.split(",") if len(self.topics) > 1 else [self._last_event_id]
        if len(parts) != len(self.topics):
            return None
        backend = self._broadcast.backend
        for topic, part in zip(self.topics, parts, strict=True):
            if backend.order(topic, part) is None:
                return None
        return list(parts)

    def _advance(self, index: int, event_id: str, key: tuple[int, ...] | None) -> None:
        self._positions[index] = key
        self._ids[index] = event_id

    def _current_id(self) -> str:
        return ",".join(self._ids) if self._multi else self._ids[0]

    def _take(self, entry: Entry) -> ServerSentEvent | None:
        """The event to yield for ``entry``, or None if already delivered or filtered out."""
        # Runs once per subscriber per event: _advance() inlined.
        index = self._index[entry.topic] if self._multi else 0
        key = entry.key
        position = self._positions[index]
        if position is not None and key <= position:
            return None  # the replay already delivered it
        self._positions[index] = key
        self._ids[index] = entry.id
        event = entry.event
        if self._filter is not None:
            try:
                keep = self._filter(event)
            except StopIteration as exc:
                # Inside an await, a StopIteration would pass for its value (PEP 479).
                raise RuntimeError("a subscription's filter raised StopIteration") from exc
            if not keep:
                return None
        if self._multi:
            # The composite id, stamped per subscriber on the id-less event.
            event = event_with_id(entry.unstamped, self._current_id())
        return event

    def _overflow(self) -> bool:
        """The queue is full and another event is coming: apply the overflow
        policy. True if the event is still to be queued."""
        queue = self._queue
        if self._broadcast.overflow == "drop_oldest":
            queue.popleft()
            return True
        logger.info("SSE subscriber fell %d events behind; disconnecting it", len(queue))
        queue.clear()
        self._end()
        return False

    def _ended(self) -> bool:
        return self._state == "ended"

    def _live(self) -> bool:
        return self._state == "live"

    def _end(self) -> None:
        self._state = "ended"
        self._awaitable = None  # it refers back to us
        self._wake()

    def _wake(self) -> None:
        future, event = self._future, self._event
        if future is not None:
            self._future = None
            if not future.done():  # a cancelled waiter needs no waking
                future.set_result(None)
        if event is not None:
            self._event = None
            event.set()


class _NextEvent:
    """``await subscription.__anext__()`` on asyncio, without a coroutine per event.

    Awaiting it runs ``__next__``: an event already queued is the value of the
    await at once; otherwise it yields a fresh future to the task, exactly as
    ``await future`` would, and runs again when the broadcast resolves it.
    A cancelled wait leaves the queue untouched, so nothing is lost.
    """

    __slots__ = ("_create_future", "_subscription")

    def __init__(self, subscription: Subscription, loop: asyncio.AbstractEventLoop) -> None:
        self._subscription = subscription
        self._create_future = loop.create_future

    def __await__(self) -> Generator[Any, None, ServerSentEvent]:
        return self  # type: ignore[return-value]  # a generator in all but name

    def __iter__(self) -> _NextEvent:
        return self

    def __next__(self) -> Any:
        subscription = self._subscription
        if subscription._ready or subscription._queue:
            event = subscription._pop()
            if event is not None:
                raise StopIteration(event)  # the value of the await
        if subscription._state == "ended":
            raise StopAsyncIteration
        future = subscription._future = self._create_future()
        # The first step of the future's own awaitable marks it as one to
        # wait on and yields it: what the task expects.
        return next(future.__await__())


# The same awaitable in C (sse_asgi/_next_event.c), built and loaded along with
# the ServerSentEvent speedups: a woken subscriber then resumes without a
# Python frame, which at 10,000 subscribers is most of the fan-out's cost.
_NEXT_EVENT: Callable[[Subscription, asyncio.AbstractEventLoop], Awaitable[ServerSentEvent]]
_NEXT_EVENT = _NextEvent
if SPEEDUPS:
    with contextlib.suppress(ImportError):  # built without it: the Python class is the same
        from ._next_event import NextEvent as _NEXT_EVENT
