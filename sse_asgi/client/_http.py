"""What the async and sync clients share about httpx: requests, errors, redirects."""

from __future__ import annotations

import zlib
from typing import Any

import httpx

from ._errors import EventSourceError
from ._state import StreamState, is_event_stream

__all__ = [
    "ERROR_BODY_LIMIT",
    "ERROR_BODY_WAIT",
    "RETRYABLE",
    "build_request",
    "check_redirects",
    "connection_failure",
    "redirected_url",
]

#: Errors that a new connection may cure: a dropped or refused connection, a
#: silent one (``read_timeout``), a body cut mid-chunk or mis-encoded (httpx
#: finds some, ``zlib`` the rest). The others (an unsupported scheme, too
#: many redirects, a request httpx itself finds invalid) fail the same way
#: every time, so they are raised at once.
RETRYABLE: tuple[type[Exception], ...] = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
    httpx.ProxyError,
    httpx.DecodingError,
    zlib.error,
)

#: Bytes of a failed response's body kept in :class:`EventSourceError`.
ERROR_BODY_LIMIT = 64 * 1024

#: Seconds spent reading a failed response's body, whatever ``read_timeout``
#: is: the status is known, and a body that keeps coming (a stream sent with
#: the wrong ``Content-Type``) must not hold the error back.
ERROR_BODY_WAIT = 1.0


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


def check_redirects(
    client: httpx.Client | httpx.AsyncClient, history: list[httpx.Response]
) -> None:
    """Raise ``httpx.TooManyRedirects`` past the client's ``max_redirects``, as httpx does.

    The clients follow redirects themselves, closing each redirect unread:
    httpx reads a redirect's whole body into memory first, however large.
    """
    if len(history) > client.max_redirects:
        raise httpx.TooManyRedirects(
            "Exceeded maximum allowed redirects.", request=history[-1].next_request
        )


def redirected_url(first: httpx.URL, response: httpx.Response) -> str | None:
    """Where redirects from ``first`` led, if they stayed on its origin; else ``None``."""
    final = response.url
    if final == first or (first.scheme, first.host, first.port) != (
        final.scheme, final.host, final.port,
    ):  # fmt: skip
        return None
    return str(final)


def connection_failure(response: httpx.Response, body: bytes) -> EventSourceError:
    """The error for a response that cannot open the stream."""
    status = response.status_code
    content_type = response.headers.get("content-type")
    content_encoding = response.headers.get("content-encoding")
    if status != 200:
        reason = f"HTTP {status} {response.reason_phrase}".rstrip()
    elif not is_event_stream(content_type):
        reason = f"HTTP 200 with Content-Type {content_type!r}, not text/event-stream"
    else:  # the one other reason a 200 fails
        reason = f"HTTP 200 with Content-Encoding {content_encoding!r}, not gzip or deflate"
    return EventSourceError(
        reason, status=status, headers=response.headers, url=str(response.url), body=body
    )
