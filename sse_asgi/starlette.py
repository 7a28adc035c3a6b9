"""Starlette integration: :class:`EventSourceResponse` as a ``starlette.responses.Response``.

Example (served here in-process; ``uvicorn module:app`` serves it for real):

```py
import anyio
from starlette.applications import Starlette
from starlette.routing import Route

from sse_asgi.starlette import EventSourceResponse, ServerSentEvent
from sse_asgi.testing import connect


async def ticks(request):
    async def events():
        for i in range(3):
            yield ServerSentEvent(data={"i": i}, id=str(i))

    return EventSourceResponse(events(), ping_interval=5)


app = Starlette(routes=[Route("/ticks", ticks)])


async def main():
    async with connect(app, "/ticks") as stream:
        print([event.id async for event in stream])
        #> ['0', '1', '2']


anyio.run(main)
```
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable, Mapping
from dataclasses import replace
from types import MappingProxyType
from typing import Any, ClassVar, TypeVar

from starlette.background import BackgroundTask
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from ._event import ServerSentEvent  # re-exported: one import line serves Starlette apps
from ._options import DEFAULT_SETTINGS, StreamOptions, StreamSettings, Unpack
from ._response import EventSourceResponse as _ASGIResponse
from .types import Receive as _Receive
from .types import Send as _Send

__all__ = ["EventSourceResponse", "ServerSentEvent"]

_R = TypeVar("_R", bound="EventSourceResponse")


class EventSourceResponse(Response):
    """A Starlette ``Response`` that streams Server-Sent Events with sse-asgi's engine.

    The class Starlette and FastAPI apps return (``sse_asgi.fastapi`` re-exports
    it, as a ``fastapi.sse`` subclass too). Inside, it runs the framework-free
    ASGI application :class:`sse_asgi.EventSourceResponse` -- the same name,
    a different class: that one is no Starlette ``Response``.

    Takes Starlette's arguments (``content``, ``status_code``, ``headers``,
    ``media_type``, ``background``) plus every option of
    :class:`sse_asgi.EventSourceResponse` as keywords (``ping_interval``,
    ``send_timeout``, ``item_type``, ``on_error``, ``on_disconnect``, ...).
    ``response.headers`` can be changed until the response is sent;
    background tasks run after the stream ends.

    Example:

    ```py
    from sse_asgi.starlette import EventSourceResponse

    response = EventSourceResponse([{"n": 1}], ping_interval=5, send_timeout=30)
    print(response.status_code, response.headers["content-type"])
    #> 200 text/event-stream; charset=utf-8
    ```
    """

    media_type = "text/event-stream"
    #: Options every instance of this class starts from (see :meth:`with_options`).
    default_options: ClassVar[Mapping[str, Any]] = MappingProxyType({})
    # Those options, checked: shared by every instance given no options of its own.
    _default_settings: ClassVar[StreamSettings] = DEFAULT_SETTINGS

    def __init__(
        self,
        content: AsyncIterable[Any] | Iterable[Any],
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        background: BackgroundTask | None = None,
        **options: Unpack[StreamOptions],
    ) -> None:
        self._stream = _ASGIResponse(content, status_code=status_code, headers=headers)
        settings = self._default_settings
        self._stream.settings = replace(settings, **options) if options else settings
        self.status_code = status_code
        self.background = background
        self.body = b""
        # One header list, shared with the stream: edits through self.headers
        # (a framework adding cookies or a dependency's headers) reach the wire.
        self.raw_headers = self._stream.raw_headers
        if media_type is not None:
            self.media_type = media_type
            self.headers["content-type"] = media_type

    @classmethod
    def with_options(cls: type[_R], **options: Unpack[StreamOptions]) -> type[_R]:
        """A subclass whose instances use ``options`` by default.

        Handy where you name a class rather than build an instance, such as
        FastAPI's ``response_class=`` on a generator path operation.

        Example:

        ```py
        from sse_asgi.starlette import EventSourceResponse

        Feed = EventSourceResponse.with_options(ping_interval=5)
        print(dict(Feed.default_options), issubclass(Feed, EventSourceResponse))
        #> {'ping_interval': 5} True
        ```
        """
        namespace = {
            "default_options": MappingProxyType({**cls.default_options, **options}),
            # Checked here: invalid options fail now, not on the first request.
            "_default_settings": replace(cls._default_settings, **options),
            "__module__": cls.__module__,
        }
        return type(cls.__name__, (cls,), namespace)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        stream = self._stream
        stream.status_code = self.status_code
        stream.raw_headers = self.raw_headers
        # Starlette types messages as plain mappings, ours as TypedDicts: same objects.
        await stream(scope, _as_receive(receive), _as_send(send))
        if self.background is not None:
            await self.background()


def _as_receive(receive: Receive) -> _Receive:
    return receive  # type: ignore[return-value]


def _as_send(send: Send) -> _Send:
    return send  # type: ignore[return-value]
