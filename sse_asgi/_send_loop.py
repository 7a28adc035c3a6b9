"""The send loop: one streaming response, from first item to last byte.

Two tasks per connection, in one anyio task group:

- the *pump* (the ASGI request task itself) pulls items from the user's
  iterator, encodes them and sends each as one ``http.response.body``
  message -- the only work done per event;
- the *watcher* waits on ``receive()`` for ``http.disconnect``, with a
  deadline on that wait that doubles as the timer for everything else: the
  keep-alive ping, the send timeout, the first-event grace period and the
  coalescing flush. It only wakes when one of those is due, so an idle
  connection costs one sleeping task.

Both may call ``send``, never at the same time: the pump marks a send in
flight with ``_sending_since``; the watcher only sends when no send is in
flight and publishes its own with ``_busy``, which the pump waits for. Both
checks happen between awaits, so no lock is needed -- and nothing on the
per-event path costs more than an attribute store and a clock read.

Tearing down (disconnect, send timeout, shutdown, or an error) cancels the
task group. That is the only time the user's iterator can be interrupted
while producing an item, and it is then always closed (``aclose()``, or
``close()`` in its worker thread) so its ``finally`` blocks run at once.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import anyio
from anyio.lowlevel import checkpoint

from ._event import ServerSentEvent
from ._shutdown import registry
from .types import HTTPResponseBodyEvent, Receive, Send

if TYPE_CHECKING:
    from ._response import EventSourceResponse

__all__ = ["End", "SendLoop"]

logger = logging.getLogger("sse_asgi")

_monotonic = time.monotonic

# Yield to the event loop at least this often (seconds), even when the
# iterator and the server never suspend: other connections must run.
_FAIRNESS_INTERVAL = 0.005
# Coalesced sends are flushed once they reach this many bytes.
_COALESCE_MAX_BYTES = 64 * 1024
# How long closing the user's iterator may take during teardown (seconds).
_CLOSE_TIMEOUT = 1.0
# How long the final bytes may take after a stream was ended (seconds).
_FINAL_SEND_TIMEOUT = 1.0


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
        "_end",
        "_error",
        "_final_event",
        "_flush_due",
        "_iterator",
        "_last_send",
        "_receive",
        "_response",
        "_scope",
        "_send",
        "_sending_since",
        "_started",
        "_started_at",
        "_timer",
    )

    def __init__(
        self,
        response: EventSourceResponse,
        iterator: AsyncIterator[Any],
        receive: Receive,
        send: Send,
    ) -> None:
        self._response = response
        self._iterator = iterator
        self._receive = receive
        self._send = send
        self._started = False
        self._end: End | None = None
        self._error: Exception | None = None
        self._final_event: ServerSentEvent | None = None
        self._sending_since: float | None = None
        self._busy: anyio.Event | None = None
        self._started_at = self._last_send = _monotonic()
        self._scope: anyio.CancelScope | None = None
        self._timer: anyio.CancelScope | None = None
        self._batch: list[bytes] = []
        self._batch_size = 0
        self._flush_due: float | None = None

    # -- control, from the watcher or from outside (shutdown) ------------------

    def close(self, final_event: ServerSentEvent | None = None) -> None:
        """End the stream from outside: send ``final_event`` (if any) and finish the body."""
        if self._end is None:
            self._final_event = final_event
        self._stop(End.CLOSED)

    def _stop(self, reason: End) -> None:
        if self._end is None:
            self._end = reason
        if self._scope is not None:
            self._scope.cancel()

    # -- the run ----------------------------------------------------------------

    async def run(self) -> None:
        response = self._response
        registry.add(self)
        try:
            try:
                async with anyio.create_task_group() as tg:
                    self._scope = tg.cancel_scope
                    if self._end is not None:  # closed before it started
                        tg.cancel_scope.cancel()
                    tg.start_soon(self._watch)
                    if response.coalesce is None:
                        await self._pump()
                    else:
                        await self._pump_coalesced()
                    tg.cancel_scope.cancel()  # the watcher is no longer needed
            finally:
                with anyio.CancelScope(shield=True):
                    await self._aclose_iterator()
        finally:
            registry.discard(self)
        await self._finish()

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
        """After the task group: report, and end the body cleanly if the client is still there."""
        end = self._end or End.COMPLETE
        response = self._response
        if end is End.DISCONNECT or end is End.SEND_TIMEOUT:
            if end is End.SEND_TIMEOUT:
                logger.info(
                    "SSE client stopped reading for %.1f s; ending the stream",
                    response.send_timeout,
                )
                with anyio.move_on_after(_FINAL_SEND_TIMEOUT):
                    await self._send_body(b"", more_body=False)
            if response.on_disconnect is not None:
                with anyio.CancelScope(shield=True):
                    try:
                        result = response.on_disconnect()
                        if result is not None:
                            await result
                    except Exception:
                        logger.exception("on_disconnect callback raised")
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
        with anyio.move_on_after(_FINAL_SEND_TIMEOUT):
            if not self._started:
                await self._send_start()
            tail = self._batch
            if final is not None:
                tail.append(final.encode())
            await self._send_body(b"".join(tail), more_body=False)

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
        while True:
            try:
                body = encode(await next_item())
            except StopAsyncIteration:
                return
            except Exception as exc:
                self._error = exc
                self._end = End.ERROR
                return
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
        if self._timer is not None:
            self._timer.cancel()

    # -- the watcher -------------------------------------------------------------

    def _next_due(self, now: float) -> float:
        """The monotonic time at which the watcher must next act."""
        response = self._response
        due = float("inf")
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

    async def _watch(self) -> None:
        receive = self._receive
        while True:
            now = _monotonic()
            due = self._next_due(now)
            deadline = anyio.current_time() + (due - now) if due != float("inf") else due
            message = None
            with anyio.CancelScope(deadline=deadline) as timer:
                self._timer = timer
                message = await receive()
            self._timer = None
            # A message that arrived as the timer fired still counts.
            if message is not None:
                if message["type"] == "http.disconnect":
                    self._stop(End.DISCONNECT)
                    return
                continue  # request body the app did not read: not ours to keep
            await self._on_timer()

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
