"""The broadcast's errors."""

from __future__ import annotations

from .._errors import SSEError

__all__ = ["BroadcastClosedError", "BroadcastUnavailableError"]


class BroadcastClosedError(SSEError):
    """The broadcast was closed: no more publishing or subscribing.

    Example::

        await broadcast.aclose()
        await broadcast.publish("news", "late")  # raises BroadcastClosedError
    """


class BroadcastUnavailableError(SSEError):
    """The broadcast's backend cannot be reached: the event was not published (or read).

    Example::

        try:
            await broadcast.publish("news", item)
        except BroadcastUnavailableError:
            ...  # Redis is down: retry, or report the failure
    """
