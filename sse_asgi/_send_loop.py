"""The send loop: one streaming response, from first item to last byte.

Two tasks per connection:

- the *pump* (the ASGI request task itself) pulls items from the user's
  iterator, encodes them and sends each as one ``http.response.body``
  message -- the only work done per event (:meth:`SendLoop._pump`);
- the *watcher* waits on ``receive()`` for ``http.disconnect``.

One timer per connection does everything else: the keep-alive ping, the
send timeout, the first-event grace period and the coalescing flush. What
is due when is the timing policy's to say (``_timing_policy``); the watcher
and the timer are a driver's to run -- ``_asyncio_driver`` on asyncio,
``_anyio_driver`` on trio, behind the interface in ``_driver`` -- so that an
idle connection costs two sleeping tasks and one timer.

A pump whose iterator can hand events over (a broadcast subscription) parks
instead of awaiting it when nothing is queued: the broadcast's fan-out then
writes the events to the connection itself, from its own task, and the pump
sleeps through it (``_direct_writes``; :meth:`SendLoop.deliver`). A write
that would wait is handed back to the pump, which finishes it as it would
its own send.

Both the pump and the timer may call ``send``, never at the same time: the
pump marks a send in flight in the timing policy (``send_started``); a timer
send only starts when no send is in flight and publishes
``_timer_send_done``, which the pump waits for. Both checks happen between
awaits, so no lock is needed -- and nothing on the per-event path costs more
than an attribute store and a clock read.

Tearing down (disconnect, send timeout, shutdown, or an error) cancels the
pump through the driver. That is the only time the user's iterator can be
interrupted while producing an item, and it is then always closed
(``_iterate.aclose_iterator``), so its ``finally`` blocks run at once.

Then the body is ended. After a send timeout, or once the iterator is done,
the end of the body waits for the server to take it -- when the client reads
again (a clean end) or leaves -- because no server lets an app end a
response early: returning before it is complete makes uvicorn log an error
per stalled client, and every server holds the connection until then
anyway. Shutdown (:meth:`SendLoop.close`) cuts that wait short.
"""

from __future__ import annotations

import asyncio
import contextvars
import enum
import logging
import time
import types
from collections.abc import AsyncIterator, Awaitable, Generator
from typing import Any

import anyio

from ._anyio_driver import AnyioDriver
from ._asyncio_driver import AsyncioDriver
from ._direct_writes import DirectSource, direct_source
from ._driver import Driver
from ._event import ServerSentEvent
from ._eventloop import current_tasks, running_asyncio_loop, swap_current_task
from ._iterate import aclose_iterator
from ._options import StreamSettings
from ._shutdown import shutdown
from ._suspension import Step, counts_suspensions, first_step, resume
from ._timing_policy import (
    FINAL_SEND_TIMEOUT,
    Due,
    StreamTiming,
    end_of_body_deadline,
)
from .types import HTTPResponseBodyEvent, Receive, ReceiveMessage, Send

__all__ = ["End", "SendLoop"]

logger = logging.getLogger("sse_asgi")

_monotonic = time.monotonic


class End(enum.Enum):
    """Why a stream ended."""

    COMPLETE = "complete"  # the iterator was exhausted
    ERROR = "error"  # the iterator (or encoding an item) raised
    DISCONNECT = "disconnect"  # the client went away
    SEND_TIMEOUT = "send_timeout"  # the client stopped reading
    CLOSED = "closed"  # the app (or server shutdown) ended the stream


