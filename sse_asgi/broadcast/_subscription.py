"""One subscriber's view of its topics: catch up from the history page by page, then live.

A subscription is in one of four states:

- ``new``: not started; nothing registered.
- ``behind``: registered for live events, but it has not had everything up
  to the newest position yet (it resumes after a ``Last-Event-ID``, or the
  backend's deliveries were not continuous). It reads the backend's history
  a page at a time, as its consumer asks for events, so it never holds more
  than one page of the past. Live events that arrive meanwhile wait in a
  bounded ``pending`` queue; if that overflows it is emptied -- the history
  has those events -- and a later read must start after the overflow before
  the subscription may hand over to them.
- ``live``: every event arrives through :meth:`Subscription.offer` (and its
  inlined twin in ``_fan_out``, the fan-out's hot path) into a queue of at
  most ``buffer`` events, where the overflow policy applies; while a stream
  is parked on the subscription, the fan-out writes what is queued straight
  to that stream's connection.
- ``ended``: closed, overflowed, or failed; what is queued is still yielded.

Registration happens once, in one synchronous step after every await of
start-up, so a subscription whose start fails leaves nothing behind; a
subscription that fails later (a read, its filter) unregisters itself.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterable
from types import TracebackType
from typing import Any, NoReturn, Protocol

import anyio

from .._direct_writes import Sink
from .._event import ServerSentEvent
from .._eventloop import running_asyncio_loop
from ._backend import BroadcastBackend, Entry, Lost, Position
from ._errors import BroadcastClosedError
from ._ids import MAX_LAST_EVENT_ID, same_epoch, summary

__all__ = ["LIVE", "REPLAY_PAGE_BYTES", "REPLAY_PAGE_EVENTS", "Subscription", "Unwritten"]

logger = logging.getLogger("sse_asgi")

# One page of history: what a subscriber catching up holds at most (or one
# event, if a single event is larger), whatever the history retains.
REPLAY_PAGE_EVENTS = 64
REPLAY_PAGE_BYTES = 1 << 18

# The topic of a reset's entry: no real topic is empty.
_RESET = ""

# States, compared by identity on the hot path.
_NEW = "new"
_BEHIND = "behind"
LIVE = "live"  # the fan-out (``_fan_out``) reads it too
_ENDED = "ended"


class Unwritten(enum.Enum):
    """What a subscription holds for the fan-out besides one entry not written yet."""

    SEVERAL = "several"  # entries not written yet, in order, in its queue
    NOTHING = "nothing"  # none, but it is still in the fan-out's queue of writes


class _Deliveries(Protocol):
    """The broadcast's fan-out (``_fan_out.FanOut``), as a subscription sees it."""

    def offer_all(self, subscriptions: Iterable[Subscription], entry: Entry) -> None: ...


class _Owner(Protocol):
    """What a subscription uses of the :class:`~sse_asgi.Broadcast` that made it.

    A protocol, not an import of ``_front`` (which imports this module to
    create subscriptions): no cycle, even for the type checker.
    """

    @property
    def backend(self) -> BroadcastBackend: ...
    @property
    def buffer(self) -> int: ...
    @property
    def overflow(self) -> str: ...
    @property
    def reset_event(self) -> str: ...
    async def _ensure_started(self) -> None: ...
    def _running(self) -> bool: ...
    def _register(self, subscription: Subscription) -> None: ...
    @property
    def _fan_out(self) -> _Deliveries: ...
    def _unregister(self, subscription: Subscription) -> None: ...


