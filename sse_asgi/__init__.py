r"""sse-asgi: Server-Sent Events for any ASGI application.

Example:

```py
from sse_asgi import ServerSentEvent

print(ServerSentEvent(data={"msg": "hi"}, event="greeting", id="1").encode())
#> b'event: greeting\ndata: {"msg":"hi"}\nid: 1\n\n'
```

Importing this package never imports starlette, fastapi, redis or httpx;
their integrations live in ``sse_asgi.starlette``, ``sse_asgi.fastapi``,
``sse_asgi.redis`` and ``sse_asgi.client``. Frameworks that send a streaming
body themselves (Litestar, Quart, Django) take ``event_stream(content)`` with
the headers in ``EVENT_STREAM_HEADERS``.
"""

from ._decoder import EventDecoder, ReceivedEvent, aiter_events, iter_events
from ._errors import InvalidEventError, SSEError
from ._event import ServerSentEvent
from ._event_stream import EVENT_STREAM_HEADERS, event_stream
from ._relay import event_from_received
from ._response import EventSourceResponse, last_event_id
from ._shutdown import close_all_streams, install_signal_hook, uninstall_signal_hook
from .broadcast import (
    Broadcast,
    BroadcastBackend,
    BroadcastClosedError,
    BroadcastUnavailableError,
    Entry,
    Listener,
    MemoryBackend,
    Position,
    Replay,
    Subscription,
)

__all__ = [  # noqa: RUF022 - plainly sorted (tests/test_public_api.py)
    "Broadcast",
    "BroadcastBackend",
    "BroadcastClosedError",
    "BroadcastUnavailableError",
    "EVENT_STREAM_HEADERS",
    "Entry",
    "EventDecoder",
    "EventSourceResponse",
    "InvalidEventError",
    "Listener",
    "MemoryBackend",
    "Position",
    "ReceivedEvent",
    "Replay",
    "SSEError",
    "ServerSentEvent",
    "Subscription",
    "aiter_events",
    "close_all_streams",
    "event_from_received",
    "event_stream",
    "install_signal_hook",
    "iter_events",
    "last_event_id",
    "uninstall_signal_hook",
]

__version__ = "0.1.0"
