"""An async iterator of encoded events, for frameworks that own the streaming response.

Litestar's ``Stream``, Quart's generator responses and Django's
``StreamingHttpResponse`` send a body they pull from an async iterator of
bytes; :class:`EventSourceResponse` cannot run there. :func:`event_stream`
is that iterator: the same item encoding, keep-alive pings while the
content is idle, and the same shutdown handling -- on Ctrl-C, SIGTERM or
:func:`close_all_streams` it sends the final event (if any) and simply
finishes, so the framework ends the body cleanly and the server stops.

A ping must go out while the user's iterator is waiting for its next item,
so that iterator runs in a task of its own (one per stream, for the whole
stream, so a cancel scope it holds across a ``yield`` stays in one task);
it produces one item at a time, only when asked, like the send loop. The
returned iterator is an async generator: a framework that cancels it (on a
disconnect), closes it, or drops it (the event loop then closes it) always
stops that task, and the user's iterator is closed -- its ``finally`` runs.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Callable, Iterable
from typing import Any

import anyio

from ._event import ServerSentEvent
from ._eventloop import running_asyncio_loop
from ._headers import EVENT_STREAM_HEADERS
from ._iterate import CLOSE_TIMEOUT, aclose_iterator, as_async_iterator
from ._options import StreamSettings
from ._shutdown import shutdown

__all__ = ["EVENT_STREAM_HEADERS", "event_stream"]

logger = logging.getLogger("sse_asgi")

_PING = object()  # nothing came within the ping interval
_CLOSED = object()  # ended from outside (shutdown)
_END = object()  # the user's iterator is exhausted


class _Failure:
    """The user's iterator raised: handed to the consumer, which raises it."""

    __slots__ = ("error",)

    def __init__(self, error: Exception) -> None:
        self.error = error


def event_stream(
    content: AsyncIterable[Any] | Iterable[Any],
    *,
    ping_interval: float | None = 15.0,
    ping_comment: str = "ping",
    item_type: Any = None,
    serializer: Callable[[Any], bytes] | None = None,
) -> AsyncGenerator[bytes, None]:
    r"""The body of a ``text/event-stream`` response, as an async iterator of bytes.

    For frameworks that send a streaming body themselves (Litestar ``Stream``,
    Quart, Django ``StreamingHttpResponse``); where a framework lets an ASGI
    app answer, return :class:`EventSourceResponse` instead. Send it with
    :data:`EVENT_STREAM_HEADERS`.

    - ``content``, ``item_type``, ``serializer``: as for
      :class:`EventSourceResponse`, and each item is encoded identically
      (one ``bytes`` chunk per event).
    - ``ping_interval``: seconds without a chunk after which a keep-alive
      comment (``: {ping_comment}``) is yielded; ``None`` disables it.

    On shutdown (the signal hook, or :func:`close_all_streams`) it yields the
    final event, if one was given, and finishes. When the framework closes or
    cancels it (a client disconnect), ``content`` is closed at once (its
    ``finally`` runs). An exception raised by ``content`` propagates to the
    framework after ``content`` was closed, as from any streaming body.
    Raises ``ValueError``/``TypeError`` at once for invalid options.

    Example (a framework sends these chunks, e.g. Django's
    ``StreamingHttpResponse(event_stream(ticks()), headers=EVENT_STREAM_HEADERS)``):

    ```py
    import anyio

    from sse_asgi import ServerSentEvent, event_stream


    async def ticks():
        for n in range(2):
            yield ServerSentEvent(data={"tick": n}, id=str(n))


    async def main():
        async for chunk in event_stream(ticks()):
            print(chunk)
            #> b'data: {"tick":0}\nid: 0\n\n'
            #> b'data: {"tick":1}\nid: 1\n\n'


    anyio.run(main)
    ```
    """
    settings = StreamSettings(
        ping_interval=ping_interval,
        ping_comment=ping_comment,
        item_type=item_type,
        serializer=serializer,
    )
    producer = _Producer(as_async_iterator(content))
    return _encoded(producer, settings.encode_item, settings.ping_bytes, ping_interval)


