"""The in-process backend: a bounded history per topic, in this process's memory.

Ids are ``<epoch>-<n>``: ``n`` counts every event this backend published, to
any topic, so one id places a subscriber in all of its topics, and no id is
ever reused -- not after :meth:`MemoryBackend.delete` either. Each topic's
state is one *generation*: it starts with the topic's first event and ends
when the topic is deleted or, with ``max_age``, has been idle that long.
When a generation ends its last ``n`` goes to a tombstone bucket, so that an
id from before it is known to have missed events (a reset) or not.

Expiry is a pure function of the time it is given: :meth:`MemoryBackend.expire`
drops what ``max_age`` no longer allows at ``now``. It runs before every
publish and read (so nothing older than ``max_age`` is ever replayed), and in
a background task of the broadcast's task group, so that idle topics free
their memory without waiting for a publish.
"""

from __future__ import annotations

import heapq
import itertools
import time
from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence

import anyio
from anyio.abc import TaskGroup

from .._event import ServerSentEvent, event_with_id
from ._backend import BroadcastBackend, Entry, Listener, Position, Replay
from ._ids import DEATH_BUCKETS, death_bucket, new_epoch, parse_counter

__all__ = ["MemoryBackend"]


class MemoryBackend(BroadcastBackend):
    """A bounded history per topic, in this process.

    - ``history``: the most events each topic keeps (0: none, no replay).
    - ``max_age``: seconds after which an event is dropped, published to
      again or not; a topic idle that long is forgotten altogether.
    - ``max_bytes``: the most bytes of encoded events each topic keeps
      (oldest dropped first; an event larger than that is not kept).
    - ``clock``: seconds from an arbitrary start (``time.monotonic``); tests
      pass a fake one and call :meth:`expire`.

    What each bound costs: every retained event is held once (its encoded
    bytes and fields, plus ~200 bytes of bookkeeping), shared by every
    subscriber; a topic costs ~500 bytes until it is deleted or, with
    ``max_age``, idle that long. Without ``max_age`` a topic is kept for the
    life of the process.

    ```py
    import anyio

    from sse_asgi import Broadcast, MemoryBackend


    async def main():
        backend = MemoryBackend(history=2, max_age=3600, max_bytes=1 << 20)
        async with Broadcast(backend) as broadcast:
            first = await broadcast.publish("news", 1)
            for n in (2, 3, 4):
                await broadcast.publish("news", n)
            # Resuming after 1: event 2 was trimmed (history=2), so a reset comes first.
            async with broadcast.subscribe("news", last_event_id=first) as events:
                print((await anext(events)).event)
                #> reset


    anyio.run(main)
    ```
    """

    def __init__(
        self,
        *,
        history: int = 1000,
        max_age: float | None = None,
        max_bytes: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if type(history) is not int or history < 0:
            raise ValueError(f"history must be an int >= 0, got {history!r}")
        if max_age is not None and not max_age > 0:
            raise ValueError(f"max_age must be > 0 (or None), got {max_age}")
        if max_bytes is not None and (type(max_bytes) is not int or max_bytes < 1):
            raise ValueError(f"max_bytes must be an int >= 1 (or None), got {max_bytes!r}")
        self.history = history
        self.max_age = max_age
        self.max_bytes = max_bytes
        self._clock = clock
        # Random: two backends (or two runs) never share an epoch.
        self._epoch = new_epoch()
        self._count = 0  # events ever published, to any topic
        self._head: Position = Position(f"{self._epoch}-0", (0,))
        self._topics: dict[str, _Topic] = {}
        self._deaths = [0] * DEATH_BUCKETS  # per bucket, the newest n of a dead generation
        # (when something of the topic may expire, tiebreak, name, topic), one per topic
        self._due: list[tuple[float, int, str, _Topic]] = []
        self._tiebreak = itertools.count()
        self._listener: Listener | None = None

    async def start(self, listener: Listener, task_group: TaskGroup | None) -> None:
        self._listener = listener
        if task_group is not None and self.max_age is not None:
            task_group.start_soon(self._expire_forever, name="sse-asgi memory expiry")

    # -- ids ------------------------------------------------------------------------------

    def parse(self, event_id: str) -> Position | None:
        epoch, dash, count = event_id.partition("-")
        if not dash or epoch != self._epoch:
            return None
        n = parse_counter(count, self._count)  # not from the future either
        return None if n is None else Position(event_id, (n,))

    def head(self) -> Position:
        return self._head

    # -- publishing -------------------------------------------------------------------------

    async def publish(self, topic: str, event: ServerSentEvent) -> str:
        now = self._clock()
        self.expire(now)
        n = self._count = self._count + 1
        event_id = f"{self._epoch}-{n}"
        entry = Entry(event_id, (n,), topic, event_with_id(event, event_id))
        state = self._topics.get(topic)
        if state is None:
            state = self._topics[topic] = _Topic(created=n - 1)
        state.add(entry, now, self.history, self.max_bytes)
        if not state.scheduled and self.max_age is not None:
            self._schedule(topic, state)
        self._head = entry
        assert self._listener is not None, "start() first"
        self._listener.deliver(entry)
        return event_id

    async def delete(self, topic: str) -> None:
        state = self._topics.pop(topic, None)
        if state is not None:
            self._bury(topic, state)

    # -- replay -----------------------------------------------------------------------------

    async def read(
        self,
        topics: Sequence[str],
        after: Position,
        *,
        limit: int,
        max_bytes: int,
        newest: bool = False,
    ) -> Replay:
        self.expire(self._clock())
        head = self._head
        (n,) = after.key
        if n > self._count:
            return Replay([], head, complete=True, lost="unknown")
        states = []
        for topic in topics:
            state = self._topics.get(topic)
            if self._lost(topic, state, n):
                return Replay([], head, complete=True, lost="expired")
            if state is not None:
                states.append(state)
        if newest:
            return Replay(_newest(states, n, limit, max_bytes), head, complete=True)
        merged = heapq.merge(*(state.after(n) for state in states), key=_count_of)
        page: list[Entry] = []
        size = 0
        for entry in merged:
            if page and (len(page) == limit or size + len(entry.event.encode()) > max_bytes):
                return Replay(page, page[-1], complete=False)
            page.append(entry)
            size += len(entry.event.encode())
        return Replay(page, head, complete=True)

    def _lost(self, topic: str, state: _Topic | None, n: int) -> bool:
        """True if an event of ``topic`` after position ``n`` is gone."""
        died_after = self._deaths[death_bucket(topic)] > n
        if state is None:
            return died_after  # no generation now: did one die that had events after n?
        # Trimmed or expired after n; or this generation began after n and an
        # earlier one died with events after n.
        return state.dropped > n or (state.created >= n and died_after)

    # -- expiry ---------------------------------------------------------------------------------

    def expire(self, now: float | None = None) -> None:
        """Drop every event older than ``max_age`` at ``now``, and topics idle that long.

        ``now`` defaults to the backend's clock. Costs O(log topics) per topic
        that has something to drop; nothing when nothing is due.

        ```py
        import anyio

        from sse_asgi import Broadcast, MemoryBackend

        now = 0.0
        backend = MemoryBackend(max_age=60, clock=lambda: now)  # a fake clock


        async def main():
            async with Broadcast(backend) as broadcast:
                start = backend.head()
                await broadcast.publish("news", "old")
                backend.expire(now + 61)  # as if 61 s had passed
                async with broadcast.subscribe("news", last_event_id=start.id) as events:
                    event = await anext(events)
                    print(event.event, event.data["reason"])
                    #> reset expired


        anyio.run(main)
        ```
        """
        if self.max_age is None:
            return
        cutoff = (self._clock() if now is None else now) - self.max_age
        due = self._due
        while due and due[0][0] < cutoff:
            _, _, topic, state = heapq.heappop(due)
            state.scheduled = False
            if self._topics.get(topic) is not state:
                continue  # deleted meanwhile
            state.expire(cutoff)
            if state.kept or state.last_time >= cutoff:
                self._schedule(topic, state)
            else:
                del self._topics[topic]  # idle for max_age: this generation ends
                self._bury(topic, state)

    async def _expire_forever(self) -> None:
        assert self.max_age is not None
        # Wake when the oldest thing is due, but not more often than this.
        granularity = self.max_age / 32
        while True:
            due = self._due
            delay = due[0][0] + self.max_age - self._clock() if due else self.max_age
            await anyio.sleep(max(delay, granularity))
            self.expire()

    def _schedule(self, topic: str, state: _Topic) -> None:
        state.scheduled = True
        heapq.heappush(self._due, (state.oldest_time(), next(self._tiebreak), topic, state))

    def _bury(self, topic: str, state: _Topic) -> None:
        bucket = death_bucket(topic)
        self._deaths[bucket] = max(self._deaths[bucket], state.last)


def _count_of(entry: Entry) -> int:
    return entry.key[0]


def _newest(states: list[_Topic], n: int, limit: int, max_bytes: int) -> list[Entry]:
    """The newest ``limit`` events of ``states`` after ``n`` (at most ``max_bytes`` but one)."""
    tails = [state.newest_after(n, limit) for state in states]
    merged = list(heapq.merge(*tails, key=_count_of))[-limit:]
    size, start = 0, len(merged)
    while start > 0:
        size += len(merged[start - 1].event.encode())
        if size > max_bytes and start < len(merged):
            break
        start -= 1
    return merged[start:]


class _Topic:
    """One generation of a topic: its retained events, oldest first, and its bounds.

    Events are kept in a list read from ``start`` (dropped slots are None,
    compacted now and then) so that a page after any position is a binary
    search away.
    """

    __slots__ = (
        "bytes",
        "created",
        "dropped",
        "entries",
        "last",
        "last_time",
        "scheduled",
        "sizes",
        "start",
        "times",
    )

    def __init__(self, created: int) -> None:
        self.created = created  # this generation's events are numbered after it
        self.last = created  # its newest event's number
        self.last_time = 0.0
        self.dropped = 0  # the newest number dropped (trimmed or expired); 0: none
        self.entries: list[Entry | None] = []
        self.times: list[float] = []
        self.sizes: list[int] = []
        self.start = 0
        self.bytes = 0
        self.scheduled = False

    @property
    def kept(self) -> int:
        return len(self.entries) - self.start

    def add(self, entry: Entry, now: float, history: int, max_bytes: int | None) -> None:
        self.last = entry.key[0]
        self.last_time = now
        size = len(entry.event.encode())
        self.entries.append(entry)
        self.times.append(now)
        self.sizes.append(size)
        self.bytes += size
        while self.kept > history or (max_bytes is not None and self.bytes > max_bytes):
            self._drop_oldest()

    def expire(self, cutoff: float) -> None:
        while self.kept and self.times[self.start] < cutoff:
            self._drop_oldest()

    def oldest_time(self) -> float:
        return self.times[self.start] if self.kept else self.last_time

    def after(self, n: int) -> Iterator[Entry]:
        """The retained events numbered after ``n``, oldest first."""
        entries = self.entries
        at = bisect_right(entries, n, lo=self.start, key=_count_or_zero)
        for i in range(at, len(entries)):
            entry = entries[i]
            assert entry is not None
            yield entry

    def newest_after(self, n: int, limit: int) -> list[Entry]:
        entries = self.entries
        at = bisect_right(entries, n, lo=self.start, key=_count_or_zero)
        return [e for e in entries[max(at, len(entries) - limit) :] if e is not None]

    def _drop_oldest(self) -> None:
        start = self.start
        entry = self.entries[start]
        assert entry is not None
        self.dropped = entry.key[0]
        self.bytes -= self.sizes[start]
        self.entries[start] = None  # freed now, compacted later
        self.start = start + 1
        if self.start >= 64 and self.start * 2 >= len(self.entries):
            del self.entries[: self.start], self.times[: self.start], self.sizes[: self.start]
            self.start = 0


def _count_or_zero(entry: Entry | None) -> int:
    return 0 if entry is None else entry.key[0]
