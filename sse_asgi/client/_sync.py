"""The sync client: :class:`EventSource`, on ``httpx.Client``."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from types import TracebackType

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

__all__ = ["EventSource"]

# Module-level so that tests can replace them with fake time and fixed jitter.
sleep = time.sleep
clock = time.monotonic
jitter = random.random


class EventSource(StreamState[httpx.Client], Iterator[ReceivedEvent]):
    r""":class:`AsyncEventSource`, synchronous: an iterator of :class:`ReceivedEvent`.

    The same processing model, bounds, options and attributes; ``client``
    is an ``httpx.Client`` (never closed here), ``close()`` closes the
    stream, the waits between reconnections block the calling thread, and a
    ``KeyboardInterrupt`` during a read closes the connection (the next
    read reconnects at once).

    Example (the server answers in-process here: a stream, then 204 to end it):

    ```py
    import httpx

    from sse_asgi.client import EventSource


    def server(request):
        if "last-event-id" in request.headers:  # the reconnection
            return httpx.Response(204)
        body = b"retry: 0\nid: 1\ndata: one\n\nevent: update\nid: 2\ndata: two\n\n"
        headers = {"content-type": "text/event-stream"}
        return httpx.Response(200, headers=headers, stream=httpx.ByteStream(body))


    client = httpx.Client(transport=httpx.MockTransport(server))
    with EventSource("http://127.0.0.1:8000/ticks", client=client, read_timeout=30) as source:
        for event in source:
            print(event.event, event.id, event.data)
            #> message 1 one
            #> update 2 two
    ```
    """

    #: The open response, or ``None``.
    response: httpx.Response | None = None
    _own_client: httpx.Client | None = None
    _chunks: Iterator[bytes] | None = None
    _client_type = httpx.Client

    def __enter__(self) -> EventSource:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __iter__(self) -> Iterator[ReceivedEvent]:
        # A generator rather than ``self``: resuming one costs less than a
        # call of ``__next__`` per event, the hot path of a long stream. It
        # keeps no event of its own (both take from ``_pending``), so loops
        # and ``next(source)`` can be mixed, and ``close()`` ends it.
        return self._events()

    def _events(self) -> Iterator[ReceivedEvent]:
        pending = self._pending
        while True:
            while pending:
                event = pending.popleft()
                self.last_event_id = event.id
                yield event
            try:
                event = self._receive()
            except StopIteration:
                return
            yield event

    def __next__(self) -> ReceivedEvent:
        pending = self._pending
        if pending:  # the hot path: events already decoded
            event = pending.popleft()
            self.last_event_id = event.id
            return event
        return self._receive()

    def _receive(self) -> ReceivedEvent:
        while True:
            chunks = self._chunks
            if chunks is None:
                self._connect()
                continue
            error: Exception | None = None
            try:
                event = self._next_event()
                if event is not None:
                    return event
                self._body.feed(next(chunks))
                continue
            except StopIteration:
                pass
            except RETRYABLE as exc:
                error = exc
            except BaseException:  # Ctrl-C mid-read: the connection is lost; reconnect next
                self._close_response()
                self.ready_state = "connecting"
                raise
            self._close_response()
            self._wait(self.delay_after_loss(error, jitter(), clock()), error)

    def _connect(self) -> None:
        if self.ready_state == "closed":
            raise StopIteration
        client = self._client or self._own_client
        if client is None:
            client = self._own_client = httpx.Client(cookies=own_client_cookies())
        try:
            request = build_request(client, self)
            response = _send(client, request)
        except RETRYABLE as exc:
            error: Exception = exc
        except Exception:  # no retry can fix it (cancellation is left to the with block)
            self.close()
            raise
        else:
            verdict = self.verdict(response.status_code, response.headers)
            if verdict == "open":
                self.opened(
                    url=redirected_url(request.url, response), method=response.request.method,
                    content_encoding=response.headers.get("content-encoding"), now=clock(),
                )  # fmt: skip
                self.response, self._chunks = response, response.iter_raw()
                return
            if verdict == "close":  # 204: the server's way of saying "stop"
                response.close()
                self._wait(None, None)
            error = connection_failure(response, _head(response))
            if verdict == "fail":
                self._wait(None, error)
        self._wait(self.delay_after_loss(error, jitter(), clock()), error)

    def _wait(self, delay: float | None, error: BaseException | None) -> None:
        """Sleep ``delay`` before reconnecting; ``None``: close, then end or raise ``error``."""
        if delay is None:
            self.close()
            if error is None:
                raise StopIteration
            raise error
        sleep(delay)

    def _close_response(self) -> None:
        response, self.response, self._chunks = self.response, None, None
        if response is not None:
            response.close()

    def close(self) -> None:
        """Close the stream (and our own httpx client; never one passed in)."""
        self.ready_state = "closed"
        self._pending.clear()
        try:
            self._close_response()
        finally:
            client, self._own_client = self._own_client, None
            if client is not None:
                client.close()


def _send(client: httpx.Client, request: httpx.Request) -> httpx.Response:
    """Send ``request``, following redirects without reading their bodies."""
    response = client.send(request, stream=True, follow_redirects=False)
    history: list[httpx.Response] = []
    while response.next_request is not None:
        response.close()
        history.append(response)
        check_redirects(client, history)
        # auth=None: the client's auth went with the first request; httpx's
        # redirect rules decided what of it the next one keeps.
        response = client.send(
            response.next_request, stream=True, follow_redirects=False, auth=None
        )
    response.history = history
    return response


def _head(response: httpx.Response) -> bytes:
    """The start of a failed response's body, for the error: what arrives in ERROR_BODY_WAIT."""
    head = BodyHead(response.headers.get("content-encoding"), limit=ERROR_BODY_LIMIT)
    deadline = time.monotonic() + ERROR_BODY_WAIT
    # A sync read cannot be cancelled: bound each one instead. httpcore takes
    # the read timeout from the request's dict when the body is first read.
    timeouts = response.request.extensions.get("timeout")
    if isinstance(timeouts, dict):
        read = timeouts.get("read")
        timeouts["read"] = ERROR_BODY_WAIT if read is None else min(read, ERROR_BODY_WAIT)
    try:
        for chunk in response.iter_raw():
            if head.add(chunk) or time.monotonic() >= deadline:
                break
    except RETRYABLE:
        pass  # the status is the error; a broken body must not hide it
    finally:
        response.close()
    return head.body
