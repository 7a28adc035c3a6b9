"""What little we need to know about the running event loop, asyncio or trio."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

__all__ = ["call_soon_threadsafe", "running_asyncio_loop"]


def running_asyncio_loop() -> asyncio.AbstractEventLoop | None:
    """The running asyncio loop, or None under trio (or another anyio backend)."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def call_soon_threadsafe() -> Callable[[Callable[[], object]], object]:
    """The current loop's "run this soon" that is safe from other threads and signal handlers."""
    loop = running_asyncio_loop()
    if loop is not None:
        return loop.call_soon_threadsafe
    import trio

    return trio.lowlevel.current_trio_token().run_sync_soon
