"""The async client: :class:`AsyncEventSource`, on ``httpx.AsyncClient`` (asyncio and trio)."""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator
from types import TracebackType

import anyio
import httpx

from .._decoder import ReceivedEvent
from ._encoding import BodyHead
from ._http import (
    ERROR_BODY_LIMIT,
    ERROR_BODY_WAIT,
    RETRYABLE,
    build_request,
    check_redirects,
    connection_failure,
    own_client_cookies,
    redirected_url,
)
from ._state import StreamState

__all__ = ["AsyncEventSource"]

# Module-level so that tests can replace them with fake time and fixed jitter.
sleep = anyio.sleep
clock = time.monotonic
jitter = random.random


class AsyncEventSource(StreamState[httpx.AsyncClient], AsyncIterator[ReceivedEvent]):
    r"""A browser's ``EventSource`` for Python: an async iterator of :class:`ReceivedEvent`.

    It connects on the first iteration and then follows the WHATWG
    processing model, as Chromium does: each request carries ``Accept:
    text/event-stream``, ``Cache-Control: no-cache``, ``Pragma: no-cache``
    and, when the last event ID is not empty, ``Last-Event-ID`` (UTF-8);
    redirects are followed (reconnections go where a same-origin redirect
    led); a 200 ``text/event-stream`` response opens the stream; a 204 ends
    the iteration; any other status or content type raises
    :class:`EventSourceError` -- except statuses in ``retry_on_status``,
    retried like network errors. When the body ends or the connection
    drops, it reconnects after ``retry`` seconds (the server's ``retry:``
    field sets it, up to ``max_retry``), with exponential backoff and jitter
    up to ``max_retry`` while attempts keep failing -- or keep ending at
    once without an event; after ``max_attempts`` failures in a row
    (``None``: never) it raises the last error -- an
    :class:`EventSourceError` or the ``httpx`` error. An event cut off by a
    dropped connection is never yielded.

    Whatever a server sends, memory stays bounded: the body is decoded a
    64 KiB piece at a time (``Accept-Encoding: gzip, deflate``; other codings
    fail the connection), a redirect's body is never read, a failed
    response's body is read for at most a second (the start of it is the
    error's ``body``), and ``max_event_size`` bounds a line or an event. A
    server ``id`` that no HTTP header can carry (a control character) raises
    :class:`LastEventIdError` instead of reconnecting.

    - ``method``, ``headers``, ``json``, ``content``: the request (the body
      is sent again on each reconnection). A method that is not idempotent
      (``POST``, ``PATCH``) is not reconnected unless ``reconnect=True``:
      with ``reconnect=False`` the end of the body ends the iteration and
      an error is raised at once.
    - ``last_event_id``: sent with the first request, to resume a stream.
    - ``client``: your ``httpx.AsyncClient`` (auth, proxies, HTTP/2, base
      URL...); it is never closed here. Without it one is made and closed
      (keeping at most 50 cookies of 4 KiB, whatever the server sets).
    - ``read_timeout``: seconds without a single byte (keep-alive comments
      count) after which the connection counts as dropped: the half-open
      connection TCP never reports. It replaces the client's read timeout;
      ``None`` waits forever.
    - ``max_event_size``: the decoder's bound on one line or event (chars).

    Attributes: ``last_event_id`` (the id of the last event yielded, or the
    decoder's once you ask for the next one: a resume point that never skips
    an event), ``retry`` (seconds), ``ready_state`` (``"connecting"``,
    ``"open"``, ``"closed"``), ``url``, ``response`` (the open
    ``httpx.Response``, or ``None``). A read that is cancelled (a timeout
    around ``anext()``) closes the connection: the next one reconnects at
    once, from ``last_event_id``.

    Example (the server answers in-process here: a stream, then 204 to end it):

    ```py
    import anyio
    import httpx

    from sse_asgi.client import AsyncEventSource


    def server(request):
        if "last-event-id" in request.headers:  # the reconnection
            return httpx.Response(204)
        body = b'retry: 0\nid: 1\ndata: {"n": 1}\n\nevent: update\nid: 2\ndata: {"n": 2}\n\n'
        headers = {"content-type": "text/event-stream"}
        return httpx.Response(200, headers=headers, stream=httpx.ByteStream(body))


    async def main():
        async with httpx.AsyncClient(transport=httpx.MockTransport(server)) as client:
            async with AsyncEventSource("http://127.0.0.1:8000/ticks", client=client) as source:
                async for event in source:
                    print(event.event, event.id, event.json())
                    #> message 1 {'n': 1}
                    #> update 2 {'n': 2}


    anyio.run(main)
    ```
    """

    #: The open response, or ``None``.
    response: httpx.Response | None = None
    _own_client: httpx.AsyncClient | None = None
    _chunks: AsyncIterator[bytes] | None = None
    _client_type = httpx.AsyncClient

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
            chunks = self._chunks
            if chunks is None:
                await self._connect()
                continue
            error: Exception | None = None
            try:
                event = self._next_event()
                if event is not None:
                    return event
                self._body.feed(await chunks.__anext__())
                continue
            except StopAsyncIteration:
                pass
            except RETRYABLE as exc:
                error = exc
            except BaseException:  # cancelled mid-read: the connection is lost; reconnect next
                await self._close_response()
                self.ready_state = "connecting"
                raise
            await self._close_response()
            await self._wait(self.delay_after_loss(error, jitter(), clock()), error)

    async def _connect(self) -> None:
        if self.ready_state == "closed":
            raise StopAsyncIteration
        client = self._client or self._own_client
        if client is None:
            client = self._own_client = httpx.AsyncClient(cookies=own_client_cookies())
        try:
            request = build_request(client, self)
            response = await _send(client, request)
        except RETRYABLE as exc:
            error: Exception = exc
        except Exception:  # no retry can fix it (cancellation is left to the with block)
            await self.aclose()
            raise
        else:
            verdict = self.verdict(response.status_code, response.headers)
            if verdict == "open":
                self.opened(
                    url=redirected_url(request.url, response), method=response.request.method,
                    content_encoding=response.headers.get("content-encoding"), now=clock(),
                )  # fmt: skip
                self.response, self._chunks = response, response.aiter_raw()
                return
            if verdict == "close":  # 204: the server's way of saying "stop"
                await _close(response, None)
                await self._wait(None, None)
            error = connection_failure(response, await _head(response))
            if verdict == "fail":
                await self._wait(None, error)
        await self._wait(self.delay_after_loss(error, jitter(), clock()), error)

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
        self.response, self._chunks = None, None
        if response is not None:
            await _close(response, chunks)

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


