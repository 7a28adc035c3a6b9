"""The EventSource processing model as decisions without IO (WHATWG HTML 9.2.3-9.2.4).

:class:`StreamState` holds what a browser's ``EventSource`` holds -- the last
event ID string, the reconnection time, the ready state, the request to
repeat -- and decides what happens next: whether a response opens the
stream, closes it or fails it, whether a lost connection is re-established,
and after how long. The async and sync clients (``_async.py``, ``_sync.py``)
only do the IO around it, so both behave alike by construction.

The spec's rules, and where we go beyond them:

- Requests carry ``Accept: text/event-stream``, ``Cache-Control: no-cache``
  and ``Pragma: no-cache`` (the spec's cache mode "no-store", as Fetch puts
  it on the wire: what Chromium sends), ``Accept-Encoding: gzip, deflate``
  (the codings undone with bounded memory, see ``_encoding.py``), and
  ``Last-Event-ID`` -- the last event ID string, UTF-8 -- only when that
  string is not empty ("reestablish the connection"). An ID holding a
  control character cannot be an HTTP field value (RFC 9110 section 5.5):
  reconnecting with it raises :class:`LastEventIdError`.
- A response opens the stream when its status is 200 and its ``Content-Type``
  is ``text/event-stream`` (see :func:`is_event_stream`); any other status
  or type "fails the connection": no reconnection -- as does a 200 in a
  coding other than gzip or deflate. Redirects are followed (each closed
  unread), and reconnections go where they led, as in Chromium. A 204 ends
  the stream normally (the spec's advice for "stop reconnecting").
  ``retry_on_status`` lists statuses retried instead.
- The end of the body, or a network error, re-establishes the connection
  after the reconnection time. The spec allows backoff when attempts fail
  ("optionally, wait some more"): we double the wait, with jitter, up to
  ``max_retry``, and give up after ``max_attempts`` consecutive failures.
  An open stream that ended within :data:`SHORT_STREAM` seconds without an
  event counts as failed for the backoff (not for ``max_attempts``): a
  server that sends ``retry: 0`` and closes at once gets a reconnection
  every few seconds, not thousands a second.
- A server's ``retry:`` beyond ``max_retry`` sets ``retry`` to ``max_retry``.
"""

from __future__ import annotations

import collections
import math
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any, ClassVar, Generic, Literal, TypeVar

from .._decoder import DEFAULT_MAX_EVENT_SIZE, EventDecoder, ReceivedEvent
from .._errors import describe_char
from ._encoding import ACCEPT_ENCODING, BodyDecoder, codings
from ._errors import LastEventIdError

__all__ = [
    "IDEMPOTENT_METHODS",
    "MIN_BACKOFF",
    "SHORT_STREAM",
    "HeadersArg",
    "ReadyState",
    "StreamState",
    "Verdict",
    "is_event_stream",
    "last_event_id_header",
    "reconnect_delay",
]

ReadyState = Literal["connecting", "open", "closed"]

#: The request headers a client accepts: a mapping, pairs, or ``None``.
HeadersArg = Mapping[str, str] | Iterable[tuple[str, str]] | None

#: The httpx client type (``httpx.AsyncClient`` or ``httpx.Client``).
ClientT = TypeVar("ClientT")

#: What a response means for the stream (see :meth:`StreamState.verdict`).
Verdict = Literal["open", "close", "retry", "fail"]

#: RFC 9110 section 9.2.2: the methods a client may repeat without asking.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})

#: Seconds: the smallest base of the exponential backoff, so that a stream
#: with ``retry: 0`` does not hammer a server that keeps failing.
MIN_BACKOFF = 0.1

#: Seconds: an open stream that ended sooner, without an event, was a failed
#: attempt for the backoff (a longer one cannot make reconnections a storm).
SHORT_STREAM = 1.0

# 2 ** 60 times any base is past every max_retry: no bigger exponent needed
# (a float power of a larger one would overflow after a long outage).
_MAX_EXPONENT = 60

_HTTP_WHITESPACE = " \t\r\n"

# RFC 9110 section 5.5: a field value holds no control character but HTAB.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")

