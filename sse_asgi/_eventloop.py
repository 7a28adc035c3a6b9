"""What little we need to know about the running event loop, asyncio or trio."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

__all__ = [
    "CallSoon",
    "call_soon_threadsafe",
    "current_tasks",
    "running_asyncio_loop",
    "running_loop",
    "swap_current_task",
]

#: A loop's "run this callback soon", safe from other threads and signal handlers.
CallSoon = Callable[[Callable[[], object]], object]


def running_asyncio_loop() -> asyncio.AbstractEventLoop | None:
    """The running asyncio loop, or None under trio (or another anyio backend)."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def running_loop() -> object:
    """The running event loop, as an object to tell loops apart and to weakly refer to.

    The asyncio loop itself; under trio (anyio's only other backend), the
    run's ``TrioToken``. Pass it to :func:`call_soon_threadsafe`.
    """
    loop = running_asyncio_loop()
    if loop is not None:
        return loop
    import trio

    return trio.lowlevel.current_trio_token()


def call_soon_threadsafe(loop: object) -> CallSoon:
    """``loop``'s (from :func:`running_loop`) thread- and signal-safe "run this soon"."""
    if isinstance(loop, asyncio.AbstractEventLoop):
        return loop.call_soon_threadsafe
    import trio

    assert isinstance(loop, trio.lowlevel.TrioToken)
    return loop.run_sync_soon


def _swap_in_current_tasks(
    loop: asyncio.AbstractEventLoop, task: asyncio.Task[Any] | None
) -> asyncio.Task[Any] | None:
    """Python 3.10 and 3.11: what 3.12's ``_swap_current_task`` does, on the dict that
    asyncio's task steps (C and Python) and ``current_task()`` share: half the cost of
    leaving and entering with ``_leave_task``/``_enter_task`` (3.11: ~0.2 µs a swap
    and back, not ~0.45), and it runs twice per direct write."""
    assert _current_tasks is not None
    previous = _current_tasks.get(loop)
    if task is None:
        _current_tasks.pop(loop, None)
    else:
        _current_tasks[loop] = task
    return previous


#: asyncio's loop -> current task dict, which ``current_task()`` reads (CPython
#: 3.10-3.13, C and Python tasks alike), or None. Set and restored in place,
#: it is :data:`swap_current_task` without a Python call: the per-write way.
current_tasks: dict[asyncio.AbstractEventLoop, asyncio.Task[Any]] | None = getattr(
    asyncio.tasks, "_current_tasks", None
)
_current_tasks = current_tasks


#: ``swap_current_task(loop, task)``: make ``task`` (None: no task) what
#: ``asyncio.current_task(loop)`` returns, and return the one it replaced.
#:
#: A publisher runs the first step of a parked stream's ``send`` itself
#: (``_direct_writes``); whatever that step binds to "the current task" -- an
#: ``anyio.Lock``'s owner, a cancel scope's or an ``asyncio.timeout``'s task to
#: cancel -- must be the stream's task, which finishes the write if it waits,
#: not the publisher's. CPython runs an eager task's first step the same way,
#: inside its creator's call (3.12+: ``asyncio.tasks._swap_current_task``, a
#: private name, but the hook asyncio gives other task implementations).
#: None where asyncio has neither hook (not a CPython we know): then no
#: stream parks, and every event goes through the stream's own task.
swap_current_task: (
    Callable[[asyncio.AbstractEventLoop, asyncio.Task[Any] | None], asyncio.Task[Any] | None] | None
) = getattr(
    asyncio.tasks,
    "_swap_current_task",
    _swap_in_current_tasks if _current_tasks is not None else None,
)
