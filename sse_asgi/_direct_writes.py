"""Direct writes: a fan-out writes events to an idle stream itself, without waking it.

At fan-out, one event goes to thousands of streams that all wait for it.
Waking each stream's task to send it costs a task step, a future and a
loop handle per delivery -- about as much again as the write itself. So a
stream whose iterator can hand events straight over (a broadcast
:class:`~sse_asgi.Subscription`, which implements :class:`DirectSource`)
*parks* instead of awaiting it when nothing is queued: it registers itself
as the iterator's :class:`Sink` and sleeps on a future of its own. The
source then calls :meth:`Sink.deliver` with the events queued for it, which
writes them to the connection from the source's task (a publisher's, or
the one the source writes a batch of streams in), as a hand-written
fan-out over a list of ``send`` callables would; several events waiting
together go in one write.

A delivery the stream cannot take at once is never lost:

- the stream is not idle (a keep-alive ping is being sent, its headers are
  not out yet, it is ending): ``deliver`` returns False, the source queues
  the events as usual and calls :meth:`Sink.wake`; the stream takes them
  with its next ``__anext__``.
- the write would wait (the client reads slowly and the server applies
  back-pressure, or a middleware's ``send`` awaits something): the write
  is already started, so it is handed over -- the stream's own task
  finishes it, under the stream's send timeout, before anything else; and
  that stream parks no more (its writes are likely to wait again: handing
  each over costs more than being woken per event).

The first step of the write runs in the stream's context (``contextvars``)
and as the stream's task (what ``asyncio.current_task()`` returns), not the
publisher's, so a middleware wrapping ``send`` sees what it would see in
the stream's task; and what it binds to that task or context belongs to the
stream: an ``anyio.Lock``'s owner, a cancel scope's or an
``asyncio.timeout``'s task (the one they cancel), a context variable's
reset token. A write handed over is finished (or closed) by the stream's
task, in that same context. Parking happens only on asyncio, where a bare
future is the cheapest wait.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["DirectSource", "Sink", "direct_source"]


class Sink(Protocol):
    """A parked stream, as its iterator sees it (implemented by the send loop)."""

    def deliver(self, body: bytes) -> bool:
        """Write ``body`` (one or more encoded events) to the connection now, or take
        charge of writing it.

        True: the events are the stream's (written, or handed to its task, or
        the client is gone); the source must not yield them. False: the stream
        cannot take them now (nothing was sent); the source keeps them and
        calls :meth:`wake`.
        Never raises, but ``KeyboardInterrupt`` and ``SystemExit`` (which
        asyncio lets through any task): whatever the write raises is the
        stream's.
        """

    def wake(self) -> None:
        """Unpark the stream: it calls ``__anext__`` again (something is queued, or the end)."""


@runtime_checkable
class DirectSource(Protocol):
    """An async iterator that can deliver its events to a parked :class:`Sink`.

    The stream awaits ``start()`` once, before anything else. Then
    ``park(sink)`` returns True only when ``__anext__`` would have to wait
    for the next event: from then on, until it calls ``sink.wake()`` or the
    stream calls ``unpark(sink)``, the source hands its events to
    ``sink.deliver`` (in order, once each; those it has not handed over yet
    go to its queue, ahead of any later one, when the sink leaves), and
    wakes the sink for anything else that would end its wait (the end,
    falling behind).
    """

    async def start(self) -> None:
        """Get ready to deliver (what the first ``__anext__`` does first); raises what it would."""

    def park(self, sink: Sink) -> bool:
        """Register ``sink`` for the next events if none is waiting; False if one is."""

    def unpark(self, sink: Sink) -> None:
        """Stop handing events to ``sink`` (it is awake again); queue what it did not get."""


def direct_source(iterator: object) -> DirectSource | None:
    """``iterator``, if it can deliver events to a parked stream; else None."""
    return iterator if isinstance(iterator, DirectSource) else None
