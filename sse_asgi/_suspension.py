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
"""

from __future__ import annotations

import types
from collections.abc import Awaitable, Coroutine, Generator
from typing import Any, TypeVar

__all__ = ["first_step", "resume"]

T = TypeVar("T")

Step = Coroutine[Any, Any, Any]


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
    step = _awaiting(awaitable)
    try:
        signal = step.send(None)
    except StopIteration as done:
        return None, done.value
    return step, signal


async def _awaiting(awaitable: Awaitable[T]) -> T:
    return await awaitable


@types.coroutine
def resume(step: Step, signal: Any) -> Generator[Any, Any, Any]:
    """Await the rest of an awaitable :func:`first_step` left suspended on ``signal``.

    Forwarded as ``await`` forwards (PEP 380): a value sent in goes to
    ``send()``; an exception thrown in goes to
    ``throw()``, or is raised here if the iterator has none; ``close()``
    goes to ``close()``, if it has one.
    """
    while True:
        try:
            sent = yield signal
        except GeneratorExit:
            close = getattr(step, "close", None)
            if close is not None:
                close()
            raise
        except BaseException as error:  # forwarded, as await forwards it
            throw = getattr(step, "throw", None)
            if throw is None:
                raise
            try:
                signal = throw(error)
            except StopIteration as done:
                return done.value
        else:
            try:
                signal = step.send(sent)
            except StopIteration as done:
                return done.value
