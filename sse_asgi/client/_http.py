"""What the async and sync clients share about httpx: requests, errors, redirects."""

from __future__ import annotations

import http.cookiejar
import urllib.request
import zlib
from typing import Any

import httpx

from ._errors import EventSourceError
from ._state import StreamState, is_event_stream

__all__ = [
    "ERROR_BODY_LIMIT",
    "ERROR_BODY_WAIT",
    "MAX_COOKIES",
    "MAX_COOKIE_SIZE",
    "RETRYABLE",
    "build_request",
    "check_redirects",
    "connection_failure",
    "own_client_cookies",
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


#: RFC 6265 section 6.1's minimums (cookies per domain, bytes per cookie),
#: kept as maximums by the clients we make: a server setting new cookies on
#: every reconnection must not grow memory, and every request's Cookie
#: header, for ever. A client passed in keeps its own rules.
MAX_COOKIES = 50
MAX_COOKIE_SIZE = 4096


def own_client_cookies() -> http.cookiejar.CookieJar:
    """The cookie jar of a client made here: bounded by MAX_COOKIES and MAX_COOKIE_SIZE.

    A jar, not ``httpx.Cookies``: httpx copies the cookies of those into a jar of its own.
    """
    jar = http.cookiejar.CookieJar()
    jar.set_policy(_CookieLimits(jar))
    return jar


class _CookieLimits(http.cookiejar.DefaultCookiePolicy):
    """Refuses a cookie over MAX_COOKIE_SIZE, and a new one when the jar is full."""

    def __init__(self, jar: http.cookiejar.CookieJar) -> None:
        super().__init__()
        self._jar = jar

    def set_ok(self, cookie: http.cookiejar.Cookie, request: urllib.request.Request) -> bool:
        if len(cookie.name) + len(cookie.value or "") > MAX_COOKIE_SIZE:
            return False
        if not super().set_ok(cookie, request):
            return False
        key = (cookie.domain, cookie.path, cookie.name)
        # Replacing a cookie it holds does not grow the jar.
        return len(self._jar) < MAX_COOKIES or any(
            (held.domain, held.path, held.name) == key for held in self._jar
        )


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
