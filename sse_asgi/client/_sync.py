"""The sync client: :class:`EventSource`, on ``httpx.Client``."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from types import TracebackType

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

__all__ = ["EventSource"]

# Module-level so that tests can replace them with fake time and fixed jitter.
sleep = time.sleep
jitter = random.random


class EventSource(StreamState[httpx.Client], Iterator[ReceivedEvent]):
    """:class:`AsyncEventSource`, synchronous: an iterator of :class:`ReceivedEvent`.

    The same processing model, options and attributes; ``client`` is an
    ``httpx.Client`` (never closed here), ``close()`` closes the stream, and
    the waits between reconnections block the calling thread.

    Example::

        with EventSource("http://127.0.0.1:8000/ticks", read_timeout=30) as source:
            for event in source:
                print(event.event, event.id, event.data)
    """

    #: The open response, or ``None``.
    response: httpx.Response | None = None
    _own_client: httpx.Client | None = None
    _chunks: Iterator[bytes] | None = None
    _decoder: EventDecoder | None = None

    def __enter__(self) -> EventSource:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __iter__(self) -> EventSource:
        return self

    def __next__(self) -> ReceivedEvent:
        pending = self._pending
        if pending:  # the hot path: events already decoded
            event = pending.popleft()
            self.last_event_id = event.id
            return event
        return self._receive()

    def _receive(self) -> ReceivedEvent:
        while True:
            chunks, decoder = self._chunks, self._decoder
            if chunks is None or decoder is None:
                self._connect()
                continue
            # Every event yielded so far was consumed: blocks without data count now.
            self.last_event_id = decoder.last_event_id
            error: Exception | None = None
            try:
                chunk = next(chunks)
            except StopIteration:
                pass
            except RETRYABLE as exc:
                error = exc
            else:
                event = self._feed(decoder, chunk)
                if event is not None:
                    return event
                continue
            self._close_response()
            self._wait(self.delay_after_loss(error, jitter()), error)

    def _connect(self) -> None:
        if self.ready_state == "closed":
            raise StopIteration
        client = self._client or self._own_client
        if client is None:
            client = self._own_client = httpx.Client()
        request = build_request(client, self)
        try:
            response = client.send(request, stream=True, follow_redirects=True)
        except RETRYABLE as exc:
            error: Exception = exc
        except Exception:  # no retry can fix it (cancellation is left to the with block)
            self.close()
            raise
        else:
            verdict = self.verdict(response.status_code, response.headers.get("content-type"))
            if verdict == "open":
                self._decoder = self.opened(redirected_url(response), response.request.method)
                self.response = response
                self._chunks = response.iter_bytes()
                return
            if verdict == "close":  # 204: the server's way of saying "stop"
                response.close()
                self._wait(None, None)
            error = connection_failure(response, _head(response))
            if verdict == "fail":
                self._wait(None, error)
        self._wait(self.delay_after_loss(error, jitter()), error)

    def _wait(self, delay: float | None, error: BaseException | None) -> None:
        """Sleep ``delay`` before reconnecting; ``None``: close, then end or raise ``error``."""
        if delay is None:
            self.close()
            if error is None:
                raise StopIteration
            raise error
        sleep(delay)

    def _close_response(self) -> None:
        response, self.response, self._chunks, self._decoder = self.response, None, None, None
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


def _head(response: httpx.Response) -> bytes:
    """The first bytes of a failed response's body, for the error; its errors are ignored."""
    body = bytearray()
    try:
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) >= ERROR_BODY_LIMIT:
                break
    except RETRYABLE:
        pass  # the status is the error; a broken body must not hide it
    response.close()
    return bytes(body[:ERROR_BODY_LIMIT])
