"""One loop timer for every stream on an asyncio loop: a heap of due times.

Every open stream keeps a timer armed (its next keep-alive ping, at least).
As a loop ``call_later`` that costs ~0.6 KiB per connection on uvloop (the
handle, a libuv timer, a copy of the context) -- more than any other part
of an idle stream. Here a stream's timer is an entry of one heap per loop,
~0.1 KiB, and the loop has one ``call_later`` armed, for the earliest.

Cancelling marks an entry dead; dead entries leave the heap when their time
comes, or all at once when they outnumber the live ones (a coalescing
stream re-arms for every batch), so the heap stays within twice the open
streams.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
import weakref
from typing import Any, Protocol

__all__ = ["LoopTimers", "Timed", "loop_timers"]

_monotonic = time.monotonic
_NEVER = float("inf")
# Below this many dead entries the heap is never rebuilt: not worth it.
_COMPACT_MIN = 64


class Timed(Protocol):
    """What a timer entry calls when its time has come."""

    def on_due(self) -> None: ...


# An entry: [when (time.monotonic()), sequence (orders equal times; -1 once taken
# off the heap to run), the Timed or None once cancelled or run]. A list: the heap
# compares lists in C.
Entry = list[Any]


class LoopTimers:
    """The timers of one event loop (see the module docstring). Loop thread only."""

    __slots__ = (
        "__weakref__",
        "_armed_at",
        "_dead",
        "_handle",
        "_heap",
        "_loop",
        "_running",
        "_seq",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = weakref.ref(loop)  # the registry is keyed by the loop: no cycle to it
        self._heap: list[Entry] = []
        self._seq = itertools.count()
        self._handle: asyncio.TimerHandle | None = None
        self._armed_at = _NEVER
        self._dead = 0
        self._running = False

    def __len__(self) -> int:
        """Entries on the heap, dead ones included."""
        return len(self._heap)

    def call_at(self, when: float, due: Timed) -> Entry:
        """Call ``due.on_due()`` at ``when`` (a ``time.monotonic()`` time), or soon after."""
        entry: Entry = [when, next(self._seq), due]
        heapq.heappush(self._heap, entry)
        if when < self._armed_at and not self._running:
            self._arm(when)
        return entry

    def cancel(self, entry: Entry) -> None:
        """Do not call ``entry``'s target (if it has not been called yet)."""
        if entry[2] is None:
            return
        entry[2] = None
        if entry[1] < 0:
            return  # taken off the heap by the pass running now
        self._dead += 1
        heap = self._heap
        if self._dead == len(heap):
            # Nothing left to wait for: no loop timer either, which would keep
            # the loop alive from this registry after its last stream.
            heap.clear()
            self._dead = 0
            self._disarm()
        elif self._dead > _COMPACT_MIN and self._dead * 2 > len(heap):
            self._heap = [live for live in heap if live[2] is not None]
            heapq.heapify(self._heap)
            self._dead = 0

    def _disarm(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._handle, self._armed_at = None, _NEVER

    def _arm(self, when: float) -> None:
        self._disarm()
        loop = self._loop()
        if loop is None or loop.is_closed():
            return
        self._armed_at = when
        self._handle = loop.call_later(max(when - _monotonic(), 0.0), self._run)

    def _run(self) -> None:
        """The loop's timer fired: call every entry that is due, then re-arm for the next."""
        self._handle, self._armed_at = None, _NEVER
        heap = self._heap
        now = _monotonic()
        due: list[Entry] = []
        # Taken first, then called: an entry a call makes is for the next pass.
        while heap and heap[0][0] <= now:
            entry = heapq.heappop(heap)
            if entry[2] is None:
                self._dead -= 1
            else:
                entry[1] = -1  # off the heap: cancelling it now counts nothing
                due.append(entry)
        self._running = True
        try:
            for entry in due:
                target = entry[2]
                if target is None:  # cancelled by an earlier call of this pass
                    continue
                entry[2] = None
                self._call(target)
        finally:
            self._running = False
            self._rearm()

    def _call(self, target: Timed) -> None:
        try:
            target.on_due()
        except Exception as error:  # as the loop reports a callback's error; the others still run
            loop = self._loop()
            if loop is not None:
                loop.call_exception_handler(
                    {"message": "sse-asgi timer callback failed", "exception": error}
                )

    def _rearm(self) -> None:
        heap = self._heap
        while heap and heap[0][2] is None:
            heapq.heappop(heap)
            self._dead -= 1
        if heap:
            self._arm(heap[0][0])


_registry: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopTimers] = (
    weakref.WeakKeyDictionary()
)


def loop_timers(loop: asyncio.AbstractEventLoop) -> LoopTimers:
    """The timers of ``loop`` (made on first use)."""
    timers = _registry.get(loop)
    if timers is None:
        timers = _registry[loop] = LoopTimers(loop)
    return timers
