"""ASGI types: the scope, the callables, and the HTTP messages as TypedDicts (ASGI 2.4).

- ``Scope``: the connection scope (a mutable mapping).
- ``Receive``, ``Send``: the ASGI callables; ``ReceiveMessage`` and
  ``SendMessage`` are the HTTP messages they carry.
- ``ASGIApp``: an ASGI application taking those.

Example:

```py
from sse_asgi import EventSourceResponse
from sse_asgi.types import Receive, Scope, Send


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    await EventSourceResponse([{"n": 1}])(scope, receive, send)
```
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any, Literal, TypedDict

if sys.version_info >= (3, 11):
    from typing import NotRequired
else:  # pydantic depends on typing_extensions, so it is always there
    from typing_extensions import NotRequired

__all__ = [
    "ASGIApp",
    "HTTPDisconnectEvent",
    "HTTPRequestEvent",
    "HTTPResponseBodyEvent",
    "HTTPResponseStartEvent",
    "Receive",
    "ReceiveMessage",
    "Scope",
    "Send",
    "SendMessage",
]

#: The connection scope. Servers and frameworks add keys freely, so it stays a mapping.
Scope = MutableMapping[str, Any]


class HTTPRequestEvent(TypedDict):
    """``http.request``: a piece of the request body.

    Example:

    ```py
    from sse_asgi.types import HTTPRequestEvent

    message: HTTPRequestEvent = {"type": "http.request", "body": b"{}", "more_body": False}
    ```
    """

    type: Literal["http.request"]
    body: bytes
    more_body: NotRequired[bool]


class HTTPDisconnectEvent(TypedDict):
    """``http.disconnect``: the client went away, or the response is complete.

    Example:

    ```py
    from sse_asgi.types import HTTPDisconnectEvent

    message: HTTPDisconnectEvent = {"type": "http.disconnect"}
    ```
    """

    type: Literal["http.disconnect"]


class HTTPResponseStartEvent(TypedDict):
    """``http.response.start``: status and headers.

    Example:

    ```py
    from sse_asgi.types import HTTPResponseStartEvent

    message: HTTPResponseStartEvent = {
        "type": "http.response.start",
        "status": 200,
        "headers": [(b"content-type", b"text/event-stream")],
    }
    ```
    """

    type: Literal["http.response.start"]
    status: int
    headers: Iterable[tuple[bytes, bytes]]
    trailers: NotRequired[bool]


class HTTPResponseBodyEvent(TypedDict):
    r"""``http.response.body``: a piece of the response body.

    Example:

    ```py
    from sse_asgi.types import HTTPResponseBodyEvent

    message: HTTPResponseBodyEvent = {"type": "http.response.body", "body": b"data: 1\n\n"}
    ```
    """

    type: Literal["http.response.body"]
    body: bytes
    more_body: NotRequired[bool]


ReceiveMessage = HTTPRequestEvent | HTTPDisconnectEvent
SendMessage = HTTPResponseStartEvent | HTTPResponseBodyEvent

Receive = Callable[[], Awaitable[ReceiveMessage]]
Send = Callable[[SendMessage], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
