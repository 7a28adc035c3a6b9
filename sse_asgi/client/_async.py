"""The async client: :class:`AsyncEventSource`, on ``httpx.AsyncClient`` (asyncio and trio)."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from types import TracebackType

import anyio
import httpx

from .._decoder import EventDecoder, ReceivedEvent
from ._http import (
    ERROR_BODY_LIMIT,
    RETRYABLE,
    build_request,
    connection_failure,
    redirected_url,
)
from ._state import StreamState

__all__ = ["AsyncEventSource"]

# Module-level so that tests can replace them with fake time and fixed jitter.
sleep = anyio.sleep
jitter = random.random


class AsyncEventSource(StreamState[httpx.AsyncClient], AsyncIterator[ReceivedEvent]):
    """A browser's ``EventSource`` for Python: an async iterator of :class:`ReceivedEvent`.

    It connects on the first iteration and then follows the WHATWG
    processing model, as Chromium does: each request carries ``Accept:
    text/event-stream``, ``Cache-Control: no-cache``, ``Pragma: no-cache``
    and, when the last event ID is not empty, ``Last-Event-ID`` (UTF-8);
    redirects are followed (reconnections go where a same-origin redirect
    led); a 200 ``text/event-stream``
    response opens the stream; a 204 ends the iteration; any other status
    or content type raises :class:`EventSourceError` -- except statuses in
    ``retry_on_status``, retried like network errors. When the body ends or
    the connection drops, it reconnects after ``retry`` seconds (the
    server's ``retry:`` field sets it), with exponential backoff and jitter
    up to ``max_retry`` while attempts keep failing; after ``max_attempts``
    failures in a row (``None``: never) it raises the last error -- an
    :class:`EventSourceError` or the ``httpx`` error. An event cut off by a
    dropped connection is never yielded.

    - ``method``, ``headers``, ``json``, ``content``: the request (the body
      is sent again on each reconnection). A method that is not idempotent
      (``POST``, ``PATCH``) is not reconnected unless ``reconnect=True``:
      with ``reconnect=False`` the end of the body ends the iteration and
      an error is raised at once.
    - ``last_event_id``: sent with the first request, to resume a stream.
    - ``client``: your ``httpx.AsyncClient`` (auth, proxies, HTTP/2, base
      URL...); it is never closed here. Without it one is made and closed.
    - ``read_timeout``: seconds without a single byte (keep-alive comments
      count) after which the connection counts as dropped: the half-open
      connection TCP never reports. It replaces the client's read timeout;
      ``None`` waits forever.
    - ``max_event_size``: the decoder's bound on one line or event (chars).

    Attributes: ``last_event_id`` (the id of the last event yielded, or the
    decoder's once you ask for the next one: a resume point that never skips
    an event), ``retry`` (seconds), ``ready_state`` (``"connecting"``,
    ``"open"``, ``"closed"``), ``url``, ``response`` (the open
    ``httpx.Response``, or ``None``).

    Example::

        async with AsyncEventSource("http://127.0.0.1:8000/ticks") as source:
            async for event in source:
                print(event.event, event.id, event.json())
    """

    #: The open response, or ``None``.
    response: httpx.Response | None = None
    _own_client: httpx.AsyncClient | None = None
    _chunks: AsyncIterator[bytes] | None = None
    _decoder: EventDecoder | None = None

    async def __aenter__(self) -> AsyncEventSource:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __aiter__(self) -> AsyncEventSource:
        return self

    async def __anext__(self) -> ReceivedEvent:
        pending = self._pending
        if pending:  # the hot path: events already decoded
            event = pending.popleft()
            self.last_event_id = event.id
            return event
        return await self._receive()

    async def _receive(self) -> ReceivedEvent:
        while True:
            chunks, decoder = self._chunks, self._decoder
            if chunks is None or decoder is None:
                await self._connect()
                continue
            # Every event yielded so far was consumed: blocks without data count now.
            self.last_event_id = decoder.last_event_id
            error: Exception | None = None
            try:
                chunk = await chunks.__anext__()
            except StopAsyncIteration:
                pass
            except RETRYABLE as exc:
                error = exc
            else:
                event = self._feed(decoder, chunk)
                if event is not None:
                    return event
                continue
            await self._close_response()
            await self._wait(self.delay_after_loss(error, jitter()), error)

    async def _connect(self) -> None:
        if self.ready_state == "closed":
            raise StopAsyncIteration
        client = self._client or self._own_client
        if client is None:
            client = self._own_client = httpx.AsyncClient()
        request = build_request(client, self)
        try:
            response = await client.send(request, stream=True, follow_redirects=True)
        except RETRYABLE as exc:
            error: Exception = exc
        except Exception:  # no retry can fix it (cancellation is left to the with block)
            await self.aclose()
            raise
        else:
            verdict = self.verdict(response.status_code, response.headers.get("content-type"))
            if verdict == "open":
                self._decoder = self.opened(redirected_url(response), response.request.method)
                self.response = response
                self._chunks = response.aiter_bytes()
                return
            if verdict == "close":  # 204: the server's way of saying "stop"
                await response.aclose()
                await self._wait(None, None)
            error = connection_failure(response, await _head(response))
            if verdict == "fail":
                await self._wait(None, error)
        await self._wait(self.delay_after_loss(error, jitter()), error)

    async def _wait(self, delay: float | None, error: BaseException | None) -> None:
        """Sleep ``delay`` before reconnecting; ``None``: close, then end or raise ``error``."""
        if delay is None:
            await self.aclose()
            if error is None:
                raise StopAsyncIteration
            raise error
        await sleep(delay)

    async def _close_response(self) -> None:
        response, chunks = self.response, self._chunks
        self.response, self._chunks, self._decoder = None, None, None
        if response is not None:
            await response.aclose()
        if chunks is not None:
            await _finish(chunks)

    async def aclose(self) -> None:
        """Close the stream (and our own httpx client; never one passed in)."""
        self.ready_state = "closed"
        self._pending.clear()
        try:
            await self._close_response()
        finally:
            client, self._own_client = self._own_client, None
            if client is not None:
                await client.aclose()


async def _head(response: httpx.Response) -> bytes:
    """The first bytes of a failed response's body, for the error; its errors are ignored."""
    body = bytearray()
    chunks = response.aiter_bytes()
    try:
        async for chunk in chunks:
            body += chunk
            if len(body) >= ERROR_BODY_LIMIT:
                break
    except RETRYABLE:
        pass  # the status is the error; a broken body must not hide it
    await response.aclose()
    await _finish(chunks)
    return bytes(body[:ERROR_BODY_LIMIT])


async def _finish(chunks: AsyncIterator[bytes]) -> None:
    """Run a closed response's chain of httpx async generators to its end.

    Closing the response does not finish them, and trio warns about every
    async generator the garbage collector finds unfinished; reading on makes
    each one raise (the connection is closed), which finishes the chain.
    The bound covers bytes the HTTP parser had buffered before the close.
    """
    for _ in range(_FINISH_READS):
        try:
            await chunks.__anext__()
        except Exception:  # StopAsyncIteration, or the closed connection's error
            return


_FINISH_READS = 1000