async def _send(client: httpx.AsyncClient, request: httpx.Request) -> httpx.Response:
    """Send ``request``, following redirects without reading their bodies."""
    response = await client.send(request, stream=True, follow_redirects=False)
    history: list[httpx.Response] = []
    while response.next_request is not None:
        await _close(response, None)
        history.append(response)
        check_redirects(client, history)
        # auth=None: the client's auth went with the first request; httpx's
        # redirect rules decided what of it the next one keeps.
        response = await client.send(
            response.next_request, stream=True, follow_redirects=False, auth=None
        )
    response.history = history
    return response


async def _head(response: httpx.Response) -> bytes:
    """The start of a failed response's body, for the error: what arrives in ERROR_BODY_WAIT."""
    head = BodyHead(response.headers.get("content-encoding"), limit=ERROR_BODY_LIMIT)
    chunks = response.aiter_raw()
    try:
        with anyio.move_on_after(ERROR_BODY_WAIT):
            async for chunk in chunks:
                if head.add(chunk):
                    break
    except RETRYABLE:
        pass  # the status is the error; a broken body must not hide it
    finally:
        await _close(response, chunks)
    return head.body


async def _close(response: httpx.Response, chunks: AsyncIterator[bytes] | None) -> None:
    """Close ``response`` (and ``chunks``, the generators reading it), even when cancelled."""
    with anyio.CancelScope(shield=True):
        await response.aclose()
        if chunks is not None:
            await _finish(chunks)


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
