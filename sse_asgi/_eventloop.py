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


# A publisher runs the first step of a parked stream's ``send`` itself
# (``_direct_writes``); whatever that step binds to "the current task" -- an
# ``anyio.Lock``'s owner, a cancel scope's or an ``asyncio.timeout``'s task to
# cancel -- must be the stream's task, which finishes the write if it waits,
# not the publisher's. CPython runs an eager task's first step the same way,
# inside its creator's call. One of the two below makes that possible; where
# neither exists (not a CPython we know) no stream parks.

#: Python 3.12+: ``swap_current_task(loop, task)`` makes ``task`` (None: no
#: task) what ``asyncio.current_task(loop)`` returns and returns the one it
#: replaced -- ``asyncio.tasks._swap_current_task``, a private name, but the
#: hook asyncio gives other task implementations. None before 3.12.
swap_current_task: (
    Callable[[asyncio.AbstractEventLoop, asyncio.Task[Any] | None], asyncio.Task[Any] | None] | None
) = getattr(asyncio.tasks, "_swap_current_task", None)

#: Python 3.10 and 3.11: asyncio's loop -> current task dict, which
#: ``current_task()`` and every task step (C and Python) share, to set and
#: restore in place. None where :data:`swap_current_task` exists.
current_tasks: dict[asyncio.AbstractEventLoop, asyncio.Task[Any]] | None = (
    getattr(asyncio.tasks, "_current_tasks", None) if swap_current_task is None else None
)
