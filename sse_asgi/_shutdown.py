"""Ending open streams: on the app's request, and when the server is told to stop.

Every running stream is in :data:`registry`. :func:`close_all_streams` ends
them all cleanly (optionally with a final event), so the server's graceful
shutdown finds no open response to wait for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._event import ServerSentEvent
    from ._send_loop import SendLoop

__all__ = ["close_all_streams", "registry"]

#: The streams currently running in this process.
registry: set[SendLoop] = set()


def close_all_streams(final_event: ServerSentEvent | None = None) -> int:
    """End every open stream in this process: send ``final_event`` (if given), then finish the body.

    Each stream's iterator is closed (its ``finally`` blocks run) and its
    client sees a clean end of stream; a browser ``EventSource`` then
    reconnects after its retry delay -- to another worker, during a rolling
    deploy. Call it from the event loop thread, e.g. in a lifespan shutdown
    handler. Returns how many streams were asked to close.

    Example::

        @asynccontextmanager
        async def lifespan(app):
            yield
            close_all_streams(ServerSentEvent(event="shutdown", retry=2000))
    """
    streams = list(registry)
    for stream in streams:
        stream.close(final_event)
    return len(streams)