# RFC 9110 section 5.6.2: token = 1*tchar.
_MIME_ESSENCE = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+/[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def reconnect_delay(retry: float, failures: int, *, max_retry: float, jitter: float) -> float:
    """Seconds to wait before the next connection attempt.

    ``retry`` is the reconnection time (seconds), ``failures`` how many
    attempts in a row have failed so far, ``jitter`` a random number in
    ``[0, 1)``. After a stream that was open, ``failures`` is 0 and the wait
    is exactly ``retry``, as in a browser. While attempts keep failing the
    ceiling doubles from ``max(retry, MIN_BACKOFF)`` up to ``max_retry`` and
    the wait is drawn between half the ceiling (never less than ``retry``)
    and the ceiling, so that clients dropped together do not return
    together. No wait exceeds ``max_retry``.

    Example:

    ```py
    from sse_asgi.client._state import reconnect_delay

    print(reconnect_delay(1.0, 0, max_retry=30.0, jitter=0.5))
    #> 1.0
    print([reconnect_delay(1.0, n, max_retry=30.0, jitter=0.0) for n in (1, 2, 3, 6)])
    #> [1.0, 2.0, 4.0, 15.0]
    ```
    """
    if failures <= 0:
        return min(retry, max_retry)
    ceiling = min(max_retry, max(retry, MIN_BACKOFF) * 2.0 ** min(failures, _MAX_EXPONENT))
    low = min(max(retry, ceiling / 2), ceiling)
    return low + jitter * (ceiling - low)


def is_event_stream(content_type: str | None) -> bool:
    """Whether a response with this ``Content-Type`` opens an event stream.

    As the Fetch standard's "extract a MIME type": the essence (type/subtype)
    is compared case-insensitively, and of several comma-separated values
    the last valid one counts. As in Chromium, a ``charset`` parameter other
    than ``utf-8`` fails the connection (the stream is always read as UTF-8,
    so a server declaring another charset would be misread).

    Example:

    ```py
    from sse_asgi.client._state import is_event_stream

    print(is_event_stream("Text/Event-Stream; charset=UTF-8"), is_event_stream("text/plain"))
    #> True False
    print(is_event_stream("text/event-stream; charset=latin-1"))
    #> False
    ```
    """
    if not content_type:
        return False
    chosen: list[str] | None = None
    for value in content_type.split(","):
        essence, *parameters = value.split(";")
        essence = essence.strip(_HTTP_WHITESPACE)
        if _MIME_ESSENCE.fullmatch(essence):
            chosen = [essence, *parameters]
    if chosen is None or chosen[0].lower() != "text/event-stream":
        return False
    for parameter in chosen[1:]:
        name, _, value = parameter.partition("=")
        if name.strip(_HTTP_WHITESPACE).lower() == "charset":
            return value.strip(_HTTP_WHITESPACE).strip('"').lower() == "utf-8"
    return True


def last_event_id_header(last_event_id: str) -> bytes:
    r"""The ``Last-Event-ID`` header value for ``last_event_id``: UTF-8, outer blanks dropped.

    A server's HTTP parser strips leading and trailing spaces and tabs from
    a field value, so they never reach it from a browser either; dropping
    them here keeps the request valid for HTTP libraries that reject them.
    Raises :class:`LastEventIdError` if it holds a control character (other
    than a tab) or a lone surrogate: no HTTP header can carry those.

    Example:

    ```py
    from sse_asgi.client import LastEventIdError
    from sse_asgi.client._state import last_event_id_header

    print(last_event_id_header(" évé "))
    #> b'\xc3\xa9v\xc3\xa9'
    try:
        last_event_id_header("a\x0cb")
    except LastEventIdError as exc:
        print(exc)
        '''
        cannot send Last-Event-ID 'a\x0cb': an HTTP header cannot hold '\x0c' (U+000C FORM FEED)
        '''
    ```
    """
    control = _CONTROL.search(last_event_id)
    if control is not None:
        raise LastEventIdError(last_event_id, describe_char(control.group()))
    try:
        return last_event_id.strip(" \t").encode()
    except UnicodeEncodeError as exc:
        raise LastEventIdError(last_event_id, describe_char(last_event_id[exc.start])) from None


class StreamState(Generic[ClientT]):
    """One event stream's state and every decision about it; subclasses do the IO.

    The constructor is the clients' (``AsyncEventSource``, ``EventSource``):
    options are checked here, once, before any IO.
    """

    #: The last event ID string: sent as ``Last-Event-ID`` when reconnecting.
    last_event_id: str
    #: The reconnection time in seconds; the server's ``retry:`` field (ms) sets it.
    retry: float
    #: ``"connecting"``, ``"open"`` or ``"closed"``, as ``EventSource.readyState``.
    ready_state: ReadyState
    #: The URL of the next connection (after a same-origin redirect: where it led).
    url: str
    #: Connection attempts that failed in a row (``max_attempts`` bounds them).
    failures: int

    #: The type of ``client`` the subclass drives.
    _client_type: ClassVar[type[Any]] = object

    def __init__(
        self,
        url: object,
        *,
        method: str = "GET",
        headers: HeadersArg = None,
        json: Any = None,
        content: str | bytes | None = None,
        last_event_id: str = "",
        client: ClientT | None = None,
        reconnect: bool | None = None,
        retry: float = 3.0,
        max_retry: float = 30.0,
        max_attempts: int | None = None,
        read_timeout: float | None = None,
        retry_on_status: Collection[int] = (),
        max_event_size: int = DEFAULT_MAX_EVENT_SIZE,
    ) -> None:
        self.url = str(url)  # a str or an httpx.URL
        self.method = method.upper()
        if client is not None and not isinstance(client, self._client_type):
            expected = self._client_type.__qualname__
            raise TypeError(f"client must be an httpx.{expected}, not {type(client).__name__}")
        self._client = client
        self.headers = _header_items(headers)
        for name, _ in self.headers:
            if name.lower() == "last-event-id":
                raise ValueError("pass last_event_id=..., not a Last-Event-ID header")
        if json is not None and content is not None:
            raise ValueError("pass json or content, not both")
        if content is not None and not isinstance(content, (str, bytes)):
            # Reconnecting sends the body again: an iterator could not be replayed.
            raise TypeError(f"content must be str or bytes, not {type(content).__name__}")
        self.json = json
        self.content = content
        if not isinstance(last_event_id, str):
            raise TypeError(f"last_event_id must be a str, not {type(last_event_id).__name__}")
        last_event_id_header(last_event_id)  # raises now what the first request could not send
        self.last_event_id = last_event_id
        _check_seconds("retry", retry)
        _check_seconds("max_retry", max_retry)
        if retry > max_retry:
            raise ValueError(f"retry ({retry!r} s) must not exceed max_retry ({max_retry!r} s)")
        if read_timeout is not None:
            _check_seconds("read_timeout", read_timeout, positive=True)
        if max_attempts is not None and (
            isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1
        ):
            raise ValueError(f"max_attempts must be an int >= 1 or None, got {max_attempts!r}")
        if max_event_size < 1:
            raise ValueError(f"max_event_size must be >= 1, got {max_event_size!r}")
        self.retry = float(retry)
        self.max_retry = float(max_retry)
        self.max_attempts = max_attempts
        self.read_timeout = read_timeout
        self.retry_on_status = _check_statuses(retry_on_status)
        self.max_event_size = max_event_size
        self.reconnect = self.method in IDEMPOTENT_METHODS if reconnect is None else reconnect
        self.ready_state = "connecting"
        self.failures = 0
        # Connections and attempts in a row that brought no event: the backoff's exponent.
        self._fruitless = 0
        # The open connection: when it opened, whether it brought an event, its decoders.
        self._opened_at = 0.0
        self._delivered = False
        self._body = BodyDecoder()
        self._decoder = EventDecoder()
        self._pending: collections.deque[ReceivedEvent] = collections.deque()
        # Called with every piece of the body as received (the CLI's --raw).
        self._on_chunk: Callable[[bytes], object] | None = None

    def verdict(self, status: int, headers: Mapping[str, str]) -> Verdict:
        """What a response with this status and these headers does to the stream."""
        if status == 200 and is_event_stream(headers.get("content-type")):
            # A coding that cannot be undone with bounded memory fails it too.
            return "fail" if codings(headers.get("content-encoding")) is None else "open"
        if status == 204:
            return "close"
        if status in self.retry_on_status and self.reconnect:
            return "retry"
        return "fail"

    def opened(
        self, *, url: str | None, method: str, content_encoding: str | None, now: float
    ) -> None:
        """The stream is open (the verdict was ``"open"``): fresh decoders for its body.

        An event cut off when the previous connection dropped had no blank
        line, so it is never dispatched; the last event ID string survives
        (only a blank line ever changed it). ``url`` is where redirects
        led, ``None`` if they crossed origins (then reconnections start over
        at the first URL, so credentials follow the HTTP library's redirect
        rules every time); ``method`` the final request's; ``now`` seconds on
        a monotonic clock.
        """
        self.ready_state = "open"
        self.failures = 0
        self._opened_at = now
        self._delivered = False
        self._body = BodyDecoder(codings(content_encoding) or ())
        self._decoder = EventDecoder(self.last_event_id, max_event_size=self.max_event_size)
        if url is not None and url != self.url:
            self.url = url
            if method != self.method:  # a 303 (or 301/302 after POST) made it a GET
                self.method = method
                self.json = self.content = None

    def delay_after_loss(
        self, error: BaseException | None, jitter: float, now: float
    ) -> float | None:
        """The connection is gone: seconds until the next attempt, or ``None`` to stop.

        ``error`` is ``None`` when an open stream's body ended; else the
        (retryable) error that ended the stream or failed the attempt.
        ``None`` is returned when the stream should not reconnect (then the
        caller ends the iteration, or raises ``error``) or when
        ``max_attempts`` attempts in a row have failed. ``jitter`` is a
        random number in ``[0, 1)``, ``now`` the same clock as :meth:`opened`'s.
        """
        if not self.reconnect:
            self.ready_state = "closed"
            return None
        if error is not None and self.ready_state != "open":
            self.failures += 1  # an attempt that never opened
            if self.max_attempts is not None and self.failures >= self.max_attempts:
                self.ready_state = "closed"
                return None
            self._fruitless += 1
        elif self._delivered or now - self._opened_at >= SHORT_STREAM:
            self._fruitless = 0
        else:
            self._fruitless += 1  # open, but it ended at once with nothing in it
        self.ready_state = "connecting"
        return reconnect_delay(self.retry, self._fruitless, max_retry=self.max_retry, jitter=jitter)

    def _next_event(self) -> ReceivedEvent | None:
        """The first event the body's bytes so far complete (the rest wait in ``_pending``).

        ``None``: read more and ``self._body.feed()`` it. A piece at a time,
        so that memory stays bounded whatever one read held; raises
        ``zlib.error`` on a corrupt body.
        """
        decoder = self._decoder
        # Every event yielded so far was consumed: blocks without data count now.
        self.last_event_id = decoder.last_event_id
        while piece := self._body.read():
            if self._on_chunk is not None:
                self._on_chunk(piece)
            events = decoder.feed(piece)
            if decoder.retry is not None:
                # Compared as ints: a float of a server's 400-digit value would overflow.
                ms = decoder.retry
                self.retry = ms / 1000 if ms < self.max_retry * 1000 else self.max_retry
            if events:
                self._delivered = True
                pending = self._pending
                pending.extend(events)
                event = pending.popleft()
                self.last_event_id = event.id
                return event
        return None

    def request_headers(self) -> dict[bytes, bytes]:
        """The headers this state adds to every request; :class:`LastEventIdError` if it cannot."""
        # The spec's request has cache mode "no-store", which Fetch (and so
        # every browser) sends as these two headers: no cache may answer it.
        headers = {
            b"Accept": b"text/event-stream",
            b"Accept-Encoding": ACCEPT_ENCODING,
            b"Cache-Control": b"no-cache",
            b"Pragma": b"no-cache",
        }
        if self.last_event_id:
            headers[b"Last-Event-ID"] = last_event_id_header(self.last_event_id)
        return headers


def _header_items(headers: HeadersArg) -> list[tuple[str, str]]:
    if headers is None:
        return []
    items = headers.items() if isinstance(headers, Mapping) else headers
    return [(str(name), str(value)) for name, value in items]


def _check_seconds(name: str, value: object, *, positive: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, not {type(value).__name__}")
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        bound = "> 0" if positive else ">= 0"
        raise ValueError(f"{name} must be a finite number of seconds {bound}, got {value!r}")


def _check_statuses(statuses: Collection[int]) -> frozenset[int]:
    checked = frozenset(statuses)
    for status in checked:
        if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
            raise ValueError(f"retry_on_status holds HTTP statuses (100-599), not {status!r}")
        if status in (200, 204):
            raise ValueError(f"retry_on_status cannot hold {status}: it opens or ends the stream")
    return checked