class SendLoop:
    """The state of one streaming response while it runs (created on its event loop)."""

    __slots__ = (
        "_batch",
        "_batch_size",
        "_client",
        "_closing",
        "_context",
        "_driver",
        "_end",
        "_end_of_body",
        "_error",
        "_final_event",
        "_handoff",
        "_headers",
        "_iterator",
        "_loop",
        "_send",
        "_settings",
        "_status",
        "_task",
        "_timer_send_done",
        "_waiter",
        "_writable",
        "timing",
    )

    def __init__(
        self,
        settings: StreamSettings,
        iterator: AsyncIterator[Any],
        receive: Receive,
        send: Send,
        *,
        status: int,
        headers: list[tuple[bytes, bytes]],
        client: object = None,
    ) -> None:
        self._settings = settings
        self._iterator = iterator
        self._send = send
        self._status = status
        self._headers = headers
        self._client = client  # the scope's ("host", port), for the log
        self.timing = StreamTiming(settings, _monotonic())
        self._end: End | None = None
        self._closing = False  # close() was called
        self._end_of_body: anyio.CancelScope | None = None  # while the end of the body waits
        self._error: Exception | None = None
        self._final_event: ServerSentEvent | None = None
        # Set while the timer sends: the pump waits for it.
        self._timer_send_done: anyio.Event | None = None
        # Only coalescing streams need a batch; the others share the empty tuple.
        self._batch: list[bytes] | tuple[()] = [] if settings.coalesce is not None else ()
        self._batch_size = 0
        self._driver: Driver | None = _driver_for(self, receive)
        # Parked (``_direct_writes``): the future the pump sleeps on; whether
        # a write may start now (parked, the headers out, no timer send, not
        # ending: one flag, kept by every change of those, read per delivery);
        # the context, task and loop a publisher's write runs in, as, and on;
        # and a write it handed over (or the error it raised) for the pump.
        self._waiter: asyncio.Future[None] | None = None
        self._writable = False
        self._context: contextvars.Context | None = None
        self._task: asyncio.Task[Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handoff: tuple[Step, Any] | BaseException | None = None

    # -- control, from the watcher or from outside (shutdown) ------------------------------

    @property
    def ending(self) -> bool:
        """Whether the stream is ending (the reason is decided): nothing more is timed."""
        return self._end is not None

    def close(self, final_event: ServerSentEvent | None = None) -> None:
        """End the stream from outside: send ``final_event`` (if any) and finish the body.

        Every stream then has ``FINAL_SEND_TIMEOUT`` for its last bytes, also
        one already waiting for a stalled client to take the end of its body.
        """
        if self._end is None:
            self._final_event = final_event
        self._stop(End.CLOSED)
        self._closing = True
        scope, driver = self._end_of_body, self._driver
        if scope is not None and driver is not None:
            # Not at once: a server told to stop may need a moment to notice
            # (hypercorn polls its parent's event every 0.1 s); a connection it
            # still takes for reusable is one it waits on for good.
            scope.deadline = end_of_body_deadline(
                driver.time(), closing=True, deadline=scope.deadline
            )

    def _stop(self, reason: End) -> None:
        if self._end is not None:
            return  # already stopping
        self._end = reason
        self._writable = False
        if self._driver is not None:
            self._driver.cancel()  # before the pump starts, the driver cancels as it starts

    def on_message(self, message: ReceiveMessage) -> bool:
        """React to one received message; True if the client is gone."""
        if message["type"] == "http.disconnect":
            self._stop(End.DISCONNECT)
            return True
        return False  # request body the app did not read: not ours to keep

    def on_receive_error(self) -> None:
        logger.exception("receive() failed; ending the SSE stream")
        self._stop(End.DISCONNECT)

    # -- the run --------------------------------------------------------------------------

    async def run(self) -> None:
        """Stream until the iterator ends, the client leaves or stalls, or shutdown."""
        driver = self._driver
        assert driver is not None
        if shutdown.open(self):  # the server is shutting down: answer, and end at once
            self._end = End.CLOSED
            self._closing = True
        try:
            try:
                async with driver:
                    await self._pump()
            finally:
                with anyio.CancelScope(shield=True):
                    await aclose_iterator(self._iterator)
        except anyio.get_cancelled_exc_class():
            await self._end_cancelled_body()
            raise
        else:
            await self._finish()  # still registered: shutdown may cut its wait short
        finally:
            shutdown.discard(self)
            # The driver refers to this loop, and so may the task's outcome (a
            # traceback's frames): no cycle left behind.
            self._driver = self._task = None

    async def _pump(self) -> None:
        """Pull, encode, send: one ``send`` per event (coalescing: one per batch).

        Fairness (the timing policy's ``fairness_checked``): once every
        ``FAIRNESS_INTERVAL`` the pump watches its next await of the iterator
        (``_suspension``) and yields if that did not suspend it -- a busy
        stream lets other connections run; one whose iterator waits for each
        item owes nothing, and costs no extra task step per event. An
        iterator that counts its suspensions (a broadcast subscription) is
        watched by reading its count around a plain await: nothing allocated.
        """
        next_item = self._iterator.__anext__
        counted = counts_suspensions(self._iterator)
        source = self._direct_source()
        encode = self._settings.encode_item
        send = self._send
        timing = self.timing
        batch = self._batch if self._settings.coalesce is not None else None
        monotonic = _monotonic
        watch = False
        if source is not None:
            try:
                await source.start()  # subscribed: it may park before its first event
            except Exception as exc:  # as __anext__ would have raised it
                self._error, self._end = exc, End.ERROR
                return
        while True:
            if source is not None and source.park(self):
                handed_over = await self._parked(source)
                if self._end is not None:
                    return
                if handed_over:
                    # Its writes wait (a client reading slowly, or a middleware
                    # whose send always awaits, as BaseHTTPMiddleware's does):
                    # handing each over would cost more than waking the stream
                    # per event, as every other stream is.
                    source = None
                watch = False  # it slept: it owes other tasks nothing
                continue
            try:
                if not watch:
                    item = await next_item()
                elif counted is not None:
                    watch, before = False, counted.suspensions
                    item = await next_item()
                    suspended = counted.suspensions != before
                    if timing.fairness_checked(monotonic(), suspended=suspended):
                        await self._checkpoint()
                else:
                    watch = False
                    item = await self._watched(next_item())
                body = encode(item)
            except StopAsyncIteration:
                return
            except Exception as exc:
                self._error, self._end = exc, End.ERROR
                return
            if self._end is not None:
                return  # stopped, though the iterator swallowed the cancellation
            if batch is not None:
                if self._gather(body) and not await self._send_batch():
                    return
                continue
            while self._timer_send_done is not None:  # the timer may start another meanwhile
                await self._timer_send_done.wait()
            timing.send_started = now = monotonic()
            try:
                if not timing.headers_sent:
                    await self._send_headers()
                await send({"type": "http.response.body", "body": body, "more_body": True})
            except OSError:  # ASGI 2.4: the client is gone
                self._stop(End.DISCONNECT)
                return
            timing.send_started = None
            timing.last_send = now
            watch = now >= timing.fair_until

    # -- parked: direct writes (``_direct_writes``) -------------------------------------------

    def _direct_source(self) -> DirectSource | None:
        """The iterator, if the pump may park on it: asyncio, no coalescing, a direct source."""
        if (
            self._settings.coalesce is not None
            or not isinstance(self._driver, AsyncioDriver)
            or (swap_current_task is None and current_tasks is None)  # not as this task
        ):
            return None
        source = direct_source(self._iterator)
        if source is not None:
            # What the stream's task sees: a publisher's write runs its first step in
            # it, as the stream's task (``_eventloop``).
            self._context = contextvars.copy_context()
            self._task = asyncio.current_task()
            self._loop = asyncio.get_running_loop()
        return source

    async def _parked(self, source: DirectSource) -> bool:
        """Sleep while the fan-out writes to the stream; then finish a write it handed
        over. True if there was one (``_stop`` is called if the client left)."""
        waiter = self._waiter = asyncio.get_running_loop().create_future()
        self._writable = (
            self.timing.headers_sent and self._timer_send_done is None and self._end is None
        )
        try:
            await waiter
        except BaseException:
            self._drop_handoff()
            raise
        finally:
            self._waiter, self._writable = None, False
            source.unpark(self)
        handoff, self._handoff = self._handoff, None
        if isinstance(handoff, BaseException):
            raise handoff  # what the write raised, as if the pump's own send had
        if handoff is not None:
            timing = self.timing
            try:
                await resume(*handoff, self._context)  # in the context its first step ran in
            except OSError:  # ASGI 2.4: the client is gone
                self._stop(End.DISCONNECT)
                return True
            assert timing.send_started is not None
            timing.last_send, timing.send_started = timing.send_started, None
            return True
        return False

    def deliver(self, body: bytes) -> bool:
        """Write ``body`` (encoded events) from the fan-out's task
        (:class:`~sse_asgi._direct_writes.Sink`).

        Only while parked, with nothing else being sent and the headers out;
        else False. A write that would wait is handed to the pump.
        """
        if not self._writable:
            return False
        context, task, loop = self._context, self._task, self._loop
        assert context is not None
        assert task is not None
        assert loop is not None
        now = _monotonic()
        # As the stream's task: asyncio's hook (3.12+), or its dict set and put
        # back in place (3.10, 3.11). All in this one function, per delivery: a
        # Python call more would cost a tenth of the write.
        swap, tasks = swap_current_task, current_tasks
        if swap is not None:
            publisher = swap(loop, task)
        else:
            assert tasks is not None  # no stream parks without one or the other
            publisher = tasks.get(loop)
            tasks[loop] = task
        handoff: tuple[Step, Any] | None
        try:
            try:
                message: HTTPResponseBodyEvent = {
                    "type": "http.response.body",
                    "body": body,
                    "more_body": True,
                }
                awaitable = context.run(self._send, message)
                if type(awaitable) is _Coroutine:
                    # next() with a default reports a coroutine's return without
                    # raising StopIteration: nothing made and caught per delivery.
                    step: Generator[Any, Any, Any] = awaitable.__await__()
                    signal = context.run(next, step, _WRITTEN)
                    handoff = None if signal is _WRITTEN else (step, signal)
                else:  # a future, a custom awaitable: the general way
                    handoff = context.run(_first_step, awaitable)
            finally:
                if swap is not None:
                    swap(loop, publisher)
                elif publisher is None:
                    tasks.pop(loop, None)  # type: ignore[union-attr]  # not None: see above
                else:
                    tasks[loop] = publisher  # type: ignore[index]
        except OSError:  # ASGI 2.4: the client is gone
            self._stop(End.DISCONNECT)
            return True
        except (KeyboardInterrupt, SystemExit):
            raise  # the process is stopping: the publisher's to raise, as asyncio would
        except BaseException as error:  # whatever it is, one stream's: never the publisher's
            self._handoff = error  # raised by the pump, as its own send's would be
            self.wake()
            return True
        if handoff is None:  # written
            self.timing.last_send = now
            return True
        self.timing.send_started = now  # the pump finishes it, under the send timeout
        self._handoff = handoff
        self.wake()
        return True

    def wake(self) -> None:
        """Unpark the pump (:class:`~sse_asgi._direct_writes.Sink`)."""
        waiter = self._waiter
        self._writable = False  # a woken pump takes no more writes
        if waiter is not None:
            self._waiter = None
            if not waiter.done():  # a cancelled pump needs no waking
                waiter.set_result(None)

    def _drop_handoff(self) -> None:
        """The pump was cancelled with a write still handed to it: close that write."""
        handoff, self._handoff = self._handoff, None
        if isinstance(handoff, tuple):
            context = self._context
            assert context is not None
            try:
                context.run(handoff[0].close)  # its finally blocks, in the context they began in
            except Exception:
                logger.exception("Closing an interrupted send raised")

    async def _watched(self, next_item: Awaitable[Any]) -> Any:
        """Await the iterator's next item, then yield if that did not suspend the pump."""
        step, item = first_step(next_item)
        if step is not None:
            item = await resume(step, item)
        if self.timing.fairness_checked(_monotonic(), suspended=step is not None):
            await self._checkpoint()
        return item

    def _checkpoint(self) -> Awaitable[None]:
        """Let other tasks run: the fairness yield, the driver's cheapest for its loop."""
        assert self._driver is not None  # the pump runs inside the driver
        return self._driver.checkpoint()

    def _gather(self, body: bytes) -> bool:
        """Add an event to the batch; True if the batch must be sent now."""
        assert isinstance(self._batch, list)
        self._batch.append(body)
        self._batch_size += len(body)
        now = _monotonic()
        timing = self.timing
        if timing.batch_due is None:
            # The first event of a batch sets its deadline: the timer sends the
            # batch then if the iterator has stalled.
            timing.batch_started(now)
            if self._driver is not None:
                self._driver.reschedule()
            return False
        return timing.batch_full(now, self._batch_size)

    async def _send_batch(self) -> bool:
        """The pump sends the batch as one message, then yields; False if the client is gone."""
        while self._timer_send_done is not None:
            await self._timer_send_done.wait()
        body = self._take_batch()
        if body:
            timing = self.timing
            timing.send_started = now = _monotonic()
            try:
                if not timing.headers_sent:
                    await self._send_headers()
                await self._send_body(body, more_body=True)
            except OSError:
                self._stop(End.DISCONNECT)
                return False
            timing.send_started = None
            timing.last_send = now
        await self._checkpoint()
        return True

    def _take_batch(self) -> bytes:
        """The batch's bytes, and an empty batch."""
        batch = self._batch
        body = b"".join(batch)
        if isinstance(batch, list):
            batch.clear()
        self._batch_size = 0
        self.timing.batch_due = None
        return body

    # -- the timer --------------------------------------------------------------------------

    async def on_timer(self) -> None:
        """Do what the timing policy says is due now (the driver calls it when the timer fires)."""
        due = self.timing.due(_monotonic())
        if due is Due.SEND_TIMEOUT:
            self._stop(End.SEND_TIMEOUT)
        elif due is Due.FLUSH:
            await self._send_from_timer(self._take_batch())
        elif due is Due.HEADERS:
            await self._send_from_timer(None)
        elif due is Due.PING:
            await self._send_from_timer(self._settings.ping_bytes)

    async def _send_from_timer(self, body: bytes | None) -> None:
        """Send the headers (``body=None``) or a body chunk; the pump waits meanwhile."""
        done = self._timer_send_done = anyio.Event()
        self._writable = False  # a parked stream takes no write meanwhile
        timing = self.timing
        timing.send_started = _monotonic()
        timeout = self._settings.send_timeout
        try:
            with anyio.move_on_after(timeout if timeout is not None else float("inf")) as scope:
                if not timing.headers_sent:
                    await self._send_headers()
                if body is not None:
                    await self._send_body(body, more_body=True)
            if scope.cancelled_caught:
                self._stop(End.SEND_TIMEOUT)
        except OSError:
            self._stop(End.DISCONNECT)
        finally:
            timing.send_started = None
            timing.last_send = _monotonic()  # its end: a slow ping does not make the next one due
            self._timer_send_done = None
            done.set()
        # Parked still: writes may start again, now that the headers are out (not
        # after a send that raised: the stream is being torn down).
        self._writable = self._waiter is not None and self._end is None

    # -- sending --------------------------------------------------------------------------

    async def _send_headers(self) -> None:
        self.timing.headers_sent = True
        await self._send(
            {"type": "http.response.start", "status": self._status, "headers": self._headers}
        )

    async def _send_body(self, body: bytes, *, more_body: bool) -> None:
        message: HTTPResponseBodyEvent = {
            "type": "http.response.body",
            "body": body,
            "more_body": more_body,
        }
        await self._send(message)

    # -- the end ----------------------------------------------------------------------------

    async def _finish(self) -> None:
        """After the pump: report, and end the body (cleanly whenever the client lets us)."""
        end = self._end or End.COMPLETE
        if end is End.DISCONNECT or end is End.SEND_TIMEOUT:
            self._log_dropped(end)
            await self._call_on_disconnect()
            if end is End.SEND_TIMEOUT:
                await self._end_body(b"")
            return
        final = self._final_event
        if end is End.ERROR:
            error = self._error
            assert error is not None
            if not self.timing.headers_sent and not self._batch:
                # Nothing was yielded, nothing is on the wire: let the framework
                # (or the server) turn the exception into a real HTTP error.
                raise error
            logger.error("Exception in SSE stream; ending it", exc_info=error)
            if self._settings.on_error is not None:
                final = self._call_on_error(error)
        tail = self._take_batch()
        await self._end_body(tail + final.encode() if final is not None else tail)

    async def _end_body(self, body: bytes) -> None:
        """Send the last bytes with ``more_body=False`` and wait until the server takes them.

        That is at once for a client that reads. For one that stopped, the
        send returns when it reads again or leaves -- or, once ``close()``
        was called (shutdown), after at most ``FINAL_SEND_TIMEOUT``.
        """
        with anyio.CancelScope() as scope:
            scope.deadline = end_of_body_deadline(anyio.current_time(), closing=self._closing)
            self._end_of_body = scope
            try:
                if not self.timing.headers_sent:
                    await self._send_headers()
                await self._send_body(body, more_body=False)
            except OSError:  # ASGI 2.4: the client is gone, nothing left to end
                pass
            finally:
                self._end_of_body = None

    async def _end_cancelled_body(self) -> None:
        """The server cancelled us (its graceful-shutdown timeout ran out): still end the body
        cleanly if the client can take it, within ``FINAL_SEND_TIMEOUT``."""
        if self.timing.headers_sent and self._end is not End.DISCONNECT:
            with anyio.move_on_after(FINAL_SEND_TIMEOUT, shield=True):
                await self._send_body(self._take_batch(), more_body=False)

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
                self._settings.send_timeout,
            )
        else:
            logger.info("SSE client %s disconnected; stream ended", who)

    async def _call_on_disconnect(self) -> None:
        on_disconnect = self._settings.on_disconnect
        if on_disconnect is None:
            return
        with anyio.CancelScope(shield=True):
            try:
                result = on_disconnect()
                if result is not None:
                    await result
            except Exception:
                logger.exception("on_disconnect callback raised")

    def _call_on_error(self, error: Exception) -> ServerSentEvent | None:
        assert self._settings.on_error is not None
        try:
            final = self._settings.on_error(error)
        except Exception:
            logger.exception("on_error callback raised")
            return None
        if final is not None and not isinstance(final, ServerSentEvent):
            logger.error("on_error must return a ServerSentEvent or None, not %r", final)
            return None
        return final


_WRITTEN: Any = object()
_Coroutine = types.CoroutineType


def _first_step(awaitable: Awaitable[Any]) -> tuple[Step, Any] | None:
    step, signal = first_step(awaitable)
    return None if step is None else (step, signal)


def _driver_for(stream: SendLoop, receive: Receive) -> Driver:
    """The driver for the running event loop: asyncio's own, or anyio's for any other."""
    loop = running_asyncio_loop()
    if loop is not None:
        return AsyncioDriver(stream, receive, loop)
    return AnyioDriver(stream, receive)
