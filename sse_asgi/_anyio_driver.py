"""The send loop's driver on any other anyio backend (trio): a task group, the timer as a deadline.

The watcher runs in an anyio task group around the pump; its ``receive()``
wait carries the timer as its deadline, set for what the timing policy says
is due next. When the deadline passes, the watcher does what is due and
waits again.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable
from types import TracebackType

import anyio
import anyio.lowlevel
from anyio.abc import TaskGroup

from ._driver import Driven
from .types import Receive, ReceiveMessage

__all__ = ["AnyioDriver"]

_monotonic = time.monotonic
_NEVER = float("inf")


class AnyioDriver:
    """A stream's watcher and timer in an anyio task group (see the module docstring)."""

    __slots__ = ("_error", "_exited", "_receive", "_stream", "_task_group", "_timer")

    def __init__(self, stream: Driven, receive: Receive) -> None:
        self._stream = stream
        self._receive = receive
        self._task_group: TaskGroup | None = None  # around the pump
        self._timer: anyio.CancelScope | None = None  # the receive() wait's deadline
        self._exited = False
        self._error: Exception | None = None  # what the timer's action raised

    def time(self) -> float:
        # On trio, anyio knows its backend in loop callbacks too (unlike on asyncio).
        return anyio.current_time()

    def checkpoint(self) -> Awaitable[None]:
        return anyio.lowlevel.checkpoint()

    # -- around the pump ----------------------------------------------------------------

    async def __aenter__(self) -> None:
        task_group = anyio.create_task_group()
        await task_group.__aenter__()
        self._task_group = task_group
        task_group.start_soon(self._watch)
        if self._stream.ending:  # closed before it started
            task_group.cancel_scope.cancel()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        assert self._task_group is not None
        self._task_group.cancel_scope.cancel()  # the watcher is no longer needed
        try:
            caught = bool(await self._task_group.__aexit__(exc_type, exc, traceback))
        except BaseException as error:
            # The task group wraps the body's own exception in an exception group:
            # pass it on as it is (the watcher raises nothing of its own), as the
            # asyncio driver does.
            if exc is not None and list(getattr(error, "exceptions", ())) == [exc]:
                raise exc from None
            raise
        finally:
            self._exited = True
        timer_error, self._error = self._error, None
        if timer_error is not None and (caught or exc is None):
            raise timer_error  # in the body's place, not in an exception group, as on asyncio
        return caught

    def cancel(self) -> None:
        if self._task_group is not None and not self._exited:
            self._task_group.cancel_scope.cancel()

    # -- the watcher, and the timer -------------------------------------------------------

    def reschedule(self) -> None:
        if self._timer is not None:
            self._timer.cancel()  # the watcher wakes, and waits again with the new deadline

    async def _watch(self) -> None:
        stream = self._stream
        while True:
            try:
                message = await self._receive_until_due()
            except Exception:
                stream.on_receive_error()
                return
            if message is not None:
                if stream.on_message(message):
                    return
                continue
            now = _monotonic()
            if now >= stream.timing.next_due(now):  # not woken early by reschedule()
                try:
                    await stream.on_timer()
                except Exception as error:  # a send failed: raised from __aexit__
                    self._error = error
                    self.cancel()
                    return

    async def _receive_until_due(self) -> ReceiveMessage | None:
        """The next message from ``receive()``; None once the timer is due first."""
        now = _monotonic()
        due = self._stream.timing.next_due(now)
        deadline = anyio.current_time() + (due - now) if due != _NEVER else _NEVER
        message = None
        with anyio.CancelScope(deadline=deadline) as timer:
            self._timer = timer
            message = await self._receive()
        self._timer = None
        return message  # a message that arrived as the timer fired still counts
