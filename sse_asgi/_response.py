"""The ASGI application :class:`EventSourceResponse` (framework-free), and ``last_event_id``.

Not to be confused with ``sse_asgi.starlette.EventSourceResponse`` (re-exported
by ``sse_asgi.fastapi``): that one is a Starlette ``Response`` for Starlette
and FastAPI apps, and runs one of these inside.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable
from typing import Any

from ._headers import HeadersLike, merge_headers
from ._iterate import as_async_iterator
from ._options import StreamOptions, StreamSettings, Unpack
from ._send_loop import SendLoop
from .types import Receive, Scope, Send

__all__ = ["EventSourceResponse", "last_event_id"]


class EventSourceResponse:
    r"""A ``text/event-stream`` response, as a plain ASGI application (any framework, or none).

    The core class, ``sse_asgi.EventSourceResponse``: call it with ``scope,
    receive, send``. Starlette and FastAPI apps return
    ``sse_asgi.starlette.EventSourceResponse`` / ``sse_asgi.fastapi.EventSourceResponse``
    instead, a Starlette ``Response`` that takes the same options and runs
    this class.

    ``content`` is an async iterable or a plain iterable. Its items are
    :class:`ServerSentEvent`\ s, sent as they are, or plain values, sent as
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

    Example (served here in-process; ``uvicorn module:app`` serves it for real):

    ```py
    import anyio

    from sse_asgi import EventSourceResponse, ServerSentEvent
    from sse_asgi.testing import connect


    async def ticks():
        for i in range(3):
            yield ServerSentEvent(data={"i": i}, id=str(i))
            await anyio.sleep(0.01)


    app = lambda scope, receive, send: EventSourceResponse(ticks())(scope, receive, send)


    async def main():
        async with connect(app) as stream:
            print([(event.id, event.data) async for event in stream])
            #> [('0', '{"i":0}'), ('1', '{"i":1}'), ('2', '{"i":2}')]


    anyio.run(main)
    ```
    """

    # Slots: one response object lives as long as each open connection.
    __slots__ = ("content", "raw_headers", "settings", "status_code")

    def __init__(
        self,
        content: AsyncIterable[Any] | Iterable[Any],
        *,
        status_code: int = 200,
        headers: HeadersLike | None = None,
        **options: Unpack[StreamOptions],
    ) -> None:
        self.content = content
        self.status_code = status_code
        self.raw_headers = merge_headers(headers)
        #: The options, checked (``ValueError``/``TypeError`` at once for invalid ones).
        self.settings = StreamSettings.of(options)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the stream on one HTTP connection (an ASGI application call)."""
        if scope["type"] != "http":
            raise RuntimeError(f"EventSourceResponse serves HTTP only, not {scope['type']!r}")
        if scope.get("method") == "HEAD":
            # Headers only; the iterator is never started.
            await send(
                {
                    "type": "http.response.start",
                    "status": self.status_code,
                    "headers": self.raw_headers,
                }
            )
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            await _close_unstarted(self.content)
            return
        stream = SendLoop(
            self.settings,
            as_async_iterator(self.content),
            receive,
            send,
            status=self.status_code,
            headers=self.raw_headers,
            client=scope.get("client"),
        )
        await stream.run()


def last_event_id(scope: Scope) -> str | None:
    """The ``Last-Event-ID`` request header a reconnecting ``EventSource`` sends, or ``None``.

    Example:

    ```py
    import anyio

    from sse_asgi import EventSourceResponse, last_event_id
    from sse_asgi.testing import connect


    async def app(scope, receive, send):
        resume_after = last_event_id(scope)  # "41" here, None on a first connection
        await EventSourceResponse([{"after": resume_after}])(scope, receive, send)


    async def main():
        async with connect(app, last_event_id="41") as stream:
            print([event.data async for event in stream])
            #> ['{"after":"41"}']


    anyio.run(main)
    ```
    """
    for name, value in scope.get("headers", ()):
        if name.lower() == b"last-event-id":
            # Browsers send the last event ID string UTF-8 encoded.
            return bytes(value).decode("utf-8", "replace")
    return None


async def _close_unstarted(content: object) -> None:
    aclose = getattr(content, "aclose", None)
    if aclose is not None:
        await aclose()
        return
    close = getattr(content, "close", None)
    if close is not None:
        close()
