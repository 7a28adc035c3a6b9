"""The ASGI response: :class:`EventSourceResponse`, and ``last_event_id``."""

from __future__ import annotations

import math
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Mapping
from typing import Any

from ._event import ServerSentEvent
from ._item_encoder import item_encoder
from ._iterate import as_async_iterator
from ._send_loop import SendLoop
from .types import HTTPResponseStartEvent, Receive, Scope, Send

__all__ = ["EventSourceResponse", "last_event_id"]

HeadersLike = Mapping[str, str] | Iterable[tuple[str, str]]

_DEFAULT_HEADERS = (
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    # nginx buffers proxied responses unless told not to.
    (b"x-accel-buffering", b"no"),
)


class EventSourceResponse:
    """A ``text/event-stream`` response, as a plain ASGI application.

    ``content`` is an async iterable or a plain iterable. Its items are
    :class:`ServerSentEvent`\\ s, sent as they are, or plain values, sent as
    JSON ``data``. Blocking sync generators run in a worker thread.

    Options:

    - ``status_code``, ``headers``: the response head. User headers replace
      the defaults of the same name (``content-type: text/event-stream;
      charset=utf-8``, ``cache-control: no-cache``, ``x-accel-buffering: no``).
    - ``ping_interval``: seconds without any send after which a keep-alive
      comment (``: {ping_comment}``) is sent; ``None`` disables it.
    - ``send_timeout``: seconds a single send may take before the client is
      considered stalled (30 by default; ``None`` waits forever). A send only
      blocks once the server's and the kernel's buffers for this client are
      full. The iterator is then closed, ``on_disconnect`` runs and one INFO
      line is logged; the end of the body still waits for the server to take
      it (the client reads again, or leaves) or for shutdown, because no
      server lets an app end a response sooner (see the README's "Clients
      that stop reading").
    - ``item_type``: validate plain items against this type (a pydantic model,
      ``list[int]``, ...) and serialize them with pydantic's core. Or pass
      ``serializer``, any function returning an item's JSON bytes.
    - ``on_error(exc)``: called when the iterator raises mid-stream, after
      every earlier event was sent; it may return a final event (e.g.
      ``event: error``). The exception is logged on the ``sse_asgi`` logger.
    - ``on_disconnect()``: called (sync or async) when the client goes away.
    - ``first_event_grace``: seconds the headers are held back waiting for the
      first item, so that an exception raised before it becomes a real HTTP
      error response (the exception propagates to the framework or server)
      instead of a ``200`` with an empty stream. A stream whose first item
      comes sooner is not delayed at all.
    - ``coalesce``: opt-in write coalescing for bulk streams: events are
      gathered into one ``send`` of up to 64 KiB, and no event waits more
      than ``coalesce`` seconds for company. ``None`` (default) sends each
      event at once.

    Example::

        async def ticks():
            for i in range(3):
                yield ServerSentEvent(data={"i": i}, id=str(i))
                await anyio.sleep(1)

        app = lambda scope, receive, send: EventSourceResponse(ticks())(scope, receive, send)
    """

    media_type = "text/event-stream"

    # Slots: one response object lives as long as each open connection.
    __slots__ = (
        "coalesce",
        "content",
        "encode_item",
        "first_event_grace",
        "on_disconnect",
        "on_error",
        "ping_bytes",
        "ping_interval",
        "raw_headers",
        "send_timeout",
        "status_code",
    )

    def __init__(
        self,
        content: AsyncIterable[Any] | Iterable[Any],
        *,
        status_code: int = 200,
        headers: HeadersLike | None = None,
        ping_interval: float | None = 15.0,
        ping_comment: str = "ping",
        send_timeout: float | None = 30.0,
        item_type: Any = None,
        serializer: Callable[[Any], bytes] | None = None,
        on_error: Callable[[Exception], ServerSentEvent | None] | None = None,
        on_disconnect: Callable[[], Awaitable[None] | None] | None = None,
        first_event_grace: float = 0.5,
        coalesce: float | None = None,
    ) -> None:
        _check_seconds("ping_interval", ping_interval, allow_zero=False)
        _check_seconds("send_timeout", send_timeout, allow_zero=False)
        _check_seconds("first_event_grace", first_event_grace, allow_none=False)
        _check_seconds("coalesce", coalesce)
        self.content = content
        self.status_code = status_code
        self.raw_headers = _merge_headers(headers)
        self.ping_interval = ping_interval
        self.ping_bytes = ServerSentEvent(comment=ping_comment).encode()
        self.send_timeout = send_timeout
        self.on_error = on_error
        self.on_disconnect = on_disconnect
        self.first_event_grace = first_event_grace
        self.coalesce = coalesce
        self.encode_item = item_encoder(item_type, serializer=serializer)

    def start_message(self) -> HTTPResponseStartEvent:
        """The ``http.response.start`` message of this response."""
        return {
            "type": "http.response.start",
            "status": self.status_code,
            "headers": self.raw_headers,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the stream on one HTTP connection (an ASGI application call)."""
        if scope["type"] != "http":
            raise RuntimeError(f"EventSourceResponse serves HTTP only, not {scope['type']!r}")
        if scope.get("method") == "HEAD":
            # Headers only; the iterator is never started.
            await send(self.start_message())
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            await _close_unstarted(self.content)
            return
        await SendLoop(
            self, as_async_iterator(self.content), receive, send, scope.get("client")
        ).run()


def last_event_id(scope: Scope) -> str | None:
    """The ``Last-Event-ID`` request header a reconnecting ``EventSource`` sends, or ``None``.

    Example::

        async def app(scope, receive, send):
            resume_after = last_event_id(scope)  # e.g. "41", or None on first connect
    """
    for name, value in scope.get("headers", ()):
        if name.lower() == b"last-event-id":
            # Browsers send the last event ID string UTF-8 encoded.
            return bytes(value).decode("utf-8", "replace")
    return None


def _merge_headers(headers: HeadersLike | None) -> list[tuple[bytes, bytes]]:
    if headers is None:
        return list(_DEFAULT_HEADERS)
    items = headers.items() if isinstance(headers, Mapping) else headers
    user = [(_header_bytes(name).lower(), _header_bytes(value)) for name, value in items]
    overridden = {name for name, _ in user}
    return [pair for pair in _DEFAULT_HEADERS if pair[0] not in overridden] + user


def _header_bytes(text: str) -> bytes:
    if "\r" in text or "\n" in text:
        raise ValueError(f"header names and values must not contain CR or LF: {text!r}")
    return text.encode("latin-1")


def _check_seconds(
    name: str, value: float | None, *, allow_zero: bool = True, allow_none: bool = True
) -> None:
    if value is None:
        if not allow_none:
            raise ValueError(f"{name} must be a number of seconds, not None")
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise TypeError(f"{name} must be a number of seconds or None, not {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0 (use None to disable)"
        raise ValueError(f"{name} must be {bound}, got {value!r}")


async def _close_unstarted(content: object) -> None:
    aclose = getattr(content, "aclose", None)
    if aclose is not None:
        await aclose()
        return
    close = getattr(content, "close", None)
    if close is not None:
        close()
