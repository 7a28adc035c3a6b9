"""What little we need to know about the running event loop, asyncio or trio."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

__all__ = ["CallSoon", "call_soon_threadsafe", "running_asyncio_loop", "running_loop"]

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