class Subscription(AsyncIterator[ServerSentEvent]):
    """One subscriber's view of one or more topics: what it missed, then live events.

    Iterate it (it ends when the broadcast closes, or when this subscriber
    fell too far behind with ``overflow="disconnect"``); close it with
    ``aclose()`` or by leaving ``async with``. ``EventSourceResponse`` closes
    it for you when the client disconnects.

    ``suspensions`` (int) counts the awaits of ``__anext__()`` that suspended
    the awaiting task to wait for an event: a stream's send loop reads it to
    know that its iterator let other tasks run, so it owes them no extra
    yield (``sse_asgi._suspension.CountsSuspensions``). It assumes one task
    iterates the subscription, as a stream does.

    ``start``, ``park`` and ``unpark`` let an ``EventSourceResponse`` over a
    subscription sleep while the broadcast writes its events to the
    connection itself (``sse_asgi._direct_writes.DirectSource``): at
    fan-out, no task is woken per delivery.

    ```py
    import anyio

    from sse_asgi import Broadcast


    async def main():
        async with Broadcast() as broadcast:
            async with broadcast.subscribe("news") as events:
                await broadcast.publish("news", "one")
                await broadcast.publish("news", "two")
                async for event in events:
                    print(event.data)
                    #> one
                    #> two
                    if event.data == "two":
                        break


    anyio.run(main)
    ```
    """

    __slots__ = (
        "_awaitable",
        "_broadcast",
        "_buffer",
        "_drop_oldest",
        "_error",
        "_event",
        "_filter",
        "_from",
        "_future",
        "_last",
        "_last_event_id",
        "_loop",
        "_pending",
        "_queue",
        "_reading",
        "_serial",
        "_sink",
        "_state",
        "_unwritten",
        "_valid_from",
        "suspensions",
        "topics",
    )

    def __init__(
        self,
        broadcast: _Owner,
        topics: tuple[str, ...],
        last_event_id: str | None,
        filter: Callable[[ServerSentEvent], bool] | None,
    ) -> None:
        self._broadcast = broadcast
        self.topics = topics
        self._last_event_id = last_event_id
        self._filter = filter
        self._buffer = broadcast.buffer
        self._drop_oldest = broadcast.overflow == "drop_oldest"
        self._state = _NEW
        self.suspensions = 0
        # Entries to yield, in order: live ones, or a page of history (and a
        # reset, as an entry of no topic at the position it resumes from).
        # A list, not a deque: it holds 0 or 1 entries most of the time, and an
        # empty deque costs 760 bytes -- at 10,000 subscribers, enough cache
        # misses and collector work to slow a fan-out by 8%. pop(0) moves at
        # most `buffer` pointers.
        self._queue: list[Entry] = []
        # Behind only: live entries that came meanwhile, complete since read
        # number `_valid_from` was issued (reads are numbered by `_serial`).
        self._pending: list[Entry] | None = None
        self._serial = 0
        self._valid_from = 0
        self._last: Position | None = None  # the position of the last entry taken
        self._from: Position | None = None  # behind: the next read starts after it
        self._error: Exception | None = None
        # What the subscriber waits on when its queue is empty: a bare future on
        # asyncio (woken without a coroutine), else an anyio Event. Fanning out to
        # 10,000 subscribers wakes 10,000 of them.
        self._future: asyncio.Future[None] | None = None
        self._event: anyio.Event | None = None
        self._loop = running_asyncio_loop()
        self._awaitable: Awaitable[ServerSentEvent] | None = None  # once started, on asyncio
        self._reading: asyncio.Task[None] | None = None
        # A stream parked on us (``sse_asgi._direct_writes``): the fan-out
        # writes live events straight to its connection.
        self._sink: Sink | None = None
        # What the fan-out has yet to write to a parked stream -- one entry
        # (not in `_queue`: at fan-out, touching each queue, growing and
        # shrinking it, would cost a tenth of the write), or SEVERAL: events
        # came faster than it wrote them, and they wait in `_queue` (no list
        # made per subscriber for the collector to count); NOTHING once they
        # are written or requeued but the subscription is still in the
        # fan-out's queue of writes. None exactly when it is not in that queue,
        # so it is there at most once. Whenever the sink goes, they go back to
        # the head of the queue (`_requeue`).
        self._unwritten: Entry | Unwritten | None = None

    async def __aenter__(self) -> Subscription:
        # Entering subscribes: events published after this line are not missed.
        await self.start()
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
        awaitable = self._awaitable
        if awaitable is not None:
            # Started, on asyncio: one awaitable for the subscription's life, not
            # a coroutine per event -- at 10,000 subscribers those are most of
            # what a fan-out allocates, and the garbage collector's work.
            return awaitable
        return self._next()

    async def aclose(self) -> None:
        """Stop receiving events and free this subscription's place."""
        self.end()
        self._broadcast._unregister(self)

    # -- what the broadcast calls -------------------------------------------------------

    def offer(self, entry: Entry) -> None:
        """Take ``entry`` (published to one of our topics): queue it, or keep it for later.

        Called by the broadcast for every event of our topics, in order; never blocks.
        """
        state = self._state
        if state is LIVE:
            self._broadcast._fan_out.offer_all((self,), entry)
        elif state is _BEHIND:
            pending = self._pending
            if pending is None or len(pending) + len(self._queue) >= self._buffer:
                self._invalidate_pending()  # the history has them
            else:
                pending.append(entry)

    async def start(self) -> None:
        """Subscribe now, without waiting for an event (as entering ``async with`` does).

        Raises :class:`~sse_asgi.BroadcastClosedError` or
        :class:`~sse_asgi.BroadcastUnavailableError` as the first
        ``__anext__()`` would.
        """
        if self._state is _NEW:
            await self._start()

    def park(self, sink: Sink) -> bool:
        """Hand live events straight to ``sink`` until it wakes; False if an event is
        waiting (or this subscription is not live, filters, or is not on asyncio).

        A stream's send loop parks here when it would wait for the next event
        (``sse_asgi._direct_writes.DirectSource``), so a publish writes to it
        without waking its task.
        """
        if self._state is not LIVE or self._queue or self._filter is not None:
            return False
        if self._awaitable is None:
            return False  # not on asyncio
        self._sink = sink
        return True

    def unpark(self, sink: Sink) -> None:
        """Stop handing events to ``sink``; what it was not written yet is queued."""
        if self._sink is sink:
            self._sink = None
            self._requeue()

    def end(self) -> None:
        """Stop taking events: iteration ends once what is queued has been yielded."""
        if self._state is not _ENDED:
            self._state = _ENDED
            self._awaitable = None  # it refers back to us
            self._pending = None
            self._wake()

    def fall_behind(self) -> None:
        """Deliveries were not continuous: catch up from the backend after what we hold."""
        state = self._state
        if state is LIVE:
            self._requeue()
            queue = self._queue
            self._from = queue[-1] if queue else self._last
            self._state = _BEHIND
            self._invalidate_pending()
            self._wake()
        elif state is _BEHIND:
            self._invalidate_pending()

    def counts(self) -> bool:
        """True while this subscription receives every event of its topics (started, not ended)."""
        state = self._state
        return state is LIVE or state is _BEHIND

    # -- internals ------------------------------------------------------------------------

    async def _start(self) -> None:
        broadcast = self._broadcast
        await broadcast._ensure_started()
        backend = broadcast.backend
        await backend.ready()
        if self._state is not _NEW:
            return  # started meanwhile (two awaits of a fresh subscription)
        if not broadcast._running():
            raise BroadcastClosedError("this broadcast is closed")
        head = backend.head()
        assert head is not None, "ready() means head() is known"
        position = None
        if self._last_event_id is not None:
            text = self._last_event_id
            if len(text) <= MAX_LAST_EVENT_ID:
                position = backend.parse(text)
            if position is None:
                self._queue.append(self._reset_entry("unknown", head, text))
        # From here to the end nothing awaits and nothing raises: registered
        # means started, and live events queue from this line on.
        broadcast._register(self)
        if position is None:
            self._last = head
            self._state = LIVE
        else:
            # Resuming: read what it missed first.
            self._from = self._last = position
            self._pending = []
            self._state = _BEHIND
        if self._loop is not None:
            self._awaitable = _NextEvent(self, self._loop)

    async def _next(self) -> ServerSentEvent:
        # Starting up, and anyio's other backends (on asyncio, the awaitable).
        if self._state is _NEW:
            await self._start()
        awaitable = self._awaitable
        if awaitable is not None:
            return await awaitable
        while True:
            event = self._pop()
            if event is not None:
                return event
            state = self._state
            if state is _BEHIND:
                await self._catch_up()
            elif state is LIVE:
                wakeup = self._event = anyio.Event()
                self.suspensions += 1  # a fresh event: waiting on it always suspends
                await wakeup.wait()
            else:
                self._raise_end()

    def _pop(self) -> ServerSentEvent | None:
        """The next event to yield, if one is waiting."""
        queue = self._queue
        while queue:
            entry = queue.pop(0)
            self._last = entry
            if self._filter is None or self._keep(entry):
                return entry.event
        return None

    def _keep(self, entry: Entry) -> bool:
        """The filter's verdict (a reset is always kept); if it raises, this
        subscription ends (and unregisters)."""
        assert self._filter is not None
        if entry.topic is _RESET:
            return True
        try:
            return bool(self._filter(entry.event))
        except StopIteration as exc:
            # Inside an await, a StopIteration would pass for its value (PEP 479).
            self._fail()
            raise RuntimeError("a subscription's filter raised StopIteration") from exc
        except BaseException:
            self._fail()
            raise

    def _raise_end(self) -> NoReturn:
        error, self._error = self._error, None
        if error is not None:
            raise error
        raise StopAsyncIteration

    def _fail(self, error: Exception | None = None) -> None:
        self._error = error
        self.end()
        self._broadcast._unregister(self)

    async def _catch_up(self) -> None:
        """Read the next page of what this subscription missed; go live once it has it all.

        Never raises but for cancellation, which changes nothing (the page is
        read again): a backend failure ends the subscription, to be raised to
        its consumer.
        """
        broadcast = self._broadcast
        self._serial += 1
        serial = self._serial
        after = self._from
        assert after is not None
        try:
            replay = await broadcast.backend.read(
                self.topics,
                after,
                limit=min(self._buffer, REPLAY_PAGE_EVENTS),
                max_bytes=REPLAY_PAGE_BYTES,
                newest=self._drop_oldest,
            )
        except Exception as exc:
            if self._state is _BEHIND:
                self._fail(exc)
            return
        if replay.complete:
            # Live events continue from what this process has delivered. A
            # shared backend's reader may not be there yet -- not even at
            # `after`, if the client's id came from another worker: going live
            # at its head would send again what the client had. So wait for it.
            await broadcast.backend.delivered(replay.position)
        if self._state is not _BEHIND or serial != self._serial:
            return  # ended meanwhile, or superseded
        position, entries = replay.position, replay.entries
        if replay.complete:
            # Still behind (a backend whose delivered() does not wait): the
            # page stops at the head; its reader delivers the rest.
            head = broadcast.backend.head()
            if head is not None and head.key < position.key and same_epoch(head.id, position.id):
                position = head
                entries = [entry for entry in entries if entry.key <= head.key]
        queue = self._queue
        lost = replay.lost
        if lost is not None:
            queue.append(self._reset_entry(lost, position, after.id))
        else:
            queue.extend(entries)
        self._from = position
        pending = self._pending
        assert pending is not None
        if replay.complete and serial >= self._valid_from:
            # Everything up to `position` is in hand, and every live event
            # since this read began is pending: hand over to them.
            key = position.key
            for entry in pending:
                if entry.key > key:
                    queue.append(entry)
            self._pending = None
            if not queue:
                self._last = position
            self._state = LIVE
        elif len(pending) + len(queue) > self._buffer:
            self._invalidate_pending()

    def _invalidate_pending(self) -> None:
        # Live events were missed: only a read issued from now on may hand over.
        self._pending = []
        self._valid_from = self._serial + 1

    def _read_in_task(self) -> asyncio.Task[None]:
        """On asyncio, the page read the awaitable waits on (cancelled with the waiter)."""
        task = self._reading
        if task is None or task.done():
            assert self._loop is not None
            task = self._reading = self._loop.create_task(self._catch_up())
        return task

    def _reset_entry(self, reason: Lost, position: Position, resumed: str) -> Entry:
        """The reset event, queued as an entry of no topic at the position it goes on
        from; its data names (at most 64 characters of) the id it could not resume from."""
        data = {"reason": reason, "last_event_id": summary(resumed)}
        event = ServerSentEvent(event=self._broadcast.reset_event, data=data, id=position.id)
        return Entry(position.id, position.key, _RESET, event)

    def _overflow(self) -> bool:
        """The live queue is full and another event is coming: apply the overflow
        policy. True if the event is still to be queued."""
        queue = self._queue
        if self._drop_oldest:
            dropped = queue.pop(0)
            if dropped.topic is _RESET and queue:  # a reset is never dropped
                queue[0] = dropped
            return True
        logger.info("SSE subscriber fell %d events behind; disconnecting it", len(queue))
        queue.clear()
        self.end()
        return False

    def _requeue(self) -> None:
        """Put what the fan-out has not written to the stream that was parked here back
        at the head of the queue."""
        unwritten = self._unwritten
        if unwritten is not None:
            self._unwritten = Unwritten.NOTHING  # still in the fan-out's queue of writes
            if not isinstance(unwritten, Unwritten):
                self._queue.insert(0, unwritten)  # SEVERAL: they are in the queue already

    def keep_unwritten(self, entry: Entry, bound: int) -> int:
        """Parked, in the fan-out's queue of writes: keep ``entry`` after the events not
        written yet (they come faster than the fan-out writes them); the overflow
        policy applies from ``bound`` events. Returns how many are waiting (0: it
        overflowed and ended)."""
        unwritten = self._unwritten
        assert unwritten is not None
        if unwritten is Unwritten.NOTHING:
            self._unwritten = entry
            return 1
        queue = self._queue
        if unwritten is not Unwritten.SEVERAL:
            queue.append(unwritten)  # the queue is empty while parked
            self._unwritten = Unwritten.SEVERAL
        if len(queue) >= bound and not self._overflow():
            return 0  # disconnected: ended, nothing half-sent
        queue.append(entry)
        return len(queue)

    def _wake(self) -> None:
        sink = self._sink
        if sink is not None:
            self._sink = None
            self._requeue()
            sink.wake()
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
    await at once; otherwise, live, it yields a fresh future to the task,
    exactly as ``await future`` would, and runs again when the broadcast
    resolves it; behind, it waits the same way for a task reading the next
    page of history. A cancelled wait leaves the queue untouched (and
    cancels that read), so nothing is lost.

    It was also written in C; that saved 14-20% of a 10,000-subscriber
    fan-out (``benchmarks/fanout.py``), short of the 25% a compiled module
    must earn here, so this is the only implementation.
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
        queue = subscription._queue
        while queue:
            entry = queue.pop(0)
            subscription._last = entry
            if subscription._filter is None or subscription._keep(entry):
                raise StopIteration(entry.event)  # the value of the await
        state = subscription._state
        if state is LIVE:
            # Yielding to the task always suspends it: counted for the send loop.
            subscription.suspensions += 1
            future = subscription._future = self._create_future()
            # What the first step of `await future` does (without making its
            # iterator): mark it as one to wait on and yield it to the task.
            future._asyncio_future_blocking = True
            return future
        if state is _BEHIND:
            subscription.suspensions += 1
            task = subscription._read_in_task()
            task._asyncio_future_blocking = True
            return task
        return subscription._raise_end()