async def _encoded(
    producer: _Producer,
    encode: Callable[[object], bytes],
    ping: bytes,
    ping_interval: float | None,
) -> AsyncGenerator[bytes, None]:
    producer.start()
    try:
        while True:
            result = await producer.next(ping_after=ping_interval)
            if result is _PING:
                yield ping
            elif result is _CLOSED:
                await producer.stop()
                final = producer.final_event
                if final is not None:
                    yield final.encode()
                return
            elif result is _END:
                return
            elif isinstance(result, _Failure):
                await producer.stop()
                raise result.error
            else:
                yield encode(result)
    finally:
        await producer.stop()


class _Producer:
    """Runs the user's iterator in a task of its own; what the shutdown registry ends."""

    __slots__ = (
        "_asyncio_task",
        "_closed",
        "_item_ready",
        "_item_requested",
        "_item_wanted",
        "_iterator",
        "_producing",
        "_result",
        "_stopped",
        "_stopping",
        "final_event",
    )

    def __init__(self, iterator: AsyncIterator[Any]) -> None:
        self._iterator = iterator
        self._closed = False
        self._stopping = False
        self._item_requested = False  # the task was asked for an item not taken yet
        self._result: object = None
        self._producing: anyio.CancelScope | None = None  # the producing task's scope
        self._asyncio_task: object = None  # a strong reference to the producing task
        self.final_event: ServerSentEvent | None = None

    # -- the shutdown registry's interface --------------------------------------

    def close(self, final_event: ServerSentEvent | None = None) -> None:
        """End the stream from outside (on its event loop): yield ``final_event``, then finish."""
        if not self._closed:
            self._closed = True
            self.final_event = final_event
            self._item_ready.set()

    # -- the consumer's side ----------------------------------------------------

    def start(self) -> None:
        """On the first pull, in the framework's task: register, and start the producing task."""
        self._item_ready = anyio.Event()
        self._item_wanted = anyio.Event()
        self._stopped = anyio.Event()
        if shutdown.open(self):
            self._closed = True  # the server is shutting down: end at once
        loop = running_asyncio_loop()
        if loop is not None:
            self._asyncio_task = loop.create_task(self._produce())
        else:
            import trio  # anyio's only other backend

            # A system task: the producer outlives any one pull, and needs no nursery.
            context = contextvars.copy_context()
            trio.lowlevel.spawn_system_task(self._produce, context=context)

    async def next(self, *, ping_after: float | None) -> object:
        """The next item; or ``_PING`` after ``ping_after`` s without one, ``_CLOSED``, ``_END``."""
        if self._closed:
            return _CLOSED
        if not self._item_requested:
            self._item_requested = True
            self._item_ready = anyio.Event()
            self._item_wanted.set()
        with anyio.move_on_after(ping_after if ping_after is not None else float("inf")):
            await self._item_ready.wait()
        if self._closed:
            return _CLOSED
        if not self._item_ready.is_set():
            return _PING
        self._item_requested = False
        return self._result

    async def stop(self) -> None:
        """Stop the producing task and wait (bounded) until it closed the user's iterator."""
        shutdown.discard(self)
        self._closed = True
        if self._stopping:
            return
        self._stopping = True
        if self._producing is not None:
            self._producing.cancel()
        with anyio.CancelScope(shield=True), anyio.move_on_after(2 * CLOSE_TIMEOUT) as waited:
            await self._stopped.wait()
        if waited.cancelled_caught:
            logger.warning("Closing the SSE iterator took longer than %.1f s", 2 * CLOSE_TIMEOUT)

    # -- the producing task -------------------------------------------------------

    async def _produce(self) -> None:
        iterator = self._iterator
        try:
            with anyio.CancelScope() as self._producing:
                if self._stopping:
                    return
                while True:
                    await self._item_wanted.wait()
                    self._item_wanted = anyio.Event()
                    try:
                        self._result = await iterator.__anext__()
                    except StopAsyncIteration:
                        self._result = _END
                    except Exception as exc:
                        self._result = _Failure(exc)
                    self._item_ready.set()
                    if self._result is _END or isinstance(self._result, _Failure):
                        return
        finally:
            with anyio.CancelScope(shield=True):
                await aclose_iterator(iterator)
            self._stopped.set()
