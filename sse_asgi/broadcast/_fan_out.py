"""The fan-out: one event to every subscription of its topic in this process.

:meth:`FanOut.offer_all` runs once per subscriber per event, so its live
case is inlined (no copy of the subscribers, nothing allocated per
subscriber that the queue does not keep, no Python call per subscriber but
for a full queue or one that is not live). Every event is queued at every
subscriber before it returns; then:

- a subscriber whose task waits for an event is woken, :data:`WAKE_BATCH`
  at a time (:func:`_wake_batch`);
- a subscriber whose stream is *parked* on it (``sse_asgi._direct_writes``)
  is not woken: its events are written to its connection from here,
  :data:`WRITE_BATCH` streams at a time, one batch per publish and per turn
  of the event loop, those that waited longest first (:meth:`FanOut._write`).
  A stream gets everything queued for it in one write. So when events come
  faster than a fan-out can write them (a burst to 10,000 connections), an
  event published while an earlier one is still being written goes out
  with it, in the same write, to every stream not reached yet: a fan-out
  that falls behind catches up instead of falling further behind, and no
  event waits much longer than one pass over the streams. Between batches,
  the loop runs other tasks and polls for I/O, so a fan-out does not hold
  up every other connection for its whole length. A publisher that never
  lets the loop turn writes a stream's events itself once
  :data:`MAX_UNWRITTEN` wait for it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable

from ._backend import Entry
from ._subscription import LIVE, Subscription, Unwritten

__all__ = ["MAX_UNWRITTEN", "WAKE_BATCH", "WRITE_BATCH", "FanOut"]

# Waiting subscribers woken per turn of the event loop (see _wake_batch).
WAKE_BATCH = 256

# Parked streams written to per turn of the event loop (see FanOut._write):
# ~2.5 ms of uvicorn's sends, after which a publish due meanwhile may join in.
WRITE_BATCH = 256

# Events a parked stream may have waiting for the fan-out: a publish that
# brings one to this many writes them itself, before it returns. They are the
# server's backlog (publishes coming faster than the loop turns), not the
# client's: they do not count against `buffer` -- but for events a send
# publishes while the fan-out writes (then `max(buffer, MAX_UNWRITTEN)`).
MAX_UNWRITTEN = 16


class FanOut:
    """One broadcast's deliveries in this process; ``buffer`` is its queue limit per subscriber."""

    __slots__ = ("_bound", "_buffer", "_scheduled", "_writes", "_writing")

    def __init__(self, buffer: int) -> None:
        self._buffer = buffer
        self._bound = max(buffer, MAX_UNWRITTEN)
        # Parked subscriptions with events to write, in the order they got their
        # first: each is here once, exactly while its `_unwritten` is not None.
        self._writes: deque[Subscription] = deque()
        self._writing = False  # writing now (a send may publish again)
        self._scheduled = False  # a batch is due on the loop's next turn

    def offer_all(self, subscriptions: Iterable[Subscription], entry: Entry) -> None:
        """:meth:`Subscription.offer` for every subscription: the fan-out's hot path.

        ``entry`` is queued at each before this returns; the waiting ones are
        woken, and the parked ones that have :data:`MAX_UNWRITTEN` events
        waiting and the :data:`WRITE_BATCH` that waited longest are written
        to; the other parked ones on the loop's next turns.
        """
        buffer, writes, bound = self._buffer, self._writes, self._bound
        waiting: list[asyncio.Future[None]] | None = None
        full: list[Subscription] | None = None
        for subscription in subscriptions:
            if subscription._state is not LIVE:
                subscription.offer(entry)  # behind (it keeps it for later) or ended
                continue
            if subscription._sink is not None:  # parked: written from here
                if subscription._unwritten is None:
                    subscription._unwritten = entry
                    writes.append(subscription)
                elif subscription.keep_unwritten(entry, bound) >= MAX_UNWRITTEN:
                    if full is None:
                        full = [subscription]
                    else:
                        full.append(subscription)
                continue
            queue = subscription._queue
            if len(queue) >= buffer and not subscription._overflow():
                continue
            queue.append(entry)
            future = subscription._future
            if future is not None:
                subscription._future = None
                if waiting is None:
                    waiting = [future]
                else:
                    waiting.append(future)
            elif subscription._event is not None:
                subscription._wake()
        if waiting is not None:
            waiting.reverse()  # woken from the end: pop() lets each go at once
            _wake_batch(waiting)
        # Written after the loop over the subscribers, never during it: a
        # send may subscribe or leave. Not while writing already (a send
        # publishes): the write running takes these too.
        if (writes or full is not None) and not self._writing:
            self._write(full)

    def _write(self, full: list[Subscription] | None) -> None:
        """Write to the parked streams of ``full``, then to the next :data:`WRITE_BATCH`,
        all that each has not been written yet, in one write each; schedule the next batch.

        A stream that cannot take a write now (it is sending a ping, it is
        ending) is woken instead: its task takes those events from its queue.
        """
        self._writing = True  # a send that publishes queues, and does not write here
        writes = self._writes
        try:
            if full is not None:
                for subscription in full:  # they stay in the queue of writes: NOTHING
                    _write_several(subscription, Unwritten.NOTHING)
            pop = writes.popleft
            for _ in range(min(WRITE_BATCH, len(writes))):
                subscription = pop()
                unwritten = subscription._unwritten
                if unwritten is Unwritten.SEVERAL:
                    _write_several(subscription, None)
                    continue
                if unwritten is Unwritten.NOTHING:
                    subscription._unwritten = None  # written already, or requeued
                    continue
                assert unwritten is not None  # None: not in the queue of writes
                sink = subscription._sink  # the usual case: one event, nothing allocated
                assert sink is not None  # a sink that goes takes `_unwritten` to the queue
                subscription._unwritten = None  # a send that publishes starts afresh
                if sink.deliver(unwritten.event._encoded):
                    subscription._last = unwritten
                    continue
                subscription._queue.insert(0, unwritten)
                subscription._wake()  # its task takes it
        finally:
            self._writing = False
        if writes and not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._next_turn)

    def _next_turn(self) -> None:
        self._scheduled = False
        if self._writes and not self._writing:
            self._write(None)


