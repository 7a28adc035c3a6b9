"""What the async and sync clients share about httpx: requests, errors, redirects."""

from __future__ import annotations

from typing import Any

import httpx

from ._errors import EventSourceError
from ._state import StreamState

__all__ = [
    "ERROR_BODY_LIMIT",
    "RETRYABLE",
    "build_request",
    "connection_failure",
    "redirected_url",
]

#: Errors that a new connection may cure: a dropped or refused connection, a
#: silent one (``read_timeout``), a body cut mid-chunk or mis-encoded. The
#: others (an unsupported scheme, too many redirects, a request httpx itself
#: finds invalid) fail the same way every time, so they are raised at once.
RETRYABLE: tuple[type[Exception], ...] = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
    httpx.ProxyError,
    httpx.DecodingError,
)

#: Bytes of a failed response's body kept in :class:`EventSourceError`.
ERROR_BODY_LIMIT = 64 * 1024


def build_request(
    client: httpx.Client | httpx.AsyncClient, state: StreamState[Any]
) -> httpx.Request:
    """The next request of the stream, on ``client``: its defaults, our headers, the user's."""
    headers = httpx.Headers(state.request_headers())
    for name, value in state.headers:
        headers[name] = value  # the user's choice wins (Accept, say), Last-Event-ID aside
    # read_timeout replaces the client's read timeout (httpx's default is 5 s,
    # which would cut every quiet stream); connect, write and pool stay.
    timeout = client.timeout
    timeout = httpx.Timeout(
        connect=timeout.connect, read=state.read_timeout, write=timeout.write, pool=timeout.pool
    )
    return client.build_request(
        state.method, state.url, headers=headers, json=state.json, content=state.content,
        timeout=timeout,
    )  # fmt: skip


def redirected_url(response: httpx.Response) -> str | None:
    """Where redirects led, if they did and stayed on the first URL's origin; else ``None``."""
    if not response.history:
        return None
    first, final = response.history[0].request.url, response.url
    if (first.scheme, first.host, first.port) != (final.scheme, final.host, final.port):
        return None
    return str(final)


def connection_failure(response: httpx.Response, body: bytes) -> EventSourceError:
    """The error for a response that cannot open the stream."""
    status = response.status_code
    if status == 200:
        content_type = response.headers.get("content-type")
        reason = f"HTTP 200 with Content-Type {content_type!r}, not text/event-stream"
    else:
        reason = f"HTTP {status} {response.reason_phrase}".rstrip()
    return EventSourceError(
        reason, status=status, headers=response.headers, url=str(response.url), body=body
    )
