"""The send loop's driver on asyncio (uvicorn, hypercorn, granian): a plain task and a loop timer.

Built for the idle connection, which is most of them: the watcher is a bare
loop task waiting on ``receive()``, and the timer an entry in the loop's one
heap of timers (``_loop_timers``) for what the timing policy says is due
next, which spawns a short task only when something must be sent. An anyio
task group and cancel scopes would cost more per connection (~3.5 KB) than
the server itself spends.

The pump's cancellation is the stdlib's own cancel scope, ``asyncio.timeout``
(Python >= 3.11): ~130 B where an anyio ``CancelScope`` costs ~900 B, and it
composes with anyio's scopes through ``cancelling()``/``uncancel()``. Python
3.10 has no ``asyncio.timeout``: there it is an anyio ``CancelScope``.
"""

from __future__ import annotations

import asyncio
import time
import types
from collections.abc import Awaitable, Callable, Generator
from types import TracebackType
from typing import Protocol

import anyio

from ._driver import Driven
from ._loop_timers import Entry, loop_timers
from .types import Receive

__all__ = ["AsyncioDriver"]

_monotonic = time.monotonic
_NEVER = float("inf")


@types.coroutine
def _yield_to_loop() -> Generator[None, None, None]:
    """One bare ``yield``: an asyncio task goes to the back of the ready queue (as
    ``asyncio.sleep(0)``); a pending cancellation is raised here."""
    yield


class _Timeout(Protocol):
    """What we use of ``asyncio.Timeout`` (Python >= 3.11), entered and left by hand."""

    def reschedule(self, when: float | None) -> None: ...
    async def __aenter__(self) -> _Timeout: ...
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None: ...


_asyncio_timeout: Callable[[float | None], _Timeout] | None = getattr(asyncio, "timeout", None)


class AsyncioDriver:
    """A stream's watcher and timer on an asyncio loop (see the module docstring)."""

    __slots__ = (
        "_error",
        "_exited",
        "_loop",
        "_receive",
        "_scope",
        "_stream",
        "_timer",
        "_timer_task",
        "_timers",
        "_watcher",
    )

    def __init__(self, stream: Driven, receive: Receive, loop: asyncio.AbstractEventLoop) -> None:
        self._stream = stream
        self._receive = receive
        self._loop = loop
        self._scope: _Timeout | anyio.CancelScope | None = None  # around the pump
        self._watcher: asyncio.Task[None] | None = None
        self._timers = loop_timers(loop)  # one heap and one loop timer for every stream
        self._timer: Entry | None = None
        self._timer_task: asyncio.Task[None] | None = None  # what the timer does, while it runs
        self._exited = False
        self._error: Exception | None = None  # what the timer's action raised

    def time(self) -> float:
        return self._loop.time()

    def checkpoint(self) -> Awaitable[None]:
        # What asyncio.sleep(0) yields, without its coroutine, or anyio's two
        # and its look-up of the running library.
        return _yield_to_loop()

    # -- around the pump ----------------------------------------------------------------

    async def __aenter__(self) -> None:
        self._watcher = self._loop.create_task(self._watch())
        self.reschedule()
        if _asyncio_timeout is not None:
            timeout = _asyncio_timeout(None)
            await timeout.__aenter__()
            self._scope = timeout
        else:  # Python 3.10
            scope = anyio.CancelScope()
            scope.__enter__()
            self._scope = scope
        if self._stream.ending:  # closed before it started
            self.cancel()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        try:
            caught = await self._exit_scope(exc_type, exc, traceback)
        finally:
            await self._stop_helpers()
        error, self._error = self._error, None
        if error is not None and (caught or exc is None):
            raise error  # in the body's place, as the anyio driver does
        return caught

    async def _exit_scope(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        """Leave the pump's scope; True if it caught the cancellation :meth:`cancel` caused."""
        scope = self._scope
        if isinstance(scope, anyio.CancelScope):
            return bool(scope.__exit__(exc_type, exc, traceback))
        assert scope is not None
        try:
            return bool(await scope.__aexit__(exc_type, exc, traceback))
        except TimeoutError:
            if not self._stream.ending and self._error is None:
                raise  # not our cancellation
            return True

    def cancel(self) -> None:
        scope = self._scope
        if scope is None or self._exited:
            return  # __aenter__ cancels at once if the stream is ending by then
        if isinstance(scope, anyio.CancelScope):
            scope.cancel()
        else:
            scope.reschedule(0)  # an asyncio.Timeout: expire now

    async def _stop_helpers(self) -> None:
        """Stop the timer, the watcher and any timer action, and wait for them."""
        self._exited = True
        if self._timer is not None:
            self._timers.cancel(self._timer)
            self._timer = None
        tasks = {task for task in (self._watcher, self._timer_task) if task is not None}
        for task in tasks:
            task.cancel()
        with anyio.CancelScope(shield=True):
            await asyncio.wait(tasks)
        self._watcher = self._timer_task = None

    # -- the watcher ----------------------------------------------------------------------

    async def _watch(self) -> None:
        stream, receive = self._stream, self._receive
        try:
            while not stream.on_message(await receive()):
                pass
        except Exception:
            stream.on_receive_error()

    # -- the timer ------------------------------------------------------------------------

    def reschedule(self) -> None:
        if self._timer is not None:
            self._timers.cancel(self._timer)
            self._timer = None
        if self._exited or self._stream.ending:
            return
        due = self._stream.timing.next_due(_monotonic())
        if due != _NEVER:
            self._timer = self._timers.call_at(due, self)

    def on_due(self) -> None:
        """The timer's time has come (``_loop_timers``): act, if something is due."""
        self._timer = None
        if self._exited or self._stream.ending:
            return
        now = _monotonic()
        acting = self._timer_task is not None and not self._timer_task.done()
        if acting or now < self._stream.timing.next_due(now):
            self.reschedule()  # woke early, or an action is still running
            return
        self._timer_task = self._loop.create_task(self._act())

    async def _act(self) -> None:
        try:
            await self._stream.on_timer()
        except Exception as error:  # a send failed: raised from __aexit__, as a pump's send is
            self._error = error
            self.cancel()
        finally:
            # Done: not kept (a finished task is ~0.7 KiB a connection, with its
            # place in asyncio's set of tasks).
            self._timer_task = None
            self.reschedule()