def _write_several(subscription: Subscription, then: Unwritten | None) -> None:
    """Write the events a parked stream has waiting in its queue (``Unwritten.SEVERAL``)
    in one write, or wake it to take them; nothing if it was woken meanwhile. Its
    ``_unwritten`` becomes ``then``: None if it has left the queue of writes."""
    if subscription._unwritten is not Unwritten.SEVERAL:
        return  # woken meanwhile: requeued
    sink = subscription._sink
    assert sink is not None  # a sink that goes takes `_unwritten` to the queue
    subscription._unwritten = then
    # Out of the queue before the write: what a send publishes queues after.
    queue = subscription._queue
    entries = queue.copy()
    queue.clear()
    if sink.deliver(b"".join([entry.event._encoded for entry in entries])):
        subscription._last = entries[-1]
        return
    queue[:0] = entries
    subscription._wake()  # its task takes them


def _wake_batch(waiting: list[asyncio.Future[None]]) -> None:
    """Wake the last :data:`WAKE_BATCH` of ``waiting`` (taking them off it); the rest on
    the event loop's next turn.

    Garbage-collector neutral: each woken task frees its old future (and the
    task's wake-up callback on it) and makes a new one, so the objects the
    collector tracks stay level -- provided nothing else holds the old
    future, hence pop(), and provided the loop's handles (one per woken
    task, alive until it has run) stay few, hence the batches. Woken all at
    once from a list kept to the end, 10,000 subscribers left ~27,000 more
    tracked objects per publish: 39 young collections, and a full pass over
    every connection's objects (~300 ms at 10,000 connections through
    uvicorn) every few publishes. Now the broadcast sets off none: through
    uvicorn at 10,000 connections, with the send loop's fairness yield
    disabled, 0 young collections per publish (``gc.callbacks``). Between batches
    the loop also polls for I/O, so a fan-out does not hold up every other
    connection for its whole length; the tasks still run in the order they
    subscribed, and the event is queued at every subscriber before the
    publish returns.
    """
    pop = waiting.pop
    for _ in range(min(WAKE_BATCH, len(waiting))):
        future = pop()
        # try, not done() per call nor contextlib.suppress: a cancelled
        # waiter (it needs no waking) is the rare case.
        try:  # noqa: SIM105
            future.set_result(None)
        except asyncio.InvalidStateError:
            pass
    if waiting:
        waiting[-1].get_loop().call_soon(_wake_batch, waiting)
