"""The send loop: one streaming response, from first item to last byte.

Two tasks per connection:

- the *pump* (the ASGI request task itself) pulls items from the user's
  iterator, encodes them and sends each as one ``http.response.body``
  message -- the only work done per event;
- the *watcher* waits on ``receive()`` for ``http.disconnect``.

One timer per connection does everything else: the keep-alive ping, the
send timeout, the first-event grace period and the coalescing flush. It is
armed for the next thing due and only fires then, so an idle connection
costs two sleeping tasks and one timer. How the timer is built depends on
the event loop, because anyio's task group and cancel scopes cost ~3.5 KB
per connection, more than the server itself spends on it:

- on asyncio (uvicorn, hypercorn, granian) the watcher is a plain task
  under the pump's anyio cancel scope, and the timer a loop ``call_later``
  that spawns a short task only when something must be sent;
- on any other anyio backend (trio) the watcher runs in an anyio task group
  and its ``receive()`` wait carries the timer as a deadline.

Both may call ``send``, never at the same time: the pump marks a send in
flight with ``_sending_since``; a timer send only starts when no send is in
flight and publishes itself in ``_busy``, which the pump waits for. Both
checks happen between awaits, so no lock is needed -- and nothing on the
per-event path costs more than an attribute store and a clock read.

Tearing down (disconnect, send timeout, shutdown, or an error) cancels the
task group. That is the only time the user's iterator can be interrupted
while producing an item, and it is then always closed (``aclose()``, or
``close()`` in its worker thread) so its ``finally`` blocks run at once.

Then the body is ended. After a send timeout, or once the iterator is done,
the end of the body waits for the server to take it -- when the client reads
again (a clean end) or leaves -- because no server lets an app end a
response early: returning before it is complete makes uvicorn log an error
per stalled client, and every server holds the connection until then
anyway. Shutdown (:meth:`SendLoop.close`) cuts that wait short.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, Protocol

import anyio
from anyio.lowlevel import checkpoint

from ._event import ServerSentEvent
from ._eventloop import call_soon_threadsafe, running_asyncio_loop
from ._shutdown import on_stream_start, registry
from .types import HTTPResponseBodyEvent, Receive, ReceiveMessage, Send

if TYPE_CHECKING:
    from ._response import EventSourceResponse

__all__ = ["End", "SendLoop"]

logger = logging.getLogger("sse_asgi")

_monotonic = time.monotonic
_INF = float("inf")

# Yield to the event loop at least this often (seconds), even when the
# iterator and the server never suspend: other connections must run.
_FAIRNESS_INTERVAL = 0.005
# Coalesced sends are flushed once they reach this many bytes.
_COALESCE_MAX_BYTES = 64 * 1024
# How long closing the user's iterator may take during teardown (seconds).
_CLOSE_TIMEOUT = 1.0
# How long the final bytes may take once close() (shutdown) or the server ended a stream (seconds).
_FINAL_SEND_TIMEOUT = 1.0


class _Timeout(Protocol):
    """What we use of ``asyncio.Timeout`` (Python >= 3.11)."""

    def reschedule(self, when: float | None) -> None: ...


_asyncio_timeout: Callable[[float | None], AbstractAsyncContextManager[_Timeout]] | None = getattr(
    asyncio, "timeout", None
)


class End(enum.Enum):
    """Why a stream ended."""

    COMPLETE = "complete"  # the iterator was exhausted
    ERROR = "error"  # the iterator (or encoding an item) raised
    DISCONNECT = "disconnect"  # the client went away
    SEND_TIMEOUT = "send_timeout"  # the client stopped reading
    CLOSED = "closed"  # the app (or server shutdown) ended the stream


class SendLoop:
    """The state of one streaming response while it runs."""

    __slots__ = (
        "_batch",
        "_batch_size",
        "_busy",
        "_client",
        "_closing",
        "_end",
        "_ending",
        "_error",
        "_final_event",
        "_flush_due",
        "_iterator",
        "_last_send",
        "_loop",
        "_receive",
        "_response",
        "_scope",
        "_send",
        "_sending_since",
        "_started",
        "_started_at",
        "_timer",
        "_timer_handle",
        "_timer_task",
        "_token",
        "_torn_down",
    )

    def __init__(
        self,
        response: EventSourceResponse,
        iterator: AsyncIterator[Any],
        receive: Receive,
        send: Send,
        client: object = None,
    ) -> None:
        self._response = response
        self._iterator = iterator
        self._receive = receive
        self._send = send
        self._client = client  # the scope's ("host", port), for the log
        self._started = False
        self._end: End | None = None
        self._closing = False  # close() was called
        self._ending: anyio.CancelScope | None = None  # while the end of the body waits
        self._error: Exception | None = None
        self._final_event: ServerSentEvent | None = None
        self._sending_since: float | None = None
        self._busy: anyio.Event | None = None
        self._started_at = self._last_send = _monotonic()
        self._scope: anyio.CancelScope | _Timeout | None = None
        self._timer: anyio.CancelScope | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer_handle: asyncio.TimerHandle | None = None
        self._timer_task: asyncio.Task[None] | None = None
        self._torn_down = False
        self._token: Callable[[Callable[[], object]], object] | None = None
        # Only coalescing streams need a batch; the others share the empty tuple.
        self._batch: list[bytes] | tuple[()] = [] if response.coalesce is not None else ()
        self._batch_size = 0
        self._flush_due: float | None = None

    # -- control, from the watcher or from outside (shutdown) ------------------

    def close(self, final_event: ServerSentEvent | None = None) -> None:
        """End the stream from outside: send ``final_event`` (if any) and finish the body.

        Every stream then has ``_FINAL_SEND_TIMEOUT`` for its last bytes, also
        one already waiting for a stalled client to take the end of its body.
        """
        if self._end is None:
            self._final_event = final_event
        self._stop(End.CLOSED)
        self._closing = True
        ending = self._ending
        if ending is not None:
            # Not at once: a server told to stop may need a moment to notice
            # (hypercorn polls its parent's event every 0.1 s); a connection it
            # still takes for reusable is one it waits on for good.
            now = self._loop.time() if self._loop is not None else anyio.current_time()
            ending.deadline = min(ending.deadline, now + _FINAL_SEND_TIMEOUT)

    def _stop(self, reason: End) -> None:
        if self._end is not None:
            return  # already stopping
        self._end = reason
        scope = self._scope
        if scope is None or self._torn_down:
            return  # run() cancels at once if it has not started yet
        if isinstance(scope, anyio.CancelScope):
            scope.cancel()
        else:
            scope.reschedule(0)  # an asyncio.Timeout: expire now

    # -- the run ----------------------------------------------------------------

    def call_soon_threadsafe(self) -> Callable[[Callable[[], object]], object] | None:
        """How to run a callback on this stream's event loop from another thread or a signal."""
        return self._loop.call_soon_threadsafe if self._loop is not None else self._token

    async def run(self) -> None:
        loop = running_asyncio_loop()
        if on_stream_start(loop.call_soon_threadsafe if loop else call_soon_threadsafe()):
            self._end = End.CLOSED  # the server is shutting down: answer, and end at once
            self._closing = True
        registry.add(self)
        pump = self._pump if self._response.coalesce is None else self._pump_coalesced
        try:
            try:
                if loop is None:
                    await self._run_in_task_group(pump)
                else:
                    # Inline rather than in helper coroutines: every suspended
                    # frame is memory held by every idle connection.
                    self._loop = loop
                    watcher = loop.create_task(self._watch_receive())
                    self._arm_timer()
                    try:
                        if _asyncio_timeout is not None:
                            # The stdlib's own cancel scope: ~130 B where an
                            # anyio CancelScope costs ~900 B. It composes with
                            # anyio's scopes through cancelling()/uncancel().
                            try:
                                async with _asyncio_timeout(None) as timeout:
                                    self._scope = timeout
                                    if self._end is not None:  # closed before it started
                                        timeout.reschedule(0)
                                    await pump()
                            except TimeoutError:
                                if self._end is None:
                                    raise  # not our cancellation
                        else:  # Python 3.10
                            with anyio.CancelScope() as scope:
                                self._scope = scope
                                if self._end is not None:
                                    scope.cancel()
                                await pump()
                    finally:
                        await self._stop_asyncio_helpers(watcher)
            finally:
                with anyio.CancelScope(shield=True):
                    await self._aclose_iterator()
        except anyio.get_cancelled_exc_class():
            # The server cancelled us (its graceful-shutdown timeout ran out):
            # still end the body cleanly if the client can take it.
            if self._started and self._end is not End.DISCONNECT:
                with anyio.move_on_after(_FINAL_SEND_TIMEOUT, shield=True):
                    await self._send_body(b"".join(self._batch), more_body=False)
            raise
        else:
            await self._finish()  # still registered: shutdown may cut its wait short
        finally:
            registry.discard(self)

    async def _run_in_task_group(self, pump: Callable[[], Awaitable[None]]) -> None:
        """Any anyio backend: the watcher's receive() wait carries the timer deadline."""
        self._token = call_soon_threadsafe()
        async with anyio.create_task_group() as tg:
            self._scope = tg.cancel_scope
            if self._end is not None:  # closed before it started
                tg.cancel_scope.cancel()
            tg.start_soon(self._watch_with_deadline)
            await pump()
            tg.cancel_scope.cancel()  # the watcher is no longer needed
        self._torn_down = True

    async def _stop_asyncio_helpers(self, watcher: asyncio.Task[None]) -> None:
        """asyncio: stop the timer, the watcher and any timer action, and wait for them."""
        self._torn_down = True
        if self._timer_handle is not None:
            self._timer_handle.cancel()
        tasks = {watcher} if self._timer_task is None else {watcher, self._timer_task}
        for task in tasks:
            task.cancel()
        with anyio.CancelScope(shield=True):
            await asyncio.wait(tasks)

    async def _aclose_iterator(self) -> None:
        aclose: Callable[[], Awaitable[object]] | None = getattr(self._iterator, "aclose", None)
        if aclose is None:
            return
        with anyio.move_on_after(_CLOSE_TIMEOUT) as scope:
            try:
                await aclose()
            except Exception:
                logger.exception("Closing the SSE iterator raised")
        if scope.cancelled_caught:
            logger.warning(
                "Closing the SSE iterator took longer than %.1f s; gave up waiting", _CLOSE_TIMEOUT
            )

    async def _finish(self) -> None:
        """After the task group: report, and end the body (cleanly whenever the client lets us)."""
        end = self._end or End.COMPLETE
        response = self._response
        if end is End.DISCONNECT or end is End.SEND_TIMEOUT:
            self._log_dropped(end)
            if response.on_disconnect is not None:
                with anyio.CancelScope(shield=True):
                    try:
                        result = response.on_disconnect()
                        if result is not None:
                            await result
                    except Exception:
                        logger.exception("on_disconnect callback raised")
            if end is End.SEND_TIMEOUT:
                await self._end_body(b"")
            return
        final = self._final_event
        if end is End.ERROR:
            error = self._error
            assert error is not None
            if not self._started and not self._batch:
                # Nothing was yielded, nothing is on the wire: let the framework
                # (or the server) turn the exception into a real HTTP error.
                raise error
            logger.error("Exception in SSE stream; ending it", exc_info=error)
            if response.on_error is not None:
                final = self._call_on_error(error)
        tail = b"".join([*self._batch, final.encode()] if final is not None else self._batch)
        await self._end_body(tail)

    async def _end_body(self, body: bytes) -> None:
        """Send the last bytes with ``more_body=False`` and wait until the server takes them.

        That is at once for a client that reads. For one that stopped, the
        send returns when it reads again or leaves -- or, once ``close()``
        was called (shutdown), after at most ``_FINAL_SEND_TIMEOUT``.
        """
        with anyio.CancelScope() as scope:
            if self._closing:
                scope.deadline = anyio.current_time() + _FINAL_SEND_TIMEOUT
            self._ending = scope
            try:
                if not self._started:
                    await self._send_start()
                await self._send_body(body, more_body=False)
            except OSError:  # ASGI 2.4: the client is gone, nothing left to end
                pass
            finally:
                self._ending = None

    def _log_dropped(self, end: End) -> None:
        """One INFO line per client that went away or stopped reading; never a traceback."""
        client = self._client
        # A host taken from a proxy header is the client's to choose: nothing
        # unprintable (a line break forging a log line) reaches the log.
        if isinstance(client, (tuple, list)) and all(str(part).isprintable() for part in client):
            who = ":".join(str(part) for part in client)
        else:
            who = repr(client)
        if end is End.SEND_TIMEOUT:
            logger.info(
                "SSE client %s stopped reading for %.1f s; stream ended",
                who,
                self._response.send_timeout,
            )
        else:
            logger.info("SSE client %s disconnected; stream ended", who)

    def _call_on_error(self, error: Exception) -> ServerSentEvent | None:
        assert self._response.on_error is not None
        try:
            final = self._response.on_error(error)
        except Exception:
            logger.exception("on_error callback raised")
            return None
        if final is not None and not isinstance(final, ServerSentEvent):
            logger.error("on_error must return a ServerSentEvent or None, not %r", final)
            return None
        return final

    # -- sending ----------------------------------------------------------------

    async def _send_start(self) -> None:
        self._started = True
        await self._send(self._response.start_message())

    async def _send_body(self, body: bytes, *, more_body: bool) -> None:
        message: HTTPResponseBodyEvent = {
            "type": "http.response.body",
            "body": body,
            "more_body": more_body,
        }
        await self._send(message)

    async def _pump(self) -> None:
        """Pull, encode, send: one ``send`` per event."""
        next_item = self._iterator.__anext__
        encode = self._response.encode_item
        send = self._send
        monotonic = _monotonic
        fair_at = monotonic() + _FAIRNESS_INTERVAL
        while True:
            try:
                body = encode(await next_item())
            except StopAsyncIteration:
                return
            except Exception as exc:
                self._error = exc
                self._end = End.ERROR
                return
            if self._end is not None:
                return  # stopped, though the iterator swallowed the cancellation
            if self._busy is not None:
                await self._busy.wait()
            if not self._started:
                await self._send_start()
            self._sending_since = now = monotonic()
            try:
                await send({"type": "http.response.body", "body": body, "more_body": True})
            except OSError:  # ASGI 2.4: the client is gone
                self._stop(End.DISCONNECT)
                return
            self._sending_since = None
            self._last_send = now
            if now >= fair_at:
                fair_at = now + _FAIRNESS_INTERVAL
                await checkpoint()

    async def _pump_coalesced(self) -> None:
        """Pull and encode; several events per ``send``, none waiting over ``coalesce`` s."""
        next_item = self._iterator.__anext__
        encode = self._response.encode_item
        monotonic = _monotonic
        delay = self._response.coalesce
        assert delay is not None
        batch = self._batch
        assert isinstance(batch, list)
        while True:
            try:
                body = encode(await next_item())
            except StopAsyncIteration:
                return
            except Exception as exc:
                self._error = exc
                self._end = End.ERROR
                return
            if self._end is not None:
                return  # stopped, though the iterator swallowed the cancellation
            batch.append(body)
            self._batch_size += len(body)
            now = monotonic()
            if self._flush_due is None:
                # The first event of a batch sets the flush deadline; the
                # watcher flushes then if the iterator has stalled.
                self._flush_due = now + delay
                self._wake_watcher()
            elif self._batch_size >= _COALESCE_MAX_BYTES or now >= self._flush_due:
                if not await self._flush():
                    return
                await checkpoint()

    async def _flush(self) -> bool:
        """Send the batch as one message; False if the client is gone."""
        while self._busy is not None:
            await self._busy.wait()
        batch = self._batch
        if not batch:
            return True
        assert isinstance(batch, list)
        body = b"".join(batch)
        batch.clear()
        self._batch_size = 0
        self._flush_due = None
        if not self._started:
            await self._send_start()
        self._sending_since = now = _monotonic()
        try:
            await self._send_body(body, more_body=True)
        except OSError:
            self._stop(End.DISCONNECT)
            return False
        self._sending_since = None
        self._last_send = now
        return True

    def _wake_watcher(self) -> None:
        """Make the timer take a new, earlier deadline into account."""
        if self._loop is not None:
            self._arm_timer()
        elif self._timer is not None:
            self._timer.cancel()

    # -- the watcher -------------------------------------------------------------

    def _next_due(self, now: float) -> float:
        """The monotonic time at which the watcher must next act."""
        response = self._response
        due = _INF
        if self._sending_since is not None:
            if response.send_timeout is not None:
                due = self._sending_since + response.send_timeout
        else:
            if not self._started:
                due = self._started_at + response.first_event_grace
            if response.ping_interval is not None:
                due = min(due, self._last_send + response.ping_interval)
            if self._flush_due is not None:
                due = min(due, self._flush_due)
            if response.send_timeout is not None:
                # A send may start while we sleep: wake in time to time it out.
                due = min(due, now + response.send_timeout)
        return due

    def _handle_message(self, message: ReceiveMessage) -> bool:
        """React to one received message; True if the client is gone."""
        if message["type"] == "http.disconnect":
            self._stop(End.DISCONNECT)
            return True
        return False  # request body the app did not read: not ours to keep

    async def _watch_with_deadline(self) -> None:
        """The watcher on any anyio backend: receive(), with the timer as its deadline."""
        receive = self._receive
        while True:
            now = _monotonic()
            due = self._next_due(now)
            deadline = anyio.current_time() + (due - now) if due != _INF else _INF
            message = None
            with anyio.CancelScope(deadline=deadline) as timer:
                self._timer = timer
                message = await receive()
            self._timer = None
            # A message that arrived as the timer fired still counts.
            if message is not None:
                if self._handle_message(message):
                    return
                continue
            await self._on_timer()

    async def _watch_receive(self) -> None:
        """The watcher on asyncio: receive() only; the timer is a loop callback."""
        receive = self._receive
        try:
            while not self._handle_message(await receive()):
                pass
        except Exception:
            logger.exception("receive() failed; ending the SSE stream")
            self._stop(End.DISCONNECT)

    def _arm_timer(self) -> None:
        """asyncio: (re)arm the loop timer for the next thing due."""
        if self._timer_handle is not None:
            self._timer_handle.cancel()
            self._timer_handle = None
        if self._torn_down or self._end is not None:
            return
        assert self._loop is not None
        now = _monotonic()
        due = self._next_due(now)
        if due != _INF:
            self._timer_handle = self._loop.call_later(max(due - now, 0.0), self._timer_fired)

    def _timer_fired(self) -> None:
        self._timer_handle = None
        if self._torn_down or self._end is not None:
            return
        now = _monotonic()
        if now < self._next_due(now) or (self._timer_task and not self._timer_task.done()):
            self._arm_timer()  # woke early, or an action is still running
            return
        assert self._loop is not None
        self._timer_task = self._loop.create_task(self._timer_action())

    async def _timer_action(self) -> None:
        try:
            await self._on_timer()
        finally:
            self._arm_timer()

    async def _on_timer(self) -> None:
        response = self._response
        now = _monotonic()
        if self._sending_since is not None:
            if (
                response.send_timeout is not None
                and now - self._sending_since >= response.send_timeout
            ):
                self._stop(End.SEND_TIMEOUT)
            return  # a send is in flight: the connection is not idle
        if self._flush_due is not None and now >= self._flush_due:
            await self._watcher_send(self._take_batch())
        elif not self._started and now - self._started_at >= response.first_event_grace:
            await self._watcher_send(None)
        elif response.ping_interval is not None and now - self._last_send >= response.ping_interval:
            await self._watcher_send(response.ping_bytes)

    def _take_batch(self) -> bytes:
        assert isinstance(self._batch, list)
        body = b"".join(self._batch)
        self._batch.clear()
        self._batch_size = 0
        self._flush_due = None
        return body

    async def _watcher_send(self, body: bytes | None) -> None:
        """Send headers (``body=None``) or a body chunk from the watcher, excluding the pump."""
        busy = self._busy = anyio.Event()
        self._sending_since = now = _monotonic()
        timeout = self._response.send_timeout
        try:
            with anyio.move_on_after(timeout if timeout is not None else float("inf")) as scope:
                if not self._started:
                    await self._send_start()
                if body is not None:
                    await self._send_body(body, more_body=True)
            if scope.cancelled_caught:
                self._stop(End.SEND_TIMEOUT)
        except OSError:
            self._stop(End.DISCONNECT)
        finally:
            self._sending_since = None
            self._last_send = now
            self._busy = None
            busy.set()
