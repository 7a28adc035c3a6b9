"""sse-asgi: Server-Sent Events for any ASGI application.

Example::

    from sse_asgi import ServerSentEvent

    ServerSentEvent(data={"msg": "hi"}, event="greeting", id="1").encode()
    # b'event: greeting\\nid: 1\\ndata: {"msg":"hi"}\\n\\n'

Importing this package never imports starlette, fastapi or redis; their
integrations live in ``sse_asgi.starlette``, ``sse_asgi.fastapi`` and
``sse_asgi.redis``.
"""

from ._decoder import EventDecoder, ReceivedEvent, aiter_events, iter_events
from ._errors import InvalidEventError, SSEError
from ._event import ServerSentEvent
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

__all__ = [
    "Broadcast",
    "BroadcastBackend",
    "BroadcastClosedError",
    "BroadcastUnavailableError",
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
    "install_signal_hook",
    "iter_events",
    "last_event_id",
    "uninstall_signal_hook",
]

__version__ = "0.1.0"
