"""Awaiting while noticing whether the await suspended the task, at no cost when it did not.

The send loop's fairness yield (``_timing_policy``) only matters for a pump
that has run a while without being suspended; one that was suspended anyway
(its iterator waited for an item) owes other tasks nothing. To know which
happened, the pump drives an awaitable's first step itself, as an event loop
would -- once per fairness interval, since a first step driven from Python
costs about what a plain ``await`` of a ready item does (~0.2 µs):

- the first step *returns* (``StopIteration``): the await finished without
  ever reaching the event loop -- no other task ran;
- the first step *yields*: that value is for the event loop (an asyncio
  future, a trio trap, a bare ``yield`` for ``sleep(0)``), which always means
  the task is suspended and rescheduled. :func:`resume` passes it up and
  forwards every later step -- what the loop sends, what it throws
  (cancellation included), ``close()`` -- to the awaitable, exactly as
  ``await`` would have.

Both asyncio and trio run coroutines by ``send``/``throw`` on them alone,
so this is the same on both, and uses nothing private.

In use: ``step, value = first_step(awaitable)``; if ``step`` is not None
the task is to suspend, and ``value = await resume(step, value)`` finishes
the await.

That costs a generator (and a coroutine around it) per watched await: at
10,000 connections fed by one publish, every delivery is watched (each
comes more than an interval after the last), and those allocations set
off ~7 young garbage collections per publish. An iterator that knows when
it suspends the task -- a broadcast :class:`~sse_asgi.Subscription` --
says so for free instead: :class:`CountsSuspensions`, read before and
after a plain ``await``. Unknown iterators are still watched as above.
"""

from __future__ import annotations

import contextvars
import types
from collections.abc import Awaitable, Coroutine, Generator
from typing import Any, Protocol, TypeVar, runtime_checkable

__all__ = ["CountsSuspensions", "Step", "counts_suspensions", "first_step", "resume"]

T = TypeVar("T")

# What an await is driven by: a coroutine, or its (or any awaitable's) iterator.
Step = Coroutine[Any, Any, Any] | Generator[Any, Any, Any]


@runtime_checkable
class CountsSuspensions(Protocol):
    """An async iterator that counts the awaits of its ``__anext__()`` that suspended the task.

    ``suspensions`` must grow by at least one during every such await that
    suspended the awaiting task (yielded to the event loop), and never
    during one that did not: a count that grows without a suspension would
    let a busy stream starve the others.
    """

    @property
    def suspensions(self) -> int:
        """How many awaits of ``__anext__()`` suspended the awaiting task, so far."""


def counts_suspensions(iterator: object) -> CountsSuspensions | None:
    """``iterator``, if it counts its suspensions (an int ``suspensions``); else None."""
    if isinstance(iterator, CountsSuspensions) and type(iterator.suspensions) is int:
        return iterator
    return None


def first_step(awaitable: Awaitable[T]) -> tuple[Step | None, Any]:
    """Run ``awaitable`` up to its first suspension.

    ``(None, result)`` if it finished without suspending (its exception, if
    it raised, propagates); else ``(step, signal)``: the awaitable's
    iterator and the value it yielded for the event loop, for :func:`resume`.
    """
    # ``await`` itself resolves the awaitable, as the pump's plain await would:
    # a generator-based coroutine (``@types.coroutine``: no ``__await__``) is
    # used directly, an iterator without send() (C, Rust) is driven by next(),
    # and anything else raises await's own TypeError.
    # A coroutine is driven as it is (what ``await`` does with it too); no wrapper.
    step = awaitable if type(awaitable) is types.CoroutineType else _awaiting(awaitable)
    try:
        signal = step.send(None)
    except StopIteration as done:
        return None, done.value
    return step, signal


async def _awaiting(awaitable: Awaitable[T]) -> T:
    return await awaitable


@types.coroutine
def resume(
    step: Step, signal: Any, context: contextvars.Context | None = None
) -> Generator[Any, Any, Any]:
    """Await the rest of an awaitable :func:`first_step` left suspended on ``signal``.

    Forwarded as ``await`` forwards (PEP 380): a value sent in goes to
    ``send()``; an exception thrown in goes to
    ``throw()``, or is raised here if the iterator has none; ``close()``
    goes to ``close()``, if it has one. With ``context``, each of those runs
    in it: the context the first step ran in, if that was not the awaiting
    task's (a context variable set there is reset in the same one).
    """
    while True:
        try:
            sent = yield signal
        except GeneratorExit:
            close = getattr(step, "close", None)
            if close is not None:
                close() if context is None else context.run(close)
            raise
        except BaseException as error:  # forwarded, as await forwards it
            throw = getattr(step, "throw", None)
            if throw is None:
                raise
            try:
                signal = throw(error) if context is None else context.run(throw, error)
            except StopIteration as done:
                return done.value
        else:
            try:
                signal = step.send(sent) if context is None else context.run(step.send, sent)
            except StopIteration as done:
                return done.value
