"""The interface between the send loop and its event-loop drivers, one per kind of loop.

A driver runs what a stream needs besides its pump: a *watcher* that waits on
``receive()`` for ``http.disconnect``, and one *timer* armed for what the
timing policy says is due next. The send loop uses it as an async context
manager around its pump (``async with driver: await pump()``): the watcher
and the timer run while the body does, and ``cancel()`` ends the body.

Two implementations, as anyio has one backend class per event loop:
:class:`~sse_asgi._asyncio_driver.AsyncioDriver` (uvicorn, hypercorn,
granian: plain loop tasks and a timer on the loop's shared heap, because
anyio's task group and cancel scopes cost more per idle connection than
the server itself) and :class:`~sse_asgi._anyio_driver.AnyioDriver` (any other anyio
backend, i.e. trio: a task group, and the timer as the deadline of the
``receive()`` wait). :func:`~sse_asgi._send_loop._driver_for` picks one.
"""

from __future__ import annotations

from collections.abc import Awaitable
from types import TracebackType
from typing import Protocol

from ._timing_policy import StreamTiming
from .types import ReceiveMessage

__all__ = ["Driven", "Driver"]


class Driven(Protocol):
    """The stream a driver drives: what its watcher and timer call back (the send loop)."""

    @property
    def timing(self) -> StreamTiming:
        """The stream's timing policy: the timer is armed for its ``next_due()``."""

    @property
    def ending(self) -> bool:
        """Whether the stream is ending: nothing more is timed."""

    def on_message(self, message: ReceiveMessage) -> bool:
        """React to a message from ``receive()``; True once the client has left."""

    def on_receive_error(self) -> None:
        """``receive()`` raised (it was logged): end the stream as a disconnect."""

    async def on_timer(self) -> None:
        """Do what the timing policy says is due (a ping, a flush, the headers, a timeout)."""


class Driver(Protocol):
    """Runs a stream's watcher and timer around its pump (an async context manager)."""

    async def __aenter__(self) -> None:
        """Start the watcher and arm the timer; the body of the ``async with`` is the pump."""

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        """Stop the watcher and the timer, and wait for them.

        True if the body ended by the cancellation :meth:`cancel` caused. An
        exception from the stream's ``on_timer()`` (a send the server failed)
        cancels the body and is raised here in its place, as itself.
        """

    def cancel(self) -> None:
        """End the body of the ``async with`` (the pump) at its next await, from a callback."""

    def reschedule(self) -> None:
        """The policy's next due time moved earlier (a batch started): re-arm the timer."""

    def time(self) -> float:
        """The clock of the loop's cancel-scope deadlines (callable from a loop callback too)."""

    def checkpoint(self) -> Awaitable[None]:
        """Let the loop's other tasks run, then go on (the pump's fairness yield).

        Cancellation (:meth:`cancel`) is delivered there as at any await.
        """
